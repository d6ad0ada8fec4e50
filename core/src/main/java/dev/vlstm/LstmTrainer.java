package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.util.List;

import dev.vlstm.engine.PackedLayer;
import dev.vlstm.kernel.GateLayout;
import dev.vlstm.kernel.Postgemm;
import dev.vlstm.kernel.Team;

/**
 * Backpropagation through time for one {@link LstmWeights}: a training {@link #forward} that keeps what the
 * backward pass needs (gate activations, every h and c), and a {@link #backward} that yields every gradient.
 *
 * <p>Organised like the forward (docs/architecture.md, "The backward"): per step in reverse, one pointwise pass
 * makes the four gate
 * gradients dz and carries dc back; {@code dh_{t-1} = dz·U} runs the forward's GEMM kernel on a transposed packing
 * of U. After the loop, dW_ih = dzᵀ·X, dW_hh = dzᵀ·H_prev and dx = dz·W are each one GEMM over all T·B rows
 * (again the same kernel, on transposed operands), and db = Σ dz. With peephole connections the pointwise pass also
 * carries the peephole paths into dc and sums dp_i, dp_f, dp_o over the steps and rows.
 *
 * <p>With PyTorch's projection ({@link LstmWeights#projectionSize()} = P) h, y, h0, hT, dy, dhT and dh0 are P wide
 * and c, c0, cT, dcT and dc0 stay H wide. The forward keeps every step's cell output m = o*tanh(c) and projects it,
 * h = m·W_hrᵀ; per step in reverse the backward keeps dh (P), turns it into dm = dh·W_hr (H) for the pointwise pass,
 * and dh_{t-1} = dz·U is P wide; after the loop dW_hr = Σ dhᵀ·m is one more GEMM over all T·B rows. Weights without
 * projection run none of this (the choice is made once per step, outside the kernels' loops).
 *
 * <p>Truncated BPTT over a long sequence runs it in windows of at most {@code maxSteps} steps ({@link TruncatedBptt}
 * does it for you): each window's forward starts from the previous window's final state (pass the same segments as
 * h0/c0 and hT/cT), and its backward gets no dhT/dcT, which cuts the gradient at the border;
 * {@link GradientMode#ACCUMULATE} sums the windows' weight gradients when one update should cover several.
 *
 * <p>All scratch is allocated up front for {@code maxSteps × maxBatch}; the code allocates no buffers per step,
 * but the JIT does not yet reliably keep the projection tiles' vectors in registers when this trainer drives them
 * with its several GEMM shapes, so a training step may allocate boxed vectors. Not thread-safe: one trainer per
 * thread; the weights may be shared (but {@link #updateWeights} changes them for everyone that uses them, and
 * only the trainer that calls it refreshes its transposed copies of W, U and W_hr: train one set of weights with
 * one trainer, or the others compute dx and dh from the old weights). Two
 * threads inside one trainer's {@code forward}, {@code backward}, {@code updateWeights} or {@code close} at once are
 * detected: the second call throws an {@link IllegalStateException} naming the trainer and both threads, and
 * changes nothing.
 * Layouts are row-major floats in native byte order.
 */
public final class LstmTrainer implements AutoCloseable {

    private final LstmWeights weights;
    /** The threads of every GEMM and step, owned. */
    private final Team team;
    private final GateLayout layout;
    private final int maxBatch;
    private final int maxSteps;
    private final float cellClip;
    /** P with projection, H without: the width of h, y and the recurrent input. */
    private final int outputSize;
    private final OffHeap memory;
    /** The training forward, which keeps every step's rows for {@link #backward}. */
    private final LayerDriver forwardDriver;
    private final BackwardDriver backwardDriver;
    /** h and c before and after every step of the saved forward. */
    private final LayerState state;
    private int savedSteps;
    private int savedBatch;
    private SequenceLayout savedLayout = SequenceLayout.TIME_MAJOR;
    /** The lengths of the saved forward and the order its rows ran in. */
    private final VariableLengths plan;
    private final ExclusiveUse inUse = new ExclusiveUse(this,
            "an LstmTrainer is for one thread at a time; give each thread its own");

