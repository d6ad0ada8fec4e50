package dev.vlstm;

/**
 * How a {@link Model} is packed and how its {@link Runner}s and {@link Trainer}s run. LSTM and GRU models take this
 * one type, and every option serves every cell. The load-time fields ({@link #precision}, {@link #backend},
 * {@link #cellClip}, {@link #prefix}) are read when a model is loaded or packed, and the model keeps them; the
 * run-time fields ({@link #maxBatch}, {@link #maxSteps}, {@link #threads}, {@link #nonFiniteInputs},
 * {@link #chunkSteps}) are read by {@link Model#runner(Options)}, which ignores the training fields
 * ({@link #dropout}, {@link #seed}: a runner never drops). {@link Model#trainer(Options)} reads {@link #maxBatch}, {@link #maxSteps}, {@link #threads},
 * {@link #dropout} and {@link #seed} only: a trainer checks no input for non-finite values and projects the inputs of
 * its whole sequence in one GEMM. Start from {@link #DEFAULT} and change fields with the withers; every value is
 * checked when the record is made.
 *
 * @param precision storage of the weight matrices W and U ({@link WeightPrecision}), for every cell
 * @param backend   the kernel family to pack for
 * @param cellClip  ONNX's clip, &gt; 0 (in the units of the gate pre-activations), applied in every layer and
 *                  direction to the inputs of the activations: an LSTM's or CIFG's gate pre-activations and c before
 *                  its tanh (its cell clip), a GRU's pre-activations of r, z and n ({@code a_n + r*(U_n h + b_hn)},
 *                  as ONNX's GRU with {@code linear_before_reset = 1}); {@code Float.POSITIVE_INFINITY} for none
 * @param prefix    the module prefix of the tensor names in a file, e.g. {@code "lstm."} or {@code ""}; null to
 *                  infer it (the file must then hold exactly one recurrent model)
 * @param maxBatch  B, the largest batch a runner takes, &ge; 1
 * @param maxSteps  T, the longest sequence a runner's forward takes, &ge; 1; sizes a runner's scratch (about
 *                  {@code maxBatch × maxSteps × D·S} floats per layer output a stack keeps); a longer sequence runs as
 *                  several calls whose h0 and c0 are the previous call's hT and cT
 * @param threads   threads each runner call runs on, the calling thread included, 1 to {@link #MAX_THREADS};
 *                  results are the same bits for any number
 * @param nonFiniteInputs what a runner does with NaN and infinite inputs (x, h0 and c0 of a forward, x and the
 *                  state's h and c of a step), for LSTM and GRU alike, as {@link NonFiniteInputs} describes
 * @param chunkSteps the time steps whose input projection {@code x · Wᵀ + b} a runner computes as one GEMM, &ge; 1,
 *                  at most {@code maxSteps} of them (a larger value runs as {@code maxSteps}); 0 for the default,
 *                  as many as fit 2 MiB of gate pre-activations at {@code maxBatch} rows per step. Sizes a runner's
 *                  scratch (about {@code chunkSteps × maxBatch × (I + G·H)} floats per layer and direction); the
 *                  results are the same bits for any chunk
 * @param dropout   p, the dropout between layers of a trainer, in [0, 1), 0 for none: as {@code nn.LSTM(dropout=p)}
 *                  and {@code nn.GRU(dropout=p)} in training, the output of every layer but the top one is multiplied
 *                  element by element by a fresh mask of 0 (probability p) and {@code 1/(1-p)}, and the backward by
 *                  the same mask. Read by {@link Model#trainer(Options)} only; runners ignore it. A one-layer model
 *                  has no layer below the top, so nothing is dropped (PyTorch warns; vlstm applies nothing silently)
 * @param seed      seed of a trainer's dropout masks: two trainers of the same p and seed draw the same masks, forward
 *                  after forward. Read by {@link Model#trainer(Options)} only, and only if {@link #dropout} &gt; 0
 */
