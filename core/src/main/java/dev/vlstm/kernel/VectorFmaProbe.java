package dev.vlstm.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Measures how many floating-point operations one core does per second through the Vector API: the roof that a
 * batched kernel's GFLOP/s is a share of. {@link #ACCUMULATORS} independent FMA chains at the kernel's species,
 * with no loads or stores, so that the FMA units' throughput is the only limit. {@link Kernels#fmaPeakGflops} runs
 * it; the benchmark module times {@link #burst} under JMH for its roofline.
 */
public final class VectorFmaProbe {

    /**
     * Independent chains: an FMA's latency (4 cycles on current x86 cores) times the FMAs a core starts per cycle
     * (2) is 8 chains in flight; 12 leaves margin and, with the two operands, fits AVX2's 16 registers.
     */
    private static final int ACCUMULATORS = 12;
    /** FMAs per chain per burst: tens of microseconds, long against the timer, short against the measurement. */
    private static final int ROUNDS = 1 << 14;

    private static final long WARMUP_LIMIT_NANOS = 5_000_000_000L;
    /** Where the bursts' results go, so that C2 cannot drop them. */
    private static volatile float sink;

    private VectorFmaProbe() {
    }

    /**
     * GFLOP/s of the fastest burst in about {@code nanos} of bursts, after a warm-up until the bursts run compiled
     * ({@link Settling}, at most {@link #WARMUP_LIMIT_NANOS}).
     */
    static double gflops(long nanos) {
        float multiplier = 0.999_999f;
        float addend = 1e-6f;
        float[] results = new float[1];
        Settling.repeat(round -> {
            results[0] += burst(multiplier, addend);
            return 1;
        }, System.nanoTime() + WARMUP_LIMIT_NANOS);
        double best = 0;
        long start = System.nanoTime();
        while (System.nanoTime() - start < nanos) {
            long burst = System.nanoTime();
            results[0] += burst(multiplier, addend);
            best = Math.max(best, flopsPerBurst() / (System.nanoTime() - burst));
        }
        sink = results[0];
        return best;
    }

    /** {@return the floating-point operations of one {@link #burst}: 2 per lane per FMA} */
    public static double flopsPerBurst() {
        return 2.0 * ROUNDS * ACCUMULATORS * VectorShape.LANES;
    }

    /**
     * One burst of FMAs on chains started from {@code multiplier} and {@code addend} (pass values C2 cannot fold,
     * such as fields); returns a sum of the chains, to be consumed.
     *
     * @param multiplier each FMA's multiplier, e.g. 0.999999
     * @param addend     each FMA's addend, e.g. 1e-6
     * @return the chains' sum
     */
    public static float burst(float multiplier, float addend) {
        FloatVector a = FloatVector.broadcast(VectorShape.SPECIES, multiplier);
        FloatVector b = FloatVector.broadcast(VectorShape.SPECIES, addend);
        FloatVector acc0 = FloatVector.zero(VectorShape.SPECIES);
        FloatVector acc1 = acc0.add(0.1f);
        FloatVector acc2 = acc0.add(0.2f);
        FloatVector acc3 = acc0.add(0.3f);
        FloatVector acc4 = acc0.add(0.4f);
        FloatVector acc5 = acc0.add(0.5f);
        FloatVector acc6 = acc0.add(0.6f);
        FloatVector acc7 = acc0.add(0.7f);
        FloatVector acc8 = acc0.add(0.8f);
        FloatVector acc9 = acc0.add(0.9f);
        FloatVector acc10 = acc0.add(1.0f);
        FloatVector acc11 = acc0.add(1.1f);
        for (int round = 0; round < ROUNDS; round++) {
            acc0 = acc0.fma(a, b);
            acc1 = acc1.fma(a, b);
            acc2 = acc2.fma(a, b);
            acc3 = acc3.fma(a, b);
            acc4 = acc4.fma(a, b);
            acc5 = acc5.fma(a, b);
            acc6 = acc6.fma(a, b);
            acc7 = acc7.fma(a, b);
            acc8 = acc8.fma(a, b);
            acc9 = acc9.fma(a, b);
            acc10 = acc10.fma(a, b);
            acc11 = acc11.fma(a, b);
        }
        return acc0.add(acc1).add(acc2).add(acc3).add(acc4).add(acc5).add(acc6).add(acc7).add(acc8).add(acc9)
                .add(acc10).add(acc11).reduceLanes(VectorOperators.ADD);
    }
}