    /**
     * A trainer for sequences of up to {@code maxSteps} steps of up to {@code maxBatch} rows.
     *
     * @param weights  the model to train, open, {@link WeightPrecision#FLOAT32}; shared, not owned: closing the
     *                 trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps most time steps of a forward, &ge; 1; the scratch keeps every step's state
     * @throws IllegalArgumentException if a size is &lt; 1, or the weights are not {@link WeightPrecision#FLOAT32}
     */
    public LstmTrainer(LstmWeights weights, int maxBatch, int maxSteps) {
        this(weights, maxBatch, maxSteps, LstmRunner.NO_CELL_CLIP);
    }

    /**
     * A trainer with ONNX's cell clip, as {@link LstmRunner#LstmRunner(LstmWeights, int, int, NonFiniteInputs,
     * float)} describes: the forward clips, and the backward passes no gradient through a clipped value (a gate
     * pre-activation or the cell state before tanh with magnitude above {@code cellClip}).
     *
     * @param weights  the model to train, open, {@link WeightPrecision#FLOAT32}; shared, not owned: closing the
     *                 trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps most time steps of a forward, &ge; 1; the scratch keeps every step's state
     * @param cellClip the clip threshold, &gt; 0, or {@link LstmRunner#NO_CELL_CLIP}
     * @throws IllegalArgumentException if a size is &lt; 1, {@code cellClip} is not &gt; 0 (or is NaN), or the
     *                                  weights are not {@link WeightPrecision#FLOAT32}
     */
    public LstmTrainer(LstmWeights weights, int maxBatch, int maxSteps, float cellClip) {
        this(weights, maxBatch, maxSteps, cellClip, 1);
    }

    /**
     * As {@link #LstmTrainer(LstmWeights, int, int, float)}, running the GEMMs of the forward and the backward (the
     * input projection, each recurrent step, each step's {@code dh = dz·U}, and dx, dW_ih, dW_hh) on
     * {@code threads} threads, each owning a range of output blocks, as
     * {@link LstmRunner#LstmRunner(LstmWeights, int, int, NonFiniteInputs, float, int)} describes; the pointwise
     * backward and the copies stay on the calling thread. Results are the same bits for any number of threads.
     * {@link #close()} stops the worker threads.
     *
     * @param weights  the model to train, open, {@link WeightPrecision#FLOAT32}; shared, not owned
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps most time steps of a forward, &ge; 1
     * @param cellClip the clip threshold, &gt; 0, or {@link LstmRunner#NO_CELL_CLIP}
     * @param threads  threads per GEMM, 1 (the calling thread alone, the default) to {@link LstmRunner#MAX_THREADS}
     * @throws IllegalArgumentException if a size is &lt; 1, {@code threads} is above {@link LstmRunner#MAX_THREADS},
     *                                  {@code cellClip} is not &gt; 0 (or is NaN), or the weights are not
     *                                  {@link WeightPrecision#FLOAT32}
     */
    public LstmTrainer(LstmWeights weights, int maxBatch, int maxSteps, float cellClip, int threads) {
        Checks.threads(threads);
        Checks.notNull("weights", weights).checkOpen();
        this.cellClip = Checks.cellClip(cellClip);
        Checks.trainable(weights.precision());
        this.weights = weights;
        this.layout = weights.layout();
        this.maxBatch = Checks.positive("maxBatch", maxBatch);
        this.maxSteps = Checks.positive("maxSteps", maxSteps);
        Checks.trainingRows(maxBatch, maxSteps);
        this.outputSize = weights.outputSize();
        this.plan = new VariableLengths(maxBatch);
        PackedLayer layer = weights.layer();
        int cell = layer.cellRow() == null ? Postgemm.LSTM : Postgemm.LSTM_PEEPHOLES;
        int hiddenStride = weights.projectionSize() > 0 ? weights.projectionLayout().gateRowFloats()
                : layout.paddedHidden();
        this.memory = OffHeap.open();
        this.team = new Team(weights.family(), threads);
        try {
            LayerState state = LayerState.history(memory, maxBatch, maxSteps, true, outputSize, hiddenStride,
                    layout.hiddenSize(), layout.paddedHidden());
            this.forwardDriver = LayerDriver.training(layer, cell, this.cellClip, team, maxBatch, maxSteps, memory);
            this.backwardDriver = new BackwardDriver(layer, weights.family(), cell, this.cellClip, team,
                    forwardDriver, state, plan, maxBatch, maxSteps, memory);
            this.state = state;
        } catch (RuntimeException | Error e) {
            memory.close();
            team.close();
            throw e;
        }
    }

