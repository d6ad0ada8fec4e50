/**
 * vlstm: fused LSTM kernels for the JVM on the Vector API, over off-heap memory.
 *
 * <p>Exported: the API ({@link dev.vlstm}), loaders and savers of trained models ({@link dev.vlstm.io}) and
 * optimizers and clipping ({@link dev.vlstm.train}). The engine ({@code dev.vlstm.engine}) and the kernels
 * ({@code dev.vlstm.kernel}) are internal; the command-line tool is an application of its own (artifact vlstm-cli). The double-precision scalar oracle is a module of its own, {@code dev.vlstm.reference} (artifact
 * vlstm-reference), which shares no code with this one.
 *
 * <p>The Vector API is an optional dependency: with {@code --add-modules jdk.incubator.vector} the vector kernel
 * runs; without it this module still resolves, and runs its scalar kernel after one logged warning.
 */
module dev.vlstm.core {
    requires static jdk.incubator.vector;
    /** The JIT's and a thread's allocation counters, which tell a warm-up when the kernels are compiled. */
    requires jdk.management;

    exports dev.vlstm;
    exports dev.vlstm.io;
    exports dev.vlstm.train;
}
