package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import dev.vlstm.engine.PackedLayer;
import dev.vlstm.kernel.GateLayout;
import dev.vlstm.kernel.GemmCall;
import dev.vlstm.kernel.PackedMatrix;
import dev.vlstm.kernel.Packing;
import dev.vlstm.kernel.Pointwise;
import dev.vlstm.kernel.Postgemm;
import dev.vlstm.kernel.StepCall;
import dev.vlstm.kernel.Team;
import dev.vlstm.kernel.TensorKernel;
import dev.vlstm.kernel.WeightFormat;

/**
 * Backpropagation through time for one {@link GruWeights}: a training {@link #forward} that keeps what the backward
 * pass needs (the activations r, z, n, the recurrent candidate m = U_n h + b_hn, every h), and a {@link #backward}
 * that yields every gradient.
 *
 * <p>Organised as {@link LstmTrainer} is: per step in reverse, one pointwise pass makes the input-side gate
 * gradients {@code (da_r, da_z, da_n)}, the recurrent-side ones {@code (da_r, da_z, dm)} (they differ in the n gate,
 * which linear-before-reset multiplies by r) and the direct part {@code dh z}; {@code dh_{t-1} = dh z +
 * (da_r, da_z, dm)·W_hh} runs the four-gate GEMM on a transposed packing of W_hh. After the loop, dW_ih, dW_hh
 * and dx are each one GEMM over all T·B rows, and the bias gradients are sums of the gate gradients. With
 * {@code threads > 1} every GEMM of both passes is split over output blocks among that many threads, as in
 * {@link LstmTrainer}, with the same results bit for bit.
 *
 * <p>Batches of sequences of different lengths (the {@code lengths} forward, either layout) run as
 * {@link LstmTrainer}'s do: rows sorted longest first, step t computing only the rows still running, packed one step
 * after the other, so that the backward and the weight-gradient GEMMs see no padding at all.
 *
 * <p>All scratch is allocated up front for {@code maxSteps × maxBatch}. Not thread-safe: one trainer per thread; two threads inside one trainer's methods at once are detected (the second
 * call throws an {@link IllegalStateException} and changes nothing). Layouts are row-major floats in native byte
 * order.
 */
public final class GruTrainer implements AutoCloseable {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private final GruWeights weights;
    private final PackedLayer layer;
    /** The threads of every GEMM and step of both passes: this trainer's own, or a stack's. */
    private final Team team;
    /** Whether {@link #close()} stops {@link #team}'s threads: false for a stack's, which the stack stops. */
    private final boolean ownsThreads;
    /** The arguments of this trainer's GEMMs and steps, set per call. */
    private final GemmCall gemmCall = new GemmCall();
    private final StepCall stepCall = new StepCall();
    private final Pointwise pointwise;
    private final TensorKernel tensors;
    private final GateLayout layout;
    /** The GEMM dh = g·W_hh: depth 3H', outputs H in tiles. */
    private final GateLayout hiddenGradientLayout;
    /** The GEMM dx = g·W_ih: depth 3H', outputs I in tiles. */
    private final GateLayout inputGradientLayout;
    /**
     * The weight-gradient GEMMs; their depth, the forward's row count, is given per call (the layouts' input size
     * is the most rows a forward can have).
     */
    private final GateLayout inputWeightGradientLayout;
    private final GateLayout hiddenWeightGradientLayout;
    private final int maxBatch;
    private final int maxSteps;
    private final OffHeap memory;
    /** W_ih packed for dx = g·W_ih ({@link #inputGradientLayout}). */
    private final PackedMatrix transposedInput;
    /** W_hh packed for dh = g·W_hh ({@link #hiddenGradientLayout}). */
    private final PackedMatrix transposedRecurrent;
    private final MemorySegment zeroBias;
    private final MemorySegment inputs;
    /** Input pre-activations with m in the n slots after the forward; recurrent-side gradients after the backward. */
    private final MemorySegment preActivations;
    /** r, z, n after the forward; input-side gradients after the backward; {@code [T·B][3H']}. */
    private final MemorySegment gates;
    /** h before and after every step, {@code [T+1][maxBatch][H']}, viewed per step through slices. */
    private final MemorySegment hiddens;
    private final MemorySegment[] hiddenSteps;
    private final MemorySegment hiddenGradient;
    private final MemorySegment directGradient;
    private final MemorySegment weightGradientPanels;
    private final MemorySegment weightGradientRows;
    private final MemorySegment biasGradientSums;
    private final MemorySegment inputGradientRows;
    private int savedSteps;
    private SequenceLayout savedLayout = SequenceLayout.TIME_MAJOR;
    /** The lengths of the saved forward and the order its rows ran in. */
    private final VariableLengths plan;
    /** First packed row of each step of the saved forward, {@code [maxSteps + 1]}; the last entry is the total. */
    private final int[] stepStart;
    private final ExclusiveUse inUse = new ExclusiveUse(this,
            "a GruTrainer is for one thread at a time; give each thread its own");

