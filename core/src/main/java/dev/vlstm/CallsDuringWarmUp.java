package dev.vlstm;

/**
 * Which kernel a model's runners run while
 * {@link Model#warmUpInBackground(Options, java.time.Duration, CallsDuringWarmUp)} compiles the vector kernels. Either
 * gives the same bits: the cold kernel computes each output with the same FMA chain and the same pointwise operations.
 */
public enum CallsDuringWarmUp {

    /**
     * Plain loops over heap copies of the weight matrices, on the calling thread alone, which the JIT's first tier
     * compiles within milliseconds (the warm-up primes them before it returns), until the warm-up's own calls run
     * compiled code: a new JVM's first call takes about a millisecond at H = 256 instead of over a hundred, and the
     * calls after it a few times the warm latency. The copies take four bytes of heap for each weight (a float32
     * model's own size, four times an int8 model's) until that switch, at the latest until the warm-up ends; a model
     * whose copies would take more than a quarter of the heap's maximum, or cannot be made, keeps
     * {@link #WARMING_KERNEL}.
     */
    COLD_KERNEL,

    /** The runners' own kernels, as the warm-up compiles them: the first calls of a new JVM are slow. */
    WARMING_KERNEL
}
