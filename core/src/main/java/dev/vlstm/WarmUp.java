package dev.vlstm;

import java.time.Duration;

/**
 * What a warm-up ({@link Runner#warmUp(Duration)}, {@link Trainer#warmUp(Duration)}) did.
 *
 * @param calls   forward, step and backward calls made, over all the batch sizes warmed
 * @param elapsed wall-clock time the warm-up took
 * @param settled true if it stopped because the kernels ran compiled: the JIT compiled nothing and the calls
 *                allocated nothing for a while; false if the time limit came first (the JIT may still be
 *                compiling, for instance code of the rest of the process, and the first requests may be slow)
 */
public record WarmUp(long calls, Duration elapsed, boolean settled) {
}
