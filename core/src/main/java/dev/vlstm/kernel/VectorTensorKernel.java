package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.LANES;
import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API {@link TensorKernel}: whole vectors over the part of each tensor that fills them, then
 * {@link ScalarTensorKernel}'s element loops, with the same operations, on the rest. No vector crosses a call.
 *
 * <p>No loop here reads more than three tensors. On JDK 25, a vector loop over four tensors of shared arenas
 * (JDK code included, nothing of ours) fell into an endless cycle of C2 deoptimizations ("profile_predicate")
 * as soon as any code in the JVM had accessed a segment of a confined arena, which a service's own code easily
 * does: each liveness check's owner test is then profiled as sometimes taken, and the predicate that C2 hoists out
 * of the loop fails for ownerless sessions. Adam, the one update that needs four tensors, therefore runs as two
 * passes of three, which stay out of that cycle.
 */
final class VectorTensorKernel implements TensorKernel {

    static final VectorTensorKernel INSTANCE = new VectorTensorKernel();
    /** Doubles of the same vector width: a float vector widens into two of these. */
    private static final VectorSpecies<Double> DOUBLES = VectorSpecies.of(double.class, SPECIES.vectorShape());

    private VectorTensorKernel() {
    }

    @Override
    public void add(MemorySegment source, long sourceOffset, MemorySegment target, long targetOffset, int count) {
        int end = count - count % LANES;
        for (int i = 0; i < end; i += LANES) {
            long s = sourceOffset + (long) i * Float.BYTES;
            long t = targetOffset + (long) i * Float.BYTES;
            fromMemorySegment(SPECIES, target, t, ORDER).add(fromMemorySegment(SPECIES, source, s, ORDER))
                    .intoMemorySegment(target, t, ORDER);
        }
        ScalarTensorKernel.addFrom(end, source, sourceOffset, target, targetOffset, count);
    }

    @Override
    public void scale(MemorySegment tensor, int count, float factor) {
        int end = count - count % LANES;
        for (int i = 0; i < end; i += LANES) {
            long at = (long) i * Float.BYTES;
            fromMemorySegment(SPECIES, tensor, at, ORDER).mul(factor).intoMemorySegment(tensor, at, ORDER);
        }
        ScalarTensorKernel.scaleFrom(end, tensor, count, factor);
    }

    @Override
    public void zeroWhereAbove(MemorySegment values, long valuesOffset, MemorySegment target, long targetOffset,
                               int count, float bound) {
        int end = count - count % LANES;
        FloatVector zero = FloatVector.zero(SPECIES);
        for (int i = 0; i < end; i += LANES) {
            long v = valuesOffset + (long) i * Float.BYTES;
            long t = targetOffset + (long) i * Float.BYTES;
            FloatVector gradient = fromMemorySegment(SPECIES, target, t, ORDER);
            gradient.blend(zero, fromMemorySegment(SPECIES, values, v, ORDER).abs().compare(VectorOperators.GT, bound))
                    .intoMemorySegment(target, t, ORDER);
        }
        ScalarTensorKernel.zeroWhereAboveFrom(end, values, valuesOffset, target, targetOffset, count, bound);
    }

    /**
     * {@link ScalarTensorKernel}'s copies. A 4x4 transpose in vector registers (two-vector rearranges of 128-bit
     * quartets) is faster on its own, but inside the trainer it allocated 32 bytes a block under JMH and in a
     * plain timing loop, though not in the test suite's zero-allocation runs; the copies allocate nothing, and the
     * transpose is a small part of a backward.
     */
    @Override
    public void transpose(MemorySegment source, long sourceOffset, int sourceRowFloats, int rows, int columns,
                          MemorySegment target, int targetRowFloats) {
        ScalarTensorKernel.INSTANCE.transpose(source, sourceOffset, sourceRowFloats, rows, columns, target,
                targetRowFloats);
    }

