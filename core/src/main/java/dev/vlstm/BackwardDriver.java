package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import dev.vlstm.engine.PackedLayer;
import dev.vlstm.kernel.Family;
import dev.vlstm.kernel.GateLayout;
import dev.vlstm.kernel.GemmCall;
import dev.vlstm.kernel.PackedMatrix;
import dev.vlstm.kernel.Packing;
import dev.vlstm.kernel.Pointwise;
import dev.vlstm.kernel.Postgemm;
import dev.vlstm.kernel.Team;
import dev.vlstm.kernel.TensorKernel;
import dev.vlstm.kernel.WeightFormat;

/**
 * Backpropagation through time of one layer and direction, for every cell, over what a training
 * {@link LayerDriver} forward kept (its packed rows: inputs, pre-activations, gate activations, m; a clipped GRU's
 * n pre-activations) and its {@link LayerState#history} state. Three pieces, called in order once per forward:
 * <ol>
 *   <li>{@link #backward}, the time loop in reverse: per step, the cell's pointwise backward turns dL/dh (and an
 *       LSTM's or CIFG's carried dL/dc) into gate gradients dz, and {@code dh_{t-1} = dz·U} runs the forward's GEMM
 *       on a transposed packing of U. An LSTM's or CIFG's dz serves both weight sides and carries dc; a GRU's input
 *       side (da_r, da_z, da_n) replaces the gates and its recurrent side (da_r, da_z, dm) the pre-activations, and
 *       its direct part {@code dh⊙z} is added to dh_{t-1}. With a projection dh is turned into dm = dh·W_hr first.</li>
 *   <li>{@link #inputGradient}: dx = dz·W, one GEMM over all packed rows.</li>
 *   <li>{@link #weightGradients}: dW_ih = dzᵀ·X, dW_hh = dzᵀ·H_prev (and dW_hr) as one GEMM each over all packed
 *       rows, the bias gradients as sums of dz, and the peephole gradients the pointwise passes summed.</li>
 * </ol>
 * Arguments are the caller's to check: this class computes. Scratch comes from the owner's memory; one thread at a
 * time (the owner's guard).
 */
final class BackwardDriver {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private final PackedLayer layer;
    private final GateLayout layout;
    private final int cell;
    private final float clip;
    private final Team team;
    private final Pointwise pointwise;
    private final TensorKernel tensors;
    private final GemmCall gemmCall = new GemmCall();
    private final LayerDriver forward;
    private final LayerState state;
    private final VariableLengths plan;
    /** P with a projection, else H: the width of h, dh and the recurrent input. */
    private final int outputSize;
    private final int maxBatch;
    /** The GEMM dh = dz·U: depth G·H', outputs S in tiles. */
    private final GateLayout hiddenGradientLayout;
    /** The GEMM dx = dz·W: depth G·H', outputs I in tiles. */
    private final GateLayout inputGradientLayout;
    /**
     * The GEMMs dW_ih = dzᵀ·X and dW_hh = dzᵀ·H_prev; their depth, the forward's row count, is given per call (the
     * layouts' input size is the most rows a forward can have).
     */
    private final GateLayout inputWeightGradientLayout;
    private final GateLayout hiddenWeightGradientLayout;
    /** W packed for dx = dz·W ({@link #inputGradientLayout}). */
    private final PackedMatrix transposedInput;
    /** U packed for dh = dz·U ({@link #hiddenGradientLayout}). */
    private final PackedMatrix transposedRecurrent;
    private final MemorySegment zeroBias;
    /** dL/dh of the current step's rows, {@code [maxBatch][hiddenGradientLayout.gateRowFloats()]}. */
    private final MemorySegment hiddenGradient;
    /** An LSTM's or CIFG's dL/dc carried back, or a GRU's direct part dh⊙z, {@code [maxBatch][paddedHidden]}. */
    private final MemorySegment carriedGradient;
    private final MemorySegment vectorScratch;
    /** The right operand of a weight-gradient GEMM (X, H_prev, or m for dW_hr), {@code [tile][rows][4·lanes]}. */
    private final MemorySegment weightGradientPanels;
    /**
     * A weight-gradient GEMM's result, {@code [G·H'][depth rounded up to 4·lanes]}, rows in packed gate order (for
     * dW_hr: {@code [P][H rounded up]}).
     */
    private final MemorySegment weightGradientRows;
    private final MemorySegment biasGradientSums;
    /** The layer's packed peepholes, or null without. */
    private final MemorySegment peepholes;
    /** dp summed over the backward's steps, a gate row in the peepholes' packing; null without peepholes. */
    private final MemorySegment peepholeGradientSums;
    private final MemorySegment inputGradientRows;
    /**
     * A GRU's dzᵀ of one side at a time, {@code [G·H'][rows]}, for the weight-gradient GEMMs (the owner's, possibly
     * shared); null for the other cells, whose one dz is transposed into the pre-activations.
     */
    private final MemorySegment transposedGradients;
    /** The projection's backward; null without a projection. */
    private final ProjectionBackward projection;
    /** First packed row of each step of the saved forward, {@code [maxSteps + 1]}; the last entry is the total. */
    private final int[] stepStart;

