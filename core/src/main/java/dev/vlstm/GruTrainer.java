package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.util.List;

import dev.vlstm.engine.PackedLayer;
import dev.vlstm.kernel.GateLayout;
import dev.vlstm.kernel.Postgemm;
import dev.vlstm.kernel.Team;

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

    private final GruWeights weights;
    /** The threads of every GEMM and step of both passes, owned. */
    private final Team team;
    private final GateLayout layout;
    private final int maxBatch;
    private final int maxSteps;
    private final OffHeap memory;
    /** The training forward, which keeps every step's rows for {@link #backward}. */
    private final LayerDriver forwardDriver;
    private final BackwardDriver backwardDriver;
    /** h before and after every step of the saved forward. */
    private final LayerState state;
    private int savedSteps;
    private SequenceLayout savedLayout = SequenceLayout.TIME_MAJOR;
    /** The lengths of the saved forward and the order its rows ran in. */
    private final VariableLengths plan;
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
        Checks.threads(threads);
        Checks.notNull("weights", weights).checkOpen();
        this.weights = weights;
        this.layout = weights.layout();
        this.maxBatch = Checks.positive("maxBatch", maxBatch);
        this.maxSteps = Checks.positive("maxSteps", maxSteps);
        Checks.trainingRows(maxBatch, maxSteps);
        this.plan = new VariableLengths(maxBatch);
        PackedLayer layer = weights.layer();
        this.memory = OffHeap.open();
        this.team = new Team(weights.family(), threads);
        try {
            LayerState state = LayerState.history(memory, maxBatch, maxSteps, false, layout.hiddenSize(),
                    layout.paddedHidden(), layout.hiddenSize(), layout.paddedHidden());
            this.forwardDriver = LayerDriver.training(layer, Postgemm.GRU, Float.POSITIVE_INFINITY, team, maxBatch,
                    maxSteps, memory);
            this.backwardDriver = new BackwardDriver(layer, weights.family(), Postgemm.GRU, Float.POSITIVE_INFINITY,
                    team, forwardDriver, state, plan, maxBatch, maxSteps, memory);
            this.state = state;
        } catch (RuntimeException | Error e) {
            memory.close();
            team.close();
            throw e;
        }
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

    /** The training forward over the rows of {@link #plan}, kept for {@link #backward}. */
    private void run(MemorySegment x, SequenceLayout order, MemorySegment h0, MemorySegment y, MemorySegment hT) {
        savedSteps = 0;
        savedLayout = order;
        forwardDriver.forward(x, order, plan, state, h0, null, y, hT, null);
        savedSteps = plan.steps();
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
            backwardDriver.backward(order, dy, dhT, null, dh0, null);
            if (dx != null) {
                backwardDriver.inputGradient(order, dx);
            }
            backwardDriver.weightGradients(mode, gradients.weightIh(), gradients.weightHh(), gradients.biasIh(),
                    gradients.biasHh(), null, null);
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
            backwardDriver.packTransposed();
        } finally {
            inUse.exit();
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
            team.close();
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
