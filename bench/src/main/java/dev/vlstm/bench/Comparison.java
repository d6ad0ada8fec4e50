package dev.vlstm.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

import dev.vlstm.Backend;
import dev.vlstm.WeightPrecision;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs {@link StepBenchmark}, {@link ForwardBenchmark}, {@link TrainingBenchmark}, {@link StackBenchmark} and
 * {@link GruBenchmark} for every shape, vector kernel against the scalar reference, oneDNN and (for inference shapes)
 * ONNX Runtime, through JMH with its gc and comp profilers, after
 * measuring the machine's roofline ({@link FmaPeakBenchmark}, {@link BandwidthBenchmark}); prints one Markdown
 * table to stdout (also written to {@code comparison.md} beside the jar, and every run's result in JMH's JSON format
 * to {@code comparison.json}). Progress goes to stderr; each JMH
 * run's own log goes to {@code jmh-logs/} beside the jar. If a peer cannot load here, the comparison says why and
 * leaves its columns blank.
 *
 * <p>Usage: {@code java --add-modules jdk.incubator.vector -cp vlstm-bench.jar dev.vlstm.bench.Comparison
 * [full|quick] [shape-regex]} (the jar's own main class is JMH's runner); without arguments the system properties
 * {@code compare.mode} (default full) and {@code compare.shapes} (default all) decide. The shape regex is searched
 * for in the names, e.g. {@code step} or {@code train-B64}. {@code --help}, {@code -h} or {@code help} prints the
 * usage and exits 0; a bad argument prints one line on stderr and exits 2.
 */
public final class Comparison {

    /**
     * How much measuring a mode does. In quick mode the reference is timed over at most
     * {@link #QUICK_SCALAR_FLOPS} per call (fewer time steps, {@link #scaledScalarSteps}) and scaled to the full T.
     */
    record Plan(String name, int forks, int warmups, int iterations, TimeValue iterationTime,
                        boolean scaleScalar) {

        JmhRuns.Timing timing() {
            return JmhRuns.Timing.of(forks, warmups, iterations, iterationTime);
        }

        /** The roofline's runs: one fork of one-second iterations, as many as the plan's. */
        JmhRuns.Timing rooflineTiming() {
            return JmhRuns.Timing.of(1, warmups, iterations, TimeValue.seconds(1));
        }

        /** The plan in a few words, for the usage. */
        String brief() {
            return forks + (forks == 1 ? " fork" : " forks") + ", " + warmups + " warmup and " + iterations
                    + " measured iterations of " + iterationTime + " per benchmark";
        }

        String describe() {
            return forks + (forks == 1 ? " fork" : " forks") + " × (" + warmups + " × " + iterationTime
                    + " warmup, " + iterations + " × " + iterationTime + " measured), the vector run again with "
                    + WARMUP_GROWTH + " times the warmup (at most " + WARMUP_RETRIES + " times) while the JIT "
                    + "compiled for over " + Math.round(SETTLED_COMPILE_SHARE * 100) + " % of the measured time (JMH's "
                    + "comp profiler); a scalar call longer than an "
                    + "iteration: 1 fork, " + SINGLE_SHOT.warmups() + " warmup and " + SINGLE_SHOT.iterations()
                    + " measured calls; roofline: 1 fork, 1 s iterations";
        }
    }

    /** Two warmup seconds: after one, C2 was still compiling the H = 1024 step and the allocation showed it. */
    private static final Plan QUICK = new Plan("quick", 1, 2, 3, TimeValue.seconds(1), true);
    private static final Plan FULL = new Plan("full", 2, 3, 5, TimeValue.seconds(2), false);
    /**
     * The JIT's share of the measured time below which a vector run counts as warmed up: above the background of
     * compilation (JMH's own code, less hot paths) that runs warmed up far longer still show, not at zero.
     */
    private static final double SETTLED_COMPILE_SHARE = 0.05;
    /** How many times more warmup iterations a vector run gets when the JIT was still compiling. */
    private static final int WARMUP_GROWTH = 3;
    /** How many times a vector run is repeated at the most for its warmup. */
    private static final int WARMUP_RETRIES = 2;
    /** About a third of a second of the reference. */
    private static final double QUICK_SCALAR_FLOPS = 1e9;
    /** The reference's speed, roughly, to predict its call times: it only sizes the runs, so an estimate will do. */
    private static final double SCALAR_FLOPS_PER_SECOND = 3e9;
    /** A reference call longer than an iteration is timed call by call, in one fork. */
    private static final JmhRuns.Timing SINGLE_SHOT = JmhRuns.Timing.singleShot(2, 5);

