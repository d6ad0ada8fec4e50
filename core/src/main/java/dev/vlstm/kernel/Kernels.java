package dev.vlstm.kernel;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Chooses the kernel family once, at class initialisation, in the manner of Lucene's VectorizationProvider: the
 * Vector API family when the {@code jdk.incubator.vector} module is in the boot layer and its preferred vector
 * is at least 128 bits wide, otherwise the scalar family (with one warning in the log saying why).
 * The system property {@code vlstm.kernel=scalar} forces the scalar family.
 */
public final class Kernels {

    private static final String VECTOR_MODULE = "jdk.incubator.vector";
    private static final Family SCALAR = new Family("scalar", ScalarGemm.LANES, ScalarGemm.INSTANCE,
            ScalarPointwise.INSTANCE, ScalarTensorKernel.INSTANCE);
    private static final Family PREFERRED = select();

    private Kernels() {
    }

    /** {@return the fastest family this JVM can run} */
    public static Family preferred() {
        return PREFERRED;
    }

    /** {@return the plain-Java family, always available} */
    public static Family scalar() {
        return SCALAR;
    }

    /**
     * One core's FMA throughput at the vector kernel's width, in GFLOP/s, measured for about {@code nanos} after a
     * warm-up until compiled (a few seconds at most); NaN where the scalar family runs (the Vector API is off),
     * since then the vector units' roof is not what bounds vlstm.
     *
     * @param nanos how long to measure
     * @return GFLOP/s of one core, or NaN
     */
    public static double fmaPeakGflops(long nanos) {
        if (PREFERRED == SCALAR) {
            return Double.NaN;
        }
        try {
            return (double) MethodHandles.lookup().findStatic(Class.forName("dev.vlstm.kernel.VectorFmaProbe"),
                    "gflops", MethodType.methodType(double.class, long.class)).invoke(nanos);
        } catch (Throwable e) {
            throw new IllegalStateException("the FMA probe failed to run", e);
        }
    }

    private static Family select() {
        System.Logger log = System.getLogger(Kernels.class.getName());
        if ("scalar".equals(System.getProperty("vlstm.kernel"))) {
            return SCALAR;
        }
        if (ModuleLayer.boot().findModule(VECTOR_MODULE).isEmpty()) {
            log.log(System.Logger.Level.WARNING, "Module " + VECTOR_MODULE + " is not enabled: vlstm runs its "
                    + "scalar kernel, many times slower. Start the JVM with --add-modules " + VECTOR_MODULE + ".");
            return SCALAR;
        }
        try {
            // Loaded reflectively so that this class links without the vector module.
            Family family = (Family) MethodHandles.lookup()
                    .findStatic(Class.forName("dev.vlstm.kernel.VectorGemm"), "familyIfUseful",
                            MethodType.methodType(Family.class))
                    .invoke();
            if (family == null) {
                log.log(System.Logger.Level.WARNING, "The preferred vector of this CPU is narrower than 128 bits: "
                        + "vlstm runs its scalar kernel.");
                return SCALAR;
            }
            return family;
        } catch (Throwable e) {
            log.log(System.Logger.Level.WARNING, "The vector kernel failed to load; vlstm runs its scalar kernel.", e);
            return SCALAR;
        }
    }
}
