package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import dev.vlstm.kernel.GateLayout;
import dev.vlstm.kernel.LstmKernel;
import dev.vlstm.kernel.TensorKernel;

/**
 * Backpropagation through time for one {@link LstmWeights}: a training {@link #forward} that keeps what the
 * backward pass needs (gate activations, every h and c), and a {@link #backward} that yields every gradient.
 *
 * <p>Organised like the forward (DESIGN.md, idea 5): per step in reverse, one pointwise pass makes the four gate
 * gradients dz and carries dc back; {@code dh_{t-1} = dz·U} runs the forward's GEMM kernel on a transposed packing
 * of U. After the loop, dW_ih = dzᵀ·X, dW_hh = dzᵀ·H_prev and dx = dz·W are each one GEMM over all T·B rows
 * (again the same kernel, on transposed operands), and db = Σ dz.
 *
 * <p>Truncated BPTT over a long sequence runs it in windows of at most {@code maxSteps} steps ({@link TruncatedBptt}
 * does it for you): each window's forward starts from the previous window's final state (pass the same segments as
 * h0/c0 and hT/cT), and its backward gets no dhT/dcT, which cuts the gradient at the border;
 * {@link GradientMode#ACCUMULATE} sums the windows' weight gradients when one update should cover several.
 *
 * <p>All scratch is allocated up front for {@code maxSteps × maxBatch}; the code allocates no buffers per step,
 * but the JIT does not yet reliably keep the projection tiles' vectors in registers when this trainer drives them
 * with its several GEMM shapes, so a training step may allocate boxed vectors. Not thread-safe: one trainer per
 * thread; the weights may be shared.
 * Layouts are row-major floats in native byte order.
 */
public final class LstmTrainer implements AutoCloseable {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private final LstmWeights weights;
    private final LstmKernel kernel;
    private final TensorKernel tensors;
    private final GateLayout layout;
    /** The GEMM dh = dz·U: depth 4H', outputs H in tiles. */
    private final GateLayout hiddenGradientLayout;
    /** The GEMM dx = dz·W: depth 4H', outputs I in tiles. */
    private final GateLayout inputGradientLayout;
    private final int maxBatch;
    private final int maxSteps;
    private final OffHeap memory;
    private final MemorySegment transposedInputWeights;
    private final MemorySegment transposedRecurrentWeights;
    private final MemorySegment zeroBias;
    private final MemorySegment inputs;
    private final MemorySegment preActivations;
    /** Gate activations after the forward, gate gradients dz after the backward; {@code [T·B][4H']}. */
    private final MemorySegment gates;
    /** h and c before and after every step, {@code [T+1][maxBatch][H']}, viewed per step through slices. */
    private final MemorySegment hiddens;
    private final MemorySegment[] hiddenSteps;
    private final MemorySegment[] cellSteps;
    private final MemorySegment hiddenGradient;
    private final MemorySegment cellGradient;
    private final MemorySegment vectorScratch;
    /** The right operand of a weight-gradient GEMM (X or H_prev), {@code [tile][T·B][4·lanes]}. */
    private final MemorySegment weightGradientPanels;
    /** A weight-gradient GEMM's result, {@code [4H'][depth rounded up to 4·lanes]}, rows in packed gate order. */
    private final MemorySegment weightGradientRows;
    private final MemorySegment biasGradientSums;
    private final MemorySegment inputGradientRows;
    private int savedSteps;
    private int savedBatch;
    /** The GEMMs dW_ih = dzᵀ·X and dW_hh = dzᵀ·H_prev (depth T·B); kept while T·B stays the same. */
    private GateLayout inputWeightGradientLayout;
    private GateLayout hiddenWeightGradientLayout;