    /** The widest line of the usage's list of shapes, in characters. */
    private static final int USAGE_WIDTH = 100;
    /** The arguments that print the usage, wherever they stand. */
    static final List<String> HELP = List.of("--help", "-h", "help");

    /** A mode and the shapes it compares. */
    record Selection(Plan plan, List<Shape> shapes) {
    }

    /** A bad argument, said in one line. */
    static final class UsageException extends Exception {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    private final Plan plan;
    private final JmhRuns runs;
    private final boolean onnxRuntime;
    private final boolean oneDnn;

    private Comparison(Plan plan, JmhRuns runs, boolean onnxRuntime, boolean oneDnn) {
        this.plan = plan;
        this.runs = runs;
        this.onnxRuntime = onnxRuntime;
        this.oneDnn = oneDnn;
    }

    public static void main(String[] args) throws RunnerException, IOException {
        if (Arrays.stream(args).anyMatch(HELP::contains)) {
            System.out.print(usage());
            return;
        }
        Selection selection;
        try {
            selection = select(args, System.getProperty("compare.mode", "full"),
                    System.getProperty("compare.shapes", ""));
        } catch (UsageException e) {
            System.err.println("comparison: " + e.getMessage() + " (--help prints the usage)");
            System.exit(2);
            return;
        }
        Plan plan = selection.plan();
        List<Shape> shapes = selection.shapes();
        Optional<String> onnxMissing = OnnxRuntimeRnn.unavailableReason();
        onnxMissing.ifPresent(reason -> System.err.println("ONNX Runtime cannot run here, so its columns stay blank: "
                + reason));
        Optional<String> oneDnnMissing = OneDnnRnn.unavailableReason();
        oneDnnMissing.ifPresent(reason -> System.err.println("oneDNN cannot run here, so its columns stay blank: "
                + reason));
        SortedSet<Integer> buffers = Roofline.bufferKib(shapes);
        int total = 1 + buffers.size() + shapes.stream()
                .mapToInt(shape -> reusesFloatRow(shape, shapes) ? 1
                        : 2 + (runsOnnx(shape) && onnxMissing.isEmpty() ? 1 : 0)
                                + (runsOneDnn(shape) && oneDnnMissing.isEmpty() ? 1 : 0)).sum()
                + shapes.stream().filter(Shape::streaming)
                        .mapToInt(shape -> onnxMissing.isEmpty() && shape.precision() == WeightPrecision.FLOAT32 ? 2 : 1)
                        .sum();
        Path directory = JmhRuns.jarDirectory();
        Comparison comparison = new Comparison(plan, new JmhRuns(directory, total), onnxMissing.isEmpty(),
                oneDnnMissing.isEmpty());
        Roofline roofline = comparison.measureRoofline(buffers);
        List<ComparisonTable.Row> rows = new ArrayList<>();
        Map<String, ComparisonTable.Row> floatRows = new HashMap<>();
        for (Shape shape : shapes) {
            ComparisonTable.Row row = comparison.compare(shape, floatRows.get(shape.floatName()));
            rows.add(row);
            if (shape.precision() == WeightPrecision.FLOAT32) {
                floatRows.put(shape.name(), row);
            }
        }
        List<LatencyTable.Row> latencies = new ArrayList<>();
        for (Shape shape : shapes) {
            if (shape.streaming()) {
                latencies.add(comparison.sampleLatency(shape));
            }
        }
        String onnxPeer = onnxMissing.map(reason -> "ONNX Runtime did not load, so it was not run: " + reason)
                .orElseGet(OnnxRuntimeRnn::describe);
        String oneDnnPeer = oneDnnMissing.map(reason -> "oneDNN did not load, so it was not run: " + reason)
                .orElseGet(OneDnnRnn::describe);
        String table = ComparisonTable.render(plan.name(), plan.describe(), plan.warmups(),
                Backend.PREFERRED.kernelName(), roofline, onnxPeer, oneDnnPeer, rows)
                + (latencies.isEmpty() ? "" : LatencyTable.render(latencies));
        System.out.print(table);
        Path markdown = directory.resolve("comparison.md");
        Files.writeString(markdown, table);
        Path json = directory.resolve("comparison.json");
        comparison.runs.writeJson(json);
        System.err.println("Table written to " + markdown + ", every JMH run's result to " + json);
    }

