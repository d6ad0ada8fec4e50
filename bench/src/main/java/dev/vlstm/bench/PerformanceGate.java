package dev.vlstm.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;

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
 * <p>Baselines are per machine ({@link GateBaseline}): on a CPU model without one, {@code check} measures, says
 * that it cannot judge, and exits with 0, since a gate that fails whenever CI lands on another CPU would fail at
 * random.
 *
 * <p>Usage: {@code java --add-modules jdk.incubator.vector -cp vlstm-bench.jar dev.vlstm.bench.PerformanceGate
 * check|update BASELINE}: {@code check} compares with this machine's baseline and exits with 1 if a shape fails
 * (2 for bad usage); {@code update} measures and writes this machine's baseline into the file, keeping the
 * others.
 */
public final class PerformanceGate {

    /** One shape per kernel path: stream step, batch-1 sequence, batched sequence, training step. */
    static final List<String> SHAPES = List.of("step-H256", "seq-B1-T100-H256", "train-B32-T25-H512",
            "bptt-train-B32-T25-H512");
    static final int ROUNDS = 3;
    /** Rounds of a baseline: twice a check's, since every later check is judged against it. */
    static final int BASELINE_ROUNDS = 2 * ROUNDS;
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
    private static final String UPDATE_COMMAND = "./mvnw -B -DskipTests -Pgate verify -Dgate.mode=update";
    private static final String HEADER = """
            Performance gate baselines (dev.vlstm.bench.PerformanceGate), one per machine: CPU vendor, family and
            model, and the kernel vlstm runs there. Per shape, how many times less CPU time a call of the vector
            kernel took than one of the scalar reference, the median of the rounds listed in its note. The gate
            fails a shape below %.1f × its baseline; on a machine without a baseline it measures but does not
            judge. Add or refresh this machine's baseline with %s""".formatted(THRESHOLD, UPDATE_COMMAND);

    private final JmhRuns runs;

    private PerformanceGate(JmhRuns runs) {
        this.runs = runs;
    }

    /** A reason to stop with exit code 1: a shape below its threshold, or a baseline without it. */
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
        } catch (GateFailure | IllegalArgumentException failure) {
            System.err.println(failure.getMessage());
            System.exit(1);
        }
    }

    private static void gate(boolean update, Path file) throws IOException, RunnerException, GateFailure {
        GateBaseline baselines = GateBaseline.read(file);
        String machine = GateBaseline.currentMachine();
        Optional<GateBaseline.Machine> baseline = baselines.of(machine);
        if (!update && baseline.isEmpty()) {
            System.out.println("performance gate NOT JUDGED: " + file + " has no baseline for this machine ("
                    + machine + "; " + CpuInfo.describe() + "), " + (baselines.machines().isEmpty() ? "nor for any "
                    + "other" : "only for " + String.join(", ", baselines.machines())) + ". Speedups "
                    + "of one CPU model say nothing about another's, so this run measures but cannot judge. To "
                    + "gate runs on this machine, record its baseline and commit the file: " + UPDATE_COMMAND);
        }
        int rounds = update ? BASELINE_ROUNDS : ROUNDS;
        PerformanceGate gate = new PerformanceGate(new JmhRuns(JmhRuns.jarDirectory(), SHAPES.size() * rounds * 2,
                ProcessCpuTimeProfiler.class));
        Map<String, List<Double>> speedups = new LinkedHashMap<>();
        for (String name : SHAPES) {
            speedups.put(name, gate.measure(Shape.named(name), 1, rounds));
        }
        if (update) {
            Map<String, Double> medians = new LinkedHashMap<>();
            speedups.forEach((shape, ratios) -> medians.put(shape, median(ratios)));
            baselines.with(machine, new GateBaseline.Machine(note(speedups), medians)).write(file, HEADER);
            System.err.println("Baseline of " + machine + " written to " + file);
        } else if (baseline.isPresent()) {
            gate.check(baseline.get(), file, speedups);
        } else {
            speedups.forEach((shape, ratios) -> System.out.printf(Locale.ROOT, "%-24s speedup %6.2f× (median of "
                    + "rounds %s), not judged%n", shape, median(ratios), rounds(ratios)));
        }
    }

    /** Compares each shape's speedup with its baseline, re-measuring one that falls below the threshold. */
    private void check(GateBaseline.Machine baseline, Path file, Map<String, List<Double>> speedups)
            throws RunnerException, GateFailure {
        List<String> failures = new ArrayList<>();
        for (String name : SHAPES) {
            Double expected = baseline.speedups().get(name);
            if (expected == null) {
                throw new GateFailure(file + " has no speedup for " + name + " on this machine ("
                        + GateBaseline.currentMachine() + "); refresh its baseline: " + UPDATE_COMMAND);
            }
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

    /** When and how a baseline was measured, with every round's ratio. */
    private static String note(Map<String, List<Double>> speedups) {
        StringBuilder rounds = new StringBuilder();
        speedups.forEach((shape, ratios) -> rounds.append(rounds.isEmpty() ? "" : "; ").append(shape).append(' ')
                .append(rounds(ratios)));
        return String.format(Locale.ROOT, "%s, JDK %s, %s; rounds: %s",
                ZonedDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'")),
                Runtime.version(), CpuInfo.describe(), rounds);
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
