package dev.vlstm.reference;

import java.util.Objects;

/**
 * The naive stacked and bidirectional LSTM or GRU, PyTorch's {@code nn.LSTM} or {@code nn.GRU(num_layers=L,
 * bidirectional=...)}, forward and backward in double precision, composed of one {@link ReferenceCell} per layer and
 * direction: the oracle for the library's stacks. Plain loops over plain arrays; every intermediate is a fresh
 * array.
 *
 * <p>With D directions (1 or 2) and cells indexed l·D + d (l0, l0_reverse, l1, ...):
 * <pre>
 *   in_0 = x                                              [T][B][I]
 *   forward direction:  out_l[t][b][0:S]  = h_t of cell (l, 0) run over in_l
 *   reverse direction:  out_l[t][b][S:2S] = h_{T-1-t} of cell (l, 1) run over in_l reversed in time
 *   in_{l+1} = out_l * mask_l                             (dropout; mask_l = 1 without)
 *   y = out_{L-1};  h_n [L·D][B][S], c_n [L·D][B][H] = the final states of the cells
 * </pre>
 * S is every cell's output size ({@link ReferenceCell#outputSize()}): H, or an LSTM's projection size P. A stack of
 * GRU cells has no cell state: its c0, c_n, dc_n and ∂L/∂c0 are null.
 *
 * <p>The backward goes down the stack: the gradient of out_l is split into its directions (the reverse half reversed
 * in time), each cell's own backward ({@link ReferenceLstm#backward}, {@link ReferenceGru#backward}) gives the
 * gradients of its parameters and of its input, the input gradients (the reverse one reversed back) add up to the
 * gradient of in_l, and times mask_{l-1} that is the gradient of out_{l-1}.
 *
 * <p>Each LSTM cell may have its own peephole connections, cell clip and coupled input-forget gate
 * ({@link ReferenceLstm#withPeepholes}, {@link ReferenceLstm#withCellClip}, {@link ReferenceLstm#coupledInputForget}):
 * the stack only moves rows between cells, so those act inside each cell as they do alone, and the backward reports
 * each cell's gradients in that cell's layouts.
 *
 * <p>With per-sequence lengths (PyTorch's packed sequences), every cell runs sequence b for its first L_b steps
 * only, and "reversed in time" means reversed within those L_b steps: the reverse direction's step t reads
 * in_l[L_b-1-t] and its output lands in out_l[L_b-1-t]; every out_l is zero past each sequence's end.
 */
public final class ReferenceStack {

    private final int layers;
    private final int directions;
    private final int inputSize;
    private final int hiddenSize;
    /** S, the features of one cell's h: its projection size, or H without projection. */
    private final int stateSize;
    /** Whether the cells carry c (LSTM), or h alone (GRU). */
    private final boolean cellState;
    private final ReferenceCell[] cells;

    /**
     * A stack of the given cells, in PyTorch's order: l0 (, l0_reverse), l1 (, l1_reverse), ... Layer 0's cells read
     * I features, the others D·S; every cell has the same hidden and output size, and all are LSTMs or all GRUs.
     *
     * @param bidirectional whether each layer has a reverse direction (D = 2) or not (D = 1)
     * @param cells         L·D cells, none null; the array is copied, the cells (immutable) are shared
     * @throws NullPointerException     if {@code cells} or one of them is null
     * @throws IllegalArgumentException naming the first cell that does not fit
     */
    public ReferenceStack(boolean bidirectional, ReferenceCell... cells) {
        Objects.requireNonNull(cells, "cells must not be null");
        this.directions = bidirectional ? 2 : 1;
        if (cells.length == 0 || cells.length % directions != 0) {
            throw new IllegalArgumentException("cells: " + directions + " per layer, got " + cells.length);
        }
        for (int n = 0; n < cells.length; n++) {
            Objects.requireNonNull(cells[n], "cells[" + n + "] must not be null");
        }
        this.layers = cells.length / directions;
        this.inputSize = cells[0].inputSize();
        this.hiddenSize = cells[0].hiddenSize();
        this.stateSize = cells[0].outputSize();
        this.cellState = cells[0] instanceof ReferenceLstm;
        for (int n = 0; n < cells.length; n++) {
            if (cells[n].getClass() != cells[0].getClass()) {
                throw new IllegalArgumentException("cells[" + n + "] is a " + cells[n].getClass().getSimpleName()
                        + ", cells[0] a " + cells[0].getClass().getSimpleName());
            }
            int expectedInput = n < directions ? inputSize : directions * stateSize;
            if (cells[n].hiddenSize() != hiddenSize || cells[n].inputSize() != expectedInput
                    || cells[n].outputSize() != stateSize) {
                throw new IllegalArgumentException("cells[" + n + "] has inputSize " + cells[n].inputSize()
                        + ", hiddenSize " + cells[n].hiddenSize() + ", outputSize " + cells[n].outputSize()
                        + "; expected " + expectedInput + ", " + hiddenSize + ", " + stateSize);
            }
        }
        this.cells = cells.clone();
    }

