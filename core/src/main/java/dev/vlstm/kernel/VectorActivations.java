package dev.vlstm.kernel;

import jdk.incubator.vector.FloatVector;

/**
 * Vector forms of {@link Activations}: the same rational tanh, lane by lane, so that the kernels never leave
 * registers and never call the JDK's per-lane fallbacks. Small enough for C2 to inline into every kernel.
 */
final class VectorActivations {

    private VectorActivations() {
    }

    static FloatVector tanh(FloatVector x) {
        FloatVector clamped = x.max(-Activations.CLAMP).min(Activations.CLAMP);
        FloatVector x2 = clamped.mul(clamped);
        FloatVector p = x2.fma(Activations.ALPHA_13, Activations.ALPHA_11);
        p = x2.fma(p, FloatVector.broadcast(VectorLstmKernel.SPECIES, Activations.ALPHA_9));
        p = x2.fma(p, FloatVector.broadcast(VectorLstmKernel.SPECIES, Activations.ALPHA_7));
        p = x2.fma(p, FloatVector.broadcast(VectorLstmKernel.SPECIES, Activations.ALPHA_5));
        p = x2.fma(p, FloatVector.broadcast(VectorLstmKernel.SPECIES, Activations.ALPHA_3));
        p = x2.fma(p, FloatVector.broadcast(VectorLstmKernel.SPECIES, Activations.ALPHA_1));
        p = p.mul(clamped);
        FloatVector q = x2.fma(Activations.BETA_6, Activations.BETA_4);
        q = x2.fma(q, FloatVector.broadcast(VectorLstmKernel.SPECIES, Activations.BETA_2));
        q = x2.fma(q, FloatVector.broadcast(VectorLstmKernel.SPECIES, Activations.BETA_0));
        return p.div(q);
    }

    static FloatVector sigmoid(FloatVector x) {
        return tanh(x.mul(0.5f)).fma(0.5f, 0.5f);
    }
}
