package dev.vlstm;

import java.lang.foreign.MemorySegment;

import dev.vlstm.engine.PackedLayer;
import dev.vlstm.kernel.GateLayout;
import dev.vlstm.kernel.GemmCall;
import dev.vlstm.kernel.Postgemm;
import dev.vlstm.kernel.StepCall;
import dev.vlstm.kernel.Team;

/**
 * The forward time loop of one layer and direction, for every cell (its {@link dev.vlstm.kernel.Postgemm} code and,
 * for an LSTM, a c in the state and an optional projection): sequences of equal or different lengths, and one
 * streaming step. Per chunk of time steps one GEMM makes the input pre-activations of every row that runs
 * ({@code x·Wᵀ + b}); per step one fused recurrent step ({@code h·Uᵀ} and the cell, per tile) advances the state,
 * and with a projection one more GEMM makes {@code h = m·W_hrᵀ}.
 *
 * <p>Training is the same forward with a workspace ({@link #training}): one chunk holds the whole sequence, and
 * the inputs, pre-activations, gate activations and (with a projection) the cell outputs m of every step stay in
 * place for the backward, each step's rows packed after the previous step's (row {@code stepStart[t]} onwards),
 * beside a {@link LayerState#history} state. Arguments are the caller's to check: this class computes. Its scratch
 * comes from the owner's memory; one thread at a time (the owner's guard).
 */
final class LayerDriver {

    private final PackedLayer layer;
    private final GateLayout layout;
    private final int cell;
    private final float clip;
    private final Team team;
    private final GemmCall gemmCall = new GemmCall();
    private final StepCall stepCall = new StepCall();
    private final int chunkSteps;
    /** Whether each step keeps its gates and cell outputs (training) rather than overwriting one step's. */
    private final boolean keep;
    /** x of one chunk, {@code [chunkSteps·maxBatch][I]}. */
    private final MemorySegment inputChunk;
    /** The chunk's input pre-activations, {@code [chunkSteps·maxBatch][gateRow]}. */
    private final MemorySegment preActivations;
    /** One step's sums, then activations, {@code [maxBatch][gateRow]}; every step's when training. */
    private final MemorySegment gates;
    /**
     * m = o*tanh(c) of one step for the projection, {@code [maxBatch][paddedHidden]}, or of every step when
     * training, {@code [chunkSteps][maxBatch][paddedHidden]}; null without a projection.
     */
    private final MemorySegment cellOutputs;
    /** {@link #cellOutputs} per step: one slice, or one per step when training; null without a projection. */
    private final MemorySegment[] cellOutputSteps;
    /** Bytes between the steps of {@link #cellOutputs}. */
    private final long cellOutputStepBytes;
    /**
     * A GRU's n pre-activations {@code a_n + r*m} of every step, {@code [chunkSteps][maxBatch][paddedHidden]} as one
     * slice per step, which the backward of a clip reads: kept by a training GRU with a finite clip, else null.
     */
    private final MemorySegment[] candidatePreActivationSteps;
    /** S zeros: y of the steps after a sequence's end. */
    private final MemorySegment zeroRow;

    /**
     * An inference driver.
     *
     * @param cell       the cell's {@link dev.vlstm.kernel.Postgemm} code
     * @param clip       the clip of the activations' inputs (an LSTM's or CIFG's cell clip, a GRU's clip),
     *                   {@code Float.POSITIVE_INFINITY} for none
     * @param team       the threads of every GEMM and step, not owned
     * @param maxBatch   most rows of a call
     * @param chunkSteps time steps whose input GEMM runs as one; {@code maxBatch · chunkSteps · gateRow} fits an int
     * @param memory     the owner's memory, which holds the scratch
     */
    LayerDriver(PackedLayer layer, int cell, float clip, Team team, int maxBatch, int chunkSteps, OffHeap memory) {
        this(layer, cell, clip, team, maxBatch, chunkSteps, false, memory);
    }

