package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.util.List;

import dev.vlstm.kernel.GateLayout;
import dev.vlstm.kernel.Postgemm;
import dev.vlstm.kernel.Team;

/**
 * Runs the fused GRU forward of one {@link GruWeights}: whole sequences ({@link #forward}) or one step of a stream
 * at a time ({@link #step}). Holds all scratch memory, allocated up front, so that neither call allocates once
 * warmed up (with the {@link MemorySegment} overloads).
 *
 * <p>As {@link LstmRunner} does, a sequence runs in chunks of {@link #projectionSteps()} time steps: first the input
 * projection {@code x · W_ihᵀ + b} of every row of the chunk as one GEMM, then, step by step, the recurrent GEMM
 * fused with the GRU update. Batches of sequences of different lengths run as {@link LstmRunner}'s do (the
 * {@code lengths} overload): rows sorted longest first, each step computing only the rows still running. With
 * {@code threads > 1} both GEMMs are split over hidden-unit blocks among that many threads, as in
 * {@link LstmRunner}, with the same results bit for bit.
 *
 * <p>Not thread-safe: give each thread its own runner (they may share the weights). Two threads inside one runner's
 * methods at once are detected: the second call throws an {@link IllegalStateException} and changes nothing.
 * Layouts are row-major floats in native byte order; inputs may be heap or native segments. NaN and infinite inputs
 * propagate.
 */
public final class GruRunner implements AutoCloseable {

    private final GruWeights weights;
    /** The threads of every GEMM and step, owned. */
    private final Team team;
    private final GateLayout layout;
    private final int maxBatch;
    private final int projectionSteps;
    private final OffHeap memory;
    /** The time loop, with its scratch. */
    private final LayerDriver driver;
    /** The state of {@link #forward}'s rows. */
    private final LayerState sequenceState;
    private final VariableLengths variableLengths;
    private final ExclusiveUse inUse = new ExclusiveUse(this,
            "a GruRunner is for one thread at a time; give each thread its own (they may share the GruWeights)");

