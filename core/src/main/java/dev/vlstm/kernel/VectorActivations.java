package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Vector form of {@link Activations}, memory to memory: one vector of floats is loaded, transformed and stored.
 *
 * <p>It takes no vector argument and returns none on purpose. Inside a large kernel C2 may refuse to inline
 * a call (NodeCountInliningCutoff); a vector passed through such a call is boxed, and the kernel then
 * allocates on every step. Only the JDK's own force-inlined vector operations ever see a vector here.
 */
final class VectorActivations {


    private VectorActivations() {
    }

    /** {@code target = tanh(source)} for one vector, at byte offsets; the two may be the same place. */
    static void tanh(MemorySegment source, long sourceOffset, MemorySegment target, long targetOffset) {
        tanhOrSigmoid(source, sourceOffset, target, targetOffset, false);
    }

    /** {@code target = σ(source) = 0.5 + 0.5 * tanh(source / 2)} for one vector, at byte offsets. */
    static void sigmoid(MemorySegment source, long sourceOffset, MemorySegment target, long targetOffset) {
        tanhOrSigmoid(source, sourceOffset, target, targetOffset, true);
    }

    /**
     * The rational tanh of Activations, exactly ±1 from |x| &ge; {@link Activations#SATURATION}, or the sigmoid
     * through it; tanh keeps the sign of zero and NaN propagates (a NaN lane is not saturated).
     */
    private static void tanhOrSigmoid(MemorySegment source, long sourceOffset, MemorySegment target,
                                      long targetOffset, boolean sigmoid) {
        FloatVector x = FloatVector.fromMemorySegment(SPECIES, source, sourceOffset, ORDER);
        if (sigmoid) {
            x = x.mul(0.5f);
        }
        FloatVector clamped = x.max(-Activations.CLAMP).min(Activations.CLAMP);
        FloatVector x2 = clamped.mul(clamped);
        FloatVector p = x2.fma(Activations.ALPHA_13, Activations.ALPHA_11);
        p = x2.fma(p, FloatVector.broadcast(SPECIES, Activations.ALPHA_9));
        p = x2.fma(p, FloatVector.broadcast(SPECIES, Activations.ALPHA_7));
        p = x2.fma(p, FloatVector.broadcast(SPECIES, Activations.ALPHA_5));
        p = x2.fma(p, FloatVector.broadcast(SPECIES, Activations.ALPHA_3));
        p = x2.fma(p, FloatVector.broadcast(SPECIES, Activations.ALPHA_1));
        p = p.mul(clamped);
        FloatVector q = x2.fma(Activations.BETA_6, Activations.BETA_4);
        q = x2.fma(q, FloatVector.broadcast(SPECIES, Activations.BETA_2));
        q = x2.fma(q, FloatVector.broadcast(SPECIES, Activations.BETA_0));
        FloatVector saturated = FloatVector.broadcast(SPECIES, 1f).blend(-1f, x.compare(VectorOperators.LT, 0f));
        FloatVector tanh = p.div(q).blend(saturated, x.abs().compare(VectorOperators.GE, Activations.SATURATION));
        (sigmoid ? tanh.fma(0.5f, 0.5f) : tanh).intoMemorySegment(target, targetOffset, ORDER);
    }
}