    /**
     * The run that {@code args} ({@code [full|quick] [shape-regex]}) ask for; a missing argument takes
     * {@code defaultMode} or {@code defaultShapes}.
     *
     * @throws UsageException an unknown mode, a regex that does not compile or matches no shape, or a third argument
     */
    static Selection select(String[] args, String defaultMode, String defaultShapes) throws UsageException {
        if (args.length > 2) {
            throw new UsageException("at most two arguments, [full|quick] [shape-regex]; got " + args.length);
        }
        String mode = args.length > 0 ? args[0] : defaultMode;
        Plan plan = switch (mode) {
            case "quick" -> QUICK;
            case "full" -> FULL;
            default -> throw new UsageException("the mode must be full or quick, not " + mode);
        };
        String regex = args.length > 1 ? args[1] : defaultShapes;
        Pattern filter;
        try {
            filter = Pattern.compile(regex);
        } catch (PatternSyntaxException e) {
            throw new UsageException("the shape regex " + regex + " does not compile: " + e.getDescription()
                    + " at index " + e.getIndex());
        }
        List<Shape> shapes = Shape.ALL.stream().filter(shape -> filter.matcher(shape.name()).find()).toList();
        if (shapes.isEmpty()) {
            throw new UsageException("no shape name contains a match of " + regex + "; the shapes are "
                    + String.join(" ", shapeNames()));
        }
        return new Selection(plan, shapes);
    }

    /** What {@code --help} prints: the arguments, the modes, the outputs and the shapes. */
    static String usage() {
        StringBuilder shapes = new StringBuilder();
        int lineStart = 0;
        for (String name : shapeNames()) {
            if (shapes.length() - lineStart + 2 + name.length() > USAGE_WIDTH) {
                shapes.append('\n');
                lineStart = shapes.length();
            }
            shapes.append("  ").append(name);
        }
        return """
                usage: java --add-modules jdk.incubator.vector -cp vlstm-bench.jar dev.vlstm.bench.Comparison
                         [full|quick] [shape-regex]
                Times vlstm's vector kernels against the scalar reference, ONNX Runtime and oneDNN, shape by shape.
                  full         %s (the default)
                  quick        %s: a first look
                  shape-regex  compares the shapes whose names contain a match, e.g. step or train-B64 (default: all)
                Without arguments the system properties compare.mode and compare.shapes decide.
                Prints a Markdown table on stdout and writes comparison.md, comparison.json and jmh-logs/ beside
                the jar; progress goes to stderr. Exits 0 when done, 2 on a bad argument.
                Shapes:
                %s
                """.formatted(FULL.brief(), QUICK.brief(), shapes);
    }

    private static List<String> shapeNames() {
        return Shape.ALL.stream().map(Shape::name).toList();
    }

    /**
     * Time steps to run the reference over so that a call does at most about {@code flops}: fewer than T for slow
     * shapes, whose time is then scaled to T (the reference's cost is linear in T); at least one.
     */
    static int scaledScalarSteps(Shape shape, double flops) {
        if (shape.variableLengths()) {
            return shape.steps();   // fewer steps would cut the long sequences only: not linear in T
        }
        return (int) Math.max(1, Math.min(shape.steps(), flops / shape.flopsPerStep()));
    }

    /**
     * True for a shape on compressed weights whose float twin runs too: the reference and ORT run on float weights
     * either way, so the compressed row takes their times from the float row instead of measuring them again.
     */
    static boolean reusesFloatRow(Shape shape, List<Shape> shapes) {
        return shape.precision() != WeightPrecision.FLOAT32
                && shapes.stream().anyMatch(other -> other.name().equals(shape.floatName()));
    }