    /**
     * A runner for up to {@code maxBatch} sequences at a time, with a projection chunk of
     * {@link LstmRunner#DEFAULT_PROJECTION_BYTES} of gate pre-activations (at least one and at most
     * {@link LstmRunner#MAX_DEFAULT_PROJECTION_STEPS} steps).
     *
     * @param weights  the model to run, open; shared, not owned: closing the runner leaves it open
     * @param maxBatch largest batch of a call, &ge; 1
     * @throws IllegalArgumentException if {@code maxBatch} is &lt; 1
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public GruRunner(GruWeights weights, int maxBatch) {
        this(weights, maxBatch, defaultProjectionSteps(weights, maxBatch));
    }

    /**
     * A runner for up to {@code maxBatch} sequences, projecting the input {@code projectionSteps} time steps at a
     * time. The scratch holds {@code projectionSteps * maxBatch * (I + 3H')} floats plus {@code maxBatch * 3H'} for
     * the gates of one step and {@code 2 * maxBatch * H'} for the state, where H' is H rounded up to the kernel's
     * block width.
     *
     * @param weights         the model to run, open; shared, not owned: closing the runner leaves it open
     * @param maxBatch        largest batch of a call, &ge; 1
     * @param projectionSteps time steps whose input projection is computed together, &ge; 1
     * @throws IllegalArgumentException if a size is &lt; 1 or the scratch would exceed 2^31 gate rows
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public GruRunner(GruWeights weights, int maxBatch, int projectionSteps) {
        this(weights, maxBatch, projectionSteps, 1);
    }

    /**
     * As {@link #GruRunner(GruWeights, int, int)}, running each call's GEMMs on {@code threads} threads (intra-op
     * parallelism, as {@link LstmRunner#LstmRunner(LstmWeights, int, int, NonFiniteInputs, float, int)} describes):
     * the runner starts {@code threads - 1} daemon worker threads, the calling thread does one share of every GEMM
     * itself, and each thread computes the gates and h of its own contiguous range of hidden-unit blocks for every
     * row (at batch 1 it reads only its share of W_ih and W_hh). Every input projection and every recurrent step
     * returns when all threads are done with it. Results are the same bits for any number of threads. One thread
     * (the default of the other constructors) runs on the calling thread alone, with no worker threads. Workers spin
     * between the steps of a call and park after about 0.2 ms without work; {@link #close()} stops them.
     *
     * @param weights         the model to run, open; shared, not owned: closing the runner leaves it open
     * @param maxBatch        largest batch of a call, &ge; 1
     * @param projectionSteps time steps whose input projection is computed together, &ge; 1
     * @param threads         threads per call, 1 to {@link LstmRunner#MAX_THREADS}; more threads than hidden-unit
     *                        blocks leave the extra threads idle
     * @throws IllegalArgumentException if a size is &lt; 1, {@code threads} is above {@link LstmRunner#MAX_THREADS},
     *                                  or the scratch would exceed 2^31 gate rows
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public GruRunner(GruWeights weights, int maxBatch, int projectionSteps, int threads) {
        Checks.threads(threads);
        Checks.notNull("weights", weights).checkOpen();
        this.weights = weights;
        this.layout = weights.layout();
        this.maxBatch = Checks.positive("maxBatch", maxBatch);
        this.projectionSteps = Checks.positive("projectionSteps", projectionSteps);
        long rows = (long) maxBatch * projectionSteps;
        if (rows > Integer.MAX_VALUE / layout.gateRowFloats()) {
            throw new IllegalArgumentException("maxBatch * projectionSteps = " + rows + " rows of "
                    + layout.gateRowFloats() + " gate floats is too large for one projection chunk");
        }
        this.memory = OffHeap.open();
        this.team = new Team(weights.family(), threads);
        try {
            this.driver = new LayerDriver(weights.layer(), Postgemm.GRU, Float.POSITIVE_INFINITY, team, maxBatch,
                    projectionSteps, memory);
            this.sequenceState = new LayerState(memory, maxBatch, false, layout.hiddenSize(), layout.paddedHidden(),
                    layout.hiddenSize(), layout.paddedHidden());
            this.variableLengths = new VariableLengths(maxBatch);
        } catch (RuntimeException | Error e) {
            memory.close();
            team.close();
            throw e;
        }
    }

    /**
     * A runner with the default projection chunk, as {@link #GruRunner(GruWeights, int)}, whose calls run on
     * {@code threads} threads, as {@link #GruRunner(GruWeights, int, int, int)} describes.
     *
     * @param weights  the model to run, open; shared, not owned
     * @param maxBatch largest batch of a call, &ge; 1
     * @param threads  threads per call, 1 to {@link LstmRunner#MAX_THREADS}
     * @return a new runner, to be closed (which stops its threads)
     * @throws IllegalArgumentException if {@code maxBatch} or {@code threads} is &lt; 1, or {@code threads} is
     *                                  above {@link LstmRunner#MAX_THREADS}
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public static GruRunner withThreads(GruWeights weights, int maxBatch, int threads) {
        return new GruRunner(weights, maxBatch, defaultProjectionSteps(weights, maxBatch), threads);
    }

    static int defaultProjectionSteps(GruWeights weights, int maxBatch) {
        Checks.notNull("weights", weights).checkOpen();
        return StackRunner.defaultChunkSteps(weights.layout(), Checks.positive("maxBatch", maxBatch));
    }

    /** {@return the threads each call runs on, the calling thread included; 1 for the calling thread alone} */
    public int threads() {
        return team.threads();
    }

    /** {@return the largest batch this runner accepts, &ge; 1} */
    public int maxBatch() {
        return maxBatch;
    }

    /** {@return the time steps whose input projection is computed together, &ge; 1} */
    public int projectionSteps() {
        return projectionSteps;
    }

    /** {@return the weights this runner runs (not owned by the runner)} */
    public GruWeights weights() {
        return weights;
    }

