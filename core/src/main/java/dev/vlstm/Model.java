package dev.vlstm;

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

    private final RnnShape shape;
    private final Options options;
    private final PackedModel weights;
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
     * @param options    the load-time fields are used now (a GRU or a CIFG takes FLOAT32 weights only); the
     *                   run-time fields are the defaults of {@link #runner()}
     * @return the model, owned by the caller
     * @throws IllegalArgumentException for a NaN or infinite value, or a weight beyond what the precision holds,
     *                                  naming its layer, tensor and element; or an option a GRU or CIFG does not
     *                                  have (naming it)
     * @throws IllegalStateException    if the parameters are closed
     */
    public static Model pack(Parameters parameters, Options options) {
        Checks.notNull("parameters", parameters);
        Checks.notNull("options", options);
        if (parameters.shape().cell() == Cell.GRU) {
            checkGru(options);
        } else if (parameters.shape().cell() == Cell.CIFG) {
            checkCifg(options);
        }
        return new Model(options, PackedModel.pack(parameters.tensors(), options.backend(), options.precision()));
    }

    /**
     * Refuses the options a GRU cannot honour yet, before anything is loaded or packed.
     *
     * @throws IllegalArgumentException for a precision other than FLOAT32, naming the option
     */
    static Options checkGru(Options options) {
        if (options.precision() != WeightPrecision.FLOAT32) {
            throw new IllegalArgumentException("Options.precision " + options.precision() + " is for LSTM models:"
                    + " a GRU packs FLOAT32 weights only");
        }
        return options;
    }

    /**
     * Refuses the precisions a CIFG cannot pack: its three gates have float32 tiles only.
     *
     * @throws IllegalArgumentException for a precision other than FLOAT32, naming the option
     */
    static Options checkCifg(Options options) {
        if (options.precision() != WeightPrecision.FLOAT32) {
            throw new IllegalArgumentException("Options.precision " + options.precision() + " is for LSTM models:"
                    + " a CIFG packs FLOAT32 weights only");
        }
        return options;
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
     * by {@code options.seed()} (nothing is dropped for p = 0 or a one-layer model, which has no layer below the top); the
     * model's cell clip applies. Only these run-time fields are read.
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

    /** Frees the packed weights. Closing twice is harmless. */
    @Override
    public void close() {
        weights.close();
        open = false;
    }

    void checkOpen() {
        if (!open) {
            throw new IllegalStateException("this Model is closed");
        }
    }

}
