package dev.vlstm;

/**
 * A whole LSTM or GRU (every layer and direction), packed once and shared between threads (only
 * {@link Trainer#updateWeights} changes it, repacking new parameters): what
 * {@link Vlstm#load(java.nio.file.Path, Options)} reads from a file or {@link #pack} makes from parameters. Its
 * {@link #runner()}s run it (one per thread) and its {@link #newState(int)}s carry streams. Holds off-heap memory:
 * {@link #close()} frees it; runners and states made from it must not be used after that.
 */
public final class Model implements AutoCloseable {

    private final RnnShape shape;
    private final Options options;
    private final StackDrivers.Weights weights;
    private volatile boolean open = true;

    private Model(RnnShape shape, Options options, StackDrivers.Weights weights) {
        this.shape = shape;
        this.options = options;
        this.weights = weights;
    }

    /**
     * Packs an LSTM's parameters (any layers, directions, projection and peepholes) with
     * {@code options.precision()} for {@code options.backend()}, and keeps {@code options}. The model's
     * {@link RnnShape#peepholes()} is true if any layer or direction has peepholes.
     *
     * @param parameters every layer's and direction's values; only read: the caller still owns and closes them
     * @param options    the load-time fields are used now; the run-time fields are the defaults of {@link #runner()}
     * @return the model, owned by the caller
     * @throws IllegalArgumentException for a NaN or infinite value, or a weight beyond what the precision holds,
     *                                  naming its layer, tensor and element
     * @throws IllegalStateException    if the parameters are closed
     */
    public static Model pack(LstmStackParameters parameters, Options options) {
        Checks.notNull("parameters", parameters);
        Checks.notNull("options", options);
        LstmStackShape stack = parameters.shape();
        LstmWeights[] packed = new LstmWeights[stack.stateCount()];
        boolean peepholes = false;
        try {
            for (int n = 0; n < packed.length; n++) {
                LstmParameters part = parameters.layer(n / stack.directions(), n % stack.directions());
                peepholes |= part.peepholes() != null;
                try {
                    packed[n] = LstmWeights.fromPyTorch(options.backend(), options.precision(), part.inputSize(),
                            part.hiddenSize(), part.projectionSize(), part.weightIh(), part.weightHh(),
                            part.biasIh(), part.biasHh(), part.weightHr(), part.peepholes());
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(stack.describe(n) + ": " + e.getMessage(), e);
                }
            }
            LstmStackWeights weights = LstmStackWeights.of(stack.bidirectional(), packed);
            return new Model(RnnShape.of(Cell.LSTM, stack, peepholes), options, StackDrivers.lstm(weights));
        } catch (RuntimeException | Error e) {
            for (LstmWeights part : packed) {
                if (part != null) {
                    part.close();
                }
            }
            throw e;
        }
    }

    /**
     * Packs a GRU's parameters (any layers and directions) for {@code options.backend()}, and keeps
     * {@code options}.
     *
     * @param parameters every layer's and direction's values; only read: the caller still owns and closes them
     * @param options    the load-time fields are used now (a GRU takes FLOAT32 weights and no cell clip); the
     *                   run-time fields are the defaults of {@link #runner()}
     * @return the model, owned by the caller
     * @throws IllegalArgumentException for a NaN or infinite value (naming its layer, tensor and element), or an
     *                                  option a GRU does not have (naming it)
     * @throws IllegalStateException    if the parameters are closed
     */
    public static Model pack(GruStackParameters parameters, Options options) {
        Checks.notNull("parameters", parameters);
        StackDrivers.checkGru(Checks.notNull("options", options));
        return gru(parameters.pack(options.backend()), options);
    }

    /**
     * Packs an LSTM's or GRU's parameters with {@code options}, as the two forms above do.
     *
     * @param parameters every layer's and direction's values; only read: the caller still owns and closes them
     * @param options    the load-time fields are used now; the run-time fields are the defaults of {@link #runner()}
     * @return the model, owned by the caller
     * @throws IllegalArgumentException for a NaN or infinite value, a weight beyond what the precision holds, or an
     *                                  option a GRU does not have
     * @throws IllegalStateException    if the parameters are closed
     */
    public static Model pack(Parameters parameters, Options options) {
        return Checks.notNull("parameters", parameters).set().pack(options);
    }

    /** A model over a GRU stack's packed weights, which it owns from then on; options checked by the caller. */
    private static Model gru(GruStackWeights weights, Options options) {
        try {
            return new Model(RnnShape.of(Cell.GRU, weights.shape(), false), options, StackDrivers.gru(weights));
        } catch (RuntimeException | Error e) {
            weights.close();
            throw e;
        }
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
        return weights.kernelName();
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
        StackDrivers.Driver driver = weights.runner(options.maxBatch(), options.maxSteps(), this.options.cellClip(),
                options.threads(), options.chunkSteps());
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
     * by {@code options.seed()} (nothing is dropped for p = 0 or a one-layer model, as the stack trainers do); the
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
        StackTraining.Driver driver = weights.trainer(options.maxBatch(), options.maxSteps(), this.options.cellClip(),
                options.threads(), options.dropout(), options.seed());
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
        return new State(shape, weights.newState(batch));
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

    StackDrivers.Weights weights() {
        return weights;
    }
}