public record Options(WeightPrecision precision, Backend backend, float cellClip, String prefix, int maxBatch,
                      int maxSteps, int threads, NonFiniteInputs nonFiniteInputs, int chunkSteps,
                      double dropout, long seed) {

    /** The default {@link #maxSteps}: sequences of up to 1024 steps. */
    public static final int DEFAULT_MAX_STEPS = 1024;

    /** The most threads a runner or trainer runs one call on, the calling thread included. */
    public static final int MAX_THREADS = 256;

    /**
     * Float32 weights for the preferred kernel, no cell clip, the prefix inferred, batches of 1, sequences of up to
     * {@link #DEFAULT_MAX_STEPS} steps, one thread, non-finite inputs propagated, the default input chunk, no dropout
     * (and seed 0).
     */
    public static final Options DEFAULT = new Options(WeightPrecision.FLOAT32, Backend.PREFERRED,
            Float.POSITIVE_INFINITY, null, 1, DEFAULT_MAX_STEPS, 1, NonFiniteInputs.PROPAGATE, 0, 0, 0);

    /**
     * Checks every field.
     *
     * @throws NullPointerException     for a null precision, backend or nonFiniteInputs
     * @throws IllegalArgumentException for a cell clip that is not &gt; 0 (or NaN), a size below 1, threads above
     *                                  {@link #MAX_THREADS}, a negative chunkSteps, or a dropout outside [0, 1)
     *                                  (or NaN), naming the field
     */
    public Options {
        Checks.notNull("precision", precision);
        Checks.notNull("backend", backend);
        Checks.cellClip(cellClip);
        Checks.positive("maxBatch", maxBatch);
        Checks.positive("maxSteps", maxSteps);
        Checks.threads(threads);
        Checks.notNull("nonFiniteInputs", nonFiniteInputs);
        if (chunkSteps < 0) {
            throw new IllegalArgumentException("chunkSteps must be >= 0 (0 for the default), got " + chunkSteps);
        }
        Checks.dropout(dropout);
    }

    /**
     * {@return these options with another weight precision}
     *
     * @param precision FLOAT32, BFLOAT16 or INT8, not null
     */
    public Options withPrecision(WeightPrecision precision) {
        return new Options(precision, backend, cellClip, prefix, maxBatch, maxSteps, threads, nonFiniteInputs,
                chunkSteps, dropout, seed);
    }

    /**
     * {@return these options with another backend}
     *
     * @param backend the kernel family, not null
     */
    public Options withBackend(Backend backend) {
        return new Options(precision, backend, cellClip, prefix, maxBatch, maxSteps, threads, nonFiniteInputs,
                chunkSteps, dropout, seed);
    }

    /**
     * {@return these options with another cell clip}
     *
     * @param cellClip &gt; 0, or {@code Float.POSITIVE_INFINITY} for none; for LSTM, CIFG and GRU models alike
     */
    public Options withCellClip(float cellClip) {
        return new Options(precision, backend, cellClip, prefix, maxBatch, maxSteps, threads, nonFiniteInputs,
                chunkSteps, dropout, seed);
    }

    /**
     * {@return these options with another tensor name prefix}
     *
     * @param prefix e.g. {@code "lstm."}, {@code ""} for none, or null to infer it
     */
    public Options withPrefix(String prefix) {
        return new Options(precision, backend, cellClip, prefix, maxBatch, maxSteps, threads, nonFiniteInputs,
                chunkSteps, dropout, seed);
    }

    /**
     * {@return these options with another largest batch}
     *
     * @param maxBatch B, &ge; 1
     */
    public Options withMaxBatch(int maxBatch) {
        return new Options(precision, backend, cellClip, prefix, maxBatch, maxSteps, threads, nonFiniteInputs,
                chunkSteps, dropout, seed);
    }

    /**
     * {@return these options with another longest sequence}
     *
     * @param maxSteps T, &ge; 1
     */
    public Options withMaxSteps(int maxSteps) {
        return new Options(precision, backend, cellClip, prefix, maxBatch, maxSteps, threads, nonFiniteInputs,
                chunkSteps, dropout, seed);
    }

    /**
     * {@return these options with another thread count}
     *
     * @param threads 1 to {@link #MAX_THREADS}
     */
    public Options withThreads(int threads) {
        return new Options(precision, backend, cellClip, prefix, maxBatch, maxSteps, threads, nonFiniteInputs,
                chunkSteps, dropout, seed);
    }

    /**
     * {@return these options with another policy for NaN and infinite inputs}
     *
     * @param nonFiniteInputs PROPAGATE (the default) or REJECT, not null
     */
    public Options withNonFiniteInputs(NonFiniteInputs nonFiniteInputs) {
        return new Options(precision, backend, cellClip, prefix, maxBatch, maxSteps, threads, nonFiniteInputs,
                chunkSteps, dropout, seed);
    }

    /**
     * {@return these options with another input chunk}
     *
     * @param chunkSteps time steps per input GEMM, &ge; 1, or 0 for the default
     */
    public Options withChunkSteps(int chunkSteps) {
        return new Options(precision, backend, cellClip, prefix, maxBatch, maxSteps, threads, nonFiniteInputs,
                chunkSteps, dropout, seed);
    }

    /**
     * {@return these options with another dropout between layers, for trainers}
     *
     * @param dropout p, the probability that an element of a layer's output is dropped, in [0, 1); 0 for none
     * @param seed    seed of the masks: the same seed draws the same masks, forward after forward
     */
    public Options withDropout(double dropout, long seed) {
        return new Options(precision, backend, cellClip, prefix, maxBatch, maxSteps, threads, nonFiniteInputs,
                chunkSteps, dropout, seed);
    }
}
