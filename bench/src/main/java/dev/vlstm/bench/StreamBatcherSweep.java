package dev.vlstm.bench;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import ai.onnxruntime.OrtException;

import dev.vlstm.Backend;
import dev.vlstm.BatcherOptions;
import dev.vlstm.Cell;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.StreamBatcher;
import dev.vlstm.WeightPrecision;
import dev.vlstm.cli.CpuModel;
import dev.vlstm.cli.StreamLoad;

/**
 * What does a {@link StreamBatcher} give N streams, against the same streams each stepped alone, each stepped by ONNX
 * Runtime, and the batched step itself? An offered-load sweep over N, for one-layer LSTMs of I = H, in f32 and bf16,
 * each model packed and every path compiled ({@link StreamLoad#warmUp}) before any point is timed. At each point:
 * <ul>
 *   <li>closed loops ({@link StreamLoad}: N producer threads, each submitting one frame and waiting for its output):
 *       on one batcher; each stream alone on a one-thread runner of its own; and (f32, when ONNX Runtime loads) each
 *       stream as its own call to one shared ORT session of the same shape (ORT is stateless: the stream's state
 *       goes in and out as tensors); then the batched step alone ({@link StreamLoad#kernelStepsPerSecond}) at the
 *       batcher's mean batch, which the batcher's steps per second are held against;</li>
 *   <li>open loops ({@link StreamLoad#offered}; N &ge; 2): Poisson arrivals at multiples of alone's steps per
 *       second, on one batcher, latency counted from each frame's arrival;</li>
 *   <li>a backlog ({@link StreamLoad#backlog}; N &ge; 2): every stream's frames queued before the batcher steps them,
 *       no producer running meanwhile, against the batched step alone at its mean batch: the batcher's own ceiling,
 *       apart from the loops' producers, which share its cores.</li>
 * </ul>
 * Prints three Markdown tables: steps per second, the mean batch and the p50, p99 and p99.9 latency; the backlog's
 * steps per second against the kernel's.
 *
 * <p>Usage: {@code java --add-modules jdk.incubator.vector -cp vlstm-bench.jar dev.vlstm.bench.StreamBatcherSweep
 * [--streams 1,8,64,256] [--sizes 256,1024] [--precisions f32,bf16] [--seconds 3] [--warm-up 1] [--threads 1]
 * [--max-batch B] [--offered 1,2,3,5]}: seconds measured and warmed up per point and serving; threads of each batched
 * step; the batcher's largest batch (default: N, as many frames as a closed loop of N streams can have pending); the
 * open loops' rates as multiples of alone's steps per second at the same N ({@code none}: no open loops).
 */
public final class StreamBatcherSweep {

    private static final long SEED = 19;
    /** The longest each of the runner's and the batcher's warm-ups may take. */
    private static final Duration WARM_UP_LIMIT = Duration.ofSeconds(20);
    private static final Map<String, WeightPrecision> PRECISIONS = Map.of("f32", WeightPrecision.FLOAT32,
            "bf16", WeightPrecision.BFLOAT16, "int8", WeightPrecision.INT8);

    private StreamBatcherSweep() {
    }

