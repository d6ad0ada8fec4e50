package dev.vlstm.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import dev.vlstm.Backend;
import dev.vlstm.RnnShape;
import dev.vlstm.WeightPrecision;
import dev.vlstm.io.SafeTensors;
import dev.vlstm.kernel.Kernels;

/**
 * {@code vlstm bench}: times a user's model on this machine, prints time per call, GFLOP/s and the share of the
 * measured FMA peak (and a step's latency percentiles), writes the results as JMH JSON, and compares them with an
 * earlier file of the same machine, failing on a slowdown. See {@link #COMMAND} for its options and exit codes.
 */
final class BenchCommand {

    static final Option MODEL = Option.inputFile("--model", "M.safetensors",
            "the nn.LSTM or nn.GRU state_dict to time").asRequired();
    static final Option PREFIX = Option.text("--prefix", "P", "the module prefix of its tensors (default: inferred)");
    static final Option MODE = Option.text("--mode", "step|sequence|train",
            "what to time, one or several comma-separated (default: step,sequence)");
    static final Option BATCH = Option.text("--batch", "B",
            "rows per call (default: 1, 32 for train); with --streams, the largest batch (default: N)");
    static final Option STEPS = Option.text("--steps", "T", "time steps of a sequence or a training step "
            + "(default: 100 for sequence, 25 for train)");
    static final Option PRECISION = Option.text("--precision", "f32|bf16|int8",
            "how W and U are stored (default f32; compressed: LSTM inference only)");
    static final Option THREADS = Option.text("--threads", "N", "threads per call (default 1)");
    static final Option JSON = Option.text("--json", "FILE", "write the results as JMH JSON to FILE");
    static final Option COMPARE = Option.inputFile("--compare", "BASE.json",
            "compare with an earlier --json file of this machine");
    static final Option MAX_SLOWDOWN = Option.text("--max-slowdown", "PCT",
            "with --compare: the slowdown in percent that fails (default 10)");
    static final Option ITERATIONS = Option.text("--iterations", "N",
            "measured iterations of one second (default 5); with --streams, seconds per point");
    static final Option STREAMS = Option.text("--streams", "N[,N...]",
            "instead of the modes: N streams on a StreamBatcher and each alone, per N (1 to "
                    + BenchStreams.MAX_STREAMS + ")");
    static final Option RATE = Option.text("--rate", "R[,R...]", "with --streams: also an open loop of R frames/s "
            + "over all N streams, per R (above)");
    static final Option COLD = Option.flag("--cold",
            "instead of warm calls: time new JVMs' first calls (above)");
    static final Option JVMS = Option.text("--jvms", "N",
            "with --cold: new JVMs per mode, 1 to " + BenchCold.MAX_JVMS + " (default 5)");
    static final Option JVM_OPTIONS = Option.text("--jvm-options", "'OPT ...'",
            "with --cold: options for the new JVMs, space-separated, e.g. '-XX:AOTCache=app.aot'");
    static final Option WARM_UP = Option.flag("--warm-up", "with --cold: each new JVM calls warmUp() before its "
            + "first call");
    static final Option BACKGROUND_WARM_UP = Option.flag("--background-warm-up", "with --cold, step and sequence: "
            + "each new JVM starts warmUpInBackground() at load");
    static final Option WARMING_KERNEL = Option.flag("--warming-kernel", "with --background-warm-up: calls meanwhile "
            + "run the kernels being warmed");