    /** {@return the weights this trainer trains (not owned by the trainer)} */
    public LstmWeights weights() {
        return weights;
    }

    /** {@return the cell clip, &gt; 0, or {@link LstmRunner#NO_CELL_CLIP} if none} */
    public float cellClip() {
        return cellClip;
    }

    /** {@return the threads each GEMM runs on, the calling thread included; 1 for the calling thread alone} */
    public int threads() {
        return team.threads();
    }

    /** {@return the largest batch a forward accepts, &ge; 1} */
    public int maxBatch() {
        return maxBatch;
    }

    /** {@return the most time steps a forward accepts, &ge; 1: the window of {@link TruncatedBptt}} */
    public int maxSteps() {
        return maxSteps;
    }

    /**
     * Runs the sequence as {@link LstmRunner#forward} does, with the same arguments and results, and keeps what
     * {@link #backward} needs. h0 and c0 may be the same memory as hT and cT.
     *
     * @param x     input, {@code [T][B][I]} floats (time-major)
     * @param steps T, 1 &le; T &le; {@link #maxSteps()}
     * @param batch B, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden state {@code [B][H]} ({@code [B][P]} with projection), or null for zeros
     * @param c0    initial cell state {@code [B][H]}, or null for zeros
     * @param y     output, {@code [T][B][H]} ({@code [T][B][P]} with projection): h after every step; null if not
     *              wanted
     * @param hT    output, {@code [B][H]} ({@code [B][P]} with projection): h after the last step; null if not
     *              wanted
     * @param cT    output, {@code [B][H]}: c after the last step; null if not wanted
     * @throws IllegalArgumentException for a size &lt; 1, more than {@code maxSteps} steps or {@code maxBatch}
     *                                  rows, a segment whose size does not match its shape, or a read-only output
     * @throws IllegalStateException    if this trainer, its weights, or the arena of an argument is closed
     */
    public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0,
                        MemorySegment y, MemorySegment hT, MemorySegment cT) {
        inUse.enter("forward");
        try {
            checkOpen();
            checkSizes(steps, batch);
            Checks.sequenceArguments(SequenceLayout.TIME_MAJOR, layout.inputSize(), layout.hiddenSize(), outputName(),
                    outputSize, x, steps, batch, h0, c0, y, hT, cT);
            plan.setFull(steps, batch);
            run(x, SequenceLayout.TIME_MAJOR, h0, c0, y, hT, cT);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Runs a batch of sequences of different lengths as {@link LstmRunner#forward(MemorySegment, SequenceLayout,
     * int, int, int[], MemorySegment, MemorySegment, MemorySegment, MemorySegment, MemorySegment)} does, with the
     * same arguments and results, and keeps what {@link #backward} needs; the backward then reads dy and writes dx
     * in this call's layout, ignores dy past each sequence's end (and writes zeros to dx there), and lets dhT and
     * dcT enter at each sequence's own last step. Padding steps add nothing to any gradient. The lengths are
     * copied: the array may change after the call.
     *
     * @param x       input, {@code [T][B][I]} or {@code [B][T][I]} floats, as {@code layout} says
     * @param layout  the order of the time and batch dimensions of x and y (and of dy and dx in the backward)
     * @param steps   T, the padded length, 1 &le; T &le; {@link #maxSteps()}
     * @param batch   B, sequences, 1 &le; B &le; {@link #maxBatch()}
     * @param lengths time steps of each sequence, B values in 0..T, in any order
     * @param h0      initial hidden state {@code [B][H]} ({@code [B][P]} with projection), or null for zeros
     * @param c0      initial cell state {@code [B][H]}, or null for zeros
     * @param y       output in x's layout with H floats a row (P with projection), zero past each sequence's end;
     *                null if not wanted
     * @param hT      output, {@code [B][H]} ({@code [B][P]} with projection): h after each sequence's last step;
     *                null if not wanted
     * @param cT      output, {@code [B][H]}: c after each sequence's last step; null if not wanted
     * @throws IllegalArgumentException as the time-major forward, and for null lengths, lengths of another size
     *                                  than B, or a length outside 0..T (naming its index)
     * @throws IllegalStateException    if this trainer, its weights, or the arena of an argument is closed
     */
    public void forward(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths,
                        MemorySegment h0, MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT) {
        inUse.enter("forward");
        try {
            checkOpen();
            Checks.notNull("layout", layout);
            checkSizes(steps, batch);
            VariableLengths.check(lengths, steps, batch);
            Checks.sequenceArguments(layout, this.layout.inputSize(), this.layout.hiddenSize(), outputName(),
                    outputSize, x, steps, batch, h0, c0, y, hT, cT);
            plan.set(lengths, steps, batch);
            run(x, layout, h0, c0, y, hT, cT);
        } finally {
            inUse.exit();
        }
    }

    /** The training forward over the rows of {@link #plan}, kept for {@link #backward}. */
    private void run(MemorySegment x, SequenceLayout order, MemorySegment h0, MemorySegment c0, MemorySegment y,
                     MemorySegment hT, MemorySegment cT) {
        savedSteps = 0;
        savedLayout = order;
        forwardDriver.forward(x, order, plan, state, h0, c0, y, hT, cT);
        savedSteps = plan.steps();
        savedBatch = plan.batch();
    }

    /**
     * Backpropagates through the last {@link #forward}: given dL/dy and optionally dL/dhT and dL/dcT, writes or
     * adds the weight gradients into {@code gradients} (by {@code mode}) and writes dL/dx, dL/dh0 and dL/dc0.
     * Once per forward: the saved activations are overwritten by the gate gradients. After a variable-length
     * forward, dy and dx are in that forward's layout, dy past each sequence's end is ignored, dx there is zero,
     * and dhT and dcT enter at each sequence's own last step (a sequence of length 0 gets dh0 = dhT, dc0 = dcT).
     *
     * @param dy        dL/dy, shaped as the forward's y ({@code [T][B][H]}, or {@code [T][B][P]} with projection,
     *                  unless it was batch-first), or null for zeros
     * @param dhT       dL/dhT, {@code [B][H]} ({@code [B][P]} with projection), or null for zeros
     * @param dcT       dL/dcT, {@code [B][H]}, or null for zeros
     * @param gradients receives dL/dW_ih, dL/dW_hh, dL/db_ih and dL/db_hh (and dL/dW_hr for weights with
     *                  projection, dL/dp for weights with peepholes), for weights of this trainer's sizes, projection
     *                  and peepholes
     * @param mode      whether those replace or add to what {@code gradients} holds
     * @param dx        output dL/dx, shaped as the forward's x, or null if not wanted
     * @param dh0       output dL/dh0, {@code [B][H]} ({@code [B][P]} with projection), or null
     * @param dc0       output dL/dc0, {@code [B][H]}, or null
     * @throws IllegalStateException    without a forward since the last backward, or if anything is closed
     * @throws IllegalArgumentException for gradients of other sizes or another projection, gradients with peephole
     *                                  gradients for weights without peepholes or the other way round, or a segment
     *                                  of the wrong size
     */
    public void backward(MemorySegment dy, MemorySegment dhT, MemorySegment dcT, LstmGradients gradients,
                         GradientMode mode, MemorySegment dx, MemorySegment dh0, MemorySegment dc0) {
        inUse.enter("backward");
        try {
            checkOpen();
            if (savedSteps == 0) {
                throw new IllegalStateException("backward needs a forward of this trainer first (and runs once per forward)");
            }
            int steps = savedSteps;
            int batch = savedBatch;
            SequenceLayout order = savedLayout;
            int inputSize = layout.inputSize();
            int hiddenSize = layout.hiddenSize();
            Checks.notNull("gradients", gradients).checkOpen();
            Checks.notNull("mode", mode);
            if (gradients.inputSize() != inputSize || gradients.hiddenSize() != hiddenSize
                    || gradients.projectionSize() != weights.projectionSize()) {
                throw new IllegalArgumentException("gradients are for inputSize " + gradients.inputSize()
                        + ", hiddenSize " + gradients.hiddenSize() + ", projectionSize " + gradients.projectionSize()
                        + ", but these weights have inputSize " + inputSize + ", hiddenSize " + hiddenSize
                        + ", projectionSize " + weights.projectionSize() + " (0: none); make them with"
                        + " new LstmGradients(weights)");
            }
            if ((gradients.peepholes() != null) != weights.hasPeepholes()) {
                throw new IllegalArgumentException(weights.hasPeepholes()
                        ? "gradients hold no peephole gradients, but these weights have peepholes: make them with"
                        + " new LstmGradients(weights)"
                        : "gradients hold peephole gradients, but these weights have no peepholes");
            }
            boolean timeMajor = order == SequenceLayout.TIME_MAJOR;
            Checks.optionalFloats("dy", dy, timeMajor ? "T" : "B", timeMajor ? steps : batch, timeMajor ? "B" : "T",
                    timeMajor ? batch : steps, outputName(), outputSize);
            Checks.optionalFloats("dhT", dhT, "B", batch, outputName(), outputSize);
            Checks.optionalFloats("dcT", dcT, "B", batch, "H", hiddenSize);
            Checks.optionalOutput("dx", dx, timeMajor ? "T" : "B", timeMajor ? steps : batch, timeMajor ? "B" : "T",
                    timeMajor ? batch : steps, "I", inputSize);
            Checks.optionalOutput("dh0", dh0, "B", batch, outputName(), outputSize);
            Checks.optionalOutput("dc0", dc0, "B", batch, "H", hiddenSize);
            savedSteps = 0;
            backwardDriver.backward(order, dy, dhT, dcT, dh0, dc0);
            if (dx != null) {
                backwardDriver.inputGradient(order, dx);
            }
            backwardDriver.weightGradients(mode, gradients.weightIh(), gradients.weightHh(), gradients.biasIh(),
                    gradients.biasHh(), gradients.weightHr(), gradients.peepholes());
        } finally {
            inUse.exit();
        }
    }

    /**
     * Loads new parameter values (after an optimizer step) into this trainer's weights and its transposed copies,
     * in place, without allocating. The weights are shared with whatever else uses them: no runner or trainer may
     * use them during this call. Invalidates the saved forward.
     *
     * @param parameters the new W_ih, W_hh, b_ih, b_hh (and W_hr and the peepholes, if the weights have them) in
     *                   PyTorch layout, for this trainer's I, H and P; read during the call only
     * @throws IllegalArgumentException if the sizes or the projection differ, or a value is NaN or infinite (a
     *                                  diverged update), naming the tensor and element
     */
    public void updateWeights(LstmParameters parameters) {
        inUse.enter("updateWeights");
        try {
            checkOpen();
            Checks.notNull("parameters", parameters);
            if ((parameters.peepholes() != null) != weights.hasPeepholes()) {
                throw new IllegalArgumentException(weights.hasPeepholes()
                        ? "parameters have no peepholes, but these weights have peepholes"
                        : "parameters have peepholes, but these weights have none");
            }
            if (parameters.inputSize() != layout.inputSize() || parameters.hiddenSize() != layout.hiddenSize()
                    || parameters.projectionSize() != weights.projectionSize()) {
                throw new IllegalArgumentException("parameters are for inputSize " + parameters.inputSize()
                        + ", hiddenSize " + parameters.hiddenSize() + ", projectionSize "
                        + parameters.projectionSize() + ", but these weights have inputSize " + layout.inputSize()
                        + ", hiddenSize " + layout.hiddenSize() + ", projectionSize " + weights.projectionSize()
                        + " (0: none)");
            }
            savedSteps = 0;
            weights.repack(parameters);
            backwardDriver.packTransposed();
        } finally {
            inUse.exit();
        }
    }

    /**
     * Frees the scratch memory and stops the worker threads (if {@link #threads()} &gt; 1). Closing twice is
     * harmless.
     */
    @Override
    public void close() {
        inUse.enter("close");
        try {
            memory.close();
            team.close();
        } finally {
            inUse.exit();
        }
    }

    /** The worker threads of this trainer (none for one thread), for tests. */
    List<Thread> workerThreads() {
        return team.workerThreads();
    }

    /** The guard of this trainer's public methods: lets tests see which thread is inside. */
    ExclusiveUse inUse() {
        return inUse;
    }

    /** The name of h's width in messages: P with projection, H without. */
    private String outputName() {
        return weights.projectionSize() > 0 ? "P" : "H";
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
