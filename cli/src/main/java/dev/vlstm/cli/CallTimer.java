package dev.vlstm.cli;

import java.io.PrintStream;
import java.util.Arrays;
import java.util.Locale;

import dev.vlstm.kernel.Settling;

/**
 * Times a call as JMH's average-time mode does: a warm-up until the call runs compiled ({@link Settling}: the JIT
 * idle and the calls allocation-free), then measured iterations of a fixed length, each giving its mean time per
 * call. Every measured call is also timed on its own, for latency percentiles over the last
 * {@value #SAMPLES} calls.
 */
final class CallTimer {

    /** How long to warm up at most, and the measured iterations. */
    record Plan(long warmupLimitNanos, int iterations, long iterationNanos) {

        Plan {
            if (iterations < 2) {
                throw new IllegalArgumentException("at least 2 measured iterations, got " + iterations);
            }
            if (iterationNanos <= 0 || warmupLimitNanos <= 0) {
                throw new IllegalArgumentException("iteration and warm-up times must be positive");
            }
        }
    }

    /**
     * What was measured: the warm-up's length and whether it settled, each iteration's mean nanoseconds per call, and
     * the nanoseconds of the measured calls (the last {@link CallTimer#SAMPLES} of them), sorted.
     */
    record Timing(long warmupNanos, boolean settled, double[] iterationNanos, long[] sortedCallNanos) {

        /** The mean of the iterations' means: JMH's score. */
        double meanNanos() {
            return Arrays.stream(iterationNanos).average().orElseThrow();
        }

        /** The {@code percentile} (0 to 100, to a thousandth) of single calls, nearest rank. */
        double percentileNanos(double percentile) {
            return NearestRank.of(sortedCallNanos, percentile);
        }
    }

    /** Single calls kept for percentiles: the last this many, 8 MiB. */
    private static final int SAMPLES = 1 << 20;

    private CallTimer() {
    }

    /** Warms {@code call} up, then measures it; reports progress on {@code progress} under {@code name}. */
    static Timing time(String name, Runnable call, Plan plan, PrintStream progress) {
        progress.printf(Locale.ROOT, "%s: warming up (until compiled, at most %.0f s)...", name,
                plan.warmupLimitNanos() / 1e9);
        progress.flush();
        Settling.Outcome warmup = Settling.repeat(round -> {
            call.run();
            return 1;
        }, System.nanoTime() + plan.warmupLimitNanos());
        progress.printf(Locale.ROOT, " %.1f s%s; measuring %d × %.1f s:", warmup.nanos() / 1e9,
                warmup.settled() ? "" : warmup.allocating() ? " (not settled: the calls still allocated)"
                        : " (not settled: the JIT was still compiling, or the pace was unsteady)", plan.iterations(),
                plan.iterationNanos() / 1e9);
        progress.flush();
        double[] iterations = new double[plan.iterations()];
        long[] calls = new long[SAMPLES];
        long count = 0;
        for (int iteration = 0; iteration < plan.iterations(); iteration++) {
            long start = System.nanoTime();
            long end = start;
            int made = 0;
            do {
                call.run();
                long now = System.nanoTime();
                calls[(int) (count++ % SAMPLES)] = now - end;
                end = now;
                made++;
            } while (end - start < plan.iterationNanos());
            iterations[iteration] = (double) (end - start) / made;
            progress.print(" " + (iteration + 1));
            progress.flush();
        }
        progress.println();
        long[] sorted = Arrays.copyOf(calls, (int) Math.min(count, SAMPLES));
        Arrays.sort(sorted);
        return new Timing(warmup.nanos(), warmup.settled(), iterations, sorted);
    }
}
