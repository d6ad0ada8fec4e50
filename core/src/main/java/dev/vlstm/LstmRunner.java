package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;

import dev.vlstm.kernel.GateLayout;
import dev.vlstm.kernel.Postgemm;
import dev.vlstm.kernel.Team;

/**
 * Runs the fused LSTM forward of one {@link LstmWeights}: whole sequences ({@link #forward}) or one step of a
 * stream at a time ({@link #step}). Holds all scratch memory, allocated up front, so that neither call
 * allocates once warmed up (with the {@link MemorySegment} overloads).
 *
 * <p>A sequence is processed in chunks of {@link #projectionSteps()} time steps: first the input projection
 * {@code x · Wᵀ + b} of every row of the chunk as one GEMM, each weight reused by every row (docs/architecture.md,
 * "The input GEMM over a chunk"), then, step by step, the
 * recurrent GEMM fused with the cell update. With PyTorch's projection ({@link LstmWeights#projectionSize()} = P),
 * the fused step writes the cell output m = o*tanh(c) and one more GEMM per step makes h = m · W_hrᵀ; h, h0, hT
 * and y are then {@code [.][P]} wherever the methods below say {@code [.][H]} for them (c0 and cT stay
 * {@code [B][H]}). Weights with peephole connections ({@link LstmWeights#hasPeepholes()}) run the same way, the
 * peephole terms added in the fused step's cell update.
 *
 * <p>Not thread-safe: give each thread its own runner (they may share the weights). Two threads inside one
 * runner's methods at once are detected: the second call throws an {@link IllegalStateException} naming the runner
 * and both threads, and changes nothing. Layouts are row-major floats in native byte order; inputs may be heap or
 * native segments. NaN and infinite inputs propagate or are rejected, as {@link NonFiniteInputs} describes.
 */
public final class LstmRunner implements AutoCloseable {

    /** This class's name in the messages of {@link NonFiniteInputs#REJECT}. */
    private static final String OWNER = "LstmRunner";

    /** Default size of the chunk of gate pre-activations that the input projection writes ahead: 2 MiB. */
    public static final long DEFAULT_PROJECTION_BYTES = 2L << 20;
    /** The cell clip of a runner or trainer that does not clip: {@code Float.POSITIVE_INFINITY}. */
    public static final float NO_CELL_CLIP = Float.POSITIVE_INFINITY;
    /** Most time steps a default projection chunk holds, however small the model. */
    public static final int MAX_DEFAULT_PROJECTION_STEPS = 4096;
    /** Most threads a runner may use; more than any machine this library is meant for has cores. */
    public static final int MAX_THREADS = Options.MAX_THREADS;

    private final LstmWeights weights;
    /** The threads of every GEMM and step, owned. */
    private final Team team;
    private final GateLayout layout;
    private final int maxBatch;
    private final int projectionSteps;
    private final OffHeap memory;
    /** The time loop, with its scratch. */
    private final LayerDriver driver;
    private final LstmState sequenceState;
    private final NonFiniteInputs nonFiniteInputs;
    private final float cellClip;
    private final VariableLengths variableLengths;
    private final ExclusiveUse inUse = new ExclusiveUse(this,
            "an LstmRunner is for one thread at a time; give each thread its own (they may share the LstmWeights)");

    /**
     * A runner for up to {@code maxBatch} sequences at a time, with the default projection chunk:
     * {@link #DEFAULT_PROJECTION_BYTES} of gate pre-activations, at least one and at most
     * {@link #MAX_DEFAULT_PROJECTION_STEPS} steps.
     *
     * @param weights  the model to run, open; shared, not owned: closing the runner leaves it open
     * @param maxBatch largest batch of a call, &ge; 1
     * @throws IllegalArgumentException if {@code maxBatch} is &lt; 1
     */
    public LstmRunner(LstmWeights weights, int maxBatch) {
        this(weights, maxBatch, NonFiniteInputs.PROPAGATE);
    }