    /**
     * Outputs of a forward, in double precision.
     *
     * @param y  the top layer's h after every step, {@code [T][B][D·S]}, forward direction first
     * @param hT every cell's final h (h_n), {@code [L·D][B][S]}
     * @param cT every cell's final c (c_n), {@code [L·D][B][H]}; null for GRU cells
     */
    public record Result(double[] y, double[] hT, double[] cT) {
    }

    /**
     * Gradients of a loss, per cell in the stack's order (each in that cell's layouts, as
     * {@link ReferenceLstm.Gradients} or {@link ReferenceGru.Gradients}: null where the cell has no such bias), and
     * of {@code x [T][B][I]}, {@code h0 [L·D][B][S]} and {@code c0 [L·D][B][H]}.
     *
     * @param weightIh  ∂L/∂W_ih of each cell, {@code [G·H][I or D·S]} (G gates: 4 LSTM, 3 CIFG and GRU)
     * @param weightHh  ∂L/∂W_hh of each cell, {@code [G·H][S]}
     * @param biasIh    ∂L/∂b_ih of each cell, {@code [G·H]}, or null where the cell has no b_ih
     * @param biasHh    ∂L/∂b_hh of each cell, {@code [G·H]}, or null where the cell has no b_hh
     * @param x         ∂L/∂x, {@code [T][B][I]}
     * @param h0        ∂L/∂h0, {@code [L·D][B][S]}
     * @param c0        ∂L/∂c0, {@code [L·D][B][H]}; null for GRU cells
     * @param weightHr  ∂L/∂W_hr of each cell, {@code [P][H]}, or null without projection
     * @param peepholes ∂L/∂p of each cell ({@code [3][H]}, CIFG {@code [2][H]}), or null where the cell has no
     *                  peepholes (the array itself is never null)
     */
    public record Gradients(double[][] weightIh, double[][] weightHh, double[][] biasIh, double[][] biasHh,
                            double[] x, double[] h0, double[] c0, double[][] weightHr, double[][] peepholes) {
    }

    /**
     * Runs {@code x [T][B][I]} from {@code h0}, {@code c0} (null for zeros), no dropout.
     *
     * @param x     input, {@code [T][B][I]} (time-major)
     * @param steps T, time steps, &ge; 1
     * @param batch B, sequences, &ge; 1
     * @param h0    initial hidden states {@code [L·D][B][S]}, or null for zeros
     * @param c0    initial cell states {@code [L·D][B][H]}, or null for zeros (always null for GRU cells)
     * @return y, hT and cT, new arrays in double precision
     */
    public Result forward(float[] x, int steps, int batch, float[] h0, float[] c0) {
        Objects.requireNonNull(x, "x must not be null");
        return forward(ReferenceLstm.toDouble(x), steps, batch, ReferenceLstm.toDouble(h0), ReferenceLstm.toDouble(c0),
                null);
    }

    /**
     * Runs {@code x [T][B][I]} from {@code h0}, {@code c0} (null for zeros).
     *
     * @param x            input, {@code [T][B][I]} (time-major)
     * @param steps        T, time steps, &ge; 1
     * @param batch        B, sequences, &ge; 1
     * @param h0           initial hidden states {@code [L·D][B][S]}, or null for zeros
     * @param c0           initial cell states {@code [L·D][B][H]}, or null for zeros (always null for GRU cells)
     * @param dropoutMasks null, or L-1 arrays {@code [T][B][D·S]}: the multipliers of each layer's output below the
     *                     top
     * @return y, hT and cT, new arrays in double precision
     */
    public Result forward(double[] x, int steps, int batch, double[] h0, double[] c0, double[][] dropoutMasks) {
        return run(x, steps, batch, null, h0, c0, dropoutMasks).result();
    }

