package dev.vlstm.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;

import dev.vlstm.cli.CpuModel;

/**
 * The CI performance gate, an A/B comparison: the build under test (the candidate, this jar) against a baseline
 * revision of the same repository, built from git history and measured on the same machine in the same run. It
 * needs no stored numbers, so it judges on any CPU.
 *
 * <p>Before it times anything, it requires the same bits of both builds: {@link BitDigest} from each jar, at each of
 * the test suite's vector widths, must print the same digest for every case ({@link DigestComparison}); a difference
 * fails the gate.
 *
 * <p>Per shape, rounds of one JMH fork of each build, in alternating order (A B, then B A, ...) so that neither build
 * always runs first; each fork's time is its fastest iteration's CPU time per call ({@link JmhFork}). Both builds
 * run the same benchmark method with the same {@code shape} parameter ({@link Comparison#benchmarkOf}), so those
 * names must exist in both. The rounds are judged by {@link GateStatistics}: the gate fails a shape only when its
 * median candidate ÷ baseline ratio exceeds 1 + threshold and its confidence interval lies wholly above 1. An unclear
 * shape (median above the threshold, interval reaching 1) gets {@link GateStatistics#MORE_ROUNDS} more rounds, up
 * to {@link GateStatistics#MAX_ROUNDS}. The vector kernel's speedup over the scalar reference is printed as information.
 *
 * <p>The baseline is the revision named in {@code bench/gate-base.txt} (the main the change started from; see
 * docs/gate.md), or {@code -Dgate.baseline=REV}. Other properties: {@code gate.threshold} (percent, default 10),
 * {@code gate.shapes} (a regular expression over the shape names), and, to test the gate itself,
 * {@code gate.slowdown=SHAPE} with {@code gate.slowdown.every=N}, which makes the candidate repeat every N-th call of
 * that shape ({@link InjectedSlowdown}).
 *
 * <p>Usage: {@code java --add-modules jdk.incubator.vector -cp vlstm-bench.jar dev.vlstm.bench.PerformanceGate
 * REPOSITORY}; exit 0 passed, 1 a result not bit-identical or a shape slower, 2 the gate could not run (bad usage,
 * no baseline, a failed build, fork or BitDigest run).
 */
public final class PerformanceGate {

    /**
     * One shape per LSTM kernel path (stream step, batch-1 sequence, batched sequence, training step) and the GRU's
     * stream step and training step.
     */
    static final List<String> SHAPES = List.of("step-H256", "seq-B1-T100-H256", "train-B32-T25-H512",
            "bptt-train-B32-T25-H512", "gru-step-H256", "gru-bptt-train-B32-T25-H512");
    /**
     * The JVM options of the vector widths the test suite runs at (src-tests/pom.xml): the CPU's widest, 256 bits
     * (AVX2 on x86) and 128 bits. The bits are compared at each, since each width has its own kernel code.
     */
    static final Map<String, List<String>> VECTOR_WIDTHS = orderedWidths();
    /** Four one-second warmup iterations: a loaded machine's C2 took more than two to compile the larger shapes. */
    static final JmhFork.Timing TIMING = new JmhFork.Timing(4, 3);
    /** The reference's fork: plain loops, compiled within the first second. */
    static final JmhFork.Timing SCALAR_TIMING = new JmhFork.Timing(2, 2);
    /** The reference's work per call, about 0.1 s, timed over fewer steps and scaled to T where it is slower. */
    static final double SCALAR_FLOPS = 3e8;
    static final String VECTOR = "vector";

    private final JmhFork forks;
    private final Path candidateJar;
    private final Path baselineJar;
    private final double threshold;
    private final String slowedShape;
    private final int slowdownEvery;
    private int started;
    private int total;

    private static Map<String, List<String>> orderedWidths() {
        Map<String, List<String>> widths = new LinkedHashMap<>();
        widths.put("default width", List.of());
        widths.put("MaxVectorSize=32", List.of("-XX:+IgnoreUnrecognizedVMOptions", "-XX:UseAVX=2",
                "-XX:MaxVectorSize=32"));
        widths.put("MaxVectorSize=16", List.of("-XX:MaxVectorSize=16"));
        return Collections.unmodifiableMap(widths);
    }

