package dev.vlstm;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import dev.vlstm.kernel.ColdStart;
import dev.vlstm.kernel.Kernels;

/**
 * A whole LSTM or GRU (every layer and direction), packed once and shared between threads (only
 * {@link Trainer#updateWeights} changes it, repacking new parameters): what
 * {@link Vlstm#load(java.nio.file.Path, Options)} reads from a file or {@link #pack} makes from parameters. Its
 * {@link #runner()}s run it (one per thread) and its {@link #newState(int)}s carry streams. Holds off-heap memory:
 * {@link #close()} frees it; runners and states made from it must not be used after that.
 */
public final class Model implements AutoCloseable {

    /** The public type the runners serve, named in their messages. */
    private static final String RUNNER = "Runner";
    private static final String RUNNER_ADVICE = "a Runner is for one thread at a time; give each thread its own (they"
            + " may share the Model)";
    /** The public type the stream states serve, named in their messages. */
    private static final String STATE = "State";
    private static final String STATE_ADVICE = "a State is one stream's state, used by one thread at a time";
    /** The public type the trainers serve, named in their messages. */
    private static final String TRAINER = "Trainer";
    private static final String TRAINER_ADVICE = "a Trainer is for one thread at a time; give each thread its own";
    /** Rounds of calls that prime the cold kernel ({@link #primeColdKernel}). */
    private static final int PRIMING_ROUNDS = 100;

    private final RnnShape shape;
    private final Options options;
    private final PackedModel weights;
    private final BackgroundWarmUps warmUps = new BackgroundWarmUps();
    private volatile boolean open = true;

    private Model(Options options, PackedModel weights) {
        this.shape = weights.shape();
        this.options = options;
        this.weights = weights;
    }

    /**
     * Packs an LSTM's, GRU's or CIFG's parameters (any layers, directions, projection and peepholes) with
     * {@code options.precision()} for {@code options.backend()}, and keeps {@code options}.
     *
     * @param parameters every layer's and direction's values; only read: the caller still owns and closes them
     * @param options    the load-time fields are used now; the run-time fields are the defaults of
     *                   {@link #runner()}
     * @return the model, owned by the caller
     * @throws IllegalArgumentException for a NaN or infinite value, or a weight beyond what the precision holds,
     *                                  naming its layer, tensor and element
     * @throws IllegalStateException    if the parameters are closed
     */
    public static Model pack(Parameters parameters, Options options) {
        Checks.notNull("parameters", parameters);
        Checks.notNull("options", options);
        return new Model(options, PackedModel.pack(parameters.tensors(), options.backend(), options.precision()));
    }

    /** {@return the sizes of this model} */
    public RnnShape shape() {
        return shape;
    }

    /** {@return the options this model was loaded or packed with: the defaults of {@link #runner()}} */
    public Options options() {
        return options;
    }

    /**
     * {@return the name of the kernel every layer is packed for, e.g. {@code "vector-512"}}
     *
     * @throws IllegalStateException if this model is closed
     */
    public String kernelName() {
        checkOpen();
        return weights.family().name();
    }

    /**
     * {@return the off-heap bytes of every layer's and direction's packed weights}
     *
     * @throws IllegalStateException if this model is closed
     */
    public long packedBytes() {
        checkOpen();
        return weights.packedBytes();
    }

    /**
     * A runner with this model's options: {@code runner(options())}.
     *
     * @return a new runner, owned by the caller
     * @throws IllegalStateException if this model is closed
     */
    public Runner runner() {
        return runner(options);
    }

    /**
     * A runner for up to {@code options.maxBatch()} sequences of up to {@code options.maxSteps()} steps, on
     * {@code options.threads()} threads, with {@code options.nonFiniteInputs()} and {@code options.chunkSteps()}.
     * Only these run-time fields are read: the load-time ones (precision,
     * backend, cell clip, prefix) are this model's, as {@link #options()} gives them.
     *
     * @param options the run-time fields; not null
     * @return a new runner, owned by the caller; it starts {@code threads - 1} worker threads, which its
     *         {@link Runner#close()} stops
     * @throws IllegalStateException if this model is closed
     */
    public Runner runner(Options options) {
        Checks.notNull("options", options);
        checkOpen();
        StackRunner driver = new StackRunner(weights, options.maxBatch(), options.maxSteps(), this.options.cellClip(),
                options.threads(), options.chunkSteps(), RUNNER, null, RUNNER_ADVICE);
        return new Runner(this, driver, options.maxBatch(), options.maxSteps(), options.nonFiniteInputs());
    }