    /**
     * Runs a variable-length batch {@code x [T][B][I]}, padded to T steps, from {@code h0}, {@code c0} (null for
     * zeros): sequence b runs its first {@code lengths[b]} steps in every cell.
     *
     * @param x            input, {@code [T][B][I]} (time-major), padded to T steps
     * @param steps        T, the padded length, &ge; 1
     * @param batch        B, sequences, &ge; 1
     * @param lengths      time steps of each sequence, B values in 0..T, or null for all T
     * @param h0           initial hidden states {@code [L·D][B][S]}, or null for zeros
     * @param c0           initial cell states {@code [L·D][B][H]}, or null for zeros (always null for GRU cells)
     * @param dropoutMasks null, or L-1 arrays {@code [T][B][D·S]}: the multipliers of each layer's output below the
     *                     top
     * @return y (zero past each sequence's end), hT and cT (each cell's state after each sequence's last step), new
     *         arrays in double precision
     */
    public Result forward(double[] x, int steps, int batch, int[] lengths, double[] h0, double[] c0,
                          double[][] dropoutMasks) {
        return run(x, steps, batch, lengths, h0, c0, dropoutMasks).result();
    }

    /**
     * Backpropagation of the loss whose gradients with respect to {@code y}, {@code hT} and {@code cT} are
     * {@code dy [T][B][D·S]}, {@code dhT [L·D][B][S]} and {@code dcT [L·D][B][H]} (null for zeros; dcT always null
     * for GRU cells), through the forward with the same arguments.
     *
     * @param x            input, {@code [T][B][I]} (time-major)
     * @param steps        T, time steps, &ge; 1
     * @param batch        B, sequences, &ge; 1
     * @param h0           initial hidden states {@code [L·D][B][S]}, or null for zeros
     * @param c0           initial cell states {@code [L·D][B][H]}, or null for zeros
     * @param dropoutMasks null, or the L-1 masks of that forward, {@code [T][B][D·S]} each
     * @param dy           ∂L/∂y, {@code [T][B][D·S]}, or null for zeros
     * @param dhT          ∂L/∂h_n, {@code [L·D][B][S]}, or null for zeros
     * @param dcT          ∂L/∂c_n, {@code [L·D][B][H]}, or null for zeros
     * @return the gradients of every cell's parameters and of x, h0 and c0, new arrays
     */
    public Gradients backward(double[] x, int steps, int batch, double[] h0, double[] c0, double[][] dropoutMasks,
                              double[] dy, double[] dhT, double[] dcT) {
        return backward(x, steps, batch, null, h0, c0, dropoutMasks, dy, dhT, dcT);
    }