    /**
     * A trainer for sequences of up to {@code maxSteps} steps of up to {@code maxBatch} rows.
     *
     * @throws IllegalArgumentException if a size is &lt; 1, or the weights are not {@link WeightPrecision#FLOAT32}
     */
    public LstmTrainer(LstmWeights weights, int maxBatch, int maxSteps) {
        Checks.notNull("weights", weights).checkOpen();
        if (weights.precision() != WeightPrecision.FLOAT32) {
            throw new IllegalArgumentException("weights: packed as " + weights.precision() + ", but training needs "
                    + "FLOAT32 weights (it updates float master weights); pack a FLOAT32 copy to train");
        }
        this.weights = weights;
        this.kernel = weights.kernel();
        this.tensors = kernel.tensors();
        this.layout = weights.layout();
        this.maxBatch = Checks.positive("maxBatch", maxBatch);
        this.maxSteps = Checks.positive("maxSteps", maxSteps);
        int inputSize = layout.inputSize();
        int hiddenSize = layout.hiddenSize();
        this.hiddenGradientLayout = layout.transposed(hiddenSize);
        this.inputGradientLayout = layout.transposed(inputSize);
        long rows = Math.multiplyExact((long) maxBatch, maxSteps);
        long gateRow = layout.gateRowFloats();
        long paddedHidden = layout.paddedHidden();
        this.memory = OffHeap.open();
        try {
            transposedInputWeights = memory.floats(inputGradientLayout.packedFloats((int) gateRow));
            transposedRecurrentWeights = memory.floats(hiddenGradientLayout.packedFloats((int) gateRow));
            layout.packTransposed(weights.packedInputWeights(), inputSize, transposedInputWeights);
            layout.packTransposed(weights.packedRecurrentWeights(), hiddenSize, transposedRecurrentWeights);
            zeroBias = memory.floats(Math.max(gateRow, Math.max(
                    hiddenGradientLayout.gateRowFloats(), inputGradientLayout.gateRowFloats())));
            inputs = memory.floats(rows * inputSize);
            preActivations = memory.floats(rows * gateRow);
            gates = memory.floats(rows * gateRow);
            long stepFloats = maxBatch * paddedHidden;
            hiddens = memory.floats((maxSteps + 1) * stepFloats);
            MemorySegment cells = memory.floats((maxSteps + 1) * stepFloats);
            hiddenSteps = new MemorySegment[maxSteps + 1];
            cellSteps = new MemorySegment[maxSteps + 1];
            for (int t = 0; t <= maxSteps; t++) {
                hiddenSteps[t] = hiddens.asSlice(t * stepFloats * Float.BYTES, stepFloats * Float.BYTES);
                cellSteps[t] = cells.asSlice(t * stepFloats * Float.BYTES, stepFloats * Float.BYTES);
            }
            hiddenGradient = memory.floats((long) maxBatch * hiddenGradientLayout.gateRowFloats());
            cellGradient = memory.floats(stepFloats);
            vectorScratch = memory.floats(layout.lanes());
            long widestGradientRow = Math.max(inputGradientLayout.gateRowFloats(),
                    hiddenGradientLayout.gateRowFloats());
            weightGradientPanels = memory.floats(rows * widestGradientRow);
            weightGradientRows = memory.floats(gateRow * widestGradientRow);
            biasGradientSums = memory.floats(gateRow);
            inputGradientRows = memory.floats(rows * inputGradientLayout.gateRowFloats());
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    /** The weights this trainer trains. */
    public LstmWeights weights() {
        return weights;
    }

    /** Largest batch a forward accepts. */
    public int maxBatch() {
        return maxBatch;
    }

    /** Most time steps a forward accepts: the window of {@link TruncatedBptt}. */
    public int maxSteps() {
        return maxSteps;
    }

    /**
     * Runs the sequence as {@link LstmRunner#forward} does, with the same arguments and results, and keeps what
     * {@link #backward} needs. h0 and c0 may be the same memory as hT and cT.
     *
     * @throws IllegalArgumentException for a size &lt; 1, more than {@code maxSteps} steps or {@code maxBatch}
     *                                  rows, a segment whose size does not match its shape, or a read-only output
     * @throws IllegalStateException    if this trainer, its weights, or the arena of an argument is closed
     */
    public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0,
                        MemorySegment y, MemorySegment hT, MemorySegment cT) {
        checkOpen();
        checkSizes(steps, batch);
        int inputSize = layout.inputSize();
        int hiddenSize = layout.hiddenSize();
        int paddedHidden = layout.paddedHidden();
        Checks.sequenceArguments(inputSize, hiddenSize, x, steps, batch, h0, c0, y, hT, cT);

        savedSteps = 0;
        int rows = steps * batch;
        MemorySegment.copy(x, 0, inputs, 0, x.byteSize());
        hiddenSteps[0].fill((byte) 0);
        cellSteps[0].fill((byte) 0);
        if (h0 != null) {
            PaddedRows.copyIn(h0, 0, hiddenSize, hiddenSteps[0], 0, paddedHidden, batch);
        }
        if (c0 != null) {
            PaddedRows.copyIn(c0, 0, hiddenSize, cellSteps[0], 0, paddedHidden, batch);
        }
        kernel.projectInput(layout, weights.packedInputWeights(), weights.packedBias(), inputs, 0, rows,
                preActivations, 0);
        long gateStepBytes = (long) batch * layout.gateRowFloats() * Float.BYTES;
        long stateBytes = (long) batch * paddedHidden * Float.BYTES;
        for (int t = 0; t < steps; t++) {
            MemorySegment.copy(cellSteps[t], 0, cellSteps[t + 1], 0, stateBytes);
            kernel.recurrentStep(layout, weights.packedRecurrentWeights(), preActivations, t * gateStepBytes,
                    gates, t * gateStepBytes, hiddenSteps[t], cellSteps[t + 1], hiddenSteps[t + 1], batch);
            if (y != null) {
                PaddedRows.copyOut(hiddenSteps[t + 1], 0, paddedHidden, y, t * (long) batch * hiddenSize * Float.BYTES,
                        hiddenSize, batch);
            }
        }
        if (hT != null) {
            PaddedRows.copyOut(hiddenSteps[steps], 0, paddedHidden, hT, 0, hiddenSize, batch);
        }
        if (cT != null) {
            PaddedRows.copyOut(cellSteps[steps], 0, paddedHidden, cT, 0, hiddenSize, batch);
        }
        savedSteps = steps;
        savedBatch = batch;
    }

    /**
     * Backpropagates through the last {@link #forward}: given dL/dy and optionally dL/dhT and dL/dcT, writes or
     * adds the weight gradients into {@code gradients} (by {@code mode}) and writes dL/dx, dL/dh0 and dL/dc0.
     * Once per forward: the saved activations are overwritten by the gate gradients.
     *
     * @param dy        dL/dy, {@code [T][B][H]}, or null for zeros
     * @param dhT       dL/dhT, {@code [B][H]}, or null for zeros
     * @param dcT       dL/dcT, {@code [B][H]}, or null for zeros
     * @param gradients receives dL/dW_ih, dL/dW_hh, dL/db_ih and dL/db_hh, for weights of this trainer's sizes
     * @param mode      whether those replace or add to what {@code gradients} holds
     * @param dx        output dL/dx, {@code [T][B][I]}, or null if not wanted
     * @param dh0       output dL/dh0, {@code [B][H]}, or null
     * @param dc0       output dL/dc0, {@code [B][H]}, or null
     * @throws IllegalStateException    without a forward since the last backward, or if anything is closed
     * @throws IllegalArgumentException for gradients of other sizes or a segment of the wrong size
     */
    public void backward(MemorySegment dy, MemorySegment dhT, MemorySegment dcT, LstmGradients gradients,
                         GradientMode mode, MemorySegment dx, MemorySegment dh0, MemorySegment dc0) {
        checkOpen();
        if (savedSteps == 0) {
            throw new IllegalStateException("backward needs a forward of this trainer first (and runs once per forward)");
        }
        int steps = savedSteps;
        int batch = savedBatch;
        int inputSize = layout.inputSize();
        int hiddenSize = layout.hiddenSize();
        int paddedHidden = layout.paddedHidden();
        Checks.notNull("gradients", gradients).checkOpen();
        Checks.notNull("mode", mode);
        if (gradients.inputSize() != inputSize || gradients.hiddenSize() != hiddenSize) {
            throw new IllegalArgumentException("gradients are for inputSize " + gradients.inputSize() + ", hiddenSize "
                    + gradients.hiddenSize() + ", but these weights have inputSize " + inputSize + ", hiddenSize "
                    + hiddenSize);
        }
        Checks.optionalFloats("dy", dy, "T", steps, "B", batch, "H", hiddenSize);
        Checks.optionalFloats("dhT", dhT, "B", batch, "H", hiddenSize);
        Checks.optionalFloats("dcT", dcT, "B", batch, "H", hiddenSize);
        Checks.optionalOutput("dx", dx, "T", steps, "B", batch, "I", inputSize);
        Checks.optionalOutput("dh0", dh0, "B", batch, "H", hiddenSize);
        Checks.optionalOutput("dc0", dc0, "B", batch, "H", hiddenSize);
        savedSteps = 0;

        int hiddenGradientRow = hiddenGradientLayout.gateRowFloats();
        hiddenGradient.fill((byte) 0);
        cellGradient.fill((byte) 0);
        if (dhT != null) {
            PaddedRows.copyIn(dhT, 0, hiddenSize, hiddenGradient, 0, hiddenGradientRow, batch);
        }
        if (dcT != null) {
            PaddedRows.copyIn(dcT, 0, hiddenSize, cellGradient, 0, paddedHidden, batch);
        }
        long gateStepBytes = (long) batch * layout.gateRowFloats() * Float.BYTES;
        for (int t = steps - 1; t >= 0; t--) {
            if (dy != null) {
                addRows(dy, (long) t * batch * hiddenSize, hiddenSize, hiddenGradient, hiddenGradientRow, batch);
            }
            kernel.cellBackward(layout, gates, t * gateStepBytes, cellSteps[t + 1], 0, cellSteps[t], 0,
                    hiddenGradient, hiddenGradientRow, cellGradient, vectorScratch, batch);
            kernel.projectInput(hiddenGradientLayout, transposedRecurrentWeights, zeroBias, gates, t * gateStepBytes,
                    batch, hiddenGradient, 0);
        }
        if (dh0 != null) {
            PaddedRows.copyOut(hiddenGradient, 0, hiddenGradientRow, dh0, 0, hiddenSize, batch);
        }
        if (dc0 != null) {
            PaddedRows.copyOut(cellGradient, 0, paddedHidden, dc0, 0, hiddenSize, batch);
        }
        int rows = steps * batch;
        if (dx != null) {
            kernel.projectInput(inputGradientLayout, transposedInputWeights, zeroBias, gates, 0, rows,
                    inputGradientRows, 0);
            PaddedRows.copyOut(inputGradientRows, 0, inputGradientLayout.gateRowFloats(), dx, 0, inputSize, rows);
        }
        weightGradients(steps, batch, gradients, mode);
    }

    /**
     * Loads new parameter values (after an optimizer step) into this trainer's weights and its transposed copies,
     * in place, without allocating. The weights are shared with whatever else uses them: no runner or trainer may
     * use them during this call. Invalidates the saved forward.
     *
     * @throws IllegalArgumentException if the sizes differ, or a value is NaN or infinite (a diverged update),
     *                                  naming the tensor and element
     */
    public void updateWeights(LstmParameters parameters) {
        checkOpen();
        Checks.notNull("parameters", parameters);
        if (parameters.inputSize() != layout.inputSize() || parameters.hiddenSize() != layout.hiddenSize()) {
            throw new IllegalArgumentException("parameters are for inputSize " + parameters.inputSize()
                    + ", hiddenSize " + parameters.hiddenSize() + ", but these weights have inputSize "
                    + layout.inputSize() + ", hiddenSize " + layout.hiddenSize());
        }
        savedSteps = 0;
        weights.repack(parameters);
        layout.packTransposed(weights.packedInputWeights(), layout.inputSize(), transposedInputWeights);
        layout.packTransposed(weights.packedRecurrentWeights(), layout.hiddenSize(), transposedRecurrentWeights);
    }

    /**
     * dW_ih = dzᵀ·X and dW_hh = dzᵀ·H_prev, each one GEMM over all T·B rows, and db = Σ dz, into {@code gradients}.
     * The GEMMs read dz (the gates buffer, {@code [T·B][4H']}) down its columns through the kernel's x strides, so
     * their output rows are gate rows, which map one to one onto PyTorch's {@code [4H][depth]} rows.
     */
    private void weightGradients(int steps, int batch, LstmGradients gradients, GradientMode mode) {
        int rows = steps * batch;
        if (inputWeightGradientLayout == null || inputWeightGradientLayout.inputSize() != rows) {
            inputWeightGradientLayout = new GateLayout(rows, inputGradientLayout.hiddenSize(), layout.lanes());
            hiddenWeightGradientLayout = new GateLayout(rows, hiddenGradientLayout.hiddenSize(), layout.lanes());
        }
        int inputSize = layout.inputSize();
        long inputRowBytes = (long) inputSize * Float.BYTES;
        packPanels(inputs, batch * inputRowBytes, inputRowBytes, inputSize, steps, batch);
        weightGradient(inputWeightGradientLayout, inputSize, gradients.weightIh(), mode);
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        packPanels(hiddens, maxBatch * stateRowBytes, stateRowBytes, layout.hiddenSize(), steps, batch);
        weightGradient(hiddenWeightGradientLayout, layout.hiddenSize(), gradients.weightHh(), mode);

        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        biasGradientSums.fill((byte) 0);
        for (int row = 0; row < rows; row++) {
            tensors.add(gates, row * gateRowBytes, biasGradientSums, 0, layout.gateRowFloats());
        }
        for (int gate = 0; gate < GateLayout.GATES; gate++) {
            for (int unit = 0; unit < layout.hiddenSize(); unit++) {
                float sum = biasGradientSums.getAtIndex(FLOAT, layout.gateIndex(gate, unit));
                long index = (long) gate * layout.hiddenSize() + unit;
                LstmGradients.store(gradients.biasIh(), index, sum, mode);
                LstmGradients.store(gradients.biasHh(), index, sum, mode);
            }
        }
    }

    /**
     * Copies the rows of a {@code [T][B][width]} source (row (t, b) at {@code t * stepBytes + b * rowBytes}) into
     * the weight-gradient GEMM's panels, {@code [tile][t·B + b][4·lanes]}. Columns past {@code width} in the last
     * tile keep whatever they held: they only reach output columns that are never read.
     */
    private void packPanels(MemorySegment source, long stepBytes, long rowBytes, int width, int steps, int batch) {
        int tileWidth = GateLayout.GATES * layout.lanes();
        long tileBytes = (long) tileWidth * Float.BYTES;
        long rows = (long) steps * batch;
        for (int tile = 0; tile * tileWidth < width; tile++) {
            long chunkBytes = (long) Math.min(tileWidth, width - tile * tileWidth) * Float.BYTES;
            for (int t = 0; t < steps; t++) {
                for (int b = 0; b < batch; b++) {
                    MemorySegment.copy(source, t * stepBytes + b * rowBytes + tile * tileBytes, weightGradientPanels,
                            (tile * rows + (long) t * batch + b) * tileBytes, chunkBytes);
                }
            }
        }
    }

    /** One weight-gradient GEMM over the packed panels, written or added into PyTorch's {@code [4H][depth]}. */
    private void weightGradient(GateLayout gemm, int depth, MemorySegment target, GradientMode mode) {
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        kernel.projectInput(gemm, weightGradientPanels, zeroBias, gates, 0, Float.BYTES, gateRowBytes,
                layout.gateRowFloats(), weightGradientRows, 0);
        long resultRowBytes = (long) gemm.gateRowFloats() * Float.BYTES;
        long targetRowBytes = (long) depth * Float.BYTES;
        for (int gate = 0; gate < GateLayout.GATES; gate++) {
            for (int unit = 0; unit < layout.hiddenSize(); unit++) {
                long result = layout.gateIndex(gate, unit) * resultRowBytes;
                long targetRow = (gate * (long) layout.hiddenSize() + unit) * targetRowBytes;
                if (mode == GradientMode.ACCUMULATE) {
                    tensors.add(weightGradientRows, result, target, targetRow, depth);
                } else {
                    MemorySegment.copy(weightGradientRows, result, target, targetRow, targetRowBytes);
                }
            }
        }
    }

    /** Adds dense {@code [rows][width]} floats from {@code source} (at float index {@code start}) into padded rows. */
    private void addRows(MemorySegment source, long start, int width, MemorySegment padded, int paddedWidth,
                         int rows) {
        for (int row = 0; row < rows; row++) {
            tensors.add(source, (start + (long) row * width) * Float.BYTES, padded,
                    (long) row * paddedWidth * Float.BYTES, width);
        }
    }

    /** Frees the scratch memory. Closing twice is harmless. */
    @Override
    public void close() {
        memory.close();
    }

    private void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("this LstmTrainer is closed");
        }
        weights.checkOpen();
    }

    private void checkSizes(int steps, int batch) {
        Checks.positive("steps", steps);
        Checks.positive("batch", batch);
        if (steps > maxSteps) {
            throw new IllegalArgumentException("steps " + steps + " exceeds this trainer's maxSteps " + maxSteps);
        }
        if (batch > maxBatch) {
            throw new IllegalArgumentException("batch " + batch + " exceeds this trainer's maxBatch " + maxBatch);
        }
    }
}