    /** What the sweep runs, from the command line. */
    private record Plan(int[] streams, int[] sizes, List<WeightPrecision> precisions, StreamLoad.Plan load,
                        int threads, int maxBatch, double[] offered) {

        static Plan parse(String[] args) {
            int[] streams = {1, 8, 64, 256};
            int[] sizes = {256, 1024};
            List<WeightPrecision> precisions = List.of(WeightPrecision.FLOAT32, WeightPrecision.BFLOAT16);
            double seconds = 3;
            double warmUp = 1;
            int threads = 1;
            int maxBatch = 0;
            double[] offered = {1, 2, 3, 5};
            for (int n = 0; n < args.length; n += 2) {
                if (n + 1 >= args.length) {
                    throw new IllegalArgumentException(args[n] + " needs a value");
                }
                String value = args[n + 1];
                switch (args[n]) {
                    case "--streams" -> streams = integers(value);
                    case "--sizes" -> sizes = integers(value);
                    case "--precisions" -> precisions = Arrays.stream(value.split(",")).map(Plan::precision).toList();
                    case "--seconds" -> seconds = Double.parseDouble(value);
                    case "--warm-up" -> warmUp = Double.parseDouble(value);
                    case "--threads" -> threads = Integer.parseInt(value);
                    case "--max-batch" -> maxBatch = Integer.parseInt(value);
                    case "--offered" -> offered = value.equals("none") ? new double[0]
                            : Arrays.stream(value.split(",")).mapToDouble(item -> Double.parseDouble(item.strip()))
                            .toArray();
                    default -> throw new IllegalArgumentException("unknown option " + args[n] + " (--streams, "
                            + "--sizes, --precisions, --seconds, --warm-up, --threads, --max-batch, --offered)");
                }
            }
            return new Plan(streams, sizes, precisions, new StreamLoad.Plan(Duration.ofNanos((long) (warmUp * 1e9)),
                    Duration.ofNanos((long) (seconds * 1e9))), threads, maxBatch, offered);
        }

        private static int[] integers(String list) {
            return Arrays.stream(list.split(",")).mapToInt(item -> Integer.parseInt(item.strip())).toArray();
        }

        private static WeightPrecision precision(String name) {
            WeightPrecision precision = PRECISIONS.get(name.strip());
            if (precision == null) {
                throw new IllegalArgumentException("--precisions: '" + name + "' is not f32, bf16 or int8");
            }
            return precision;
        }

        int maxBatch(int streams) {
            return maxBatch > 0 ? maxBatch : streams;
        }
    }

    public static void main(String[] args) throws OrtException {
        Plan plan = Plan.parse(args);
        Optional<String> noPeer = OnnxRuntimeRnn.unavailableReason();
        double loadBefore = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        List<String[]> closed = new ArrayList<>();
        closed.add(new String[]{"H", "weights", "streams", "batcher steps/s", "mean batch", "batcher p50 µs",
                "batcher p99 µs", "batcher p99.9 µs", "alone steps/s", "alone p99 µs", "ORT steps/s", "ORT p99 µs",
                "kernel steps/s at the mean batch", "batcher / alone", "batcher / ORT", "batcher / kernel"});
        List<String[]> backlog = new ArrayList<>();
        backlog.add(new String[]{"H", "weights", "streams", "backlog steps/s", "mean batch",
                "kernel steps/s at the mean batch", "backlog / kernel"});
        List<String[]> open = new ArrayList<>();
        open.add(new String[]{"H", "weights", "streams", "offered steps/s", "offered / alone", "delivered steps/s",
                "refused", "mean batch", "p50 µs", "p99 µs", "p99.9 µs", "generator lag p99 µs"});
        for (int size : plan.sizes()) {
            for (WeightPrecision precision : plan.precisions()) {
                try (Model model = model(size, precision)) {
                    warmUp(model, plan.threads());
                    for (int streams : plan.streams()) {
                        point(model, size, precision, streams, plan, noPeer.isEmpty(), closed, backlog, open);
                    }
                }
            }
        }
        double loadAfter = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        StringBuilder out = new StringBuilder(String.format(Locale.ROOT, "StreamBatcher offered-load sweep, %s, "
                        + "JDK %s, kernel %s: one-layer LSTM, I = H; batcher: one StreamBatcher (max batch %s, max "
                        + "delay 0, %d thread%s per batched step); %.1f s warm-up and %.1f s measured per point and "
                        + "serving; load average %.2f before, %.2f after.%n%n", CpuModel.current().identity(),
                Runtime.version(), Backend.PREFERRED.kernelName(), plan.maxBatch() > 0
                        ? Integer.toString(plan.maxBatch()) : "N", plan.threads(), plan.threads() == 1 ? "" : "s",
                plan.load().warmUp().toNanos() / 1e9, plan.load().measured().toNanos() / 1e9, loadBefore, loadAfter));
        out.append("Closed loops: N producer threads, each submitting one frame and waiting for its output. alone: "
                + "each stream on a one-thread runner of its own, batch 1. ORT: ").append(noPeer.isEmpty()
                ? "each stream a call of its own to one shared " + OnnxRuntimeRnn.describe() + "; f32 only"
                : "absent (" + noPeer.get() + ")").append(". kernel: Runner.step of the mean batch's rows (rounded) "
                + "back to back on one runner of the batcher's threads.\n\n");
        ComparisonTable.appendTable(out, closed);
        if (backlog.size() > 1) {
            out.append(String.format(Locale.ROOT, "%nBacklog: each round, every stream submits a chunk of frames "
                    + "(64, or fewer so that all fit a queue of at most 4,096) and the round ends when all are "
                    + "delivered; no producer runs while the batcher steps. kernel as above, at the backlog's mean "
                    + "batch.%n%n"));
            ComparisonTable.appendTable(out, backlog);
        }
        if (open.size() > 1) {
            out.append(String.format(Locale.ROOT, "%nOpen loops: frames arrive as a Poisson process at the offered "
                    + "rate, each to a stream chosen at random (N independent Poisson streams), submitted with a "
                    + "callback; latency from each frame's arrival to its output; generator lag: from arrival to "
                    + "submission, part of the latency; queue 64 frames per stream (at most 4,096), a frame that "
                    + "finds it full is refused and counted.%n%n"));
            ComparisonTable.appendTable(out, open);
        }
        System.out.print(out);
    }