    private LayerDriver(PackedLayer layer, int cell, float clip, Team team, int maxBatch, int chunkSteps,
                        boolean keep, OffHeap memory) {
        this.layer = layer;
        this.layout = layer.layout();
        this.cell = cell;
        this.clip = clip;
        this.team = team;
        this.chunkSteps = chunkSteps;
        this.keep = keep;
        long rows = (long) maxBatch * chunkSteps;
        this.inputChunk = memory.floats(rows * layout.inputSize());
        this.preActivations = memory.floats(rows * layout.gateRowFloats());
        this.gates = memory.floats((keep ? rows : maxBatch) * layout.gateRowFloats());
        this.cellOutputStepBytes = (long) maxBatch * layout.paddedHidden() * Float.BYTES;
        this.cellOutputs = layer.projection() == null ? null
                : memory.floats((keep ? rows : maxBatch) * layout.paddedHidden());
        this.cellOutputSteps = cellOutputs == null ? null : new MemorySegment[keep ? chunkSteps : 1];
        for (int step = 0; cellOutputSteps != null && step < cellOutputSteps.length; step++) {
            cellOutputSteps[step] = cellOutputs.asSlice(step * cellOutputStepBytes, cellOutputStepBytes);
        }
        boolean keepCandidates = keep && cell == Postgemm.GRU && clip < Float.POSITIVE_INFINITY;
        this.candidatePreActivationSteps = keepCandidates ? new MemorySegment[chunkSteps] : null;
        if (keepCandidates) {
            MemorySegment candidates = memory.floats(rows * layout.paddedHidden());
            for (int step = 0; step < chunkSteps; step++) {
                candidatePreActivationSteps[step] = candidates.asSlice(step * cellOutputStepBytes,
                        cellOutputStepBytes);
            }
        }
        this.zeroRow = memory.floats(layer.projectionSize() > 0 ? layer.projectionSize() : layout.hiddenSize());
    }

    /**
     * A training driver: the forward keeps every step of up to {@code maxSteps} steps for the backward (with a
     * {@link LayerState#history} state of as many steps). The other parameters are the inference driver's.
     */
    static LayerDriver training(PackedLayer layer, int cell, float clip, Team team, int maxBatch, int maxSteps,
                                OffHeap memory) {
        return new LayerDriver(layer, cell, clip, team, maxBatch, maxSteps, true, memory);
    }

    /**
     * Sequences of equal or different lengths, in the call's layout, as {@code plan} sorted them (longest first): the
     * state's row r is the caller's row {@code plan.callerRow(r)}, and step t runs rows 0..activeAt(t)-1. A chunk's
     * input GEMM holds only the rows that run, step after step (a packed sequence), so padding costs no arithmetic.
     * A row's hT and cT are written at the step where it ends; y is zero past each sequence's end. When every row
     * runs every step of a time-major x, the rows are copied in and out as whole blocks. h0 and c0 are read before
     * any output is written, so they may alias hT and cT.
     */
    void forward(MemorySegment x, VariableLengths plan, LayerState state, MemorySegment h0, MemorySegment c0,
                 MemorySegment y, MemorySegment hT, MemorySegment cT) {
        int steps = plan.steps();
        int batch = plan.batch();
        boolean blocks = plan.contiguous();
        long cellRowBytes = (long) layout.hiddenSize() * Float.BYTES;
        long hiddenRowBytes = (long) state.outputSize() * Float.BYTES;
        long inputRowBytes = (long) layout.inputSize() * Float.BYTES;
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        state.reset();
        if (blocks) {
            if (h0 != null) {
                state.copyHiddenIn(h0, 0, batch);
            }
            if (c0 != null) {
                state.copyCellIn(c0, 0, batch);
            }
        } else {
            for (int r = 0; r < batch; r++) {
                if (h0 != null) {
                    MemorySegment.copy(h0, plan.callerRow(r) * hiddenRowBytes, state.currentHidden(),
                            r * state.hiddenRowBytes(), hiddenRowBytes);
                }
                if (c0 != null) {
                    MemorySegment.copy(c0, plan.callerRow(r) * cellRowBytes, state.cell(), r * state.cellRowBytes(),
                            cellRowBytes);
                }
            }
            writeFinalStates(plan, plan.activeAt(0), batch, state, hT, cT);
        }
        for (int start = 0; start < steps; start += chunkSteps) {
            int chunk = Math.min(chunkSteps, steps - start);
            if (blocks) {
                int rows = chunk * batch;
                MemorySegment.copy(x, (long) start * batch * inputRowBytes, inputChunk, 0, rows * inputRowBytes);
                inputGemm(rows);
            } else {
                inputGemm(plan.gatherRows(x, inputRowBytes, start, start + chunk, inputChunk, 0));
            }
            int row = 0;
            for (int step = start; step < start + chunk; step++) {
                int active = plan.activeAt(step);
                if (active > 0) {
                    advance(state, step - start, row * gateRowBytes, active);
                    if (!blocks) {
                        writeFinalStates(plan, plan.activeAt(step + 1), active, state, hT, cT);
                    }
                }
                if (y != null) {
                    if (blocks) {
                        state.copyHiddenOut(y, (long) step * batch * hiddenRowBytes, batch);
                    } else {
                        plan.scatterStep(step, state.currentHidden(), state.hiddenRowBytes(), hiddenRowBytes,
                                zeroRow, y);
                    }
                }
                row += active;
            }
        }
        if (blocks) {
            if (hT != null) {
                state.copyHiddenOut(hT, 0, batch);
            }
            if (cT != null) {
                state.copyCellOut(cT, 0, batch);
            }
        }
    }