    private PerformanceGate(JmhFork forks, Path candidateJar, Path baselineJar, double threshold,
                            String slowedShape, int slowdownEvery, int shapes) {
        this.forks = forks;
        this.candidateJar = candidateJar;
        this.baselineJar = baselineJar;
        this.threshold = threshold;
        this.slowedShape = slowedShape;
        this.slowdownEvery = slowdownEvery;
        this.total = shapes * (2 * GateStatistics.FIRST_ROUNDS + 1);
    }

    /** Bad usage or a gate that cannot run: exit code 2. */
    private static final class SetupException extends Exception {
        private static final long serialVersionUID = 1L;

        SetupException(String message) {
            super(message);
        }
    }

    public static void main(String[] args) throws Exception {
        try {
            if (args.length != 1) {
                throw new SetupException("usage: java --add-modules jdk.incubator.vector -cp vlstm-bench.jar "
                        + "dev.vlstm.bench.PerformanceGate REPOSITORY");
            }
            System.exit(gate(Path.of(args[0]).toAbsolutePath().normalize()) ? 0 : 1);
        } catch (SetupException | IOException | IllegalArgumentException e) {
            System.err.println("performance gate could not run: " + e.getMessage());
            System.exit(2);
        }
    }

    /** Runs the gate; true if no shape is slower. */
    private static boolean gate(Path repository) throws Exception {
        double threshold = percent("gate.threshold", 10) / 100;
        Pattern filter = Pattern.compile(System.getProperty("gate.shapes", ""));
        List<String> shapes = SHAPES.stream().filter(name -> filter.matcher(name).find()).toList();
        if (shapes.isEmpty()) {
            throw new SetupException("gate.shapes=" + filter + " matches none of " + SHAPES);
        }
        String slowed = System.getProperty("gate.slowdown", "");
        if (!slowed.isEmpty() && !shapes.contains(slowed)) {
            throw new SetupException("gate.slowdown=" + slowed + " is not one of the gate's shapes " + shapes);
        }
        int every = Integer.getInteger("gate.slowdown.every", 6);
        if (every < 1) {
            throw new SetupException("gate.slowdown.every must be at least 1, got " + every);
        }

        BaselineBuild builds = new BaselineBuild(repository);
        Path reference = repository.resolve("bench/gate-base.txt");
        String named = System.getProperty("gate.baseline", "");
        String revision = named.isEmpty() ? BaselineBuild.readRevision(reference) : named;
        String commit = builds.resolve(revision);
        if (named.isEmpty() && !builds.isAncestorOfHead(commit)) {
            throw new SetupException(reference + " names " + commit + ", which is not an ancestor of HEAD: point it "
                    + "at the main this change started from (docs/gate.md)");
        }
        Path baselineJar = builds.benchmarkJar(commit);
        Path candidateJar = JmhRuns.jarDirectory().resolve("vlstm-bench.jar");
        System.out.printf(Locale.ROOT, "Performance gate: candidate %s (the work tree) against baseline %s%s, on "
                        + "%s, JDK %s; fails a shape whose median candidate ÷ baseline ratio of CPU time per call "
                        + "exceeds %.2f with its %.0f %%+ interval above 1%n",
                candidateJar, commit, named.isEmpty() ? " (" + reference.getFileName() + ", "
                        + builds.commitsSince(commit) + " commits before HEAD)" : " (-Dgate.baseline=" + named + ")",
                CpuModel.current().identity(), Runtime.version(), 1 + threshold,
                100 * GateStatistics.coverage(GateStatistics.FIRST_ROUNDS, GateStatistics.intervalRank(GateStatistics.FIRST_ROUNDS,
                        GateStatistics.ALPHA)));
        if (!sameBits(baselineJar, candidateJar, JmhRuns.jarDirectory().resolve("gate-logs"))) {
            return false;
        }
        if (!slowed.isEmpty()) {
            System.out.printf(Locale.ROOT, "Injected slowdown: the candidate repeats every %d. call of %s%n", every,
                    slowed);
        }
        PerformanceGate gate = new PerformanceGate(new JmhFork(JmhRuns.jarDirectory().resolve("gate-logs")),
                candidateJar, baselineJar, threshold, slowed, every, shapes.size());
        List<String> lines = new ArrayList<>();
        int slower = 0;
        for (String name : shapes) {
            Shape shape = Shape.named(name);
            GateStatistics.Judgement judgement = gate.judge(shape);
            double speedup = gate.scalarNanos(shape) / judgement.candidateMedian();
            lines.add(row(name, judgement, speedup));
            if (judgement.verdict() == GateStatistics.Verdict.SLOWER) {
                slower++;
            }
        }
        System.out.println();
        System.out.printf(Locale.ROOT, "%-27s %12s %12s  %-28s %6s  %-8s %s%n", "shape", "baseline", "candidate",
                "ratio [interval] confidence", "rounds", "verdict", "vector ÷ scalar (info)");
        lines.forEach(System.out::println);
        if (slower > 0) {
            System.out.printf(Locale.ROOT, "performance gate FAILED: %d of %d shapes slower than %.0f %% with "
                            + "confidence. Logs: %s%n", slower, shapes.size(), threshold * 100,
                    JmhRuns.jarDirectory().resolve("gate-logs"));
            return false;
        }
        System.out.printf(Locale.ROOT, "performance gate passed: no shape slower than %.0f %% with confidence%n",
                threshold * 100);
        return true;
    }