    /**
     * Runs a whole sequence batch. h0 is read before any output is written, so it may be the same memory as hT (to
     * carry state from call to call); otherwise outputs must not overlap the inputs or each other. Arguments are
     * checked before anything is computed or written.
     *
     * @param x     input, {@code [T][B][I]} floats (time-major)
     * @param steps T, time steps, &ge; 1
     * @param batch B, sequences, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden state {@code [B][H]}, or null for zeros
     * @param y     output, {@code [T][B][H]}: the hidden state after every step; null if not wanted
     * @param hT    output, {@code [B][H]}: the hidden state after the last step; null if not wanted
     * @throws IllegalArgumentException for a size &lt; 1, a batch above {@link #maxBatch()}, a segment whose size
     *                                  does not match its shape, or a read-only output
     * @throws IllegalStateException    if this runner, its weights, or the arena of an argument is closed, a
     *                                  segment belongs to another thread's confined arena, or another thread is
     *                                  using this runner
     */
    public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment y, MemorySegment hT) {
        inUse.enter("forward");
        try {
            checkOpen();
            Checks.positive("steps", steps);
            checkBatch(batch);
            Checks.sequenceArguments(layout.inputSize(), layout.hiddenSize(), x, steps, batch, h0, null, y, hT,
                    null);
            variableLengths.setFull(steps, batch);
            driver.forward(x, SequenceLayout.TIME_MAJOR, variableLengths, sequenceState, h0, null, y, hT, null);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Float-array form of {@link #forward(MemorySegment, int, int, MemorySegment, MemorySegment, MemorySegment)};
     * same shapes, same nulls allowed.
     *
     * @param x     input, {@code [T][B][I]}
     * @param steps T, time steps, &ge; 1
     * @param batch B, sequences, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden state {@code [B][H]}, or null for zeros
     * @param y     output, {@code [T][B][H]}: h after every step; null if not wanted
     * @param hT    output, {@code [B][H]}: h after the last step; null if not wanted
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void forward(float[] x, int steps, int batch, float[] h0, float[] y, float[] hT) {
        forward(MemorySegment.ofArray(Checks.notNull("x", x)), steps, batch, wrap(h0), wrap(y), wrap(hT));
    }

    /**
     * Runs a batch of sequences of different lengths, padded to {@code steps}, in either layout (like ONNX's
     * {@code sequence_lens} and PyTorch's packed sequences). Sequence b runs its first {@code lengths[b]} steps
     * only: y of its later steps is zero, its hT is h after its own last step (h0 if its length is 0), and its
     * padding inputs are never read. A sequence's results are bit for bit the same as when it runs alone with
     * {@code steps = lengths[b]}, whatever the other rows hold. The rows run longest first, and each step computes
     * only the rows still running, so the work is proportional to the sum of the lengths. Aliasing and checks as in
     * {@link #forward(MemorySegment, int, int, MemorySegment, MemorySegment, MemorySegment)}.
     *
     * @param x       input, {@code [T][B][I]} ({@link SequenceLayout#TIME_MAJOR}) or {@code [B][T][I]}
     *                ({@link SequenceLayout#BATCH_FIRST}) floats
     * @param layout  the order of the time and batch dimensions of x and y
     * @param steps   T, the padded length, &ge; 1
     * @param batch   B, sequences, 1 &le; B &le; {@link #maxBatch()}
     * @param lengths time steps of each sequence, B values in 0..T, in any order; read during the call only
     * @param h0      initial hidden state {@code [B][H]}, or null for zeros
     * @param y       output in x's layout, {@code [T][B][H]} or {@code [B][T][H]}: h after every step, zero past
     *                each sequence's end; null if not wanted
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
            Checks.positive("steps", steps);
            checkBatch(batch);
            VariableLengths.check(lengths, steps, batch);
            Checks.sequenceArguments(layout, this.layout.inputSize(), this.layout.hiddenSize(), x, steps, batch, h0,
                    null, y, hT, null);
            variableLengths.set(lengths, steps, batch);
            driver.forward(x, layout, variableLengths, sequenceState, h0, null, y, hT, null);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Float-array form of {@link #forward(MemorySegment, SequenceLayout, int, int, int[], MemorySegment,
     * MemorySegment, MemorySegment)}; same shapes, same nulls allowed.
     *
     * @param x       input, {@code [T][B][I]} or {@code [B][T][I]} per {@code layout}, as in the MemorySegment form
     * @param layout  the order of the time and batch dimensions of x and y
     * @param steps   T, the padded length, &ge; 1
     * @param batch   B, sequences, 1 &le; B &le; {@link #maxBatch()}
     * @param lengths time steps of each sequence, B values in 0..T
     * @param h0      initial hidden state {@code [B][H]}, or null for zeros
     * @param y       output in x's layout, zero past each sequence's end; null if not wanted
     * @param hT      output, {@code [B][H]}: h after each sequence's last step; null if not wanted
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void forward(float[] x, SequenceLayout layout, int steps, int batch, int[] lengths, float[] h0, float[] y,
                        float[] hT) {
        forward(MemorySegment.ofArray(Checks.notNull("x", x)), layout, steps, batch, lengths, wrap(h0), wrap(y),
                wrap(hT));
    }

    /**
     * Advances a stream by one time step: reads {@code x}, updates {@code state}'s h, and writes the new h to
     * {@code h} if it is not null. Stepping T times gives the same result as {@link #forward} over T steps, bit for
     * bit. Arguments are checked first: a step that throws has not changed the state.
     *
     * @param x     input of this step, {@code [B][I]} floats, B = {@code state.batch()} &le; {@link #maxBatch()}
     * @param state the stream's state, made for weights with the same hidden size and kernel
     * @param h     output, {@code [B][H]}: the new hidden state; null if not wanted; may overlap {@code x}
     * @throws IllegalArgumentException for a segment whose size does not match its shape, a read-only output, a
     *                                  state for another hidden size, or a batch above {@link #maxBatch()}
     * @throws IllegalStateException    if this runner, its weights, the state, or the arena of an argument is
     *                                  closed, a segment belongs to another thread's confined arena, or another
     *                                  thread is using this runner or this state
     */
    public void step(MemorySegment x, GruState state, MemorySegment h) {
        inUse.enter("step");
        try {
            Checks.notNull("state", state).inUse().enter("step");
            try {
                checkedStep(x, state, h);
            } finally {
                state.inUse().exit();
            }
        } finally {
            inUse.exit();
        }
    }

    /**
     * Float-array form of {@link #step(MemorySegment, GruState, MemorySegment)}.
     *
     * @param x     input of this step, {@code [B][I]}, B = {@code state.batch()}
     * @param state the stream's state, updated in place
     * @param h     output, {@code [B][H]}: the new hidden state; null if not wanted
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void step(float[] x, GruState state, float[] h) {
        step(MemorySegment.ofArray(Checks.notNull("x", x)), state, wrap(h));
    }

    private void checkedStep(MemorySegment x, GruState state, MemorySegment h) {
        checkOpen();
        state.checkOpen();
        GateLayout stateLayout = state.layout();
        if (stateLayout.hiddenSize() != layout.hiddenSize() || stateLayout.lanes() != layout.lanes()) {
            throw new IllegalArgumentException("state is for hiddenSize " + stateLayout.hiddenSize() + " ("
                    + stateLayout.lanes() + " lanes per block), but these weights have hiddenSize "
                    + layout.hiddenSize() + " (" + layout.lanes() + " lanes per block)");
        }
        int batch = state.batch();
        checkBatch(batch);
        Checks.floats("x", x, "B", batch, "I", layout.inputSize());
        Checks.optionalOutput("h", h, "B", batch, "H", layout.hiddenSize());
        driver.step(x, batch, state.buffers(), h);
    }

    /**
     * Frees the scratch memory and stops the worker threads (if {@link #threads()} &gt; 1), waiting until they have
     * ended. Closing twice is harmless.
     *
     * @throws IllegalStateException if another thread is using this runner
     */
    @Override
    public void close() {
        inUse.enter("close");
        try {
            if (memory.isOpen()) {
                memory.close();
                team.close();
            }
        } finally {
            inUse.exit();
        }
    }

    /** The worker threads of this runner (none for one thread), for tests. */
    List<Thread> workerThreads() {
        return team.workerThreads();
    }

    private void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("this GruRunner is closed");
        }
        weights.checkOpen();
    }

    private void checkBatch(int batch) {
        Checks.positive("batch", batch);
        if (batch > maxBatch) {
            throw new IllegalArgumentException("batch " + batch + " exceeds this GruRunner's maxBatch " + maxBatch);
        }
    }

    private static MemorySegment wrap(float[] array) {
        return array == null ? null : MemorySegment.ofArray(array);
    }
}