    @Override
    public double sumOfSquares(MemorySegment tensor, int count) {
        int end = count - count % LANES;
        DoubleVector low = DoubleVector.zero(DOUBLES);
        DoubleVector high = DoubleVector.zero(DOUBLES);
        for (int i = 0; i < end; i += LANES) {
            FloatVector values = fromMemorySegment(SPECIES, tensor, (long) i * Float.BYTES, ORDER);
            DoubleVector first = (DoubleVector) values.convertShape(VectorOperators.F2D, DOUBLES, 0);
            DoubleVector second = (DoubleVector) values.convertShape(VectorOperators.F2D, DOUBLES, 1);
            low = first.fma(first, low);
            high = second.fma(second, high);
        }
        return low.add(high).reduceLanes(VectorOperators.ADD) + ScalarTensorKernel.sumOfSquaresFrom(end, tensor, count);
    }

    @Override
    public void sgd(MemorySegment parameter, MemorySegment gradient, MemorySegment velocity, int count,
                    float learningRate, float momentum) {
        FloatVector momentumVector = FloatVector.broadcast(SPECIES, momentum);
        FloatVector negativeRate = FloatVector.broadcast(SPECIES, -learningRate);
        int end = count - count % LANES;
        for (int i = 0; i < end; i += LANES) {
            long at = (long) i * Float.BYTES;
            FloatVector v = fromMemorySegment(SPECIES, velocity, at, ORDER)
                    .fma(momentumVector, fromMemorySegment(SPECIES, gradient, at, ORDER));
            v.intoMemorySegment(velocity, at, ORDER);
            v.fma(negativeRate, fromMemorySegment(SPECIES, parameter, at, ORDER))
                    .intoMemorySegment(parameter, at, ORDER);
        }
        ScalarTensorKernel.sgdFrom(end, parameter, gradient, velocity, count, learningRate, momentum);
    }

    @Override
    public void adam(MemorySegment parameter, MemorySegment gradient, MemorySegment firstMoment,
                     MemorySegment secondMoment, int count, float beta1, float beta2, float stepSize,
                     float inverseRootSecondCorrection, float epsilon) {
        FloatVector firstDecay = FloatVector.broadcast(SPECIES, beta1);
        FloatVector secondDecay = FloatVector.broadcast(SPECIES, beta2);
        FloatVector negativeStep = FloatVector.broadcast(SPECIES, -stepSize);
        float oneMinusBeta1 = 1 - beta1;
        float oneMinusBeta2 = 1 - beta2;
        int end = count - count % LANES;
        for (int i = 0; i < end; i += LANES) {
            long at = (long) i * Float.BYTES;
            FloatVector g = fromMemorySegment(SPECIES, gradient, at, ORDER);
            fromMemorySegment(SPECIES, firstMoment, at, ORDER).fma(firstDecay, g.mul(oneMinusBeta1))
                    .intoMemorySegment(firstMoment, at, ORDER);
            fromMemorySegment(SPECIES, secondMoment, at, ORDER).fma(secondDecay, g.mul(g).mul(oneMinusBeta2))
                    .intoMemorySegment(secondMoment, at, ORDER);
        }
        for (int i = 0; i < end; i += LANES) {
            long at = (long) i * Float.BYTES;
            FloatVector denominator = fromMemorySegment(SPECIES, secondMoment, at, ORDER).sqrt()
                    .fma(inverseRootSecondCorrection, epsilon);
            fromMemorySegment(SPECIES, firstMoment, at, ORDER).div(denominator)
                    .fma(negativeStep, fromMemorySegment(SPECIES, parameter, at, ORDER))
                    .intoMemorySegment(parameter, at, ORDER);
        }
        ScalarTensorKernel.adamFrom(end, parameter, gradient, firstMoment, secondMoment, count, beta1, beta2, stepSize,
                inverseRootSecondCorrection, epsilon);
    }
}