    static final Command COMMAND = new Command("bench", "time a model on this machine; gate a CI on it",
            """
            Loads the model and times each mode on random inputs: a streaming step (the state carried from call to
            call), a whole sequence, or a training step (forward and backward with every gradient). It warms each
            mode up until the JIT has compiled it, then measures one-second iterations and prints the time per call
            (median and spread of the iterations), GFLOP/s, the share of this machine's FMA peak (measured first,
            one core), and for step the latency percentiles of single calls. Progress goes to stderr.
            With --streams, it times a service instead: for each N, N streams in a closed loop (a thread each,
            sending one frame and waiting for its output) served by a StreamBatcher, then each stepped alone on a
            runner of its own, on the same cores; it prints steps per second, the mean batch, and the p50, p99 and
            p99.9 latency from submission to output. With --rate, each N also gets an open loop per rate R: frames
            arrive at R per second over all N streams as independent Poisson streams (they do not wait for their
            outputs), go to the batcher with a callback, and their latency runs from arrival; frames refused by the
            full queue are counted.
            With --cold, it times a new JVM's first calls instead: for each mode, --jvms new JVMs (this JVM's java and
            class path, the Vector API module, and --jvm-options) each load the model through the public API
            (Vlstm.load, Model.runner or trainer), call warmUp() first with --warm-up (or start
            Model.warmUpInBackground() as they load with --background-warm-up, its calls meanwhile on the cold
            kernel or, with --warming-kernel, on the kernels it warms), and time every call: the
            first, the p50, p99 and max of the first 1,000, the warm median (once the JIT has settled, at most 30 s),
            and how many calls and how long from loading (and from the JVM's start) until the median of 50 calls in a
            row is within 1.2× of warm. It prints each measure's median and range over the JVMs.
            With --compare, each measurement's mean time is divided by the same measurement's in BASE.json (same
            mode and options, same CPU model and kernel; a file of another CPU is refused).
            Exit codes: 0 done (and no measurement slower than --max-slowdown), 1 a measurement slower than
            --max-slowdown, 2 bad usage or input (nothing judged).""",
            List.of(MODEL, PREFIX, MODE, BATCH, STEPS, PRECISION, THREADS, JSON, COMPARE, MAX_SLOWDOWN, ITERATIONS,
                    STREAMS, RATE, COLD, JVMS, JVM_OPTIONS, WARM_UP, BACKGROUND_WARM_UP, WARMING_KERNEL),
            List.of("FILE (--json): JMH's JSON result format, one entry per mode; benchmark vlstm.bench.MODE,",
                    "  params (cell, sizes, batch, steps, precision, threads, cpu, kernel), primaryMetric in us/op",
                    "  or ms/op, secondaryMetrics gflops, fma.peak.share and, for step, latency percentiles;",
                    "  with --cold, benchmark vlstm.bench.cold.MODE in mode ss, one raw value per JVM: primaryMetric",
                    "  the first call, secondaryMetrics the other measures"),
            "vlstm bench --model lstm.safetensors --mode step,sequence --compare base.json --json new.json",
            BenchCommand::run, 2);

    private static final long ITERATION_NANOS = 1_000_000_000L;
    private static final long WARMUP_LIMIT_NANOS = 30_000_000_000L;
    private static final long FMA_PROBE_NANOS = 300_000_000L;

    private BenchCommand() {
    }