    /**
     * @param family the layer's kernels, whose pointwise backward and tensor operations this runs
     * @param cell   the cell's {@link Postgemm} code, as the forward's
     * @param clip   the forward's clip (an LSTM's or CIFG's cell clip, a GRU's clip), {@code Float.POSITIVE_INFINITY}
     *               for none
     * @param team   the threads of every GEMM, not owned
     * @param plan   the lengths and row order of the saved forward, set by the owner before each forward
     * @param gruGradientsTransposed for a GRU, scratch for its dzᵀ of one side at a time: at least
     *               {@code maxBatch · maxSteps · G·H'} floats, which the owner may share between drivers whose
     *               {@link #weightGradients} never run at once; null for the other cells
     * @param memory the owner's memory, which holds the scratch
     */
    BackwardDriver(PackedLayer layer, Family family, int cell, float clip, Team team, LayerDriver forward,
                   LayerState state, VariableLengths plan, int maxBatch, int maxSteps,
                   MemorySegment gruGradientsTransposed, OffHeap memory) {
        this.layer = layer;
        this.layout = layer.layout();
        this.cell = cell;
        this.clip = clip;
        this.team = team;
        this.pointwise = family.pointwise();
        this.tensors = family.tensors();
        this.forward = forward;
        this.state = state;
        this.plan = plan;
        this.maxBatch = maxBatch;
        this.outputSize = state.outputSize();
        this.stepStart = new int[maxSteps + 1];
        int inputSize = layout.inputSize();
        int gateRow = layout.gateRowFloats();
        int rows = Checks.trainingRows(maxBatch, maxSteps);
        this.hiddenGradientLayout = layout.transposed(outputSize);
        this.inputGradientLayout = layout.transposed(inputSize);
        this.inputWeightGradientLayout = new GateLayout(GateLayout.LSTM_GATES, rows, inputGradientLayout.hiddenSize(),
                layout.lanes());
        this.hiddenWeightGradientLayout = new GateLayout(GateLayout.LSTM_GATES, rows,
                hiddenGradientLayout.hiddenSize(), layout.lanes());
        this.transposedInput = new PackedMatrix(memory.floats(inputGradientLayout.packedFloats(gateRow)),
                WeightFormat.FLOAT32, inputGradientLayout, gateRow);
        this.transposedRecurrent = new PackedMatrix(memory.floats(hiddenGradientLayout.packedFloats(gateRow)),
                WeightFormat.FLOAT32, hiddenGradientLayout, gateRow);
        packTransposed();
        long widestGradientRow = Math.max(inputGradientLayout.gateRowFloats(), hiddenGradientLayout.gateRowFloats());
        if (layer.projection() != null) {
            widestGradientRow = Math.max(widestGradientRow, ProjectionBackward.widestRow(layer));
        }
        this.zeroBias = memory.floats(Math.max(gateRow, widestGradientRow));
        long stepFloats = (long) maxBatch * layout.paddedHidden();
        this.hiddenGradient = memory.floats((long) maxBatch * hiddenGradientLayout.gateRowFloats());
        this.carriedGradient = memory.floats(stepFloats);
        this.vectorScratch = memory.floats(layout.lanes());
        this.weightGradientPanels = memory.floats(rows * widestGradientRow);
        this.weightGradientRows = memory.floats(gateRow * widestGradientRow);
        this.biasGradientSums = memory.floats(gateRow);
        boolean peepholed = cell == Postgemm.LSTM_PEEPHOLES || cell == Postgemm.CIFG_PEEPHOLES;
        this.peepholes = peepholed ? layer.cellRow() : null;
        this.peepholeGradientSums = peepholed ? memory.floats(gateRow) : null;
        this.inputGradientRows = memory.floats((long) rows * inputGradientLayout.gateRowFloats());
        this.transposedGradients = gruGradientsTransposed;
        this.projection = layer.projection() == null ? null
                : new ProjectionBackward(layer, tensors, memory, maxBatch, maxSteps,
                hiddenGradientLayout.gateRowFloats(), zeroBias);
    }

