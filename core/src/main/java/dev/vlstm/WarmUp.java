package dev.vlstm;

import java.time.Duration;

/**
 * What a warm-up ({@link Runner#warmUp(Duration)}, {@link Trainer#warmUp(Duration)}) did.
 *
 * @param calls      forward, step and backward calls made, over all the batch sizes warmed
 * @param elapsed    wall-clock time the warm-up took
 * @param settled    true if it stopped because the kernels ran compiled: the JIT compiled nothing and the calls
 *                   allocated nothing for a while; false if the time limit came first (the JIT may still be
 *                   compiling, for instance code of the rest of the process, and the first requests may be slow)
 * @param allocating true if the warm-up's last calls (at most its last 0.2 s) still allocated; never if it settled,
 *                   nor where the JVM does not measure a thread's allocation. On a vector kernel that is code not
 *                   yet compiled or, if it lasts through a long limit, compiled code that boxes vectors, which a
 *                   JVM's history can cause (the service guide's "Training and serving in one JVM" names the JVM
 *                   flag that prevents it). The scalar kernel's calls do not box, so there it says nothing of the JIT
 */
public record WarmUp(long calls, Duration elapsed, boolean settled, boolean allocating) {
}
