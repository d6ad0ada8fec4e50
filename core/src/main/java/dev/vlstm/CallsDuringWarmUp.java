package dev.vlstm;

/**
 * Which kernel a model's runners run while {@link Model#warmUpInBackground(Options, Duration, CallsDuringWarmUp)}
 * compiles the vector kernels. Either gives the same bits: the cold kernel computes each output with the same FMA
 * chain and the same pointwise operations.
 */
public enum CallsDuringWarmUp {

    /**
     * Plain loops over heap copies of the weight matrices, on the calling thread alone, which the JIT's first tier
     * compiles within milliseconds: a new JVM's first calls run at a few times the warm latency instead of
     * thousands of times it. The copies take four bytes of heap for each weight (a float32 model's own size, four
     * times an int8 model's) until the warm-up ends; a model whose copies would take more than a quarter of the
     * heap's maximum keeps {@link #WARMING_KERNEL}.
     */
    COLD_KERNEL,

    /** The runners' own kernels, as the warm-up compiles them: the first calls of a new JVM are slow. */
    WARMING_KERNEL
}