    /**
     * The time loop of the backward of the saved forward (in its layout): dy (null: zeros) enters at each step,
     * dhT and dcT (null: zeros; dcT an LSTM's) at each sequence's own last step; leaves dz in the forward's buffers
     * and writes dh0 and dc0 (null: not wanted) to the caller's rows.
     */
    void backward(MemorySegment dy, MemorySegment dhT, MemorySegment dcT, MemorySegment dh0,
                  MemorySegment dc0) {
        int steps = plan.steps();
        int batch = plan.batch();
        int rows = 0;
        for (int t = 0; t < steps; t++) {
            stepStart[t] = rows;
            rows += plan.activeAt(t);
        }
        stepStart[steps] = rows;
        MemorySegment gates = forward.gates();
        MemorySegment preActivations = forward.preActivations();
        int hiddenGradientRow = hiddenGradientLayout.gateRowFloats();
        long hiddenGradientRowBytes = (long) hiddenGradientRow * Float.BYTES;
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        long cellRowBytes = (long) layout.hiddenSize() * Float.BYTES;
        long outputRowBytes = (long) outputSize * Float.BYTES;
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        hiddenGradient.fill((byte) 0);
        carriedGradient.fill((byte) 0);
        if (peepholeGradientSums != null) {
            peepholeGradientSums.fill((byte) 0);
        }
        for (int r = 0; r < batch; r++) {
            if (dhT != null) {
                MemorySegment.copy(dhT, plan.callerRow(r) * outputRowBytes, hiddenGradient,
                        r * hiddenGradientRowBytes, outputRowBytes);
            }
            if (dcT != null) {
                MemorySegment.copy(dcT, plan.callerRow(r) * cellRowBytes, carriedGradient, r * stateRowBytes,
                        cellRowBytes);
            }
        }
        for (int t = steps - 1; t >= 0; t--) {
            int active = plan.activeAt(t);
            if (active == 0) {
                continue;
            }
            if (dy != null) {
                for (int r = 0; r < active; r++) {
                    tensors.add(dy, plan.row(t, plan.callerRow(r)) * outputRowBytes, hiddenGradient,
                            r * hiddenGradientRowBytes, outputSize);
                }
            }
            long offset = stepStart[t] * gateRowBytes;
            if (cell == Postgemm.GRU) {
                pointwise.gruBackward(layout, gates, offset, preActivations, offset, state.hiddenAt(t),
                        forward.candidatePreActivations(t), hiddenGradient, hiddenGradientRow, carriedGradient, active,
                        clip);
                team.multiply(gemmCall.set(transposedRecurrent, zeroBias, preActivations, offset, active,
                        hiddenGradient, 0));
                for (int r = 0; r < active; r++) {
                    tensors.add(carriedGradient, r * stateRowBytes, hiddenGradient, r * hiddenGradientRowBytes,
                            outputSize);
                }
                continue;
            }
            // With a projection the cell backward takes dm = dh · W_hr in place of dh.
            MemorySegment cellOutputGradient = projection == null ? hiddenGradient
                    : projection.cellOutputGradient(team, hiddenGradient, stepStart[t], active);
            int cellOutputGradientRow = projection == null ? hiddenGradientRow : projection.cellOutputGradientRow();
            pointwise.lstmBackward(layout, gates, offset, preActivations, offset, state.cellAt(t + 1), 0,
                    state.cellAt(t), 0, cellOutputGradient, cellOutputGradientRow, carriedGradient, vectorScratch,
                    active, clip, peepholes, peepholeGradientSums);
            if (clip < Float.POSITIVE_INFINITY) {
                // The forward left each step's whole pre-activations z in preActivations.
                tensors.zeroWhereAbove(preActivations, offset, gates, offset, active * layout.gateRowFloats(), clip);
            }
            team.multiply(gemmCall.set(transposedRecurrent, zeroBias, gates, offset, active, hiddenGradient, 0));
        }
        for (int r = 0; r < batch; r++) {
            if (dh0 != null) {
                MemorySegment.copy(hiddenGradient, r * hiddenGradientRowBytes, dh0, plan.callerRow(r) * outputRowBytes,
                        outputRowBytes);
            }
            if (dc0 != null) {
                MemorySegment.copy(carriedGradient, r * stateRowBytes, dc0, plan.callerRow(r) * cellRowBytes,
                        cellRowBytes);
            }
        }
    }

