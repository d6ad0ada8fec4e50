package dev.vlstm.bench;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.profile.CompilerProfiler;
import org.openjdk.jmh.profile.GCProfiler;
import org.openjdk.jmh.profile.Profiler;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.results.format.ResultFormatFactory;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs one benchmark method at a time, each in its own JMH run with the gc and comp profilers, whose log goes to
 * {@code jmh-logs/ID.log}; prints one progress line per run to stderr. What {@link Comparison}'s runs share.
 */
final class JmhRuns {

    /**
     * How a run measures: {@code forks} × ({@code warmups} + {@code iterations} iterations of
     * {@code iterationTime}) in JMH's {@code mode}; in {@link Mode#SingleShotTime}, call by call instead (iterations
     * are calls, the time unused).
     */
    record Timing(int forks, int warmups, int iterations, TimeValue iterationTime, Mode mode) {

        /** Mean time per call. */
        static Timing of(int forks, int warmups, int iterations, TimeValue iterationTime) {
            return new Timing(forks, warmups, iterations, iterationTime, Mode.AverageTime);
        }

        static Timing singleShot(int warmupCalls, int calls) {
            return new Timing(1, warmupCalls, calls, TimeValue.NONE, Mode.SingleShotTime);
        }

        /** The same runs, timing calls one by one for a distribution of latencies (JMH's sample mode). */
        Timing sampled() {
            return new Timing(forks, warmups, iterations, iterationTime, Mode.SampleTime);
        }

        /** The same runs with {@code warmups} warmup iterations. */
        Timing withWarmups(int warmups) {
            return new Timing(forks, warmups, iterations, iterationTime, mode);
        }

        /** Milliseconds of all measured iterations of all forks ({@link Mode#SingleShotTime}: 0). */
        double measuredMillis() {
            return (double) forks * iterations * iterationTime.convertTo(TimeUnit.MILLISECONDS);
        }
    }

    private final Path logDirectory;
    private final List<Class<? extends Profiler>> profilers;
    private final List<RunResult> results = new ArrayList<>();
    private int total;
    private int started;

    /**
     * Runs whose logs go to {@code directory/jmh-logs}, with JMH's gc and comp profilers and {@code profilers};
     * {@code total}
     * is for the progress lines.
     */
    @SafeVarargs
    JmhRuns(Path directory, int total, Class<? extends Profiler>... profilers) {
        this.logDirectory = directory.resolve("jmh-logs");
        this.total = total;
        this.profilers = List.of(profilers);
    }

    /** Announces {@code runs} more runs than the total given at construction. */
    void expectMore(int runs) {
        total += runs;
    }

    /** Runs {@code benchmark.method} with {@code params}; {@code id} names the progress line and the log. */
    RunResult run(Class<?> benchmark, String method, String id, Map<String, String> params, Timing timing)
            throws RunnerException {
        Path log = logDirectory.resolve(id + ".log");
        System.err.printf("[%2d/%d] %-50s", ++started, total, id);
        long start = System.nanoTime();
        ChainedOptionsBuilder options = new OptionsBuilder()
                .include("^" + Pattern.quote(benchmark.getName() + "." + method) + "$")
                .forks(timing.forks())
                .warmupIterations(timing.warmups())
                .measurementIterations(timing.iterations())
                .addProfiler(GCProfiler.class)
                .addProfiler(CompilerProfiler.class)
                .shouldFailOnError(true)
                .output(log.toString());
        profilers.forEach(options::addProfiler);
        params.forEach(options::param);
        options.mode(timing.mode());
        if (timing.mode() != Mode.SingleShotTime) {
            options.warmupTime(timing.iterationTime()).measurementTime(timing.iterationTime());
        }
        try {
            Files.createDirectories(logDirectory);
            RunResult result = new Runner(options.build()).runSingle();
            results.add(result);
            System.err.printf(" %10.4g %s  (%.0f s)%n", result.getPrimaryResult().getScore(),
                    result.getPrimaryResult().getScoreUnit(), (System.nanoTime() - start) / 1e9);
            return result;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (RunnerException e) {
            System.err.println(" failed; JMH's log: " + log);
            throw e;
        }
    }

    /** Writes every run's result so far to {@code file} in JMH's JSON result format. */
    void writeJson(Path file) throws IOException {
        try (PrintStream out = new PrintStream(Files.newOutputStream(file), false, StandardCharsets.UTF_8)) {
            ResultFormatFactory.getInstance(ResultFormatType.JSON, out).writeOut(results);
        }
    }

    /**
     * Milliseconds the JIT compilers spent during the run's measured iterations, all forks together (JMH's comp
     * profiler), or NaN where the JVM does not report it.
     */
    static double compileMillis(RunResult result) {
        Result<?> compile = result.getSecondaryResults().get("compiler.time.profiled");
        return compile == null ? Double.NaN : compile.getScore();
    }

    /** A time score in milliseconds per call, whatever unit the benchmark reports in. */
    static double millis(Result<?> result) {
        return result.getScore() * millisPerUnit(result);
    }

    /** The fastest measured iteration's time per call in milliseconds. */
    static double bestMillis(Result<?> result) {
        return result.getStatistics().getMin() * millisPerUnit(result);
    }

    /** The {@code percentile} (0 to 100) of a sampled run's call times, in milliseconds. */
    static double percentileMillis(Result<?> result, double percentile) {
        return result.getStatistics().getPercentile(percentile) * millisPerUnit(result);
    }

    private static double millisPerUnit(Result<?> result) {
        return switch (result.getScoreUnit()) {
            case "ns/op" -> 1e-6;
            case "us/op" -> 1e-3;
            case "ms/op" -> 1;
            case "s/op" -> 1e3;
            default -> throw new IllegalStateException("unexpected unit " + result.getScoreUnit());
        };
    }

    /** The directory that holds this jar (or, run from classes, the build directory). */
    static Path jarDirectory() {
        try {
            return Path.of(JmhRuns.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                    .toAbsolutePath().getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