    /**
     * Runs {@link BitDigest} from both jars at each of {@link #VECTOR_WIDTHS} and compares their lines; true if
     * every case has the same bits in both builds at every width, false (after printing the differing cases) if not.
     *
     * @throws IOException if a BitDigest run fails or prints something other than its lines (the message names its
     *                     log)
     */
    static boolean sameBits(Path baselineJar, Path candidateJar, Path logDirectory)
            throws IOException, InterruptedException {
        Files.createDirectories(logDirectory);
        List<String> failures = new ArrayList<>();
        for (Map.Entry<String, List<String>> width : VECTOR_WIDTHS.entrySet()) {
            String id = width.getKey().replace('=', '-').replace(' ', '-');
            long start = System.nanoTime();
            List<String> baseline = bitDigest(baselineJar, width.getValue(), logDirectory.resolve("bits-baseline-"
                    + id));
            List<String> candidate = bitDigest(candidateJar, width.getValue(), logDirectory.resolve("bits-candidate-"
                    + id));
            List<String> differences;
            try {
                differences = DigestComparison.differences(baseline, candidate);
            } catch (IllegalArgumentException e) {
                throw new IOException("BitDigest at " + width.getKey() + ": " + e.getMessage()
                        + " (outputs in " + logDirectory + ")", e);
            }
            System.out.printf(Locale.ROOT, "Bits at %s: %s  (%.0f s)%n", width.getKey(), differences.isEmpty()
                            ? "all " + baseline.size() + " cases identical in both builds"
                            : differences.size() + " of " + baseline.size() + " cases differ",
                    (System.nanoTime() - start) / 1e9);
            differences.forEach(difference -> failures.add(width.getKey() + ": " + difference));
        }
        if (failures.isEmpty()) {
            return true;
        }
        System.out.println("performance gate FAILED: the candidate's results are not bit-identical to the "
                + "baseline's (dev.vlstm.bench.BitDigest, docs/gate.md):");
        failures.forEach(failure -> System.out.println("  " + failure));
        return false;
    }