    /** dx = dz·W of the saved forward, in its layout, zeros where a sequence has ended; after {@link #backward}. */
    void inputGradient(MemorySegment dx) {
        int steps = plan.steps();
        int batch = plan.batch();
        int rows = stepStart[steps];
        team.multiply(gemmCall.set(transposedInput, zeroBias, forward.gates(), 0, rows, inputGradientRows, 0));
        int inputSize = layout.inputSize();
        int inputGradientRow = inputGradientLayout.gateRowFloats();
        if (plan.contiguous()) {
            PaddedRows.copyOut(inputGradientRows, 0, inputGradientRow, dx, 0, inputSize, rows);
            return;
        }
        long inputRowBytes = (long) inputSize * Float.BYTES;
        long packedRowBytes = (long) inputGradientRow * Float.BYTES;
        for (int t = 0; t < steps; t++) {
            int active = plan.activeAt(t);
            for (int r = 0; r < batch; r++) {
                long target = plan.row(t, plan.callerRow(r)) * inputRowBytes;
                if (r < active) {
                    MemorySegment.copy(inputGradientRows, (stepStart[t] + r) * packedRowBytes, dx, target,
                            inputRowBytes);
                } else {
                    MemorySegment.copy(zeroBias, 0, dx, target, inputRowBytes);
                }
            }
        }
    }

    /**
     * The weight gradients, in PyTorch's layouts, written or added ({@code mode}) into the targets: W_ih
     * {@code [G·H][I]}, W_hh {@code [G·H][S]}, b_ih and b_hh {@code [G·H]}, W_hr {@code [P][H]} (null without a
     * projection) and the peepholes {@code [3][H]} (CIFG: {@code [2][H]}; null without); after {@link #backward}, whose
     * dz it reads (zeros if no sequence ran a step). An LSTM's dz serves both sides and both biases get Σdz; a GRU's
     * input and recurrent sides differ.
     *
     * <p>The GEMMs read dzᵀ ({@code [G·H'][rows]}) row by row, so that their output rows are gate rows, which map one
     * to one onto PyTorch's {@code [G·H][depth]} rows. dz is transposed first: read down its columns instead (a stride
     * of G·H' floats, a multiple of 1 KiB at H = 256, 512, 1024), each broadcast touched a new cache line in a few L1
     * sets. An LSTM's or CIFG's dz goes into the pre-activations, which the backward no longer needs; a GRU's
     * two sides go one after the other into a buffer of their own, as both are still needed.
     */
    void weightGradients(GradientMode mode, MemorySegment weightIh, MemorySegment weightHh, MemorySegment biasIh,
                         MemorySegment biasHh, MemorySegment weightHr, MemorySegment peepholes) {
        int rows = stepStart[plan.steps()];
        if (rows == 0) {
            if (mode == GradientMode.OVERWRITE) {
                zero(weightIh);
                zero(weightHh);
                zero(biasIh);
                zero(biasHh);
                zero(weightHr);
                zero(peepholes);
            }
            return;
        }
        MemorySegment gates = forward.gates();
        MemorySegment preActivations = forward.preActivations();
        boolean twoSided = cell == Postgemm.GRU;
        int inputSize = layout.inputSize();
        biasGradient(gates, rows, biasIh, mode);
        biasGradient(twoSided ? preActivations : gates, rows, biasHh, mode);
        MemorySegment transposed = twoSided ? transposedGradients : preActivations;
        transpose(gates, rows, transposed);
        packPanels(forward.inputs(), 0, (long) inputSize * Float.BYTES, true, inputSize);
        weightGradient(inputWeightGradientLayout, inputSize, transposed, rows, weightIh, mode);
        if (twoSided) {
            transpose(preActivations, rows, transposed);
        }
        long hiddenRowBytes = state.hiddenRowBytes();
        packPanels(state.hiddenHistory(), maxBatch * hiddenRowBytes, hiddenRowBytes, false, outputSize);
        weightGradient(hiddenWeightGradientLayout, outputSize, transposed, rows, weightHh, mode);
        if (projection != null) {
            long cellOutputRowBytes = (long) layout.paddedHidden() * Float.BYTES;
            packPanels(forward.cellOutputs(), forward.cellOutputStepBytes(), cellOutputRowBytes, false,
                    layout.hiddenSize());
            // dzᵀ in preActivations is read no more: it holds dhᵀ now.
            projection.weightGradient(team, weightGradientPanels, rows, preActivations, weightGradientRows, weightHr,
                    mode);
        }
        if (peepholeGradientSums != null) {
            for (int peephole = 0; peephole < Packing.peepholeVectors(layout); peephole++) {
                for (int unit = 0; unit < layout.hiddenSize(); unit++) {
                    float sum = peepholeGradientSums.getAtIndex(FLOAT,
                            layout.gateIndex(Packing.peepholeGate(layout, peephole), unit));
                    store(peepholes, (long) peephole * layout.hiddenSize() + unit, sum, mode);
                }
            }
        }
    }