    private static Model model(int size, WeightPrecision precision) {
        try (Parameters parameters = Parameters.initialize(RnnShape.of(Cell.LSTM, size, size), SEED)) {
            return Model.pack(parameters, Options.DEFAULT.withPrecision(precision));
        }
    }

    private static void warmUp(Model model, int threads) {
        if (!StreamLoad.warmUp(model, threads, WARM_UP_LIMIT)) {
            System.err.println("warning: the warm-up did not settle; the first point may include compilation");
        }
    }

    /**
     * Runs one point's closed loops into a row of {@code closed}, then its backlog into a row of {@code backlog} and
     * its open loops into rows of {@code open}.
     */
    private static void point(Model model, int size, WeightPrecision precision, int streams, Plan plan,
                              boolean peer, List<String[]> closed, List<String[]> backlog, List<String[]> open)
            throws OrtException {
        BatcherOptions batching = BatcherOptions.DEFAULT.withMaxBatch(plan.maxBatch(streams)).withMaxStreams(streams)
                .withQueueCapacity(streams).withThreads(plan.threads());
        String name = PRECISIONS.entrySet().stream().filter(entry -> entry.getValue() == precision).findFirst()
                .orElseThrow().getKey();
        System.err.printf(Locale.ROOT, "H=%d %s, %d streams: batcher...", size, name, streams);
        StreamLoad.Result batcher = StreamLoad.batcher(model, batching, streams, plan.load());
        System.err.print(" alone...");
        StreamLoad.Result alone = StreamLoad.alone(model, streams, plan.load());
        StreamLoad.Result ort = null;
        if (peer && precision == WeightPrecision.FLOAT32) {
            System.err.print(" ORT...");
            ort = onnxRuntime(size, streams, plan.load());
        }
        int kernelBatch = Math.max(1, (int) Math.round(batcher.meanBatch()));
        System.err.print(" kernel at batch " + kernelBatch + "...");
        double kernel = StreamLoad.kernelStepsPerSecond(model, kernelBatch, plan.threads(), plan.load());
        System.err.println(" done");
        closed.add(new String[]{Integer.toString(size), name, Integer.toString(streams),
                rate(batcher.stepsPerSecond()), String.format(Locale.ROOT, "%.1f", batcher.meanBatch()),
                micros(batcher, 50), micros(batcher, 99), micros(batcher, 99.9), rate(alone.stepsPerSecond()),
                micros(alone, 99), ort == null ? "—" : rate(ort.stepsPerSecond()),
                ort == null ? "—" : micros(ort, 99), rate(kernel),
                ratio(batcher.stepsPerSecond() / alone.stepsPerSecond()),
                ort == null ? "—" : ratio(batcher.stepsPerSecond() / ort.stepsPerSecond()),
                ratio(batcher.stepsPerSecond() / kernel)});
        if (streams < 2) {
            return;
        }
        BatcherOptions queued = batching.withQueueCapacity(StreamLoad.openLoopQueue(streams));
        System.err.printf(Locale.ROOT, "H=%d %s, %d streams: backlog...", size, name, streams);
        StreamLoad.Backlog drained = StreamLoad.backlog(model, queued, streams, plan.load());
        int drainedBatch = Math.max(1, (int) Math.round(drained.meanBatch()));
        double drainedKernel = drainedBatch == kernelBatch ? kernel
                : StreamLoad.kernelStepsPerSecond(model, drainedBatch, plan.threads(), plan.load());
        System.err.println(" done");
        backlog.add(new String[]{Integer.toString(size), name, Integer.toString(streams),
                rate(drained.stepsPerSecond()), String.format(Locale.ROOT, "%.1f", drained.meanBatch()),
                rate(drainedKernel), ratio(drained.stepsPerSecond() / drainedKernel)});
        for (double multiple : plan.offered()) {
            double offered = multiple * alone.stepsPerSecond();
            System.err.printf(Locale.ROOT, "H=%d %s, %d streams: open loop at %.0f steps/s (%.1f × alone)...%n", size,
                    name, streams, offered, multiple);
            StreamLoad.Result result = StreamLoad.offered(model, queued, streams, offered, plan.load());
            open.add(new String[]{Integer.toString(size), name, Integer.toString(streams), rate(offered),
                    String.format(Locale.ROOT, "%.1f×", multiple), rate(result.stepsPerSecond()),
                    Long.toString(result.refused()), String.format(Locale.ROOT, "%.1f", result.meanBatch()),
                    micros(result, 50), micros(result, 99), micros(result, 99.9),
                    ComparisonTable.number(result.submitLagNanosP99() / 1e3)});
        }
    }