    /**
     * A trainer with this model's options: {@code trainer(options())}.
     *
     * @return a new trainer, owned by the caller
     * @throws IllegalArgumentException for a model of compressed weights (a trainer needs FLOAT32)
     * @throws IllegalStateException    if this model is closed
     */
    public Trainer trainer() {
        return trainer(options);
    }

    /**
     * A trainer for up to {@code options.maxBatch()} sequences of up to {@code options.maxSteps()} steps, on
     * {@code options.threads()} threads, with dropout {@code options.dropout()} between layers and its masks seeded
     * by {@code options.seed()} (nothing is dropped for p = 0 or a one-layer model, which has no layer below the
     * top); the model's cell clip applies. Only these run-time fields are read.
     *
     * @param options the run-time fields; not null
     * @return a new trainer, owned by the caller; it starts {@code threads - 1} worker threads, which its
     *         {@link Trainer#close()} stops
     * @throws IllegalArgumentException for a model of compressed weights (a trainer needs FLOAT32)
     * @throws IllegalStateException    if this model is closed
     */
    public Trainer trainer(Options options) {
        Checks.notNull("options", options);
        checkOpen();
        Checks.trainable(weights.precision());
        StackTrainer driver = new StackTrainer(weights, options.maxBatch(), options.maxSteps(),
                this.options.cellClip(), options.threads(), options.dropout() != 0, options.dropout(), options.seed(),
                TRAINER, null, TRAINER_ADVICE);
        return new Trainer(this, driver, options);
    }

    /**
     * A zero state for streaming {@code batch} sequences through a unidirectional model step by step.
     *
     * @param batch B, sequences stepped together, &ge; 1
     * @return a new state, owned by the caller
     * @throws IllegalArgumentException for a bidirectional model (its reverse direction needs the whole sequence),
     *                                  or {@code batch} &lt; 1
     * @throws IllegalStateException    if this model is closed
     */
    public State newState(int batch) {
        checkOpen();
        if (shape.direction() == Direction.BIDIRECTIONAL) {
            throw new IllegalArgumentException("a bidirectional model cannot be streamed step by step: its reverse"
                    + " direction reads the sequence from the last step back (use Runner.forward)");
        }
        Checks.positive("batch", batch);
        return new State(shape, new StreamState(weights, batch, STATE, null, STATE_ADVICE, RUNNER));
    }

    /**
     * Warms the kernels a runner with this model's options will use, in the background:
     * {@code warmUpInBackground(options(), limit)} with a limit of 20 seconds.
     *
     * @return the warm-up's report once it has ended, as {@link #warmUpInBackground(Options, Duration)} says
     * @throws IllegalStateException if this model is closed
     */
    public CompletableFuture<WarmUp> warmUpInBackground() {
        return warmUpInBackground(options, WarmUpLoop.DEFAULT_LIMIT);
    }

    /**
     * Starts {@link Runner#warmUp(Duration)} of a runner of its own, made with {@code options} as
     * {@link #runner(Options)} makes one, on a new daemon thread: what a service calls right after loading, then
     * serves requests (on runners of its own) while the JIT compiles the kernels those runners take (the same cell,
     * weight precision and kernel, one-row and, for {@code options.maxBatch()} &ge; 4, four-row tiles, forward and
     * step, on {@code options.threads()} threads), and reports ready when the future completes. The warm-up stops as
     * soon as the calls have settled; by the time the future completes its runner and states are freed, and its
     * thread ends right after (so nothing of it allocates any more). Its made-up data change nothing a caller can
     * see.
     *
     * <p>Until the warm-up's own calls run compiled code (with the scalar kernel, until the warm-up ends), the calls of
     * this model's runners run on the calling thread alone in a cold kernel ({@link CallsDuringWarmUp#COLD_KERNEL}):
     * plain loops over heap copies of the weight matrices, fast without the JIT's second tier, with the same bits.
     * Before returning, this method makes those copies (four bytes of heap per weight, freed at that switch, at the
     * latest when the warm-up ends; none if they would take more than a quarter of the heap's maximum or cannot be
     * made, and then the requests run the warming kernels) and gets the cold kernel compiled on a one-block primer of
     * the model, which {@link #close()} on another thread waits for. Requests sent before the future completes still
     * share the cores with the warm-up's calls, which run on a thread at the lowest priority: on Linux at nice 19 where
     * this module has native access ({@code --enable-native-access}), so that a request thread takes a core back from
     * it at once (and so does any other busy process: on a saturated host the warm-up may run to its limit); otherwise
     * at the lowest Java priority, which HotSpot ignores on Linux.
     *
     * <p>The future completes with the report ({@link WarmUp#settled()} false if {@code limit} came first), or
     * exceptionally with what the warm-up threw (e.g. what {@link #runner(Options)} throws for options whose
     * scratch cannot be allocated). Cancelling it, or completing it by hand, stops the warm-up before its next call;
     * {@link #close()} cancels it and waits for it to stop. Actions chained to it without an executor run on the
     * warm-up's thread (named {@code vlstm-warm-up}, at the priority of the thread that called this method, not the
     * lowered one) once it has freed its runner; they may close this model.
     *
     * @param options the run-time fields of the runners to warm, as {@link #runner(Options)} reads them; not null
     * @param limit   the longest the warm-up may take, positive
     * @return the warm-up's report once it has ended
     * @throws NullPointerException     if {@code options} or {@code limit} is null
     * @throws IllegalArgumentException if {@code limit} is zero or negative
     * @throws IllegalStateException    if this model is closed
     */
    public CompletableFuture<WarmUp> warmUpInBackground(Options options, Duration limit) {
        return warmUpInBackground(options, limit, CallsDuringWarmUp.COLD_KERNEL);
    }