    /** Packs W and U for the backward's dx and dh GEMMs from the layer's packing, after it changed. */
    void packTransposed() {
        Packing.transposed(layout, layer.input().data(), layout.inputSize(), transposedInput.data());
        Packing.transposed(layout, layer.recurrent().data(), outputSize, transposedRecurrent.data());
        if (projection != null) {
            projection.repack();
        }
    }

    /** Packs the forward's rows of {@code source} for a weight-gradient GEMM ({@link WeightGradientPanels#pack}). */
    private void packPanels(MemorySegment source, long stepBytes, long rowBytes, boolean packed, int width) {
        WeightGradientPanels.pack(source, stepBytes, rowBytes, packed, width, stepStart, plan.steps(), layout.lanes(),
                weightGradientPanels);
    }

    /** {@code rows} packed gate rows of dz, {@code [rows][G·H']}, into {@code target} as dzᵀ, {@code [G·H'][rows]}. */
    private void transpose(MemorySegment gateGradients, int rows, MemorySegment target) {
        tensors.transpose(gateGradients, 0, layout.gateRowFloats(), rows, layout.gateRowFloats(), target, rows);
    }

    /**
     * One weight-gradient GEMM of dzᵀ ({@code [G·H'][rows]}, read row by row) with the packed panels, written or
     * added into PyTorch's {@code [G·H][depth]}.
     */
    private void weightGradient(GateLayout gemm, int depth, MemorySegment dzTransposed, int rows,
                                MemorySegment target, GradientMode mode) {
        team.multiply(gemmCall.set(WeightFormat.FLOAT32, gemm, weightGradientPanels, rows, zeroBias, dzTransposed, 0,
                (long) rows * Float.BYTES, layout.gateRowFloats(), weightGradientRows, 0));
        long resultRowBytes = (long) gemm.gateRowFloats() * Float.BYTES;
        long targetRowBytes = (long) depth * Float.BYTES;
        for (int gate = 0; gate < layout.gates(); gate++) {
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

    /** A bias gradient: the sum of {@code rows} packed rows of dz, into PyTorch's {@code [G·H]}. */
    private void biasGradient(MemorySegment gateGradients, int rows, MemorySegment target, GradientMode mode) {
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        biasGradientSums.fill((byte) 0);
        for (int row = 0; row < rows; row++) {
            tensors.add(gateGradients, row * gateRowBytes, biasGradientSums, 0, layout.gateRowFloats());
        }
        for (int gate = 0; gate < layout.gates(); gate++) {
            for (int unit = 0; unit < layout.hiddenSize(); unit++) {
                float sum = biasGradientSums.getAtIndex(FLOAT, layout.gateIndex(gate, unit));
                store(target, (long) gate * layout.hiddenSize() + unit, sum, mode);
            }
        }
    }

    private static void zero(MemorySegment target) {
        if (target != null) {
            target.fill((byte) 0);
        }
    }

    /** Writes or adds one gradient value. */
    private static void store(MemorySegment tensor, long index, float value, GradientMode mode) {
        float previous = mode == GradientMode.ACCUMULATE ? tensor.getAtIndex(FLOAT, index) : 0f;
        tensor.setAtIndex(FLOAT, index, previous + value);
    }
}