    /** BitDigest's lines from {@code jar} with {@code widthArgs}; its output goes to {@code output}.txt and .log. */
    private static List<String> bitDigest(Path jar, List<String> widthArgs, Path output)
            throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "--add-modules", "jdk.incubator.vector"));
        command.addAll(widthArgs);
        command.addAll(List.of("-cp", jar.toString(), BitDigest.class.getName()));
        Path lines = Path.of(output + ".txt");
        Path log = Path.of(output + ".log");
        int exit = new ProcessBuilder(command).redirectOutput(lines.toFile()).redirectError(log.toFile()).start()
                .waitFor();
        if (exit != 0) {
            throw new IOException("BitDigest " + String.join(" ", widthArgs) + " from " + jar + " failed (exit "
                    + exit + "; a baseline from before BitDigest cannot be checked: move bench/gate-base.txt, "
                    + "docs/gate.md); its log: " + log);
        }
        return Files.readAllLines(lines);
    }

    /** Paired rounds of the two builds on {@code shape}, more of them while the verdict is unclear. */
    private GateStatistics.Judgement judge(Shape shape) throws Exception {
        return GateStatistics.judgeSequentially((round, times) -> {
            boolean baselineFirst = round % 2 == 0;
            double first = time(shape, baselineFirst, round);
            double second = time(shape, !baselineFirst, round);
            times[0] = baselineFirst ? first : second;
            times[1] = baselineFirst ? second : first;
        }, threshold, GateStatistics.ALPHA, unclear -> {
            System.out.printf(Locale.ROOT, "%s: ratio %.3f [%.3f, %.3f] is unclear; %d more rounds%n", shape.name(),
                    unclear.ratio(), unclear.low(), unclear.high(), GateStatistics.MORE_ROUNDS);
            total += 2 * GateStatistics.MORE_ROUNDS;
        });
    }

    /** One fork of one build on {@code shape}: CPU nanoseconds per call. */
    private double time(Shape shape, boolean baseline, int round) throws IOException, InterruptedException {
        String build = baseline ? "baseline" : "candidate";
        List<String> jvmArgs = !baseline && shape.name().equals(slowedShape)
                ? List.of("-D" + InjectedSlowdown.PROPERTY + "=" + slowdownEvery) : List.of();
        return timed(build + " " + shape.name() + " round " + (round + 1), () -> forks.cpuNanosPerCall(
                baseline ? baselineJar : candidateJar, Comparison.benchmarkOf(shape).getName(), VECTOR,
                Map.of("shape", shape.name()), TIMING, jvmArgs, shape.name() + "-" + build + "-round" + (round + 1)));
    }

    /** The candidate's scalar reference on {@code shape}: CPU nanoseconds per call, scaled to T steps. */
    private double scalarNanos(Shape shape) throws IOException, InterruptedException {
        int steps = Comparison.scaledScalarSteps(shape, SCALAR_FLOPS);
        double nanos = timed("scalar " + shape.name(), () -> forks.cpuNanosPerCall(candidateJar,
                Comparison.benchmarkOf(shape).getName(), "scalar", Comparison.scalarParams(shape, steps),
                SCALAR_TIMING, List.of(), shape.name() + "-scalar"));
        return nanos * shape.steps() / steps;
    }

    private interface Fork {
        double run() throws IOException, InterruptedException;
    }

    private double timed(String what, Fork fork) throws IOException, InterruptedException {
        System.out.printf(Locale.ROOT, "[%2d/%d] %-44s", ++started, total, what);
        System.out.flush();
        long start = System.nanoTime();
        double nanos = fork.run();
        System.out.printf(Locale.ROOT, " %s  (%.0f s)%n", duration(nanos), (System.nanoTime() - start) / 1e9);
        return nanos;
    }

    private static String row(String name, GateStatistics.Judgement judgement, double speedup) {
        return String.format(Locale.ROOT, "%-27s %12s %12s  %.3f [%.3f, %.3f] %4.1f %%  %6d  %-8s %.1f×", name,
                duration(judgement.baselineMedian()), duration(judgement.candidateMedian()), judgement.ratio(),
                judgement.low(), judgement.high(), judgement.confidence() * 100, judgement.rounds(),
                judgement.verdict().label(), speedup);
    }

    /** A time in nanoseconds, in the unit that shows it best. */
    static String duration(double nanos) {
        return nanos >= 1e6 ? String.format(Locale.ROOT, "%.3f ms", nanos / 1e6)
                : String.format(Locale.ROOT, "%.2f µs", nanos / 1e3);
    }

    private static double percent(String property, double fallback) throws SetupException {
        String value = System.getProperty(property, "");
        if (value.isEmpty()) {
            return fallback;
        }
        try {
            double parsed = Double.parseDouble(value);
            if (parsed > 0 && parsed < 1000) {
                return parsed;
            }
        } catch (NumberFormatException ignored) {
            // refused below, with the value
        }
        throw new SetupException(property + " must be a percentage above 0, got " + value);
    }
}