    private static void run(Arguments arguments, PrintStream out, PrintStream err) throws IOException {
        WeightPrecision precision = arguments.precision(PRECISION);
        int threads = arguments.threads(THREADS);
        if (arguments.has(COLD)) {
            BenchCold.run(arguments, precision, threads, out, err);
            return;
        }
        for (Option option : BenchCold.ONLY_WITH_COLD) {
            if (arguments.has(option)) {
                throw new Cli.UsageException(option.name() + " applies only with " + COLD.name());
            }
        }
        int iterations = positive(arguments, ITERATIONS, 5, 1000);
        if (arguments.has(STREAMS)) {
            BenchStreams.run(arguments, precision, threads, iterations, out, err);
            return;
        }
        if (arguments.has(RATE)) {
            throw new Cli.UsageException(RATE.name() + " applies only with " + STREAMS.name());
        }
        List<BenchWorkload.Mode> modes = modes(arguments.text(MODE));
        if (iterations < 2) {
            throw new Cli.UsageException(ITERATIONS.name() + ": at least 2 iterations, for a spread");
        }
        double maxSlowdown = percent(arguments.text(MAX_SLOWDOWN));
        Path json = arguments.path(JSON);
        if (json != null) {
            checkWritable(json);
        }
        List<BenchResults.Stored> baseline = arguments.read(COMPARE, BenchResults::read);
        if (arguments.has(MAX_SLOWDOWN) && baseline == null) {
            throw new Cli.UsageException(MAX_SLOWDOWN.name() + " applies only with " + COMPARE.name());
        }
        Map<String, String> identity = identity();
        double fmaPeak = fmaPeak();
        List<BenchResults.Measurement> measurements = new ArrayList<>();
        String header = null;
        try (SafeTensors file = arguments.read(MODEL, SafeTensors::open)) {
            for (BenchWorkload.Mode mode : modes) {
                BenchWorkload.Setup setup = setup(arguments, mode, precision, threads);
                try (BenchWorkload workload = BenchWorkload.open(file, arguments.text(PREFIX), setup)) {
                    if (header == null) {
                        header = String.format(Locale.ROOT, "%s on %s, kernel %s, %s, %d thread%s; FMA peak %s",
                                workload.describe(), identity.get(BenchResults.CPU),
                                identity.get(BenchResults.KERNEL), PRECISION_NAMES.get(precision), threads,
                                threads == 1 ? "" : "s", Double.isFinite(fmaPeak) ? String.format(Locale.ROOT,
                                        "%.1f GFLOP/s (one core)", fmaPeak) : "n/a (scalar kernel)");
                        err.println("vlstm bench: " + header);
                    }
                    measurements.add(measure(workload, setup, iterations, fmaPeak, identity, err));
                }
            }
        }
        out.println(header);
        out.printf(Locale.ROOT, "%-9s %5s %5s  %13s  %-19s  %8s  %6s%n", "mode", "B", "T", "time (median)",
                "spread (min–max)", "GFLOP/s", "peak");
        for (BenchResults.Measurement measurement : measurements) {
            out.println(row(measurement, fmaPeak));
        }
        if (json != null) {
            FileErrors.writing("json file", json, file -> Files.writeString(file, BenchResults.toJson(measurements)));
            out.println("Results written to " + json + " (JMH JSON)");
        }
        if (baseline != null) {
            List<Verdict> verdicts = compare(measurements, baseline, arguments.path(COMPARE), maxSlowdown);
            int slower = 0;
            for (Verdict verdict : verdicts) {
                String mode = verdict.measurement().benchmark().substring("vlstm.bench.".length());
                if (verdict.baseline().isEmpty()) {
                    out.printf(Locale.ROOT, "%-9s not in %s: not compared%n", mode, arguments.path(COMPARE));
                    continue;
                }
                out.printf(Locale.ROOT, "%-9s %.3f × the baseline's time%s%n", mode, verdict.ratio(),
                        verdict.slower() ? String.format(Locale.ROOT, ": SLOWER than the %.0f %% allowed",
                                maxSlowdown) : "");
                if (verdict.slower()) {
                    slower++;
                }
            }
            if (slower > 0) {
                throw new Cli.Failure(1, slower + " of " + verdicts.size() + " measurements slower than "
                        + arguments.path(COMPARE) + " by more than " + maxSlowdown + " %");
            }
        }
    }