    /**
     * Backpropagation through the variable-length forward with the same arguments (see
     * {@link #forward(double[], int, int, int[], double[], double[], double[][])}): dy past each sequence's end is
     * ignored, dx there is zero, and each cell's dhT and dcT enter at the sequence's last step.
     *
     * @param x            input, {@code [T][B][I]} (time-major), padded to T steps
     * @param steps        T, the padded length, &ge; 1
     * @param batch        B, sequences, &ge; 1
     * @param lengths      time steps of each sequence, B values in 0..T, or null for all T
     * @param h0           initial hidden states {@code [L·D][B][S]}, or null for zeros
     * @param c0           initial cell states {@code [L·D][B][H]}, or null for zeros
     * @param dropoutMasks null, or the L-1 masks of that forward, {@code [T][B][D·S]} each
     * @param dy           ∂L/∂y, {@code [T][B][D·S]}, or null for zeros
     * @param dhT          ∂L/∂h_n, {@code [L·D][B][S]}, or null for zeros
     * @param dcT          ∂L/∂c_n, {@code [L·D][B][H]}, or null for zeros
     * @return the gradients of every cell's parameters and of x, h0 and c0, new arrays
     */
    public Gradients backward(double[] x, int steps, int batch, int[] lengths, double[] h0, double[] c0,
                              double[][] dropoutMasks, double[] dy, double[] dhT, double[] dcT) {
        Pass pass = run(x, steps, batch, lengths, h0, c0, dropoutMasks);
        int frame = batch * stateSize;
        int cellFrame = batch * hiddenSize;
        int outputSize = directions * stateSize;
        requireLength("dy", dy, (long) steps * batch * outputSize);
        requireLength("dhT", dhT, (long) cells.length * frame);
        requireCellState("dcT", dcT, (long) cells.length * cellFrame);
        double[][] weightIh = new double[cells.length][];
        double[][] weightHh = new double[cells.length][];
        double[][] biasIh = new double[cells.length][];
        double[][] biasHh = new double[cells.length][];
        double[][] weightHr = stateSize == hiddenSize ? null : new double[cells.length][];
        double[][] peepholes = new double[cells.length][];
        double[] dh0 = new double[cells.length * frame];
        double[] dc0 = cellState ? new double[cells.length * cellFrame] : null;
        double[] outputGradient = dy == null ? new double[steps * batch * outputSize] : dy;
        double[] inputGradient = null;
        for (int layer = layers - 1; layer >= 0; layer--) {
            int layerInput = layer == 0 ? inputSize : outputSize;
            inputGradient = new double[steps * batch * layerInput];
            for (int direction = 0; direction < directions; direction++) {
                int index = layer * directions + direction;
                boolean reverse = direction == 1;
                double[] input = reverse ? reversed(pass.inputs()[layer], steps, batch, lengths)
                        : pass.inputs()[layer];
                double[] directionGradient = fromColumns(outputGradient, steps * batch, direction);
                double[] cellGradient = reverse ? reversed(directionGradient, steps, batch, lengths) : directionGradient;
                double[] dx;
                double[] cellH0;
                switch (cells[index]) {
                    case ReferenceLstm lstm -> {
                        ReferenceLstm.Gradients gradients = lstm.backward(input, steps, batch, lengths,
                                slice(h0, index, frame), slice(c0, index, cellFrame), cellGradient,
                                slice(dhT, index, frame), slice(dcT, index, cellFrame));
                        weightIh[index] = gradients.weightIh();
                        weightHh[index] = gradients.weightHh();
                        biasIh[index] = gradients.biasIh();
                        biasHh[index] = gradients.biasHh();
                        if (weightHr != null) {
                            weightHr[index] = gradients.weightHr();
                        }
                        peepholes[index] = gradients.peepholes();
                        System.arraycopy(gradients.c0(), 0, dc0, index * cellFrame, cellFrame);
                        dx = gradients.x();
                        cellH0 = gradients.h0();
                    }
                    case ReferenceGru gru -> {
                        ReferenceGru.Gradients gradients = gru.backward(input, steps, batch, lengths,
                                slice(h0, index, frame), cellGradient, slice(dhT, index, frame));
                        weightIh[index] = gradients.weightIh();
                        weightHh[index] = gradients.weightHh();
                        biasIh[index] = gradients.biasIh();
                        biasHh[index] = gradients.biasHh();
                        dx = gradients.x();
                        cellH0 = gradients.h0();
                    }
                }
                if (reverse) {
                    dx = reversed(dx, steps, batch, lengths);
                }
                for (int n = 0; n < dx.length; n++) {
                    inputGradient[n] += dx[n];
                }
                System.arraycopy(cellH0, 0, dh0, index * frame, frame);
            }
            if (layer > 0) {
                outputGradient = dropoutMasks == null ? inputGradient : times(inputGradient, dropoutMasks[layer - 1]);
            }
        }
        return new Gradients(weightIh, weightHh, biasIh, biasHh, inputGradient, dh0, dc0, weightHr, peepholes);
    }

    /** What every layer read ({@code inputs[l]} = in_l), and the outputs. */
    private record Pass(double[][] inputs, Result result) {
    }

