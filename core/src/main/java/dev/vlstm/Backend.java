package dev.vlstm;

import dev.vlstm.kernel.Kernels;
import dev.vlstm.kernel.Family;

/** Which kernel family packs and runs a model. */
public enum Backend {
    /**
     * The fastest kernel this JVM offers: the Vector API kernel when {@code jdk.incubator.vector} is enabled
     * and the CPU has vectors of 128 bits or more, the scalar kernel otherwise. Chosen once per JVM.
     */
    PREFERRED,
    /** The plain-Java kernel: slower, but independent of the Vector API. */
    SCALAR;

    /**
     * The name of the kernel this choice resolves to on this JVM, e.g. {@code "vector-512"}.
     *
     * @return {@code "scalar"} or {@code "vector-<bits>"}: what {@link Model#kernelName()} reports for weights
     *         packed for this choice
     */
    public String kernelName() {
        return family().name();
    }

    Family family() {
        return this == SCALAR ? Kernels.scalar() : Kernels.preferred();
    }
}
