package dev.vlstm;

import java.time.Duration;

/**
 * How a {@link StreamBatcher} batches its streams' frames and what it holds. Start from {@link #DEFAULT} and change
 * fields with the withers; every value is checked when the record is made.
 *
 * @param maxBatch      the most frames (each of a different stream) one batched step runs, &ge; 1; sizes the
 *                      batcher's runner and its staging buffers
 * @param maxDelay      the longest the dispatcher waits, from the submission of the oldest pending frame, for
 *                      {@code maxBatch} frames to gather before it steps what is pending, &ge; 0; zero steps whatever
 *                      is pending at once (batches then form only from frames that arrive while a step runs)
 * @param queueCapacity the most frames submitted and not yet finished, over all streams, &ge; 1: a submission beyond
 *                      it is refused (a chunk of T frames counts T, and is never longer); also the number of pooled
 *                      frame objects, each holding I + S floats on the heap
 * @param maxStreams    the most streams open at once, &ge; 1: the state slots allocated up front, one off-heap slab of
 *                      {@code maxStreams × L × (S + H)} floats for an LSTM ({@code L × S} for a GRU)
 * @param idleTimeout   how long a stream with no pending frame may go without a submission before the batcher closes
 *                      it, &ge; 0; zero for never
 * @param threads       the threads each batched step runs on, the dispatcher thread (or the caller of a blocking
 *                      step that finds the batcher idle, see {@link StreamBatcher}) included, 1 to
 *                      {@link Options#MAX_THREADS}; results are the same bits for any number
 */
public record BatcherOptions(int maxBatch, Duration maxDelay, int queueCapacity, int maxStreams, Duration idleTimeout,
                             int threads) {

    /**
     * Batches of up to 64 frames stepped without waiting, 1024 frames pending at most, 1024 streams, no idle expiry,
     * one thread.
     */
    public static final BatcherOptions DEFAULT = new BatcherOptions(64, Duration.ZERO, 1024, 1024, Duration.ZERO, 1);

    /**
     * Checks every field.
     *
     * @throws NullPointerException     for a null maxDelay or idleTimeout
     * @throws IllegalArgumentException for a size below 1, a negative duration, or threads above
     *                                  {@link Options#MAX_THREADS}, naming the field
     */
    public BatcherOptions {
        Checks.positive("maxBatch", maxBatch);
        nonNegative("maxDelay", maxDelay, "Duration.ZERO to step what is pending at once");
        Checks.positive("queueCapacity", queueCapacity);
        Checks.positive("maxStreams", maxStreams);
        nonNegative("idleTimeout", idleTimeout, "Duration.ZERO for no expiry");
        Checks.threads(threads);
    }

    /**
     * {@return these options with another largest batch}
     *
     * @param maxBatch frames per batched step, &ge; 1
     */
    public BatcherOptions withMaxBatch(int maxBatch) {
        return new BatcherOptions(maxBatch, maxDelay, queueCapacity, maxStreams, idleTimeout, threads);
    }

    /**
     * {@return these options with another longest wait for a full batch}
     *
     * @param maxDelay &ge; 0, not null
     */
    public BatcherOptions withMaxDelay(Duration maxDelay) {
        return new BatcherOptions(maxBatch, maxDelay, queueCapacity, maxStreams, idleTimeout, threads);
    }

    /**
     * {@return these options with another bound on pending frames}
     *
     * @param queueCapacity &ge; 1
     */
    public BatcherOptions withQueueCapacity(int queueCapacity) {
        return new BatcherOptions(maxBatch, maxDelay, queueCapacity, maxStreams, idleTimeout, threads);
    }

    /**
     * {@return these options with another number of state slots}
     *
     * @param maxStreams &ge; 1
     */
    public BatcherOptions withMaxStreams(int maxStreams) {
        return new BatcherOptions(maxBatch, maxDelay, queueCapacity, maxStreams, idleTimeout, threads);
    }

    /**
     * {@return these options with another idle timeout}
     *
     * @param idleTimeout &ge; 0, zero for never; not null
     */
    public BatcherOptions withIdleTimeout(Duration idleTimeout) {
        return new BatcherOptions(maxBatch, maxDelay, queueCapacity, maxStreams, idleTimeout, threads);
    }

    /**
     * {@return these options with another thread count}
     *
     * @param threads 1 to {@link Options#MAX_THREADS}
     */
    public BatcherOptions withThreads(int threads) {
        return new BatcherOptions(maxBatch, maxDelay, queueCapacity, maxStreams, idleTimeout, threads);
    }

    private static void nonNegative(String name, Duration value, String zeroMeans) {
        Checks.notNull(name, value);
        if (value.isNegative()) {
            throw new IllegalArgumentException(name + " must be >= 0 (" + zeroMeans + "), got " + value);
        }
    }
}