    /**
     * {@link #warmUpInBackground(Options, Duration)}, choosing the kernel that this model's runners run until the
     * warm-up ends.
     *
     * @param options the run-time fields of the runners to warm; not null
     * @param limit   the longest the warm-up may take, positive
     * @param calls   what the runners' calls run on meanwhile; not null
     * @return the warm-up's report once it has ended
     * @throws NullPointerException     if {@code options}, {@code limit} or {@code calls} is null
     * @throws IllegalArgumentException if {@code limit} is zero or negative
     * @throws IllegalStateException    if this model is closed
     */
    public CompletableFuture<WarmUp> warmUpInBackground(Options options, Duration limit, CallsDuringWarmUp calls) {
        Checks.notNull("options", options);
        WarmUpLoop.checkLimit(limit);
        Checks.notNull("calls", calls);
        checkOpen();
        return warmUps.start(this, options, limit, calls);
    }

    /**
     * Gets the cold kernel's calls compiled by the JIT's first tier before the first request, through a runner made
     * with {@code options} on a primer of this model ({@link WarmUpLoop#primerOf}: the same cell, layers,
     * directions, peepholes and load-time options, a block of each size, made-up weights) whose calls run the cold
     * kernel: {@link #PRIMING_ROUNDS} rounds of {@link Runner#warmUp}'s calls, a few hundred small calls.
     */
    void primeColdKernel(Options options) {
        RnnShape primer = WarmUpLoop.primerOf(shape, weights.family().lanes());
        try (Model small = WarmUpLoop.madeUp(primer, this.options)) {
            small.beginColdStart(Long.MAX_VALUE);
            try (Runner runner = small.runner(options.withMaxBatch(WarmUpLoop.wideBatch(options.maxBatch()))
                    .withMaxSteps(Math.min(options.maxSteps(), WarmUpLoop.STEPS)).withThreads(1))) {
                runner.runRounds(PRIMING_ROUNDS);
            } finally {
                small.endColdStart();
            }
        }
    }

    /**
     * Sends this model's runners' calls to the cold kernel until the matching {@link #endColdStart()}, as
     * {@link ColdStart#begin} says, copying the weights to the heap unless they would take more than
     * {@code maxHeapBytes}.
     *
     * @return whether the calls now go to the cold kernel
     */
    boolean beginColdStart(long maxHeapBytes) {
        return weights.coldStart().begin(weights::matrices, maxHeapBytes);
    }

    /**
     * {@return whether this model's kernels allocate (box vectors) until the JIT's second tier has compiled them, so
     * that calls that allocate nothing run compiled code: the vector family's, not the scalar family's}
     */
    boolean kernelsBoxUntilCompiled() {
        return weights.family() != Kernels.scalar();
    }

    /** {@return whether this model's runners' calls go to the cold kernel now, for tests} */
    boolean coldStartActive() {
        return weights.coldStart().active();
    }

    /** Ends one {@link #beginColdStart}. */
    void endColdStart() {
        weights.coldStart().end();
    }

    /** The threads of the background warm-ups not yet ended, for tests. */
    List<Thread> warmUpThreads() {
        return warmUps.threads();
    }

    /**
     * Frees the packed weights, after cancelling any background warm-up and waiting for it to stop using them.
     * Closing twice is harmless.
     */
    @Override
    public void close() {
        warmUps.close();
        weights.close();
        open = false;
    }

    void checkOpen() {
        if (!open) {
            throw new IllegalStateException("this Model is closed");
        }
    }

}