    /**
     * A trainer for sequences of up to {@code maxSteps} steps of up to {@code maxBatch} rows.
     *
     * @param weights  the model to train, open; shared, not owned: closing the trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps most time steps of a forward, &ge; 1; the scratch keeps every step's state
     * @throws IllegalArgumentException if a size is &lt; 1
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public GruTrainer(GruWeights weights, int maxBatch, int maxSteps) {
        this(weights, maxBatch, maxSteps, 1);
    }

    /**
     * As {@link #GruTrainer(GruWeights, int, int)}, running the GEMMs of the forward and the backward (the input
     * projection, each recurrent step, each step's {@code dh = g·W_hh}, and dx, dW_ih, dW_hh) on {@code threads}
     * threads, each owning a range of output blocks, as {@link GruRunner#GruRunner(GruWeights, int, int, int)}
     * describes; the pointwise backward, the bias sums and the copies stay on the calling thread. Results are the
     * same bits for any number of threads. {@link #close()} stops the worker threads.
     *
     * @param weights  the model to train, open; shared, not owned: closing the trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps most time steps of a forward, &ge; 1; the scratch keeps every step's state
     * @param threads  threads per GEMM, 1 (the calling thread alone, the default) to {@link LstmRunner#MAX_THREADS}
     * @throws IllegalArgumentException if a size is &lt; 1 or {@code threads} is above {@link LstmRunner#MAX_THREADS}
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public GruTrainer(GruWeights weights, int maxBatch, int maxSteps, int threads) {
        this(weights, maxBatch, maxSteps, Checks.threads(threads), null);
    }

    /** A part of a stack, running on the stack's team ({@code stackTeam}, not owned: closing this leaves it running). */
    GruTrainer(GruWeights weights, int maxBatch, int maxSteps, Team stackTeam) {
        this(weights, maxBatch, maxSteps, 1, stackTeam);
    }

