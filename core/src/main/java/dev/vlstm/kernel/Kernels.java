package dev.vlstm.kernel;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Chooses the kernel once, at class initialisation, in the manner of Lucene's VectorizationProvider: the
 * Vector API kernel when the {@code jdk.incubator.vector} module is in the boot layer and its preferred vector
 * is at least 128 bits wide, otherwise the scalar kernel (with one warning in the log saying why).
 * The system property {@code vlstm.kernel=scalar} forces the scalar kernel.
 */
public final class Kernels {

    private static final String VECTOR_MODULE = "jdk.incubator.vector";
    private static final LstmKernel PREFERRED = select();
    /** The GRU kernel of the same family as {@link #PREFERRED}: decided by the same checks, once. */
    private static final GruKernel PREFERRED_GRU = selectGru();

    private Kernels() {
    }

    /** The fastest kernel this JVM can run. */
    public static LstmKernel preferred() {
        return PREFERRED;
    }

    /** The plain-Java kernel, always available. */
    public static LstmKernel scalar() {
        return ScalarLstmKernel.INSTANCE;
    }

    /**
     * The GRU kernel of the family that {@link #preferred()} chose.
     *
     * @return the vector GRU kernel where the vector LSTM kernel runs, the scalar one otherwise
     */
    public static GruKernel preferredGru() {
        return PREFERRED_GRU;
    }

    /** {@return the plain-Java GRU kernel, always available} */
    public static GruKernel scalarGru() {
        return ScalarGruKernel.INSTANCE;
    }

    /**
     * One core's FMA throughput at the vector kernel's width, in GFLOP/s, measured for about {@code nanos} after a
     * warm-up until compiled (a few seconds at most); NaN where the scalar kernel runs (the Vector API is off), since then the vector units'
     * roof is not what bounds vlstm.
     *
     * @param nanos how long to measure
     * @return GFLOP/s of one core, or NaN
     */
    public static double fmaPeakGflops(long nanos) {
        if (PREFERRED == ScalarLstmKernel.INSTANCE) {
            return Double.NaN;
        }
        try {
            return (double) MethodHandles.lookup().findStatic(Class.forName("dev.vlstm.kernel.VectorFmaProbe"),
                    "gflops", MethodType.methodType(double.class, long.class)).invoke(nanos);
        } catch (Throwable e) {
            throw new IllegalStateException("the FMA probe failed to run", e);
        }
    }

    private static GruKernel selectGru() {
        if (PREFERRED == ScalarLstmKernel.INSTANCE) {
            return ScalarGruKernel.INSTANCE;
        }
        try {
            // Reflectively, as for the LSTM: this class must link without the vector module.
            return (GruKernel) MethodHandles.lookup()
                    .findStaticGetter(Class.forName("dev.vlstm.kernel.VectorGruKernel"), "INSTANCE",
                            Class.forName("dev.vlstm.kernel.VectorGruKernel"))
                    .invoke();
        } catch (Throwable e) {
            System.getLogger(Kernels.class.getName()).log(System.Logger.Level.WARNING,
                    "The vector GRU kernel failed to load; vlstm runs its scalar GRU kernel.", e);
            return ScalarGruKernel.INSTANCE;
        }
    }

    private static LstmKernel select() {
        System.Logger log = System.getLogger(Kernels.class.getName());
        if ("scalar".equals(System.getProperty("vlstm.kernel"))) {
            return ScalarLstmKernel.INSTANCE;
        }
        if (ModuleLayer.boot().findModule(VECTOR_MODULE).isEmpty()) {
            log.log(System.Logger.Level.WARNING, "Module " + VECTOR_MODULE + " is not enabled: vlstm runs its "
                    + "scalar kernel, many times slower. Start the JVM with --add-modules " + VECTOR_MODULE + ".");
            return ScalarLstmKernel.INSTANCE;
        }
        try {
            // Loaded reflectively so that this class links without the vector module.
            Class<?> vectorKernel = Class.forName("dev.vlstm.kernel.VectorLstmKernel");
            LstmKernel kernel = (LstmKernel) MethodHandles.lookup()
                    .findStatic(vectorKernel, "createIfUseful", MethodType.methodType(LstmKernel.class))
                    .invoke();
            if (kernel == null) {
                log.log(System.Logger.Level.WARNING, "The preferred vector of this CPU is narrower than 128 bits: "
                        + "vlstm runs its scalar kernel.");
                return ScalarLstmKernel.INSTANCE;
            }
            return kernel;
        } catch (Throwable e) {
            log.log(System.Logger.Level.WARNING, "The vector kernel failed to load; vlstm runs its scalar kernel.", e);
            return ScalarLstmKernel.INSTANCE;
        }
    }
}
