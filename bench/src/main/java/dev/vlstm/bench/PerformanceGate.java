package dev.vlstm.bench;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;

import dev.vlstm.Backend;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * The CI performance gate: measures, for a few shapes, how many times faster the vector kernel is than the scalar
 * reference in the same run, and fails if one speedup falls below {@link #THRESHOLD} × its committed baseline.
 * Ratios, not times: a slower or busier machine slows both sides, so the ratio moves far less than either.
 *
 * <p>Against noise (CI shares its two cores with other work): each shape is measured in {@link #ROUNDS} rounds, a
 * round being one JVM fork of the vector kernel then one of the reference, close together in time (separate forks,
 * because one fork's JIT decisions can differ from another's). A fork's time per call is the CPU time its process
 * spent per call ({@link ProcessCpuTimeProfiler}: waiting for a core does not count) in its best measured
 * iteration, after a warmup long enough for C2 to compile the kernels on a loaded machine. A shape's speedup is
 * the median of its rounds' ratios. A shape below the threshold is measured for {@link #ROUNDS} more rounds and
 * judged on the median of all, so one disturbed round cannot fail the gate. The reference runs on fewer time
 * steps where it is slow ({@link #SCALAR_FLOPS} a call) and is scaled to T, as in the comparison's quick mode.
 * CPU time suits single-threaded kernels only: if vlstm runs a call on several threads, compare wall time.
 *
 * <p>Usage: {@code java --add-modules jdk.incubator.vector -cp vlstm-bench.jar dev.vlstm.bench.PerformanceGate
 * check|update BASELINE}: {@code check} compares with the baseline file and exits with 1 if a shape fails (2 for
 * bad usage); {@code update} measures and rewrites the file.
 */
public final class PerformanceGate {

    /** One shape per kernel path: stream step, batch-1 sequence, batched sequence, training step. */
    static final List<String> SHAPES = List.of("step-H256", "seq-B1-T100-H256", "train-B32-T25-H512",
            "bptt-train-B32-T25-H512");
    static final int ROUNDS = 3;
    /** A shape fails below this fraction of its baseline speedup. */
    static final double THRESHOLD = 0.8;
    /**
     * The vector kernel's runs. Four warmup seconds: on a loaded machine C2 took more than two to compile the
     * step, and the kernel boxed vectors until it had.
     */
    static final JmhRuns.Timing VECTOR_TIMING = JmhRuns.Timing.of(1, 4, 3, TimeValue.seconds(1));
    /** The reference's runs: plain loops, compiled within the first second. */
    static final JmhRuns.Timing SCALAR_TIMING = JmhRuns.Timing.of(1, 2, 3, TimeValue.seconds(1));
    /** The reference's work per call, about 0.1 s, so that its calls fit well inside an iteration. */
    static final double SCALAR_FLOPS = 3e8;
    private static final String KERNEL_KEY = "kernel";
    private static final String UPDATE_COMMAND = "./mvnw -B -DskipTests -Pgate verify -Dgate.mode=update";

    private final JmhRuns runs;

    private PerformanceGate(JmhRuns runs) {
        this.runs = runs;
    }

    /** A reason to stop with exit code 1: a shape below its threshold, or a missing or unusable baseline. */
    private static final class GateFailure extends Exception {
        GateFailure(String message) {
            super(message);
        }
    }

    public static void main(String[] args) throws IOException, RunnerException {
        if (args.length != 2 || !(args[0].equals("check") || args[0].equals("update"))) {
            System.err.println("usage: java --add-modules jdk.incubator.vector -cp vlstm-bench.jar "
                    + "dev.vlstm.bench.PerformanceGate check|update BASELINE");
            System.exit(2);
        }
        try {
            gate(args[0].equals("update"), Path.of(args[1]));
        } catch (GateFailure failure) {
            System.err.println(failure.getMessage());
            System.exit(1);
        }
    }

    private static void gate(boolean update, Path baselineFile) throws IOException, RunnerException, GateFailure {
        Properties baseline = update ? null : load(baselineFile);
        String kernel = Backend.PREFERRED.kernelName();
        if (baseline != null && !kernel.equals(baseline.getProperty(KERNEL_KEY))) {
            throw new GateFailure("the baseline in " + baselineFile + " was measured with kernel "
                    + baseline.getProperty(KERNEL_KEY) + ", this JVM runs " + kernel + ": speedups of different "
                    + "kernels are not comparable. Measure a baseline on this machine kind: " + UPDATE_COMMAND);
        }
        PerformanceGate gate = new PerformanceGate(new JmhRuns(JmhRuns.jarDirectory(), SHAPES.size() * ROUNDS * 2,
                ProcessCpuTimeProfiler.class));
        Map<String, List<Double>> speedups = new LinkedHashMap<>();
        for (String name : SHAPES) {
            speedups.put(name, gate.measure(Shape.named(name), 1, ROUNDS));
        }
        if (update) {
            write(baselineFile, kernel, speedups);
            System.err.println("Baseline written to " + baselineFile);
        } else {
            gate.check(baseline, baselineFile, speedups);
        }
    }

    /** Compares each shape's speedup with its baseline, re-measuring one that falls below the threshold. */
    private void check(Properties baseline, Path baselineFile, Map<String, List<Double>> speedups)
            throws RunnerException, GateFailure {
        List<String> failures = new ArrayList<>();
        for (String name : SHAPES) {
            double expected = baselineOf(baseline, baselineFile, name);
            List<Double> measured = speedups.get(name);
            if (median(measured) < THRESHOLD * expected) {
                System.err.printf(Locale.ROOT, "%s: %.2f× is below the threshold; measuring %d more rounds%n", name,
                        median(measured), ROUNDS);
                runs.expectMore(2 * ROUNDS);
                measured.addAll(measure(Shape.named(name), ROUNDS + 1, ROUNDS));
            }
            boolean ok = median(measured) >= THRESHOLD * expected;
            String line = String.format(Locale.ROOT, "%-24s speedup %6.2f× (median of rounds %s)  baseline %6.2f×  "
                            + "threshold %.1f × baseline = %6.2f×  %s", name, median(measured), rounds(measured),
                    expected, THRESHOLD, THRESHOLD * expected, ok ? "ok" : "FAILED");
            System.out.println(line);
            if (!ok) {
                failures.add(line);
            }
        }
        if (!failures.isEmpty()) {
            throw new GateFailure("performance gate: " + failures.size() + " of " + SHAPES.size() + " shapes fell "
                    + "below " + THRESHOLD + " × their baseline speedup over the scalar reference:\n  "
                    + String.join("\n  ", failures) + "\nJMH's logs: " + JmhRuns.jarDirectory().resolve("jmh-logs")
                    + ". If the change is meant to be slower, refresh the baseline: " + UPDATE_COMMAND);
        }
        System.out.printf(Locale.ROOT, "performance gate passed: every shape at or above %.1f × its baseline%n",
                THRESHOLD);
    }

    /**
     * Ratios of the reference's CPU time per call (scaled to T) to the vector kernel's, one per round, for rounds
     * {@code first} to {@code first + rounds - 1} of one shape. Each time is the fork's best iteration.
     */
    private List<Double> measure(Shape shape, int first, int rounds) throws RunnerException {
        Class<?> benchmark = Comparison.benchmarkOf(shape);
        int scalarSteps = Comparison.scaledScalarSteps(shape, SCALAR_FLOPS);
        List<Double> ratios = new ArrayList<>();
        for (int round = first; round < first + rounds; round++) {
            String suffix = "-round" + round;
            double vector = bestCpuNanos(runs.run(benchmark, "vector", Comparison.id(benchmark, "vector", shape)
                    + suffix, Map.of("shape", shape.name()), VECTOR_TIMING));
            double scalar = bestCpuNanos(runs.run(benchmark, "scalar", Comparison.id(benchmark, "scalar", shape)
                    + suffix, Comparison.scalarParams(shape, scalarSteps), SCALAR_TIMING))
                    * shape.steps() / scalarSteps;
            ratios.add(scalar / vector);
        }
        return ratios;
    }

    private static double bestCpuNanos(RunResult result) {
        return result.getSecondaryResults().get(ProcessCpuTimeProfiler.RESULT).getStatistics().getMin();
    }

    private static Properties load(Path file) throws IOException, GateFailure {
        if (!Files.isReadable(file)) {
            throw new GateFailure("no baseline file " + file + "; measure one with " + UPDATE_COMMAND);
        }
        Properties properties = new Properties();
        try (Reader reader = Files.newBufferedReader(file)) {
            properties.load(reader);
        }
        return properties;
    }

    private static double baselineOf(Properties baseline, Path file, String shape) throws GateFailure {
        String value = baseline.getProperty(shape);
        if (value == null) {
            throw new GateFailure("the baseline " + file + " has no speedup for " + shape + "; refresh it with "
                    + UPDATE_COMMAND);
        }
        try {
            double speedup = Double.parseDouble(value.trim());
            if (speedup > 0 && Double.isFinite(speedup)) {
                return speedup;
            }
        } catch (NumberFormatException e) {
            // Reported below with the file and the value.
        }
        throw new GateFailure("the baseline " + file + " gives " + shape + " = \"" + value
                + "\", not a positive number");
    }

    private static void write(Path file, String kernel, Map<String, List<Double>> speedups) throws IOException {
        StringBuilder out = new StringBuilder();
        out.append("# Performance gate baseline (dev.vlstm.bench.PerformanceGate): per shape, how many times less CPU\n")
                .append("# time a call of the vector kernel took than one of the scalar reference, the median of ")
                .append(ROUNDS).append(" rounds.\n")
                .append("# The gate fails below ").append(THRESHOLD).append(" × these. Rewritten by\n")
                .append("#   ").append(UPDATE_COMMAND).append('\n')
                .append(String.format(Locale.ROOT, "# Measured %s, JDK %s, %d CPUs. Rounds:%n",
                        ZonedDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'")),
                        Runtime.version(), Runtime.getRuntime().availableProcessors()));
        speedups.forEach((shape, ratios) -> out.append("#   ").append(shape).append(": ").append(rounds(ratios))
                .append('\n'));
        out.append(KERNEL_KEY).append('=').append(kernel).append('\n');
        speedups.forEach((shape, ratios) -> out.append(shape).append('=')
                .append(String.format(Locale.ROOT, "%.2f", median(ratios))).append('\n'));
        Files.writeString(file, out);
    }

    private static double median(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        int middle = sorted.size() / 2;
        return sorted.size() % 2 == 1 ? sorted.get(middle) : (sorted.get(middle - 1) + sorted.get(middle)) / 2;
    }

    private static String rounds(List<Double> ratios) {
        return ratios.stream().map(ratio -> String.format(Locale.ROOT, "%.2f", ratio))
                .collect(Collectors.joining(", "));
    }
}