    private Pass run(double[] x, int steps, int batch, int[] lengths, double[] h0, double[] c0,
                     double[][] dropoutMasks) {
        if (steps < 1 || batch < 1) {
            throw new IllegalArgumentException("counts must be >= 1: steps=" + steps + ", batch=" + batch);
        }
        Objects.requireNonNull(x, "x must not be null");
        requireLength("x", x, (long) steps * batch * inputSize);
        int frame = batch * stateSize;
        int cellFrame = batch * hiddenSize;
        int outputSize = directions * stateSize;
        requireLength("h0", h0, (long) cells.length * frame);
        requireCellState("c0", c0, (long) cells.length * cellFrame);
        if (dropoutMasks != null) {
            if (dropoutMasks.length != layers - 1) {
                throw new IllegalArgumentException("dropoutMasks: one per layer below the top, " + (layers - 1)
                        + ", got " + dropoutMasks.length);
            }
            for (int layer = 0; layer < layers - 1; layer++) {
                Objects.requireNonNull(dropoutMasks[layer], "dropoutMasks[" + layer + "] must not be null");
                requireLength("dropoutMasks[" + layer + "]", dropoutMasks[layer], (long) steps * batch * outputSize);
            }
        }
        double[][] inputs = new double[layers][];
        double[] hT = new double[cells.length * frame];
        double[] cT = cellState ? new double[cells.length * cellFrame] : null;
        double[] input = x;
        double[] output = null;
        for (int layer = 0; layer < layers; layer++) {
            inputs[layer] = input;
            output = new double[steps * batch * outputSize];
            for (int direction = 0; direction < directions; direction++) {
                int index = layer * directions + direction;
                boolean reverse = direction == 1;
                double[] cellInput = reverse ? reversed(input, steps, batch, lengths) : input;
                double[] y;
                double[] cellHT;
                switch (cells[index]) {
                    case ReferenceLstm lstm -> {
                        ReferenceLstm.Result result = lstm.forward(cellInput, steps, batch, lengths,
                                slice(h0, index, frame), slice(c0, index, cellFrame));
                        System.arraycopy(result.cT(), 0, cT, index * cellFrame, cellFrame);
                        y = result.y();
                        cellHT = result.hT();
                    }
                    case ReferenceGru gru -> {
                        ReferenceGru.Result result = gru.forward(cellInput, steps, batch, lengths,
                                slice(h0, index, frame));
                        y = result.y();
                        cellHT = result.hT();
                    }
                }
                intoColumns(reverse ? reversed(y, steps, batch, lengths) : y, output, steps * batch, direction);
                System.arraycopy(cellHT, 0, hT, index * frame, frame);
            }
            if (layer < layers - 1 && dropoutMasks != null) {
                output = times(output, dropoutMasks[layer]);
            }
            input = output;
        }
        return new Pass(inputs, new Result(output, hT, cT));
    }

    /** As {@link #requireLength}; a stack of GRU cells has no cell state, so there the array must be null. */
    private void requireCellState(String name, double[] array, long length) {
        if (!cellState && array != null) {
            throw new IllegalArgumentException(name + " must be null: GRU cells have no cell state");
        }
        requireLength(name, array, length);
    }

    /**
     * {@code rows [T][B][F]} with each sequence reversed within its length: row (t, b) of the result is row
     * (L_b-1-t, b) for t &lt; L_b, zero past the end ({@code lengths} null: L_b = T).
     */
    private static double[] reversed(double[] rows, int steps, int batch, int[] lengths) {
        int features = rows.length / (steps * batch);
        double[] result = new double[rows.length];
        for (int b = 0; b < batch; b++) {
            int length = lengths == null ? steps : lengths[b];
            for (int t = 0; t < length; t++) {
                System.arraycopy(rows, ((length - 1 - t) * batch + b) * features, result, (t * batch + b) * features,
                        features);
            }
        }
        return result;
    }

    /** Writes {@code [rows][S]} into the S columns of direction {@code direction} of {@code [rows][D·S]}. */
    private void intoColumns(double[] direction, double[] layer, int rows, int column) {
        for (int row = 0; row < rows; row++) {
            System.arraycopy(direction, row * stateSize, layer, (row * directions + column) * stateSize, stateSize);
        }
    }

    /** The S columns of direction {@code column} of {@code [rows][D·S]}, as {@code [rows][S]}. */
    private double[] fromColumns(double[] layer, int rows, int column) {
        double[] direction = new double[rows * stateSize];
        for (int row = 0; row < rows; row++) {
            System.arraycopy(layer, (row * directions + column) * stateSize, direction, row * stateSize, stateSize);
        }
        return direction;
    }

    private static double[] times(double[] values, double[] mask) {
        double[] result = new double[values.length];
        for (int n = 0; n < values.length; n++) {
            result[n] = values[n] * mask[n];
        }
        return result;
    }

    /** The {@code [B][H]} block {@code index} of an {@code [L·D][B][H]} state, or null for null. */
    private static double[] slice(double[] states, int index, int frame) {
        if (states == null) {
            return null;
        }
        double[] result = new double[frame];
        System.arraycopy(states, index * frame, result, 0, frame);
        return result;
    }

    /** Null passes (an optional array); otherwise the length must match. */
    private static void requireLength(String name, double[] array, long length) {
        if (array != null && array.length != length) {
            throw new IllegalArgumentException(name + " must hold " + length + " doubles, got " + array.length);
        }
    }
}
