package dev.vlstm.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import dev.vlstm.Backend;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.profile.GCProfiler;
import org.openjdk.jmh.results.Result;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs {@link StepBenchmark}, {@link ForwardBenchmark} and {@link TrainingBenchmark} for every shape, vector kernel against the scalar
 * reference, through JMH with its gc profiler, and prints one Markdown table to stdout (also written to
 * {@code comparison.md} beside the jar). Progress goes to stderr; each JMH run's own log goes to
 * {@code jmh-logs/} beside the jar.
 *
 * <p>Usage: {@code java --add-modules jdk.incubator.vector -jar vlstm-bench.jar [full|quick] [shape-regex]}; without
 * arguments the system properties {@code compare.mode} (default full) and {@code compare.shapes} (default all) decide.
 * The shape regex is searched for in the names, e.g. {@code step} or {@code train-B64}.
 */
public final class Comparison {

    /**
     * How much measuring a mode does. In quick mode the reference is timed over at most
     * {@link #QUICK_SCALAR_FLOPS} per call (fewer time steps) and scaled to the full T.
     */
    private record Plan(String name, int forks, int warmups, int iterations, TimeValue iterationTime,
                        boolean scaleScalar) {

        String describe() {
            return forks + (forks == 1 ? " fork" : " forks") + " × (" + warmups + " × " + iterationTime
                    + " warmup, " + iterations + " × " + iterationTime + " measured); a scalar call longer than an "
                    + "iteration: 1 fork, " + SINGLE_SHOT_WARMUPS + " warmup and " + SINGLE_SHOT_CALLS
                    + " measured calls";
        }
    }

    /** Two warmup seconds: after one, C2 was still compiling the H = 1024 step and the allocation showed it. */
    private static final Plan QUICK = new Plan("quick", 1, 2, 3, TimeValue.seconds(1), true);
    private static final Plan FULL = new Plan("full", 2, 3, 5, TimeValue.seconds(2), false);
    /** About a third of a second of the reference. */
    private static final double QUICK_SCALAR_FLOPS = 1e9;
    /** The reference's speed, measured on this machine kind (3 to 4 GFLOP/s), to predict its call times. */
    private static final double SCALAR_FLOPS_PER_SECOND = 3e9;
    /** A reference call longer than an iteration is timed call by call (SingleShotTime), in one fork. */
    private static final int SINGLE_SHOT_WARMUPS = 2;
    private static final int SINGLE_SHOT_CALLS = 5;

    private final Plan plan;
    private final Path outputDirectory;
    private final int runs;
    private int run;

    private Comparison(Plan plan, Path outputDirectory, int runs) {
        this.plan = plan;
        this.outputDirectory = outputDirectory;
        this.runs = runs;
    }

    public static void main(String[] args) throws RunnerException, IOException {
        String mode = args.length > 0 ? args[0] : System.getProperty("compare.mode", "full");
        Plan plan = switch (mode) {
            case "quick" -> QUICK;
            case "full" -> FULL;
            default -> throw new IllegalArgumentException("mode must be quick or full, got " + mode
                    + "\nusage: java --add-modules jdk.incubator.vector -jar vlstm-bench.jar [full|quick] [shape-regex]");
        };
        Pattern filter = Pattern.compile(args.length > 1 ? args[1] : System.getProperty("compare.shapes", ""));
        List<Shape> shapes = Shape.ALL.stream().filter(shape -> filter.matcher(shape.name()).find()).toList();
        if (shapes.isEmpty()) {
            throw new IllegalArgumentException("no shape matches " + filter + "; shapes: "
                    + Shape.ALL.stream().map(Shape::name).toList());
        }
        Comparison comparison = new Comparison(plan, outputDirectory(), 2 * shapes.size());
        List<ComparisonTable.Row> rows = new ArrayList<>();
        for (Shape shape : shapes) {
            rows.add(comparison.compare(shape));
        }
        String table = ComparisonTable.render(plan.name(), plan.describe(), Backend.PREFERRED.kernelName(), rows);
        System.out.print(table);
        Path markdown = comparison.outputDirectory.resolve("comparison.md");
        Files.writeString(markdown, table);
        System.err.println("Table written to " + markdown);
    }

    private ComparisonTable.Row compare(Shape shape) throws RunnerException {
        Class<?> benchmark = shape.streaming() ? StepBenchmark.class
                : shape.training() ? TrainingBenchmark.class : ForwardBenchmark.class;
        RunResult vector = run(benchmark, "vector", shape, Map.of(), plan.forks(), false);
        int scalarSteps = shape.steps();
        if (plan.scaleScalar() && !shape.streaming()) {
            scalarSteps = (int) Math.max(1, Math.min(shape.steps(), QUICK_SCALAR_FLOPS / shape.flopsPerStep()));
        }
        double scalarSeconds = shape.flopsPerStep() * scalarSteps / SCALAR_FLOPS_PER_SECOND;
        boolean singleShot = scalarSeconds > plan.iterationTime().convertTo(TimeUnit.SECONDS);
        Map<String, String> scalarParams = shape.streaming() ? Map.of()
                : Map.of("scalarSteps", Integer.toString(scalarSteps));
        RunResult scalar = run(benchmark, "scalar", shape, scalarParams, singleShot ? 1 : plan.forks(), singleShot);
        return new ComparisonTable.Row(shape, millis(vector.getPrimaryResult()),
                millis(scalar.getPrimaryResult()) * shape.steps() / scalarSteps, scalarSteps,
                vector.getSecondaryResults().get("gc.alloc.rate.norm").getScore());
    }

    /** Runs one benchmark method for one shape in its own JMH run, whose log goes to a file. */
    private RunResult run(Class<?> benchmark, String method, Shape shape, Map<String, String> params, int forks,
                          boolean singleShot) throws RunnerException {
        String id = benchmark.getSimpleName() + "." + method + "-" + shape.name();
        Path log = outputDirectory.resolve("jmh-logs").resolve(id + ".log");
        System.err.printf("[%2d/%d] %-45s", ++run, runs, id);
        long start = System.nanoTime();
        ChainedOptionsBuilder options = new OptionsBuilder()
                .include("^" + Pattern.quote(benchmark.getName() + "." + method) + "$")
                .param("shape", shape.name())
                .forks(forks)
                .addProfiler(GCProfiler.class)
                .shouldFailOnError(true)
                .output(log.toString());
        params.forEach(options::param);
        if (singleShot) {
            options.mode(Mode.SingleShotTime).warmupIterations(SINGLE_SHOT_WARMUPS)
                    .measurementIterations(SINGLE_SHOT_CALLS);
        } else {
            options.warmupIterations(plan.warmups()).warmupTime(plan.iterationTime())
                    .measurementIterations(plan.iterations()).measurementTime(plan.iterationTime());
        }
        try {
            Files.createDirectories(log.getParent());
            RunResult result = new Runner(options.build()).runSingle();
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

    /** A time score in milliseconds per call, whatever unit the benchmark reports in. */
    private static double millis(Result<?> result) {
        double toMillis = switch (result.getScoreUnit()) {
            case "ns/op" -> 1e-6;
            case "us/op" -> 1e-3;
            case "ms/op" -> 1;
            case "s/op" -> 1e3;
            default -> throw new IllegalStateException("unexpected unit " + result.getScoreUnit());
        };
        return result.getScore() * toMillis;
    }

    /** The directory that holds this jar (or, run from classes, the build directory). */
    private static Path outputDirectory() {
        try {
            return Path.of(Comparison.class.getProtectionDomain().getCodeSource().getLocation().toURI())
                    .toAbsolutePath().getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
