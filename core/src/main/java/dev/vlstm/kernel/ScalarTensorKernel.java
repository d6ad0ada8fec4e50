package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Plain-Java {@link TensorKernel}. The element loops take a start index so that {@link VectorTensorKernel} runs
 * them, with the very same operations, on the tail that does not fill a vector.
 */
final class ScalarTensorKernel implements TensorKernel {

    static final ScalarTensorKernel INSTANCE = new ScalarTensorKernel();
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private ScalarTensorKernel() {
    }

    @Override
    public void add(MemorySegment source, long sourceOffset, MemorySegment target, long targetOffset, int count) {
        addFrom(0, source, sourceOffset, target, targetOffset, count);
    }

    @Override
    public void scale(MemorySegment tensor, int count, float factor) {
        scaleFrom(0, tensor, count, factor);
    }

    @Override
    public void zeroWhereAbove(MemorySegment values, long valuesOffset, MemorySegment target, long targetOffset,
                               int count, float bound) {
        zeroWhereAboveFrom(0, values, valuesOffset, target, targetOffset, count, bound);
    }

    /** {@link #zeroWhereAbove} from element {@code start} on: the vector kernel's tail. */
    static void zeroWhereAboveFrom(int start, MemorySegment values, long valuesOffset, MemorySegment target,
                                   long targetOffset, int count, float bound) {
        for (int n = start; n < count; n++) {
            if (Math.abs(values.get(ValueLayout.JAVA_FLOAT, valuesOffset + (long) n * Float.BYTES)) > bound) {
                target.set(ValueLayout.JAVA_FLOAT, targetOffset + (long) n * Float.BYTES, 0f);
            }
        }
    }

    @Override
    public void transpose(MemorySegment source, long sourceOffset, int sourceRowFloats, int rows, int columns,
                          MemorySegment target, int targetRowFloats) {
        transposeBlock(source, sourceOffset, sourceRowFloats, 0, rows, 0, columns, target, targetRowFloats);
    }

    /** {@link #transpose} of the rows {@code rowFrom..rowTo-1} and columns {@code columnFrom..columnTo-1} only. */
    static void transposeBlock(MemorySegment source, long sourceOffset, int sourceRowFloats, int rowFrom, int rowTo,
                               int columnFrom, int columnTo, MemorySegment target, int targetRowFloats) {
        for (int column = columnFrom; column < columnTo; column++) {
            long targetRow = (long) column * targetRowFloats * Float.BYTES;
            for (int row = rowFrom; row < rowTo; row++) {
                target.set(FLOAT, targetRow + (long) row * Float.BYTES,
                        source.get(FLOAT, sourceOffset + ((long) row * sourceRowFloats + column) * Float.BYTES));
            }
        }
    }

    @Override
    public double sumOfSquares(MemorySegment tensor, int count) {
        return sumOfSquaresFrom(0, tensor, count);
    }

    @Override
    public void sgd(MemorySegment parameter, MemorySegment gradient, MemorySegment velocity, int count,
                    float learningRate, float momentum) {
        sgdFrom(0, parameter, gradient, velocity, count, learningRate, momentum);
    }

    @Override
    public void adam(MemorySegment parameter, MemorySegment gradient, MemorySegment firstMoment,
                     MemorySegment secondMoment, int count, float beta1, float beta2, float stepSize,
                     float inverseRootSecondCorrection, float epsilon) {
        adamFrom(0, parameter, gradient, firstMoment, secondMoment, count, beta1, beta2, stepSize,
                inverseRootSecondCorrection, epsilon);
    }

    static void addFrom(int start, MemorySegment source, long sourceOffset, MemorySegment target, long targetOffset,
                        int count) {
        for (int i = start; i < count; i++) {
            long s = sourceOffset + (long) i * Float.BYTES;
            long t = targetOffset + (long) i * Float.BYTES;
            target.set(FLOAT, t, target.get(FLOAT, t) + source.get(FLOAT, s));
        }
    }

    static void scaleFrom(int start, MemorySegment tensor, int count, float factor) {
        for (int i = start; i < count; i++) {
            tensor.setAtIndex(FLOAT, i, tensor.getAtIndex(FLOAT, i) * factor);
        }
    }

    static double sumOfSquaresFrom(int start, MemorySegment tensor, int count) {
        double sum = 0;
        for (int i = start; i < count; i++) {
            double value = tensor.getAtIndex(FLOAT, i);
            sum += value * value;
        }
        return sum;
    }

    static void sgdFrom(int start, MemorySegment parameter, MemorySegment gradient, MemorySegment velocity,
                        int count, float learningRate, float momentum) {
        for (int i = start; i < count; i++) {
            float v = Math.fma(momentum, velocity.getAtIndex(FLOAT, i), gradient.getAtIndex(FLOAT, i));
            velocity.setAtIndex(FLOAT, i, v);
            parameter.setAtIndex(FLOAT, i, Math.fma(-learningRate, v, parameter.getAtIndex(FLOAT, i)));
        }
    }

    static void adamFrom(int start, MemorySegment parameter, MemorySegment gradient, MemorySegment firstMoment,
                         MemorySegment secondMoment, int count, float beta1, float beta2, float stepSize,
                         float inverseRootSecondCorrection, float epsilon) {
        float oneMinusBeta1 = 1 - beta1;
        float oneMinusBeta2 = 1 - beta2;
        for (int i = start; i < count; i++) {
            float g = gradient.getAtIndex(FLOAT, i);
            float m = Math.fma(beta1, firstMoment.getAtIndex(FLOAT, i), oneMinusBeta1 * g);
            float v = Math.fma(beta2, secondMoment.getAtIndex(FLOAT, i), oneMinusBeta2 * (g * g));
            firstMoment.setAtIndex(FLOAT, i, m);
            secondMoment.setAtIndex(FLOAT, i, v);
            float denominator = Math.fma((float) Math.sqrt(v), inverseRootSecondCorrection, epsilon);
            parameter.setAtIndex(FLOAT, i, Math.fma(-stepSize, m / denominator, parameter.getAtIndex(FLOAT, i)));
        }
    }
}
