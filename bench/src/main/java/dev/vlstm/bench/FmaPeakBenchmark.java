package dev.vlstm.bench;

import java.util.concurrent.TimeUnit;

import dev.vlstm.kernel.VectorFmaProbe;
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
 * comparison's roofline: one call is one burst of core's {@link VectorFmaProbe} (independent FMA chains in the
 * kernel's species, nothing else: no loads, no stores), the loop {@code vlstm bench} measures its peak with.
 *
 * <p>One call does {@link #flopsPerCall()} operations; GFLOP/s = that ÷ the call's time.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
@State(Scope.Thread)
public class FmaPeakBenchmark {

    /** Fields, not constants, so that C2 cannot fold the chains. Values that stay finite and normal. */
    float multiplier = 0.999_999f;
    float addend = 1e-6f;

    /** Floating-point operations of one call of {@link #fma()}. */
    static double flopsPerCall() {
        return VectorFmaProbe.flopsPerBurst();
    }

    @Benchmark
    public float fma() {
        return VectorFmaProbe.burst(multiplier, addend);
    }
}
