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
    /** Source columns per strip of {@link #transpose}: 64 target rows written side by side. */
    private static final int TRANSPOSE_COLUMNS = 64;

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

    /**
     * Sixteen floats at a time: a 4x4 block read row by row into locals and written column by column, over
     * strips of {@value #TRANSPOSE_COLUMNS} source columns so that the target rows being written stay in L1 until
     * their cache lines are full, rather than one element at a time.
     */
    @Override
    public void transpose(MemorySegment source, long sourceOffset, int sourceRowFloats, int rows, int columns,
                          MemorySegment target, int targetRowFloats) {
        long sourceRowBytes = (long) sourceRowFloats * Float.BYTES;
        long targetRowBytes = (long) targetRowFloats * Float.BYTES;
        int fullRows = rows - rows % 4;
        int fullColumns = columns - columns % 4;
        for (int first = 0; first < fullColumns; first += TRANSPOSE_COLUMNS) {
            int last = Math.min(fullColumns, first + TRANSPOSE_COLUMNS);
            for (int row = 0; row < fullRows; row += 4) {
                for (int column = first; column < last; column += 4) {
                    long from = sourceOffset + row * sourceRowBytes + (long) column * Float.BYTES;
                    float a00 = source.get(FLOAT, from);
                    float a01 = source.get(FLOAT, from + 4);
                    float a02 = source.get(FLOAT, from + 8);
                    float a03 = source.get(FLOAT, from + 12);
                    from += sourceRowBytes;
                    float a10 = source.get(FLOAT, from);
                    float a11 = source.get(FLOAT, from + 4);
                    float a12 = source.get(FLOAT, from + 8);
                    float a13 = source.get(FLOAT, from + 12);
                    from += sourceRowBytes;
                    float a20 = source.get(FLOAT, from);
                    float a21 = source.get(FLOAT, from + 4);
                    float a22 = source.get(FLOAT, from + 8);
                    float a23 = source.get(FLOAT, from + 12);
                    from += sourceRowBytes;
                    float a30 = source.get(FLOAT, from);
                    float a31 = source.get(FLOAT, from + 4);
                    float a32 = source.get(FLOAT, from + 8);
                    float a33 = source.get(FLOAT, from + 12);
                    long to = column * targetRowBytes + (long) row * Float.BYTES;
                    putQuartet(target, to, a00, a10, a20, a30);
                    putQuartet(target, to + targetRowBytes, a01, a11, a21, a31);
                    putQuartet(target, to + 2 * targetRowBytes, a02, a12, a22, a32);
                    putQuartet(target, to + 3 * targetRowBytes, a03, a13, a23, a33);
                }
            }
        }
        transposeBlock(source, sourceOffset, sourceRowFloats, 0, fullRows, fullColumns, columns, target,
                targetRowFloats);
        transposeBlock(source, sourceOffset, sourceRowFloats, fullRows, rows, 0, columns, target, targetRowFloats);
    }

    private static void putQuartet(MemorySegment target, long offset, float first, float second, float third,
                                   float fourth) {
        target.set(FLOAT, offset, first);
        target.set(FLOAT, offset + 4, second);
        target.set(FLOAT, offset + 8, third);
        target.set(FLOAT, offset + 12, fourth);
    }

    /** {@link #transpose} of the rows {@code rowFrom..rowTo-1} and columns {@code columnFrom..columnTo-1} only. */
    private static void transposeBlock(MemorySegment source, long sourceOffset, int sourceRowFloats, int rowFrom,
                                       int rowTo, int columnFrom, int columnTo, MemorySegment target,
                                       int targetRowFloats) {
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
