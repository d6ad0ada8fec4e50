package dev.vlstm.bench;

import java.util.concurrent.TimeUnit;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * How many floating-point operations can one core do per second through the Vector API? The roof of the
 * comparison's roofline: {@link #ACCUMULATORS} independent FMA chains in the preferred species, nothing else
 * (no loads, no stores), so the FMA units' throughput is the only limit.
 *
 * <p>One call does {@link #flopsPerCall()} operations (2 per lane per FMA); GFLOP/s = that ÷ the call's time.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
@State(Scope.Thread)
public class FmaPeakBenchmark {

    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    /**
     * Independent chains: an FMA's latency (4 cycles on current x86 cores) times the FMAs a core starts per
     * cycle (2) is 8 chains in flight; 12 leaves margin and, with the two operands, still fits AVX2's 16
     * registers, so no accumulator spills.
     */
    static final int ACCUMULATORS = 12;
    /** FMAs per chain per call: about 50 µs a call, long against JMH's overhead, short against an iteration. */
    static final int ROUNDS = 1 << 15;

    /** Fields, not constants, so that C2 cannot fold the chains. Values that stay finite and normal. */
    float multiplier = 0.999_999f;
    float addend = 1e-6f;

    /** Floating-point operations of one call of {@link #fma()}. */
    static double flopsPerCall() {
        return 2.0 * ROUNDS * ACCUMULATORS * SPECIES.length();
    }

    @Benchmark
    public float fma() {
        FloatVector a = FloatVector.broadcast(SPECIES, multiplier);
        FloatVector b = FloatVector.broadcast(SPECIES, addend);
        FloatVector acc0 = FloatVector.broadcast(SPECIES, 0.0f);
        FloatVector acc1 = FloatVector.broadcast(SPECIES, 0.1f);
        FloatVector acc2 = FloatVector.broadcast(SPECIES, 0.2f);
        FloatVector acc3 = FloatVector.broadcast(SPECIES, 0.3f);
        FloatVector acc4 = FloatVector.broadcast(SPECIES, 0.4f);
        FloatVector acc5 = FloatVector.broadcast(SPECIES, 0.5f);
        FloatVector acc6 = FloatVector.broadcast(SPECIES, 0.6f);
        FloatVector acc7 = FloatVector.broadcast(SPECIES, 0.7f);
        FloatVector acc8 = FloatVector.broadcast(SPECIES, 0.8f);
        FloatVector acc9 = FloatVector.broadcast(SPECIES, 0.9f);
        FloatVector acc10 = FloatVector.broadcast(SPECIES, 1.0f);
        FloatVector acc11 = FloatVector.broadcast(SPECIES, 1.1f);
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