    /** The benchmark class that times {@code shape}. */
    static Class<?> benchmarkOf(Shape shape) {
        return shape.gru() ? GruBenchmark.class
                : shape.streaming() ? StepBenchmark.class
                : shape.training() ? TrainingBenchmark.class
                : shape.stacked() ? StackBenchmark.class : ForwardBenchmark.class;
    }

    /**
     * True for the shapes ONNX Runtime runs: one layer, inference, every sequence T steps (its Java package does
     * not train, and a stack or per-sequence lengths would need a graph of several nodes).
     */
    static boolean runsOnnx(Shape shape) {
        return !shape.training() && !shape.variableLengths() && !shape.stacked();
    }

    /**
     * True for the shapes oneDNN runs: one layer, every sequence T steps (the bench binds one layer's primitive, with
     * no per-sequence lengths), inference and training.
     */
    static boolean runsOneDnn(Shape shape) {
        return !shape.variableLengths() && !shape.stacked();
    }

    /** JMH parameters for the reference on {@code shape} over {@code scalarSteps} time steps. */
    static Map<String, String> scalarParams(Shape shape, int scalarSteps) {
        return shape.streaming() ? Map.of("shape", shape.name())
                : Map.of("shape", shape.name(), "scalarSteps", Integer.toString(scalarSteps));
    }

    /** The FMA peak and the read bandwidth of each buffer size, each the best of its measured iterations. */
    private Roofline measureRoofline(SortedSet<Integer> bufferKib) throws RunnerException {
        RunResult fma = runs.run(FmaPeakBenchmark.class, "fma", "FmaPeakBenchmark.fma", Map.of(),
                plan.rooflineTiming());
        double fmaGflops = FmaPeakBenchmark.flopsPerCall() / (JmhRuns.bestMillis(fma.getPrimaryResult()) * 1e6);
        SortedMap<Integer, Double> bandwidth = new TreeMap<>();
        for (int kib : bufferKib) {
            RunResult read = runs.run(BandwidthBenchmark.class, "read", "BandwidthBenchmark.read-" + kib + "KiB",
                    Map.of("kibibytes", Integer.toString(kib)), plan.rooflineTiming());
            bandwidth.put(kib, BandwidthBenchmark.bytes(kib) / (JmhRuns.bestMillis(read.getPrimaryResult()) * 1e6));
        }
        return new Roofline(fmaGflops, bandwidth);
    }

    /**
     * Times the vector kernel on {@code shape}, and the reference and the peers unless {@code floatRow} (the same
     * problem on float weights, measured earlier in this run, or null) already has their times.
     */
    private ComparisonTable.Row compare(Shape shape, ComparisonTable.Row floatRow) throws RunnerException {
        Class<?> benchmark = benchmarkOf(shape);
        Map<String, String> shapeParam = Map.of("shape", shape.name());
        Warmed vector = warmedVectorRun(benchmark, shape, shapeParam);
        double vectorBytesPerOp = vector.result().getSecondaryResults().get("gc.alloc.rate.norm").getScore();
        double vectorMillis = JmhRuns.millis(vector.result().getPrimaryResult());
        if (floatRow != null) {
            return new ComparisonTable.Row(shape, vectorMillis, floatRow.scalarMillis(), floatRow.scalarStepsTimed(),
                    floatRow.onnxMillis(), floatRow.oneDnnMillis(), vectorBytesPerOp, vector.warmups(),
                    vector.settled());
        }
        int scalarSteps = plan.scaleScalar() ? scaledScalarSteps(shape, QUICK_SCALAR_FLOPS) : shape.steps();
        double scalarSeconds = shape.flopsPerStep() * scalarSteps / SCALAR_FLOPS_PER_SECOND;
        boolean singleShot = scalarSeconds > plan.iterationTime().convertTo(TimeUnit.SECONDS);
        RunResult scalar = runs.run(benchmark, "scalar", id(benchmark, "scalar", shape),
                scalarParams(shape, scalarSteps), singleShot ? SINGLE_SHOT : plan.timing());
        double onnxMillis = Double.NaN;
        if (onnxRuntime && runsOnnx(shape)) {
            onnxMillis = JmhRuns.millis(runs.run(benchmark, "onnxruntime", id(benchmark, "onnxruntime", shape),
                    shapeParam, plan.timing()).getPrimaryResult());
        }
        double oneDnnMillis = Double.NaN;
        if (oneDnn && runsOneDnn(shape)) {
            oneDnnMillis = JmhRuns.millis(runs.run(benchmark, "onednn", id(benchmark, "onednn", shape), shapeParam,
                    plan.timing()).getPrimaryResult());
        }
        return new ComparisonTable.Row(shape, vectorMillis,
                JmhRuns.millis(scalar.getPrimaryResult()) * shape.steps() / scalarSteps, scalarSteps, onnxMillis,
                oneDnnMillis, vectorBytesPerOp, vector.warmups(), vector.settled());
    }