    /** Refuses a --json path that cannot become a file before anything is measured. */
    static void checkWritable(Path json) throws IOException {
        if (Files.isDirectory(json)) {
            throw new IOException("json file is a directory, not a file: " + json);
        }
        Path parent = json.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IOException("json file cannot be written, its directory does not exist: " + json);
        }
        if (Files.exists(json) ? !Files.isWritable(json) : parent != null && !Files.isWritable(parent)) {
            throw new IOException("json file cannot be written (permission denied): " + json);
        }
    }

    /** The setup of one mode: the options given, or the mode's defaults. */
    static BenchWorkload.Setup setup(Arguments arguments, BenchWorkload.Mode mode, WeightPrecision precision,
                                             int threads) {
        int batch = positive(arguments, BATCH, mode == BenchWorkload.Mode.TRAIN ? 32 : 1, 1 << 16);
        int steps = mode == BenchWorkload.Mode.STEP ? 1
                : positive(arguments, STEPS, mode == BenchWorkload.Mode.TRAIN ? 25 : 100, 1 << 20);
        return new BenchWorkload.Setup(mode, batch, steps, precision, threads);
    }

    /** --max-slowdown: a percentage above 0, 10 without it. */
    static double percent(String value) {
        if (value == null) {
            return 10;
        }
        try {
            double parsed = Double.parseDouble(value.strip());
            if (parsed > 0 && parsed < 10_000) {
                return parsed;
            }
        } catch (NumberFormatException e) {
            // refused below, with the value
        }
        throw new Cli.UsageException(MAX_SLOWDOWN.name() + ": '" + value + "' is not a percentage above 0");
    }

    /** The modes to time, in the order given. */
    static List<BenchWorkload.Mode> modes(String list) {
        if (list == null) {
            return List.of(BenchWorkload.Mode.STEP, BenchWorkload.Mode.SEQUENCE);
        }
        List<BenchWorkload.Mode> modes = new ArrayList<>();
        for (String item : list.split(",", -1)) {
            BenchWorkload.Mode mode = Arrays.stream(BenchWorkload.Mode.values())
                    .filter(candidate -> candidate.label().equals(item.strip())).findFirst()
                    .orElseThrow(() -> new Cli.UsageException("--mode: '" + item + "' is not step, sequence or train"));
            if (modes.contains(mode)) {
                throw new Cli.UsageException("--mode: " + item + " given twice");
            }
            modes.add(mode);
        }
        return modes;
    }

    /** A positive whole number option, or {@code fallback} without it. */
    static int positive(Arguments arguments, Option option, int fallback, int max) {
        String value = arguments.text(option);
        if (value == null) {
            return fallback;
        }
        try {
            int parsed = Integer.parseInt(value.strip());
            if (parsed >= 1 && parsed <= max) {
                return parsed;
            }
        } catch (NumberFormatException e) {
            // refused below, with the value
        }
        throw new Cli.UsageException(option.name() + ": '" + value + "' is not a whole number from 1 to " + max);
    }

    /** The measurement of one mode, as JMH JSON and as the table's row. */
    static BenchResults.Measurement measure(BenchWorkload workload, BenchWorkload.Setup setup, int iterations,
                                            double fmaPeak, Map<String, String> identity, PrintStream progress) {
        CallTimer.Timing timing = CallTimer.time(setup.mode().label(), workload::call,
                new CallTimer.Plan(WARMUP_LIMIT_NANOS, iterations, ITERATION_NANOS), progress);
        double flops = workload.flopsPerCall();
        boolean micros = timing.meanNanos() < 1e6;
        double unitNanos = micros ? 1e3 : 1e6;
        double[] times = Arrays.stream(timing.iterationNanos()).map(nanos -> nanos / unitNanos).toArray();
        double[] gflops = Arrays.stream(timing.iterationNanos()).map(nanos -> flops / nanos).toArray();
        Map<String, BenchResults.Metric> secondary = new LinkedHashMap<>();
        secondary.put("gflops", new BenchResults.Metric("GFLOP/s", gflops, new double[0]));
        if (Double.isFinite(fmaPeak)) {
            secondary.put("fma.peak.share", new BenchResults.Metric("%",
                    Arrays.stream(gflops).map(g -> 100 * g / fmaPeak).toArray(), new double[0]));
        }
        if (setup.mode() == BenchWorkload.Mode.STEP) {
            secondary.put("latency", new BenchResults.Metric("us/op",
                    Arrays.stream(timing.iterationNanos()).map(nanos -> nanos / 1e3).toArray(),
                    Arrays.stream(timing.sortedCallNanos()).mapToDouble(nanos -> nanos / 1e3).toArray()));
        }
        Map<String, String> params = params(workload, setup);
        params.putAll(identity);
        return new BenchResults.Measurement("vlstm.bench." + setup.mode().label(), "avgt", params, 0,
                timing.warmupNanos() / 1e9, ITERATION_NANOS / 1e9,
                new BenchResults.Metric(micros ? "us/op" : "ms/op", times, new double[0]), secondary);
    }

    /** A measurement's JMH params: the model's shape and the call's batch, steps, precision and threads. */
    static Map<String, String> params(BenchWorkload workload, BenchWorkload.Setup setup) {
        Map<String, String> params = new LinkedHashMap<>();
        RnnShape shape = workload.model().shape();
        params.put("cell", shape.cell().name());
        params.put("inputSize", Integer.toString(shape.inputSize()));
        params.put("hiddenSize", Integer.toString(shape.hiddenSize()));
        params.put("projectionSize", Integer.toString(shape.projectionSize()));
        params.put("layers", Integer.toString(shape.layers()));
        params.put("directions", Integer.toString(shape.direction().count()));
        params.put("batch", Integer.toString(setup.batch()));
        params.put("steps", Integer.toString(setup.steps()));
        params.put("precision", PRECISION_NAMES.get(setup.precision()));
        params.put("threads", Integer.toString(setup.threads()));
        return params;
    }

    static final Map<WeightPrecision, String> PRECISION_NAMES = Map.of(WeightPrecision.FLOAT32, "f32",
            WeightPrecision.BFLOAT16, "bf16", WeightPrecision.INT8, "int8");

    /** This machine's identity in results: the CPU model and the kernel vlstm runs on it. */
    static Map<String, String> identity() {
        Map<String, String> identity = new LinkedHashMap<>();
        identity.put(BenchResults.CPU, CpuModel.current().identity());
        identity.put(BenchResults.KERNEL, Backend.PREFERRED.kernelName());
        return identity;
    }

    /** One measurement's verdict against its baseline. */
    record Verdict(BenchResults.Measurement measurement, Optional<BenchResults.Stored> baseline, double ratio,
                   boolean slower) {
    }

    /**
     * Pairs each measurement with the baseline entry of the same benchmark and parameters.
     *
     * @throws IllegalArgumentException if the baseline was measured on another CPU model or kernel, or holds none
     *                                  of these measurements
     */
    static List<Verdict> compare(List<BenchResults.Measurement> measurements, List<BenchResults.Stored> baseline,
                                 Path file, double maxSlowdown) {
        Map<String, String> here = measurements.getFirst().params();
        for (BenchResults.Stored stored : baseline) {
            for (String key : List.of(BenchResults.CPU, BenchResults.KERNEL)) {
                if (!here.get(key).equals(stored.params().get(key))) {
                    throw new IllegalArgumentException(file + " was measured with " + key + " '"
                            + stored.params().get(key) + "', this run with '" + here.get(key) + "': times of one "
                            + "CPU model or kernel say nothing about another's; keep one baseline per machine");
                }
            }
        }
        List<Verdict> verdicts = new ArrayList<>();
        for (BenchResults.Measurement measurement : measurements) {
            Optional<BenchResults.Stored> match = baseline.stream()
                    .filter(stored -> stored.benchmark().equals(measurement.benchmark())
                            && stored.params().equals(measurement.params())).findFirst();
            double nanos = measurement.primary().score() * BenchResults.nanosPer(measurement.primary().unit());
            double ratio = match.map(stored -> nanos / stored.nanos()).orElse(Double.NaN);
            verdicts.add(new Verdict(measurement, match, ratio, ratio > 1 + maxSlowdown / 100));
        }
        if (verdicts.stream().allMatch(verdict -> verdict.baseline().isEmpty())) {
            throw new IllegalArgumentException(file + " holds none of these measurements (same mode, model shape, "
                    + "batch, steps, precision and threads)");
        }
        return verdicts;
    }

    /** The machine's FMA peak, measured now, in GFLOP/s; NaN where the scalar kernel runs. */
    static double fmaPeak() {
        return Kernels.fmaPeakGflops(FMA_PROBE_NANOS);
    }

    static String row(BenchResults.Measurement m, double fmaPeak) {
        BenchResults.Metric time = m.primary();
        String unit = time.unit().equals("us/op") ? "µs" : "ms";
        double[] sorted = time.iterations().clone();
        Arrays.sort(sorted);
        double median = sorted.length % 2 == 1 ? sorted[sorted.length / 2]
                : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
        BenchResults.Metric gflops = m.secondary().get("gflops");
        String line = String.format(Locale.ROOT, "%-9s %5s %5s  %10.4g %s  %8.4g–%-8.4g  %8.2f  %6s",
                m.benchmark().substring("vlstm.bench.".length()), m.params().get("batch"), m.params().get("steps"),
                median, unit, sorted[0], sorted[sorted.length - 1], gflops.score(),
                Double.isFinite(fmaPeak) ? String.format(Locale.ROOT, "%.1f %%", 100 * gflops.score() / fmaPeak)
                        : "n/a");
        BenchResults.Metric latency = m.secondary().get("latency");
        if (latency != null) {
            line += String.format(Locale.ROOT, "  p50 %.1f µs  p99 %.1f µs  p99.9 %.1f µs", latency.percentile(50),
                    latency.percentile(99), latency.percentile(99.9));
        }
        return line;
    }
}