    /** One streaming step of the state's first {@code batch} rows from {@code x [B][I]}, writing h (null: not). */
    void step(MemorySegment x, int batch, LayerState state, MemorySegment h) {
        MemorySegment.copy(x, 0, inputChunk, 0, (long) batch * layout.inputSize() * Float.BYTES);
        inputGemm(batch);
        advance(state, 0, 0, batch);
        if (h != null) {
            state.copyHiddenOut(h, 0, batch);
        }
    }

    /** {@return the inputs of the last training forward, its packed rows, {@code [rows][I]}} */
    MemorySegment inputs() {
        return inputChunk;
    }

    /**
     * {@return the last training forward's input pre-activations per packed row, {@code [rows][gateRow]}}, as the
     * steps left them: an LSTM's or CIFG's whole pre-activations z (input and recurrent sums); a GRU's m in the n
     * slots, and with a finite clip its whole pre-activations of r and z in theirs
     */
    MemorySegment preActivations() {
        return preActivations;
    }

    /** {@return the last training forward's gate activations per packed row, {@code [rows][gateRow]}} */
    MemorySegment gates() {
        return gates;
    }

    /** {@return m of every step of the last training forward, {@code [step][maxBatch][paddedHidden]}; null without a projection} */
    MemorySegment cellOutputs() {
        return cellOutputs;
    }

    /**
     * {@return a GRU's n pre-activations of step {@code step} of the last training forward, {@code [rows of the
     * step][paddedHidden]}}; null unless the forward kept them (a training GRU with a finite clip)
     */
    MemorySegment candidatePreActivations(int step) {
        return candidatePreActivationSteps == null ? null : candidatePreActivationSteps[step];
    }

    /** {@return bytes between the steps of {@link #cellOutputs()}} */
    long cellOutputStepBytes() {
        return cellOutputStepBytes;
    }

    /** The input pre-activations of the first {@code rows} rows of the input chunk. */
    private void inputGemm(int rows) {
        team.multiply(gemmCall.set(layer.input(), layer.inputBias(), inputChunk, 0, rows, preActivations, 0));
    }

    /**
     * One recurrent step of {@code rows} rows of {@code state}, step {@code step} of its chunk, from the input
     * pre-activations at {@code preActivationsOffset} bytes: the fused recurrent GEMM and cell update, writing h
     * directly, or with a projection writing m and then h = m · W_hrᵀ (one more GEMM); then the state advances.
     * Training keeps the gates at the pre-activations' offset, and per step m, or a clipped GRU's n
     * pre-activations (in place of the c a GRU does not have).
     */
    private void advance(LayerState state, int step, long preActivationsOffset, int rows) {
        long gatesOffset = keep ? preActivationsOffset : 0;
        MemorySegment cellOutput = cellOutputSteps == null ? null : cellOutputSteps[keep ? step : 0];
        MemorySegment c = candidatePreActivationSteps == null ? state.nextCell(rows)
                : candidatePreActivationSteps[step];
        team.step(stepCall.set(layer.recurrent(), cell, clip, layer.cellRow(), preActivations, preActivationsOffset,
                gates, gatesOffset, state.currentHidden(), state.hiddenRowBytes(), c,
                cellOutput == null ? state.nextHidden() : cellOutput, rows));
        if (cellOutput != null) {
            team.multiply(gemmCall.set(layer.projection(), layer.projectionBias(), cellOutput, 0,
                    (long) layout.paddedHidden() * Float.BYTES, rows, state.nextHidden(), 0));
        }
        state.advance();
    }

    /** Copies h and c of the sorted rows {@code from..to-1}, which have just ended, to their caller rows. */
    private void writeFinalStates(VariableLengths plan, int from, int to, LayerState state, MemorySegment hT,
                                  MemorySegment cT) {
        long cellRowBytes = (long) layout.hiddenSize() * Float.BYTES;
        long hiddenRowBytes = (long) state.outputSize() * Float.BYTES;
        for (int r = from; r < to; r++) {
            if (hT != null) {
                MemorySegment.copy(state.currentHidden(), r * state.hiddenRowBytes(), hT,
                        plan.callerRow(r) * hiddenRowBytes, hiddenRowBytes);
            }
            if (cT != null) {
                MemorySegment.copy(state.cell(), r * state.cellRowBytes(), cT, plan.callerRow(r) * cellRowBytes,
                        cellRowBytes);
            }
        }
    }
}