    /** A vector run, the warmup iterations it was given, and whether the JIT was done before its measurement. */
    record Warmed(RunResult result, int warmups, boolean settled) {
    }

    /**
     * Times the vector kernel, warming it up until the JIT is done with it: while the compilers worked for more than
     * {@link #SETTLED_COMPILE_SHARE} of the measured time, the run is repeated with {@link #WARMUP_GROWTH} times the
     * warmup iterations, at most {@link #WARMUP_RETRIES} times. A large shape's first C2 compilations can take
     * longer than a fixed warmup, and a run measured while they ran reports the interpreter's and C1's code, and
     * a compiler thread on the second core.
     */
    private Warmed warmedVectorRun(Class<?> benchmark, Shape shape, Map<String, String> shapeParam)
            throws RunnerException {
        JmhRuns.Timing timing = plan.timing();
        for (int retry = 0; ; retry++) {
            RunResult run = runs.run(benchmark, "vector", id(benchmark, "vector", shape)
                    + (retry == 0 ? "" : "-warmup" + timing.warmups()), shapeParam, timing);
            double compileMillis = JmhRuns.compileMillis(run);
            boolean settled = settled(compileMillis, timing);
            if (settled || retry == WARMUP_RETRIES) {
                return new Warmed(run, timing.warmups(), settled);
            }
            timing = timing.withWarmups(timing.warmups() * WARMUP_GROWTH);
            runs.expectMore(1);
            System.err.printf("       the JIT compiled for %.0f ms of the measured %.0f s: again with %d warmup "
                    + "iterations%n", compileMillis, timing.measuredMillis() / 1e3, timing.warmups());
        }
    }

    /**
     * Whether a run counts as warmed up: the JIT compiled for at most {@link #SETTLED_COMPILE_SHARE} of its measured
     * time. A JVM that does not report compilation time ({@code compileMillis} NaN) cannot be waited on, so its runs
     * count as warmed up.
     */
    static boolean settled(double compileMillis, JmhRuns.Timing timing) {
        return !(compileMillis > SETTLED_COMPILE_SHARE * timing.measuredMillis());
    }

    /** Percentiles of single step calls, vlstm's and (where it runs) ONNX Runtime's. */
    private LatencyTable.Row sampleLatency(Shape shape) throws RunnerException {
        Map<String, String> shapeParam = Map.of("shape", shape.name());
        Class<?> benchmark = benchmarkOf(shape);
        RunResult vector = runs.run(benchmark, "vector", id(benchmark, "vector", shape) + "-latency", shapeParam,
                plan.timing().sampled());
        double[] onnx = {};
        if (onnxRuntime && shape.precision() == WeightPrecision.FLOAT32) {
            onnx = percentilesMicros(runs.run(benchmark, "onnxruntime", id(benchmark, "onnxruntime", shape)
                    + "-latency", shapeParam, plan.timing().sampled()));
        }
        return new LatencyTable.Row(shape, percentilesMicros(vector), onnx,
                vector.getPrimaryResult().getSampleCount());
    }

    private static double[] percentilesMicros(RunResult run) {
        double[] micros = new double[LatencyTable.PERCENTILES.length];
        for (int n = 0; n < micros.length; n++) {
            micros[n] = JmhRuns.percentileMillis(run.getPrimaryResult(), LatencyTable.PERCENTILES[n]) * 1e3;
        }
        return micros;
    }

    static String id(Class<?> benchmark, String method, Shape shape) {
        return benchmark.getSimpleName() + "." + method + "-" + shape.name();
    }
}