    /**
     * N closed-loop streams of a model of H = I = {@code size}, each a call of its own to one shared ONNX Runtime
     * session (checked against vlstm before timing).
     */
    private static StreamLoad.Result onnxRuntime(int size, int streams, StreamLoad.Plan load) throws OrtException {
        RandomLstm lstm = RandomLstm.create(new Shape("step-H" + size, 1, 1, size), 1);
        try (OnnxRuntimeRnn runtime = OnnxRuntimeRnn.stream(lstm)) {
            StreamLoad.Step[] steps = new StreamLoad.Step[streams];
            for (int n = 0; n < streams; n++) {
                OnnxRuntimeRnn.Calls stream = runtime.newStream(lstm.x());
                steps[n] = () -> {
                    try {
                        stream.run();
                    } catch (OrtException e) {
                        throw new IllegalStateException("an ONNX Runtime step failed", e);
                    }
                };
            }
            return StreamLoad.peer(steps, load);
        }
    }

    private static String rate(double stepsPerSecond) {
        return String.format(Locale.ROOT, "%.0f", stepsPerSecond);
    }

    private static String ratio(double ratio) {
        return String.format(Locale.ROOT, "%.2f×", ratio);
    }

    private static String micros(StreamLoad.Result result, double percentile) {
        return ComparisonTable.number(result.latencyNanos(percentile) / 1e3);
    }
}