    private GruTrainer(GruWeights weights, int maxBatch, int maxSteps, int threads, Team stackTeam) {
        Checks.notNull("weights", weights).checkOpen();
        this.weights = weights;
        this.layer = weights.layer();
        this.pointwise = weights.family().pointwise();
        this.tensors = weights.family().tensors();
        this.layout = weights.layout();
        this.maxBatch = Checks.positive("maxBatch", maxBatch);
        this.maxSteps = Checks.positive("maxSteps", maxSteps);
        int inputSize = layout.inputSize();
        int hiddenSize = layout.hiddenSize();
        this.hiddenGradientLayout = layout.transposed(hiddenSize);
        this.inputGradientLayout = layout.transposed(inputSize);
        long rows = Checks.trainingRows(maxBatch, maxSteps);
        this.inputWeightGradientLayout = new GateLayout(GateLayout.LSTM_GATES, (int) rows,
                inputGradientLayout.hiddenSize(), layout.lanes());
        this.hiddenWeightGradientLayout = new GateLayout(GateLayout.LSTM_GATES, (int) rows,
                hiddenGradientLayout.hiddenSize(), layout.lanes());
        int gateRow = layout.gateRowFloats();
        long stepFloats = (long) maxBatch * layout.paddedHidden();
        int widestGradientRow = Math.max(inputGradientLayout.gateRowFloats(), hiddenGradientLayout.gateRowFloats());
        this.plan = new VariableLengths(maxBatch);
        this.stepStart = new int[maxSteps + 1];
        this.memory = OffHeap.open();
        try {
            transposedInput = new PackedMatrix(memory.floats(inputGradientLayout.packedFloats(gateRow)),
                    WeightFormat.FLOAT32, inputGradientLayout, gateRow);
            transposedRecurrent = new PackedMatrix(memory.floats(hiddenGradientLayout.packedFloats(gateRow)),
                    WeightFormat.FLOAT32, hiddenGradientLayout, gateRow);
            packTransposed();
            zeroBias = memory.floats(Math.max(gateRow, widestGradientRow));
            inputs = memory.floats(rows * inputSize);
            preActivations = memory.floats(rows * gateRow);
            gates = memory.floats(rows * gateRow);
            hiddens = memory.floats((maxSteps + 1) * stepFloats);
            hiddenSteps = new MemorySegment[maxSteps + 1];
            for (int t = 0; t <= maxSteps; t++) {
                hiddenSteps[t] = hiddens.asSlice(t * stepFloats * Float.BYTES, stepFloats * Float.BYTES);
            }
            hiddenGradient = memory.floats((long) maxBatch * hiddenGradientLayout.gateRowFloats());
            directGradient = memory.floats(stepFloats);
            weightGradientPanels = memory.floats(rows * widestGradientRow);
            weightGradientRows = memory.floats((long) gateRow * widestGradientRow);
            biasGradientSums = memory.floats(gateRow);
            inputGradientRows = memory.floats(rows * inputGradientLayout.gateRowFloats());
            team = stackTeam != null ? stackTeam : new Team(weights.family(), threads);
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
        this.ownsThreads = stackTeam == null;
    }

    /** {@return the weights this trainer trains (not owned by the trainer)} */
    public GruWeights weights() {
        return weights;
    }

    /** {@return the threads each GEMM runs on, the calling thread included; 1 for the calling thread alone} */
    public int threads() {
        return team.threads();
    }

    /** {@return the largest batch of a forward, &ge; 1} */
    public int maxBatch() {
        return maxBatch;
    }

    /** {@return the most time steps of a forward, &ge; 1} */
    public int maxSteps() {
        return maxSteps;
    }

    /**
     * The forward of {@link GruRunner#forward} (same arithmetic, same results), keeping what {@link #backward} needs.
     *
     * @param x     input, {@code [T][B][I]} floats (time-major)
     * @param steps T, 1 &le; T &le; {@link #maxSteps()}
     * @param batch B, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden state {@code [B][H]}, or null for zeros
     * @param y     output, {@code [T][B][H]}, or null if not wanted
     * @param hT    output, {@code [B][H]}, or null if not wanted
     * @throws IllegalArgumentException for a size out of range, a segment whose size does not match its shape, or a
     *                                  read-only output
     * @throws IllegalStateException    if this trainer, its weights or an argument's arena is closed, or another
     *                                  thread is using this trainer
     */
    public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment y, MemorySegment hT) {
        inUse.enter("forward");
        try {
            checkOpen();
            checkSizes(steps, batch);
            Checks.sequenceArguments(layout.inputSize(), layout.hiddenSize(), x, steps, batch, h0, null, y, hT,
                    null);
            plan.setFull(steps, batch);
            run(x, SequenceLayout.TIME_MAJOR, h0, y, hT);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Float-array form of {@link #forward(MemorySegment, int, int, MemorySegment, MemorySegment, MemorySegment)}.
     *
     * @param x     input, {@code [T][B][I]}
     * @param steps T, 1 &le; T &le; {@link #maxSteps()}
     * @param batch B, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden state {@code [B][H]}, or null for zeros
     * @param y     output, {@code [T][B][H]}, or null
     * @param hT    output, {@code [B][H]}, or null
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void forward(float[] x, int steps, int batch, float[] h0, float[] y, float[] hT) {
        forward(MemorySegment.ofArray(Checks.notNull("x", x)), steps, batch, wrap(h0), wrap(y), wrap(hT));
    }

    /**
     * Runs a batch of sequences of different lengths as {@link GruRunner#forward(MemorySegment, SequenceLayout, int,
     * int, int[], MemorySegment, MemorySegment, MemorySegment)} does, with the same arguments and results, and keeps
     * what {@link #backward} needs; the backward then reads dy and writes dx in this call's layout, ignores dy past
     * each sequence's end (and writes zeros to dx there), and lets dhT enter at each sequence's own last step.
     * Padding steps add nothing to any gradient. The lengths are copied: the array may change after the call.
     *
     * @param x       input, {@code [T][B][I]} or {@code [B][T][I]} floats, as {@code layout} says
     * @param layout  the order of the time and batch dimensions of x and y (and of dy and dx in the backward)
     * @param steps   T, the padded length, 1 &le; T &le; {@link #maxSteps()}
     * @param batch   B, sequences, 1 &le; B &le; {@link #maxBatch()}
     * @param lengths time steps of each sequence, B values in 0..T, in any order
     * @param h0      initial hidden state {@code [B][H]}, or null for zeros
     * @param y       output in x's layout with H floats a row, zero past each sequence's end; null if not wanted
     * @param hT      output, {@code [B][H]}: h after each sequence's last step; null if not wanted
     * @throws IllegalArgumentException as the time-major forward, and for a null layout, null lengths, lengths of
     *                                  another size than B, or a length outside 0..T (naming its index)
     * @throws IllegalStateException    as the time-major forward
     */
    public void forward(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths,
                        MemorySegment h0, MemorySegment y, MemorySegment hT) {
        inUse.enter("forward");
        try {
            checkOpen();
            Checks.notNull("layout", layout);
            checkSizes(steps, batch);
            VariableLengths.check(lengths, steps, batch);
            Checks.sequenceArguments(layout, this.layout.inputSize(), this.layout.hiddenSize(), x, steps, batch, h0,
                    null, y, hT, null);
            plan.set(lengths, steps, batch);
            run(x, layout, h0, y, hT);
        } finally {
            inUse.exit();
        }
    }

    /**
     * The training forward over the rows of {@link #plan}, in its sorted order: step t runs sorted rows
     * 0..activeAt(t)-1, whose inputs, pre-activations and gates lie packed from row {@code stepStart[t]} (a packed
     * sequence); h of step t is {@code hiddenSteps[t]}, row r being sorted row r. With every row full the order is
     * the caller's and the packing is the plain {@code [T][B]} one.
     */
    private void run(MemorySegment x, SequenceLayout order, MemorySegment h0, MemorySegment y, MemorySegment hT) {
        int steps = plan.steps();
        int batch = plan.batch();
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        long hiddenRowBytes = (long) layout.hiddenSize() * Float.BYTES;
        long inputRowBytes = (long) layout.inputSize() * Float.BYTES;
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        savedSteps = 0;
        savedLayout = order;
        int rows = 0;
        for (int t = 0; t < steps; t++) {
            stepStart[t] = rows;
            rows += plan.activeAt(t);
        }
        stepStart[steps] = rows;
        if (plan.full() && order == SequenceLayout.TIME_MAJOR) {
            MemorySegment.copy(x, 0, inputs, 0, rows * inputRowBytes);
        } else {
            plan.gatherRows(x, order, inputRowBytes, 0, steps, inputs, 0);
        }
        hiddenSteps[0].fill((byte) 0);
        if (h0 != null) {
            for (int r = 0; r < batch; r++) {
                MemorySegment.copy(h0, plan.callerRow(r) * hiddenRowBytes, hiddenSteps[0], r * stateRowBytes,
                        hiddenRowBytes);
            }
        }
        writeFinalStates(0, plan.activeAt(0), batch, hT);
        team.multiply(gemmCall.set(layer.input(), layer.inputBias(), inputs, 0, rows, preActivations, 0));
        for (int t = 0; t < steps; t++) {
            int active = plan.activeAt(t);
            if (active > 0) {
                long offset = stepStart[t] * gateRowBytes;
                team.step(stepCall.set(layer.recurrent(), Postgemm.GRU, Float.POSITIVE_INFINITY, layer.cellRow(),
                        preActivations, offset, gates, offset, hiddenSteps[t], stateRowBytes, null,
                        hiddenSteps[t + 1], active));
                writeFinalStates(t + 1, plan.activeAt(t + 1), active, hT);
            }
            if (y != null) {
                plan.scatterStep(t, order, hiddenSteps[t + 1], stateRowBytes, hiddenRowBytes, zeroBias, y);
            }
        }
        savedSteps = steps;
    }

    /** Copies h after step {@code step} of the sorted rows {@code from..to-1}, which end there, to the caller's hT. */
    private void writeFinalStates(int step, int from, int to, MemorySegment hT) {
        if (hT == null) {
            return;
        }
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        long hiddenRowBytes = (long) layout.hiddenSize() * Float.BYTES;
        for (int r = from; r < to; r++) {
            MemorySegment.copy(hiddenSteps[step], r * stateRowBytes, hT, plan.callerRow(r) * hiddenRowBytes,
                    hiddenRowBytes);
        }
    }

    /**
     * Backpropagates through the last {@link #forward}: given dL/dy and optionally dL/dhT, writes or adds the weight
     * gradients into {@code gradients} (by {@code mode}) and writes dL/dx and dL/dh0. Once per forward: the saved
     * activations are overwritten by the gate gradients. After a variable-length forward, dy and dx are in that
     * forward's layout, dy past each sequence's end is ignored, dx there is zero, and dhT enters at each sequence's
     * own last step (a sequence of length 0 gets dh0 = dhT).
     *
     * @param dy        dL/dy, shaped as the forward's y ({@code [T][B][H]} unless it was batch-first), or null for
     *                  zeros
     * @param dhT       dL/dhT, {@code [B][H]}, or null for zeros
     * @param gradients receives dL/dW_ih, dL/dW_hh, dL/db_ih and dL/db_hh, for weights of this trainer's sizes
     * @param mode      whether those replace or add to what {@code gradients} holds
     * @param dx        output dL/dx, shaped as the forward's x, or null if not wanted
     * @param dh0       output dL/dh0, {@code [B][H]}, or null if not wanted
     * @throws IllegalStateException    without a forward since the last backward, or if anything is closed
     * @throws IllegalArgumentException for gradients of other sizes or a segment of the wrong size
     */
    public void backward(MemorySegment dy, MemorySegment dhT, GruGradients gradients, GradientMode mode,
                         MemorySegment dx, MemorySegment dh0) {
        inUse.enter("backward");
        try {
            checkOpen();
            if (savedSteps == 0) {
                throw new IllegalStateException("backward needs a forward of this trainer first (and runs once per"
                        + " forward)");
            }
            int steps = plan.steps();
            int batch = plan.batch();
            SequenceLayout order = savedLayout;
            boolean timeMajor = order == SequenceLayout.TIME_MAJOR;
            int inputSize = layout.inputSize();
            int hiddenSize = layout.hiddenSize();
            Checks.notNull("gradients", gradients).checkOpen();
            Checks.notNull("mode", mode);
            if (gradients.inputSize() != inputSize || gradients.hiddenSize() != hiddenSize) {
                throw new IllegalArgumentException("gradients are for inputSize " + gradients.inputSize()
                        + ", hiddenSize " + gradients.hiddenSize() + ", but these weights have inputSize " + inputSize
                        + ", hiddenSize " + hiddenSize);
            }
            String outer = timeMajor ? "T" : "B";
            String inner = timeMajor ? "B" : "T";
            int outerSize = timeMajor ? steps : batch;
            int innerSize = timeMajor ? batch : steps;
            Checks.optionalFloats("dy", dy, outer, outerSize, inner, innerSize, "H", hiddenSize);
            Checks.optionalFloats("dhT", dhT, "B", batch, "H", hiddenSize);
            Checks.optionalOutput("dx", dx, outer, outerSize, inner, innerSize, "I", inputSize);
            Checks.optionalOutput("dh0", dh0, "B", batch, "H", hiddenSize);
            savedSteps = 0;
            backPropagate(order, dy, dhT, dh0);
            int rows = stepStart[steps];
            if (dx != null) {
                team.multiply(gemmCall.set(transposedInput, zeroBias, gates, 0, rows, inputGradientRows, 0));
                if (plan.full() && timeMajor) {
                    PaddedRows.copyOut(inputGradientRows, 0, inputGradientLayout.gateRowFloats(), dx, 0, inputSize,
                            rows);
                } else {
                    writeInputGradients(order, dx);
                }
            }
            weightGradients(rows, gradients, mode);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Float-array form of {@link #backward(MemorySegment, MemorySegment, GruGradients, GradientMode, MemorySegment,
     * MemorySegment)}.
     *
     * @param dy        dL/dy, shaped as the forward's y, or null for zeros
     * @param dhT       dL/dhT, {@code [B][H]}, or null for zeros
     * @param gradients receives the weight gradients
     * @param mode      whether those replace or add to what {@code gradients} holds
     * @param dx        output dL/dx, shaped as the forward's x, or null
     * @param dh0       output dL/dh0, {@code [B][H]}, or null
     * @throws IllegalStateException    as in the MemorySegment form
     * @throws IllegalArgumentException as in the MemorySegment form
     */
    public void backward(float[] dy, float[] dhT, GruGradients gradients, GradientMode mode, float[] dx,
                         float[] dh0) {
        backward(wrap(dy), wrap(dhT), gradients, mode, wrap(dx), wrap(dh0));
    }

    /**
     * The loop back through time over the packed rows of {@link #plan}: leaves the gate gradients of every step in
     * gates and preActivations. A row that has ended keeps its dh untouched until its last step comes.
     */
    private void backPropagate(SequenceLayout order, MemorySegment dy, MemorySegment dhT, MemorySegment dh0) {
        int steps = plan.steps();
        int batch = plan.batch();
        int hiddenSize = layout.hiddenSize();
        int hiddenGradientRow = hiddenGradientLayout.gateRowFloats();
        long hiddenGradientRowBytes = (long) hiddenGradientRow * Float.BYTES;
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        long hiddenRowBytes = (long) hiddenSize * Float.BYTES;
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        hiddenGradient.fill((byte) 0);
        if (dhT != null) {
            for (int r = 0; r < batch; r++) {
                MemorySegment.copy(dhT, plan.callerRow(r) * hiddenRowBytes, hiddenGradient, r * hiddenGradientRowBytes,
                        hiddenRowBytes);
            }
        }
        for (int t = steps - 1; t >= 0; t--) {
            int active = plan.activeAt(t);
            if (active == 0) {
                continue;
            }
            if (dy != null) {
                for (int r = 0; r < active; r++) {
                    tensors.add(dy, order.row(t, plan.callerRow(r), steps, batch) * hiddenRowBytes, hiddenGradient,
                            r * hiddenGradientRowBytes, hiddenSize);
                }
            }
            long offset = stepStart[t] * gateRowBytes;
            pointwise.gruBackward(layout, gates, offset, preActivations, offset, hiddenSteps[t], hiddenGradient,
                    hiddenGradientRow, directGradient, active);
            team.multiply(gemmCall.set(transposedRecurrent, zeroBias, preActivations, offset, active, hiddenGradient,
                    0));
            for (int r = 0; r < active; r++) {
                tensors.add(directGradient, r * stateRowBytes, hiddenGradient, r * hiddenGradientRowBytes,
                        hiddenSize);
            }
        }
        if (dh0 != null) {
            for (int r = 0; r < batch; r++) {
                MemorySegment.copy(hiddenGradient, r * hiddenGradientRowBytes, dh0, plan.callerRow(r) * hiddenRowBytes,
                        hiddenRowBytes);
            }
        }
    }

    /** Scatters the packed rows of dx to the caller's layout, zeros where a sequence has ended. */
    private void writeInputGradients(SequenceLayout order, MemorySegment dx) {
        int steps = plan.steps();
        int batch = plan.batch();
        long inputRowBytes = (long) layout.inputSize() * Float.BYTES;
        long packedRowBytes = (long) inputGradientLayout.gateRowFloats() * Float.BYTES;
        for (int t = 0; t < steps; t++) {
            int active = plan.activeAt(t);
            for (int r = 0; r < batch; r++) {
                long target = order.row(t, plan.callerRow(r), steps, batch) * inputRowBytes;
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
     * Loads new parameter values (after an optimizer step) into this trainer's weights and its transposed copies, in
     * place, without allocating. The weights are shared with whatever else uses them: no runner or trainer may use
     * them during this call. Invalidates the saved forward.
     *
     * @param parameters the new W_ih, W_hh, b_ih, b_hh in PyTorch layout, for this trainer's I and H; read during the
     *                   call only
     * @throws IllegalArgumentException if the sizes differ, or a value is NaN or infinite (a diverged update), naming
     *                                  the tensor and element
     * @throws IllegalStateException    if this trainer, its weights or the parameters are closed, or another thread is
     *                                  using this trainer
     */
    public void updateWeights(GruParameters parameters) {
        inUse.enter("updateWeights");
        try {
            checkOpen();
            Checks.notNull("parameters", parameters);
            if (parameters.inputSize() != layout.inputSize() || parameters.hiddenSize() != layout.hiddenSize()) {
                throw new IllegalArgumentException("parameters are for inputSize " + parameters.inputSize()
                        + ", hiddenSize " + parameters.hiddenSize() + ", but these weights have inputSize "
                        + layout.inputSize() + ", hiddenSize " + layout.hiddenSize());
            }
            savedSteps = 0;
            weights.repack(parameters);
            packTransposed();
        } finally {
            inUse.exit();
        }
    }

    /**
     * dW_ih = (input-side gradients)ᵀ·X and dW_hh = (recurrent-side gradients)ᵀ·H_prev, each one GEMM over all
     * {@code rows} packed rows reading the gradients down their columns, and the bias gradients as column sums; zeros
     * if no sequence ran a step. {@link LstmTrainer} transposes its dz first, because reading down the columns misses
     * L1 at every broadcast; here both gradient buffers are still needed at that point, so a transpose needs a
     * buffer of its
     * own (not yet done).
     */
    private void weightGradients(int rows, GruGradients gradients, GradientMode mode) {
        if (rows == 0) {
            if (mode == GradientMode.OVERWRITE) {
                gradients.zero();
            }
            return;
        }
        int inputSize = layout.inputSize();
        int hiddenSize = layout.hiddenSize();
        long inputRowBytes = (long) inputSize * Float.BYTES;
        packPanels(inputs, 0, inputRowBytes, true, inputSize);
        weightGradient(inputWeightGradientLayout, rows, gates, inputSize, gradients.weightIh(), mode);
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        packPanels(hiddens, maxBatch * stateRowBytes, stateRowBytes, false, hiddenSize);
        weightGradient(hiddenWeightGradientLayout, rows, preActivations, hiddenSize, gradients.weightHh(), mode);
        biasGradient(gates, rows, gradients.biasIh(), mode);
        biasGradient(preActivations, rows, gradients.biasHh(), mode);
    }

    /** Packs the forward's rows of {@code source} for a weight-gradient GEMM ({@link WeightGradientPanels#pack}). */
    private void packPanels(MemorySegment source, long stepBytes, long rowBytes, boolean packed, int width) {
        WeightGradientPanels.pack(source, stepBytes, rowBytes, packed, width, stepStart, plan.steps(), layout.lanes(),
                weightGradientPanels);
    }

    /** Packs W_ih and W_hh for the backward's dx and dh GEMMs from the weights' packing ({@link Packing#transposed}). */
    private void packTransposed() {
        Packing.transposed(layout, layer.input().data(), layout.inputSize(), transposedInput.data());
        Packing.transposed(layout, layer.recurrent().data(), layout.hiddenSize(), transposedRecurrent.data());
    }

    /** One weight-gradient GEMM over the packed panels, written or added into PyTorch's {@code [3H][depth]}. */
    private void weightGradient(GateLayout product, int rows, MemorySegment gateGradients, int depth,
                                MemorySegment target, GradientMode mode) {
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        team.multiply(gemmCall.set(WeightFormat.FLOAT32, product, weightGradientPanels, rows, zeroBias, gateGradients,
                0, Float.BYTES, gateRowBytes, layout.gateRowFloats(), weightGradientRows, 0));
        long resultRowBytes = (long) product.gateRowFloats() * Float.BYTES;
        long targetRowBytes = (long) depth * Float.BYTES;
        for (int gate = 0; gate < GateLayout.GRU_GATES; gate++) {
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

    /** The sum of {@code rows} gate-gradient rows, written or added into a PyTorch {@code [3H]} bias gradient. */
    private void biasGradient(MemorySegment gateGradients, int rows, MemorySegment target, GradientMode mode) {
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        biasGradientSums.fill((byte) 0);
        for (int row = 0; row < rows; row++) {
            tensors.add(gateGradients, row * gateRowBytes, biasGradientSums, 0, layout.gateRowFloats());
        }
        for (int gate = 0; gate < GateLayout.GRU_GATES; gate++) {
            for (int unit = 0; unit < layout.hiddenSize(); unit++) {
                float sum = biasGradientSums.getAtIndex(FLOAT, layout.gateIndex(gate, unit));
                long index = (long) gate * layout.hiddenSize() + unit;
                float previous = mode == GradientMode.ACCUMULATE ? target.getAtIndex(FLOAT, index) : 0f;
                target.setAtIndex(FLOAT, index, previous + sum);
            }
        }
    }

    /**
     * Frees the scratch memory and stops the worker threads (if {@link #threads()} &gt; 1), waiting until they have
     * ended. Closing twice is harmless.
     *
     * @throws IllegalStateException if another thread is using this trainer
     */
    @Override
    public void close() {
        inUse.enter("close");
        try {
            memory.close();
            if (ownsThreads) {
                team.close();
            }
        } finally {
            inUse.exit();
        }
    }

    /** The worker threads of this trainer (none for one thread), for tests. */
    List<Thread> workerThreads() {
        return team.workerThreads();
    }

    private void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("this GruTrainer is closed");
        }
        weights.checkOpen();
    }

    private void checkSizes(int steps, int batch) {
        Checks.positive("steps", steps);
        Checks.positive("batch", batch);
        if (steps > maxSteps) {
            throw new IllegalArgumentException("steps " + steps + " exceeds this GruTrainer's maxSteps " + maxSteps);
        }
        if (batch > maxBatch) {
            throw new IllegalArgumentException("batch " + batch + " exceeds this GruTrainer's maxBatch " + maxBatch);
        }
    }

    private static MemorySegment wrap(float[] array) {
        return array == null ? null : MemorySegment.ofArray(array);
    }
}