    /**
     * As {@link #LstmRunner(LstmWeights, int)}, with the given treatment of NaN and infinite inputs.
     *
     * @param weights         the model to run
     * @param maxBatch        largest batch of a call, &ge; 1
     * @param nonFiniteInputs {@link NonFiniteInputs#PROPAGATE} (the default) or {@link NonFiniteInputs#REJECT}
     */
    public LstmRunner(LstmWeights weights, int maxBatch, NonFiniteInputs nonFiniteInputs) {
        this(weights, maxBatch, defaultProjectionSteps(weights, maxBatch), nonFiniteInputs);
    }

    /**
     * A runner for up to {@code maxBatch} sequences, projecting the input {@code projectionSteps} time steps at
     * a time. More steps reuse each input weight more often; the scratch holds
     * {@code projectionSteps * maxBatch * (I + 4H')} floats plus {@code maxBatch * 4H'} for the gates of one step
     * and {@code 3 * maxBatch * H'} for the state, where H' is H rounded up to the kernel's block width (with a
     * projection: {@code maxBatch * H'} for c and for m, and {@code 2 * maxBatch * P'} for h, P' being P rounded
     * up to four blocks).
     *
     * @param weights         the model to run, open; shared, not owned: closing the runner leaves it open
     * @param maxBatch        largest batch of a call, &ge; 1
     * @param projectionSteps time steps whose input projection is computed together, &ge; 1
     * @throws IllegalArgumentException if a size is &lt; 1 or the scratch would exceed 2^31 gate rows
     */
    public LstmRunner(LstmWeights weights, int maxBatch, int projectionSteps) {
        this(weights, maxBatch, projectionSteps, NonFiniteInputs.PROPAGATE);
    }

    /**
     * As {@link #LstmRunner(LstmWeights, int, int)}, with the given treatment of NaN and infinite inputs.
     *
     * @param weights         the model to run
     * @param maxBatch        largest batch of a call, &ge; 1
     * @param projectionSteps time steps whose input projection is computed together, &ge; 1
     * @param nonFiniteInputs {@link NonFiniteInputs#PROPAGATE} (the default) or {@link NonFiniteInputs#REJECT}
     * @throws IllegalArgumentException if a size is &lt; 1 or the scratch would exceed 2^31 gate rows
     */
    public LstmRunner(LstmWeights weights, int maxBatch, int projectionSteps, NonFiniteInputs nonFiniteInputs) {
        this(weights, maxBatch, projectionSteps, nonFiniteInputs, NO_CELL_CLIP);
    }

    /**
     * As {@link #LstmRunner(LstmWeights, int, int, NonFiniteInputs)}, with ONNX's cell clip (the LSTM attribute
     * {@code clip}): every gate pre-activation is clipped to {@code [-cellClip, cellClip]} before its activation,
     * and so is the cell state before the tanh that makes h; the cell state carried to the next step is not
     * clipped. {@link #NO_CELL_CLIP} (the default) gives exactly the results of a runner without it.
     *
     * @param weights         the model to run
     * @param maxBatch        largest batch of a call, &ge; 1
     * @param projectionSteps time steps whose input projection is computed together, &ge; 1
     * @param nonFiniteInputs {@link NonFiniteInputs#PROPAGATE} (the default) or {@link NonFiniteInputs#REJECT}
     * @param cellClip        the clip threshold, &gt; 0 (unitless, in the units of the pre-activations), or
     *                        {@link #NO_CELL_CLIP}
     * @throws IllegalArgumentException if a size is &lt; 1, {@code cellClip} is not &gt; 0 (or is NaN), or the
     *                                  scratch would exceed 2^31 gate rows
     */
    public LstmRunner(LstmWeights weights, int maxBatch, int projectionSteps, NonFiniteInputs nonFiniteInputs,
                      float cellClip) {
        this(weights, maxBatch, projectionSteps, nonFiniteInputs, cellClip, 1);
    }

