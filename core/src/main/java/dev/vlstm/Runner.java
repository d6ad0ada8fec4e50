package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * Runs a {@link Model}'s forward in inference, as PyTorch's {@code nn.LSTM} or {@code nn.GRU}: whole sequences
 * through every layer and direction ({@link #forward}), also of different lengths, or, for a unidirectional model,
 * one step of a stream at a time ({@link #step}). Made by {@link Model#runner(Options)}, for up to
 * {@link #maxBatch()} sequences of up to {@code maxSteps} steps; all scratch is allocated then, so that the
 * {@link MemorySegment} forms allocate nothing once warmed up ({@link #warmUp()}).
 *
 * <p>Shapes, with L layers, D directions, S the width of one direction's h (P with projection, else H): x
 * {@code [T][B][I]}, y {@code [T][B][D·S]} (forward direction first), h0 and hT {@code [L·D][B][S]}, c0 and cT
 * {@code [L·D][B][H]} (one block per layer and direction at {@code layer·D + direction}, as PyTorch). A GRU has no
 * cell state: its c0 and cT must be null. Every tensor is row-major floats in native byte order, in heap or native
 * segments; arguments are checked before anything is computed or written. NaN and infinite inputs propagate or are
 * rejected, as {@link Options#nonFiniteInputs()} says ({@link NonFiniteInputs}), for LSTM and GRU alike.
 *
 * <p>Not thread-safe: give each thread its own runner (they may share the model).
 */
public final class Runner implements AutoCloseable {

    /** This class's name in the messages of {@link NonFiniteInputs#REJECT}. */
    private static final String OWNER = "Runner";

    private final Model model;
    private final StackRunner driver;
    private final int maxBatch;
    private final int maxSteps;
    private final NonFiniteInputs nonFiniteInputs;
    private boolean open = true;

    Runner(Model model, StackRunner driver, int maxBatch, int maxSteps, NonFiniteInputs nonFiniteInputs) {
        this.model = model;
        this.driver = driver;
        this.maxBatch = maxBatch;
        this.maxSteps = maxSteps;
        this.nonFiniteInputs = nonFiniteInputs;
    }

    /** {@return the model this runner runs (not owned by the runner)} */
    public Model model() {
        return model;
    }

    /** {@return the threads each call runs on, the calling thread included; 1 for the calling thread alone} */
    public int threads() {
        return driver.threads();
    }

    /** {@return B, the largest batch a call takes, &ge; 1} */
    public int maxBatch() {
        return maxBatch;
    }

    /** {@return T, the longest sequence {@link #forward} takes, in steps, &ge; 1} */
    public int maxSteps() {
        return maxSteps;
    }

    /**
     * {@return the time steps whose input projection one GEMM computes, in every layer and direction: {@link
     * Options#chunkSteps()} (at most {@link #maxSteps()}), or what the default rule gave for 0}
     */
    public int chunkSteps() {
        return driver.chunkSteps();
    }

    /** {@return what this runner does with NaN and infinite inputs ({@link Options#nonFiniteInputs()})} */
    public NonFiniteInputs nonFiniteInputs() {
        return nonFiniteInputs;
    }

    /**
     * Runs a whole batch of sequences of T steps through every layer and direction. h0 and c0 are read before they
     * are overwritten, so they may be the same memory as hT and cT; otherwise outputs must not overlap the inputs or
     * each other.
     *
     * @param x     input, {@code [T][B][I]} floats (time-major)
     * @param steps T, 1 &le; T &le; {@link #maxSteps()}
     * @param batch B, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden states {@code [L·D][B][S]} (PyTorch's h_0), or null for zeros
     * @param c0    initial cell states {@code [L·D][B][H]}, or null for zeros; null for a GRU
     * @param y     output, {@code [T][B][D·S]}: the top layer's h after every step; null if not wanted
     * @param hT    output, {@code [L·D][B][S]}: every layer's and direction's final h (the reverse direction's is
     *              its h after step 0); null if not wanted
     * @param cT    output, {@code [L·D][B][H]}: the final cell states; null if not wanted; null for a GRU
     * @throws IllegalArgumentException for a size &lt; 1 or above this runner's limits, a segment whose size does
     *                                  not match its shape, a read-only output, a c0 or cT given to a GRU, or (with
     *                                  {@link NonFiniteInputs#REJECT}) a NaN or infinite value in x, h0 or c0,
     *                                  named as in {@code x[t][b][j]} or {@code h0[l·D+d][b][j]}
     * @throws IllegalStateException    if this runner, its model, or the arena of an argument is closed
     */
    public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0,
                        MemorySegment y, MemorySegment hT, MemorySegment cT) {
        checkCall(steps, batch);
        if (nonFiniteInputs == NonFiniteInputs.REJECT) {
            driver.checkArguments(x, SequenceLayout.TIME_MAJOR, steps, batch, null, h0, c0, y, hT, cT);
            int inputSize = model.shape().inputSize();
            Checks.finiteInput(OWNER, "x", x, (long) steps * batch, batch, inputSize, inputSize);
            rejectNonFiniteStates(batch, h0, c0);
        }
        driver.forward(x, steps, batch, h0, c0, y, hT, cT);
    }

    /**
     * Float-array form of {@link #forward(MemorySegment, int, int, MemorySegment, MemorySegment, MemorySegment,
     * MemorySegment, MemorySegment)}; same shapes, same nulls allowed.
     *
     * @param x     input, {@code [T][B][I]}
     * @param steps T, 1 &le; T &le; {@link #maxSteps()}
     * @param batch B, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden states {@code [L·D][B][S]}, or null for zeros
     * @param c0    initial cell states {@code [L·D][B][H]}, or null for zeros; null for a GRU
     * @param y     output, {@code [T][B][D·S]}; null if not wanted
     * @param hT    output, {@code [L·D][B][S]}; null if not wanted
     * @param cT    output, {@code [L·D][B][H]}; null if not wanted; null for a GRU
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void forward(float[] x, int steps, int batch, float[] h0, float[] c0, float[] y, float[] hT, float[] cT) {
        forward(MemorySegment.ofArray(Checks.notNull("x", x)), steps, batch, wrap(h0), wrap(c0), wrap(y), wrap(hT),
                wrap(cT));
    }

    /**
     * Runs a batch of sequences of different lengths, padded to T steps, in either layout (PyTorch's packed
     * sequences, ONNX's {@code sequence_lens}). Sequence b runs its first {@code lengths[b]} steps in every layer;
     * the reverse direction runs over those steps reversed. y is zero past each sequence's end; hT and cT hold each
     * layer's and direction's state after the sequence's last step; a length of 0 gives y zero and hT = h0,
     * cT = c0. Each sequence's results are bit for bit those of running it alone with {@code steps = lengths[b]}.
     * Aliasing as in the time-major {@link #forward(MemorySegment, int, int, MemorySegment, MemorySegment,
     * MemorySegment, MemorySegment, MemorySegment) forward}.
     *
     * @param x       input, {@code [T][B][I]} ({@link SequenceLayout#TIME_MAJOR}) or {@code [B][T][I]}
     *                ({@link SequenceLayout#BATCH_FIRST}) floats; padding steps are never read
     * @param layout  the order of the time and batch dimensions of x and y
     * @param steps   T, the padded length, 1 &le; T &le; {@link #maxSteps()}
     * @param batch   B, 1 &le; B &le; {@link #maxBatch()}
     * @param lengths time steps of each sequence, B values in 0..T, in any order; read during the call only
     * @param h0      initial hidden states {@code [L·D][B][S]}, or null for zeros
     * @param c0      initial cell states {@code [L·D][B][H]}, or null for zeros; null for a GRU
     * @param y       output in x's layout, {@code [T][B][D·S]} or {@code [B][T][D·S]}; null if not wanted
     * @param hT      output, {@code [L·D][B][S]}; null if not wanted
     * @param cT      output, {@code [L·D][B][H]}; null if not wanted; null for a GRU
     * @throws IllegalArgumentException as the time-major forward (with {@link NonFiniteInputs#REJECT} only the
     *                                  values that are read are checked: x within each length, h0, c0; x's elements
     *                                  are named in x's layout), and for null lengths, lengths of another size
     *                                  than B, or a length outside 0..T (naming its index)
     * @throws NullPointerException     for a null layout
     * @throws IllegalStateException    as the time-major forward
     */
    public void forward(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths,
                        MemorySegment h0, MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT) {
        checkCall(steps, batch);
        if (nonFiniteInputs == NonFiniteInputs.REJECT) {
            Checks.notNull("layout", layout);
            VariableLengths.check(lengths, steps, batch);
            driver.checkArguments(x, layout, steps, batch, lengths, h0, c0, y, hT, cT);
            Checks.finiteSequences(OWNER, x, layout, steps, batch, lengths, model.shape().inputSize());
            rejectNonFiniteStates(batch, h0, c0);
        }
        driver.forward(x, layout, steps, batch, lengths, h0, c0, y, hT, cT);
    }

    /**
     * Float-array form of {@link #forward(MemorySegment, SequenceLayout, int, int, int[], MemorySegment,
     * MemorySegment, MemorySegment, MemorySegment, MemorySegment)}; same shapes, same nulls allowed.
     *
     * @param x       input, {@code [T][B][I]} or {@code [B][T][I]} per {@code layout}
     * @param layout  the order of the time and batch dimensions of x and y
     * @param steps   T, the padded length, 1 &le; T &le; {@link #maxSteps()}
     * @param batch   B, 1 &le; B &le; {@link #maxBatch()}
     * @param lengths time steps of each sequence, B values in 0..T
     * @param h0      initial hidden states {@code [L·D][B][S]}, or null for zeros
     * @param c0      initial cell states {@code [L·D][B][H]}, or null for zeros; null for a GRU
     * @param y       output in x's layout; null if not wanted
     * @param hT      output, {@code [L·D][B][S]}; null if not wanted
     * @param cT      output, {@code [L·D][B][H]}; null if not wanted; null for a GRU
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void forward(float[] x, SequenceLayout layout, int steps, int batch, int[] lengths, float[] h0, float[] c0,
                        float[] y, float[] hT, float[] cT) {
        forward(MemorySegment.ofArray(Checks.notNull("x", x)), layout, steps, batch, lengths, wrap(h0), wrap(c0),
                wrap(y), wrap(hT), wrap(cT));
    }

    /**
     * Advances B streams of a unidirectional model by one time step: every layer's h (and c) in {@code state}, and
     * the top layer's new h into {@code h}. Stepping T times gives the same result as {@link #forward} over T steps,
     * bit for bit. Arguments are checked first: a step that throws has not changed the state.
     *
     * @param x     input of this step, {@code [B][I]} floats, B = {@code state.batch()} &le; {@link #maxBatch()}
     * @param state the streams' state, from {@link Model#newState(int)} of a model of this runner's shape
     * @param h     output, {@code [B][S]}: the top layer's new h (this step's row of y); null if not wanted
     * @throws IllegalArgumentException for a state of another shape, a batch above {@link #maxBatch()}, a segment
     *                                  whose size does not match its shape, or (with {@link NonFiniteInputs#REJECT})
     *                                  a NaN or infinite value in x or in the state's h or c, named as in
     *                                  {@code x[b][j]} or {@code state.c[l][b][j]}
     * @throws IllegalStateException    if this runner, its model, the state, or the arena of an argument is closed
     */
    public void step(MemorySegment x, State state, MemorySegment h) {
        checkOpen();
        Checks.notNull("state", state);
        // Identity first: a state made by this model shares its shape, and a record's first equals() spins up its
        // method handles, a cost the first step of a new JVM would pay.
        if (state.shape() != model.shape() && !state.shape().equals(model.shape())) {
            throw new IllegalArgumentException("state is for a model of " + state.shape() + ", but this runner's is "
                    + model.shape());
        }
        checkCall(1, state.batch());
        if (nonFiniteInputs == NonFiniteInputs.REJECT) {
            int inputSize = model.shape().inputSize();
            int batch = state.batch();
            Checks.floats("x", x, "B", batch, "I", inputSize);
            Checks.finiteInput(OWNER, "x", x, batch, 0, inputSize, inputSize);
            state.stream().rejectNonFinite(OWNER);
        }
        driver.step(x, state.stream(), h);
    }

    /**
     * Float-array form of {@link #step(MemorySegment, State, MemorySegment)}.
     *
     * @param x     input of this step, {@code [B][I]}
     * @param state the streams' state, updated in place
     * @param h     output, {@code [B][S]}; null if not wanted
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void step(float[] x, State state, float[] h) {
        step(MemorySegment.ofArray(Checks.notNull("x", x)), state, wrap(h));
    }

    /**
     * Brings the kernels to compiled speed before the first request, with a limit of 20 seconds: see
     * {@link #warmUp(Duration)}.
     *
     * @return what the warm-up did; {@link WarmUp#settled()} is false if it ran out of time
     * @throws IllegalStateException if this runner or its model is closed
     */
    public WarmUp warmUp() {
        return warmUp(WarmUpLoop.DEFAULT_LIMIT);
    }

    /**
     * Brings the kernels to compiled speed before the first request: runs {@link #forward} and (for a
     * unidirectional model) {@link #step} on made-up data, at batch 1 and (if {@link #maxBatch()} &ge; 4) at batch 5,
     * or 4 if it takes no more (a tile of four rows and a row left over: every path a batch takes), with off-heap and
     * float-array arguments in turn, until the JIT has gone quiet and the calls allocate nothing for about 0.4 s, or
     * until {@code limit}. A model any of whose sizes is wider than four blocks of vector lanes is first warmed, for
     * at most half the limit, through a runner of the same options (on at most two threads) on a miniature of it
     * (the same cell, layers, directions and kernel, made-up weights), whose cheap calls get the kernels compiled
     * sooner than the model's own would. It changes nothing a caller can see. The JIT compiles code, not objects: one
     * warmed runner warms every runner of the same cell and kernel in the JVM. Warm-up memory (and the miniature) is
     * allocated for the call and freed after.
     *
     * @param limit the longest the warm-up may take, positive
     * @return what the warm-up did; {@link WarmUp#settled()} is false if it ran out of time
     * @throws NullPointerException     if {@code limit} is null
     * @throws IllegalArgumentException if {@code limit} is zero or negative
     * @throws IllegalStateException    if this runner or its model is closed
     */
    public WarmUp warmUp(Duration limit) {
        WarmUpLoop.checkLimit(limit);
        return warmUp(limit, () -> false, () -> { });
    }

    /**
     * {@link #warmUp(Duration)} that asks {@code stopped} before every call and runs {@code compiled} once its calls
     * run compiled code ({@link WarmUpLoop#run(WarmUpLoop.Target, Duration, BooleanSupplier,
     * Runnable)}), for {@link BackgroundWarmUps}.
     *
     * @throws java.util.concurrent.CancellationException as soon as {@code stopped} says true
     */
    WarmUp warmUp(Duration limit, BooleanSupplier stopped, Runnable compiled) {
        checkOpen();
        driver.warmingUp(true);
        try {
            return WarmUpLoop.run(new WarmUpTarget(), limit, stopped, compiled);
        } finally {
            driver.warmingUp(false);
        }
    }

    /**
     * Runs {@code rounds} rounds of {@link #warmUp}'s calls as any caller's calls run, however long they take: a
     * primer model's, through the cold kernel.
     */
    void runRounds(int rounds) {
        checkOpen();
        WarmUpLoop.rounds(new WarmUpTarget(), rounds);
    }

    /** Frees the scratch memory and stops the worker threads. Closing twice is harmless. */
    @Override
    public void close() {
        driver.close();
        open = false;
    }

    /** The GEMM and step calls this runner has run on the cold kernel, for tests. */
    long coldCalls() {
        return driver.coldCalls();
    }

    /** The worker threads of this runner (none for one thread), for tests. */
    List<Thread> workerThreads() {
        return driver.workerThreads();
    }

    private void checkCall(int steps, int batch) {
        checkOpen();
        Checks.limits(OWNER, steps, maxSteps, batch, maxBatch);
    }

    /** For {@link NonFiniteInputs#REJECT}: h0 {@code [L·D][B][S]} and c0 {@code [L·D][B][H]}, checked in shape. */
    private void rejectNonFiniteStates(int batch, MemorySegment h0, MemorySegment c0) {
        RnnShape shape = model.shape();
        long rows = (long) shape.stateCount() * batch;
        if (h0 != null) {
            int width = shape.hiddenStateSize();
            Checks.finiteInput(OWNER, "h0", h0, rows, batch, width, width);
        }
        if (c0 != null) {
            Checks.finiteInput(OWNER, "c0", c0, rows, batch, shape.hiddenSize(), shape.hiddenSize());
        }
    }

    private void checkOpen() {
        if (!open) {
            throw new IllegalStateException("this Runner is closed");
        }
        model.checkOpen();
    }

    /** {@return a heap segment over {@code array}, or null for null: the float[] forms' optional arguments} */
    static MemorySegment wrap(float[] array) {
        return array == null ? null : MemorySegment.ofArray(array);
    }

    /** This runner's calls, for {@link WarmUpLoop}. */
    private final class WarmUpTarget extends WarmUpLoop.ModelTarget<State> {

        WarmUpTarget() {
            super(model.shape(), maxBatch, maxSteps);
        }

        @Override
        public State newState(int batch) {
            return model.shape().direction() == Direction.FORWARD ? model.newState(batch) : null;
        }

        @Override
        public void close(State state) {
            state.close();
        }

        @Override
        public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0,
                            MemorySegment y, MemorySegment hT, MemorySegment cT) {
            Runner.this.forward(x, steps, batch, h0, c0, y, hT, cT);
        }

        @Override
        public void step(MemorySegment x, State state, MemorySegment h) {
            Runner.this.step(x, state, h);
        }

        /** A runner of this one's run-time options on a miniature of the model, sized for the warm-up's calls. */
        @Override
        public WarmUpLoop.Miniature<State> miniature() {
            return WarmUpLoop.openMiniature(model, small -> {
                Runner runner = small.runner(small.options().withMaxBatch(WarmUpLoop.wideBatch(maxBatch))
                        .withMaxSteps(Math.min(maxSteps, WarmUpLoop.STEPS))
                        .withThreads(WarmUpLoop.miniatureThreads(threads())).withChunkSteps(chunkSteps())
                        .withNonFiniteInputs(nonFiniteInputs));
                return new WarmUpLoop.Miniature<>(runner.new WarmUpTarget(), runner::close);
            });
        }
    }
}
