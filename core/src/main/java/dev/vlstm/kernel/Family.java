package dev.vlstm.kernel;

/**
 * One kernel family, vector or scalar, chosen once by {@link Kernels}: its GEMM (every packed product and the fused
 * recurrent step of every cell and weight format), its backward pointwise part and its elementwise tensor
 * operations. Weights are packed with {@code lanes} hidden units per block for the family that runs them. Every
 * member is stateless, so one family serves every thread; threads come from a {@link Team}.
 *
 * @param name      a short name for logs and benchmark tables, e.g. {@code "vector-512"} or {@code "scalar"}
 * @param lanes     hidden units per packed block
 * @param gemm      the packed GEMM and fused step
 * @param pointwise the cells' backward pointwise part
 * @param tensors   the elementwise operations of training and the optimizers
 */
public record Family(String name, int lanes, PackedGemm gemm, Pointwise pointwise, TensorKernel tensors) {
}