    /**
     * As {@link #LstmRunner(LstmWeights, int, int, NonFiniteInputs, float)}, running each call's GEMMs on
     * {@code threads} threads (intra-op parallelism): the runner starts {@code threads - 1} daemon worker threads,
     * the calling thread does one share of every GEMM itself, and each thread computes the gates of its own
     * contiguous range of hidden-unit blocks for every row (at batch 1 it reads only its share of the weights).
     * Every input projection and every recurrent step returns when all threads are done with it. Results are the
     * same bits for any number of threads. One thread (the default of the other constructors) runs on the calling
     * thread alone, with no worker threads. Workers spin between the steps of a call and park after about
     * 0.2 ms without work; {@link #close()} stops them.
     *
     * <p>It pays when one call is large enough to split (docs/threads.md). A service that already
     * runs one request per core gains nothing from it.
     *
     * @param weights         the model to run
     * @param maxBatch        largest batch of a call, &ge; 1
     * @param projectionSteps time steps whose input projection is computed together, &ge; 1
     * @param nonFiniteInputs {@link NonFiniteInputs#PROPAGATE} (the default) or {@link NonFiniteInputs#REJECT}
     * @param cellClip        the clip threshold, &gt; 0, or {@link #NO_CELL_CLIP}
     * @param threads         threads per call, 1 to {@link #MAX_THREADS}; more threads than hidden-unit blocks
     *                        leave the extra threads idle
     * @throws IllegalArgumentException if a size is &lt; 1, {@code threads} is above {@link #MAX_THREADS},
     *                                  {@code cellClip} is not &gt; 0 (or is NaN), or the scratch would exceed
     *                                  2^31 gate rows
     */
    public LstmRunner(LstmWeights weights, int maxBatch, int projectionSteps, NonFiniteInputs nonFiniteInputs,
                      float cellClip, int threads) {
        Checks.threads(threads);
        Checks.notNull("weights", weights).checkOpen();
        this.cellClip = Checks.cellClip(cellClip);
        this.nonFiniteInputs = Checks.notNull("nonFiniteInputs", nonFiniteInputs);
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
            this.sequenceState = new LstmState(weights, maxBatch);
            this.variableLengths = new VariableLengths(maxBatch);
            this.driver = new LayerDriver(weights.layer(), weights.hasPeepholes() ? Postgemm.LSTM_PEEPHOLES
                    : Postgemm.LSTM, this.cellClip, team, maxBatch, projectionSteps, memory);
        } catch (RuntimeException | Error e) {
            memory.close();
            team.close();
            throw e;
        }
    }

    /**
     * A runner with the default projection chunk, as {@link #LstmRunner(LstmWeights, int)}, whose calls run on
     * {@code threads} threads, as {@link #LstmRunner(LstmWeights, int, int, NonFiniteInputs, float, int)} describes.
     *
     * @param weights  the model to run, open; shared, not owned
     * @param maxBatch largest batch of a call, &ge; 1
     * @param threads  threads per call, 1 to {@link #MAX_THREADS}
     * @return a new runner, to be closed (which stops its threads)
     * @throws IllegalArgumentException if {@code maxBatch} or {@code threads} is &lt; 1, or {@code threads} is
     *                                  above {@link #MAX_THREADS}
     */
    public static LstmRunner withThreads(LstmWeights weights, int maxBatch, int threads) {
        return new LstmRunner(weights, maxBatch, defaultProjectionSteps(weights, maxBatch), NonFiniteInputs.PROPAGATE,
                NO_CELL_CLIP, threads);
    }

    static int defaultProjectionSteps(LstmWeights weights, int maxBatch) {
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

    /** {@return what this runner does with NaN and infinite inputs} */
    public NonFiniteInputs nonFiniteInputs() {
        return nonFiniteInputs;
    }

    /** {@return the cell clip, &gt; 0, or {@link #NO_CELL_CLIP} if none} */
    public float cellClip() {
        return cellClip;
    }

    /** {@return the weights this runner runs (not owned by the runner)} */
    public LstmWeights weights() {
        return weights;
    }

    /**
     * Runs a whole sequence batch. h0 and c0 are read before any output is written, so they may be the same
     * memory as hT and cT (to carry state from call to call); otherwise outputs must not overlap the inputs or
     * each other. Arguments are checked before anything is computed or written.
     *
     * @param x     input, {@code [T][B][I]} floats (time-major)
     * @param steps T, time steps, &ge; 1
     * @param batch B, sequences, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden state {@code [B][H]}, or null for zeros
     * @param c0    initial cell state {@code [B][H]}, or null for zeros
     * @param y     output, {@code [T][B][H]}: the hidden state after every step; null if not wanted
     * @param hT    output, {@code [B][H]}: the hidden state after the last step; null if not wanted
     * @param cT    output, {@code [B][H]}: the cell state after the last step; null if not wanted
     * @throws IllegalArgumentException for a size &lt; 1, a batch above {@link #maxBatch()}, a segment whose size
     *                                  does not match its shape, a read-only output, or (with
     *                                  {@link NonFiniteInputs#REJECT}) a NaN or infinite input value
     * @throws IllegalStateException    if this runner, its weights, or the arena of an argument is closed, a
     *                                  segment belongs to another thread's confined arena, or another thread is
     *                                  using this runner
     */
    public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0,
                        MemorySegment y, MemorySegment hT, MemorySegment cT) {
        inUse.enter("forward");
        try {
            checkedForward(x, steps, batch, h0, c0, y, hT, cT);
        } finally {
            inUse.exit();
        }
    }

    /** {@link #forward}'s work, for a thread that is inside this runner's guard. */
    void checkedForward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0,
                        MemorySegment y, MemorySegment hT, MemorySegment cT) {
        checkOpen();
        Checks.positive("steps", steps);
        checkBatch(batch);
        Checks.sequenceArguments(SequenceLayout.TIME_MAJOR, layout.inputSize(), layout.hiddenSize(),
                sequenceState.outputName(), weights.outputSize(), x, steps, batch, h0, c0, y, hT, cT);
        if (nonFiniteInputs == NonFiniteInputs.REJECT) {
            rejectNonFinite(x, steps, batch, h0, c0);
        }
        variableLengths.setFull(steps, batch);
        driver.forward(x, SequenceLayout.TIME_MAJOR, variableLengths, sequenceState.buffers(), h0, c0, y, hT, cT);
    }

    /**
     * Runs a batch of sequences of different lengths, padded to {@code steps}, in either layout (like ONNX's
     * {@code sequence_lens} and PyTorch's packed sequences). Sequence b runs its first {@code lengths[b]} steps
     * only: y of its later steps is zero, its hT and cT are h and c after its own last step (h0 and c0 if its
     * length is 0), and its padding inputs are never read. A sequence's results are bit for bit the same as when
     * it runs alone with {@code steps = lengths[b]}, whatever the other rows hold. The rows run longest first, and
     * each step computes only the rows still running, so the work is proportional to the sum of the lengths.
     * Aliasing and checks as in {@link #forward(MemorySegment, int, int, MemorySegment, MemorySegment,
     * MemorySegment, MemorySegment, MemorySegment)}; with {@link NonFiniteInputs#REJECT} only the inputs that are
     * read (x within each length, h0, c0) are checked.
     *
     * @param x       input, {@code [T][B][I]} ({@link SequenceLayout#TIME_MAJOR}) or {@code [B][T][I]}
     *                ({@link SequenceLayout#BATCH_FIRST}) floats
     * @param layout  the order of the time and batch dimensions of x and y
     * @param steps   T, the padded length, &ge; 1
     * @param batch   B, sequences, 1 &le; B &le; {@link #maxBatch()}
     * @param lengths time steps of each sequence, B values in 0..T, in any order; read during the call only
     * @param h0      initial hidden state {@code [B][H]}, or null for zeros
     * @param c0      initial cell state {@code [B][H]}, or null for zeros
     * @param y       output in x's layout, {@code [T][B][H]} or {@code [B][T][H]}: h after every step, zero past
     *                each sequence's end; null if not wanted
     * @param hT      output, {@code [B][H]}: h after each sequence's last step; null if not wanted
     * @param cT      output, {@code [B][H]}: c after each sequence's last step; null if not wanted
     * @throws IllegalArgumentException as the time-major forward, and for null lengths, lengths of another size
     *                                  than B, or a length outside 0..T (naming its index)
     * @throws IllegalStateException    as the time-major forward
     */
    public void forward(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths,
                        MemorySegment h0, MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT) {
        inUse.enter("forward");
        try {
            checkOpen();
            Checks.notNull("layout", layout);
            Checks.positive("steps", steps);
            checkBatch(batch);
            VariableLengths.check(lengths, steps, batch);
            Checks.sequenceArguments(layout, this.layout.inputSize(), this.layout.hiddenSize(),
                    sequenceState.outputName(), weights.outputSize(), x, steps, batch, h0, c0, y, hT, cT);
            if (nonFiniteInputs == NonFiniteInputs.REJECT) {
                rejectNonFinite(x, layout, steps, batch, lengths, h0, c0);
            }
            variableLengths.set(lengths, steps, batch);
            driver.forward(x, layout, variableLengths, sequenceState.buffers(), h0, c0, y, hT, cT);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Float-array form of {@link #forward(MemorySegment, SequenceLayout, int, int, int[], MemorySegment,
     * MemorySegment, MemorySegment, MemorySegment, MemorySegment)}; same shapes, same nulls allowed.
     *
     * @param x       input, {@code [T][B][I]} or {@code [B][T][I]} per {@code layout}, as in the MemorySegment form
     * @param layout  the order of the time and batch dimensions of x and y
     * @param steps   T, the padded length, &ge; 1
     * @param batch   B, sequences, 1 &le; B &le; {@link #maxBatch()}
     * @param lengths time steps of each sequence, B values in 0..T
     * @param h0      initial hidden state {@code [B][H]}, or null for zeros
     * @param c0      initial cell state {@code [B][H]}, or null for zeros
     * @param y       output in x's layout, zero past each sequence's end; null if not wanted
     * @param hT      output, {@code [B][H]}: h after each sequence's last step; null if not wanted
     * @param cT      output, {@code [B][H]}: c after each sequence's last step; null if not wanted
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void forward(float[] x, SequenceLayout layout, int steps, int batch, int[] lengths, float[] h0, float[] c0,
                        float[] y, float[] hT, float[] cT) {
        forward(MemorySegment.ofArray(Checks.notNull("x", x)), layout, steps, batch, lengths, wrap(h0), wrap(c0),
                wrap(y), wrap(hT), wrap(cT));
    }

    /**
     * Float-array form of {@link #forward(MemorySegment, int, int, MemorySegment, MemorySegment, MemorySegment,
     * MemorySegment, MemorySegment)}; same shapes, same nulls allowed.
     *
     * @param x     input, {@code [T][B][I]}, as in the MemorySegment form
     * @param steps T, time steps, &ge; 1
     * @param batch B, sequences, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden state {@code [B][H]}, or null for zeros
     * @param c0    initial cell state {@code [B][H]}, or null for zeros
     * @param y     output, {@code [T][B][H]}: h after every step; null if not wanted
     * @param hT    output, {@code [B][H]}: h after the last step; null if not wanted
     * @param cT    output, {@code [B][H]}: c after the last step; null if not wanted
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void forward(float[] x, int steps, int batch, float[] h0, float[] c0, float[] y, float[] hT, float[] cT) {
        forward(MemorySegment.ofArray(Checks.notNull("x", x)), steps, batch, wrap(h0), wrap(c0), wrap(y), wrap(hT), wrap(cT));
    }

    /**
     * Advances a stream by one time step: reads {@code x}, updates {@code state}'s h and c, and writes the new
     * h to {@code h} if it is not null. Stepping T times gives the same result as {@link #forward} over T steps,
     * bit for bit. Arguments are checked first: a step that throws has not changed the state.
     *
     * @param x     input of this step, {@code [B][I]} floats, B = {@code state.batch()} &le; {@link #maxBatch()}
     * @param state the stream's state, made for weights with the same hidden size and kernel
     * @param h     output, {@code [B][H]}: the new hidden state; null if not wanted; may overlap {@code x}
     * @throws IllegalArgumentException for a segment whose size does not match its shape, a read-only output, a
     *                                  state for another hidden size, a batch above {@link #maxBatch()}, or (with
     *                                  {@link NonFiniteInputs#REJECT}) a NaN or infinite value in x or the state
     * @throws IllegalStateException    if this runner, its weights, the state, or the arena of an argument is
     *                                  closed, a segment belongs to another thread's confined arena, or another
     *                                  thread is using this runner or this state
     */
    public void step(MemorySegment x, LstmState state, MemorySegment h) {
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

    /** {@link #step}'s work, for a thread that is inside this runner's and the state's guards. */
    void checkedStep(MemorySegment x, LstmState state, MemorySegment h) {
        checkOpen();
        state.checkOpen();
        GateLayout stateLayout = state.layout();
        if (stateLayout.hiddenSize() != layout.hiddenSize() || stateLayout.lanes() != layout.lanes()) {
            throw new IllegalArgumentException("state is for hiddenSize " + stateLayout.hiddenSize() + " ("
                    + stateLayout.lanes() + " lanes per block), but these weights have hiddenSize "
                    + layout.hiddenSize() + " (" + layout.lanes() + " lanes per block)");
        }
        if (state.projectionSize() != weights.projectionSize()) {
            throw new IllegalArgumentException("state is for projectionSize " + state.projectionSize()
                    + ", but these weights have projectionSize " + weights.projectionSize() + " (0: none)");
        }
        int batch = state.batch();
        checkBatch(batch);
        Checks.floats("x", x, "B", batch, "I", layout.inputSize());
        Checks.optionalOutput("h", h, "B", batch, state.outputName(), weights.outputSize());
        if (nonFiniteInputs == NonFiniteInputs.REJECT) {
            Checks.finiteInput(OWNER, "x", x, batch, 0, layout.inputSize(), layout.inputSize());
            Checks.finiteInput(OWNER, "state.h", state.buffers().currentHidden(), batch, 0, weights.outputSize(),
                    state.buffers().hiddenStride());
            Checks.finiteInput(OWNER, "state.c", state.buffers().cell(), batch, 0, layout.hiddenSize(),
                    layout.paddedHidden());
        }
        driver.step(x, batch, state.buffers(), h);
    }

    /**
     * Float-array form of {@link #step(MemorySegment, LstmState, MemorySegment)}.
     *
     * @param x     input of this step, {@code [B][I]}, B = {@code state.batch()}
     * @param state the stream's state, updated in place
     * @param h     output, {@code [B][H]}: the new hidden state; null if not wanted
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void step(float[] x, LstmState state, float[] h) {
        step(MemorySegment.ofArray(Checks.notNull("x", x)), state, wrap(h));
    }

    /**
     * Brings this runner's kernels to compiled speed before the first request, with the default limit of 20
     * seconds: see {@link #warmUp(Duration)}.
     *
     * @return what the warm-up did; {@link WarmUp#settled()} is false if it ran out of time
     * @throws IllegalStateException if this runner or its weights are closed, or another thread is using this
     *                               runner
     */
    public WarmUp warmUp() {
        return warmUp(WarmUpLoop.DEFAULT_LIMIT);
    }

    /**
     * Brings this runner's kernels to compiled speed before the first request. Until HotSpot has compiled them,
     * calls are slower by one to two orders of magnitude and allocate (docs/performance.md has measurements); this
     * runs {@link #forward}
     * and {@link #step} on made-up data, at batch 1 and (if {@link #maxBatch()} &ge; 4) at batch 4, the two tile
     * shapes every batch is made of, until the JIT has gone quiet and the calls allocate nothing for about half
     * a second, or until {@code limit}. It changes nothing a caller can see: no state, no output of this runner.
     * The JIT compiles code, not objects, so one warmed runner warms every runner of the same kernel in the JVM,
     * whatever its sizes, and the layers of an {@link LstmStackRunner}.
     * Warm-up memory (a few sequences of made-up inputs and outputs) is allocated for the call and freed after.
     *
     * @param limit the longest the warm-up may take, positive
     * @return what the warm-up did; {@link WarmUp#settled()} is false if it ran out of time (the process may be
     *         compiling other code too: the JIT's activity is measured for the whole JVM)
     * @throws NullPointerException     if {@code limit} is null
     * @throws IllegalArgumentException if {@code limit} is zero or negative
     * @throws IllegalStateException    if this runner or its weights are closed, or another thread is using this
     *                                  runner
     */
    public WarmUp warmUp(Duration limit) {
        WarmUpLoop.checkLimit(limit);
        inUse.enter("warmUp");
        try {
            checkOpen();
            return WarmUpLoop.run(new WarmUpTarget(), limit);
        } finally {
            inUse.exit();
        }
    }

    /** This runner's checked paths, for {@link WarmUpLoop}: its guard is held while they run. */
    private final class WarmUpTarget implements WarmUpLoop.Target<LstmState> {

        @Override
        public int maxBatch() {
            return LstmRunner.this.maxBatch();
        }

        @Override
        public int maxSteps() {
            return Integer.MAX_VALUE;
        }

        @Override
        public int inputSize() {
            return weights.inputSize();
        }

        @Override
        public int hiddenFloats() {
            return weights.outputSize();
        }

        @Override
        public int cellFloats() {
            return weights.hiddenSize();
        }

        @Override
        public int outputFloats() {
            return weights.outputSize();
        }

        @Override
        public LstmState newState(int batch) {
            return new LstmState(weights, batch);
        }

        @Override
        public void close(LstmState state) {
            state.close();
        }

        @Override
        public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0,
                            MemorySegment y, MemorySegment hT, MemorySegment cT) {
            checkedForward(x, steps, batch, h0, c0, y, hT, cT);
        }

        @Override
        public void step(MemorySegment x, LstmState state, MemorySegment h) {
            checkedStep(x, state, h);
        }
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
                sequenceState.close();
                team.close();
            }
        } finally {
            inUse.exit();
        }
    }

    private void rejectNonFinite(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0) {
        int inputSize = layout.inputSize();
        int hiddenSize = layout.hiddenSize();
        int outputSize = weights.outputSize();
        Checks.finiteInput(OWNER, "x", x, (long) steps * batch, batch, inputSize, inputSize);
        if (h0 != null) {
            Checks.finiteInput(OWNER, "h0", h0, batch, 0, outputSize, outputSize);
        }
        if (c0 != null) {
            Checks.finiteInput(OWNER, "c0", c0, batch, 0, hiddenSize, hiddenSize);
        }
    }

    private void rejectNonFinite(MemorySegment x, SequenceLayout order, int steps, int batch, int[] lengths,
                                 MemorySegment h0, MemorySegment c0) {
        Checks.finiteSequences(OWNER, x, order, steps, batch, lengths, layout.inputSize());
        rejectNonFinite(x, 0, batch, h0, c0);
    }

    /** The worker threads of this runner (none for one thread), for tests. */
    List<Thread> workerThreads() {
        return team.workerThreads();
    }

    /** The guard of this runner's public methods: lets tests see which thread is inside. */
    ExclusiveUse inUse() {
        return inUse;
    }

    private void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("this LstmRunner is closed");
        }
        weights.checkOpen();
    }

    private void checkBatch(int batch) {
        Checks.positive("batch", batch);
        if (batch > maxBatch) {
            throw new IllegalArgumentException("batch " + batch + " exceeds this runner's maxBatch " + maxBatch);
        }
    }

    private static MemorySegment wrap(float[] array) {
        return array == null ? null : MemorySegment.ofArray(array);
    }
}
