package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;

/**
 * Elementwise operations over whole float tensors, for training: accumulating gradients, the optimizers' updates
 * and gradient clipping. Tensors are native or heap segments of floats in native byte order; counts are in floats
 * (a layer's tensors hold fewer than 2^31 floats each: Parameters and Gradients refuse larger ones).
 *
 * <p>Each element goes through the same float operations in the same order in every implementation, so the vector
 * and scalar forms give the same bits element by element; only {@link #sumOfSquares}, a reduction, may differ in
 * its last bits. Like {@link PackedGemm}, implementations keep no state and allocate nothing.
 */
public interface TensorKernel {

    /** {@code target[i] += source[i]} for {@code count} floats from the given byte offsets. */
    void add(MemorySegment source, long sourceOffset, MemorySegment target, long targetOffset, int count);

    /** {@code tensor[i] *= factor} for the first {@code count} floats. */
    void scale(MemorySegment tensor, int count, float factor);

    /**
     * {@code target[n] = 0} where {@code |values[n]| > bound}, for {@code count} floats from the byte offsets: the
     * gradient of a clip to {@code [-bound, bound]}, which passes nothing where the clip held its input.
     */
    void zeroWhereAbove(MemorySegment values, long valuesOffset, MemorySegment target, long targetOffset, int count,
                        float bound);

    /**
     * {@code target[c][r] = source[r][c]}: the transpose of a row-major {@code [rows][columns]} block whose rows
     * are {@code sourceRowFloats} apart from byte {@code sourceOffset}, into target rows {@code targetRowFloats}
     * apart from byte 0. Only copies, so every implementation gives the same bits.
     */
    void transpose(MemorySegment source, long sourceOffset, int sourceRowFloats, int rows, int columns,
                   MemorySegment target, int targetRowFloats);

    /** The sum of {@code tensor[i]²} over the first {@code count} floats, squared and summed in double. */
    double sumOfSquares(MemorySegment tensor, int count);

    /**
     * SGD with momentum, PyTorch's order of operations: {@code velocity = momentum * velocity + gradient},
     * {@code parameter -= learningRate * velocity}, element by element over {@code count} floats.
     */
    void sgd(MemorySegment parameter, MemorySegment gradient, MemorySegment velocity, int count, float learningRate,
             float momentum);

    /**
     * One Adam update as PyTorch computes it, element by element over {@code count} floats:
     * {@code m = beta1*m + (1-beta1)*g}, {@code v = beta2*v + (1-beta2)*g²},
     * {@code parameter -= stepSize * m / (sqrt(v) * inverseRootSecondCorrection + epsilon)}, where the caller
     * passes {@code stepSize = lr / (1 - beta1^t)} and {@code inverseRootSecondCorrection = 1 / sqrt(1 - beta2^t)}.
     */
    void adam(MemorySegment parameter, MemorySegment gradient, MemorySegment firstMoment, MemorySegment secondMoment,
              int count, float beta1, float beta2, float stepSize, float inverseRootSecondCorrection, float epsilon);
}
