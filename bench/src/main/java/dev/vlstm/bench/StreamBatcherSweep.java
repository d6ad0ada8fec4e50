package dev.vlstm.bench;

import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;

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
 * What does a {@link StreamBatcher} give N streams that each send one frame and wait for its output, against the same
 * streams each stepped alone? An offered-load sweep over N, for one-layer LSTMs of I = H, in f32 and bf16: at each
 * point N producer threads run a closed loop ({@link StreamLoad}) first on one batcher, then each on a one-thread
 * runner of its own, on the same cores; each model is packed and both paths compiled ({@link StreamLoad#warmUp})
 * before any point is timed. Prints a Markdown table of steps per second, the mean batch and the p50, p99 and p99.9
 * latency from submission to output.
 *
 * <p>Usage: {@code java --add-modules jdk.incubator.vector -cp vlstm-bench.jar dev.vlstm.bench.StreamBatcherSweep
 * [--streams 1,8,64,256] [--sizes 256,1024] [--precisions f32,bf16] [--seconds 3] [--warm-up 1] [--threads 1]
 * [--max-batch B]}: seconds measured and warmed up per point and serving; threads of each batched step; the
 * batcher's largest batch (default: N, as many frames as a closed loop of N streams can have pending).
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
                        int threads, int maxBatch) {

        static Plan parse(String[] args) {
            int[] streams = {1, 8, 64, 256};
            int[] sizes = {256, 1024};
            List<WeightPrecision> precisions = List.of(WeightPrecision.FLOAT32, WeightPrecision.BFLOAT16);
            double seconds = 3;
            double warmUp = 1;
            int threads = 1;
            int maxBatch = 0;
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
                    default -> throw new IllegalArgumentException("unknown option " + args[n]
                            + " (--streams, --sizes, --precisions, --seconds, --warm-up, --threads, --max-batch)");
                }
            }
            return new Plan(streams, sizes, precisions, new StreamLoad.Plan(Duration.ofNanos((long) (warmUp * 1e9)),
                    Duration.ofNanos((long) (seconds * 1e9))), threads, maxBatch);
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
    }

    public static void main(String[] args) {
        Plan plan = Plan.parse(args);
        double loadBefore = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        List<String[]> cells = new ArrayList<>();
        cells.add(new String[]{"H", "weights", "streams", "batcher steps/s", "mean batch", "batcher p50 µs",
                "batcher p99 µs", "batcher p99.9 µs", "alone steps/s", "alone p50 µs", "alone p99 µs",
                "alone p99.9 µs", "batcher / alone"});
        for (int size : plan.sizes()) {
            for (WeightPrecision precision : plan.precisions()) {
                try (Model model = model(size, precision)) {
                    warmUp(model, plan.threads());
                    for (int streams : plan.streams()) {
                        cells.add(point(model, size, precision, streams, plan));
                    }
                }
            }
        }
        double loadAfter = ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        StringBuilder out = new StringBuilder(String.format(Locale.ROOT, "StreamBatcher offered-load sweep, %s, "
                        + "JDK %s, kernel %s: one-layer LSTM, I = H; N producer threads in a closed loop (submit one "
                        + "frame, wait for its output); batcher: one StreamBatcher (max batch %s, max delay 0, %d "
                        + "thread%s per batched step); alone: each stream on a one-thread runner of its own, batch 1;"
                        + " %.1f s warm-up and %.1f s measured per point and serving; load average %.2f before, "
                        + "%.2f after.%n%n", CpuModel.current().identity(), Runtime.version(),
                Backend.PREFERRED.kernelName(), plan.maxBatch() > 0 ? Integer.toString(plan.maxBatch())
                        : "N", plan.threads(), plan.threads() == 1 ? "" : "s",
                plan.load().warmUp().toNanos() / 1e9, plan.load().measured().toNanos() / 1e9, loadBefore, loadAfter));
        ComparisonTable.appendTable(out, cells);
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

    private static String[] point(Model model, int size, WeightPrecision precision, int streams, Plan plan) {
        int maxBatch = plan.maxBatch() > 0 ? plan.maxBatch() : streams;
        BatcherOptions batching = BatcherOptions.DEFAULT.withMaxBatch(maxBatch).withMaxStreams(streams)
                .withQueueCapacity(streams).withThreads(plan.threads());
        String name = PRECISIONS.entrySet().stream().filter(entry -> entry.getValue() == precision).findFirst()
                .orElseThrow().getKey();
        System.err.printf(Locale.ROOT, "H=%d %s, %d streams: batcher...", size, name, streams);
        StreamLoad.Result batcher = StreamLoad.batcher(model, batching, streams, plan.load());
        System.err.print(" alone...");
        StreamLoad.Result alone = StreamLoad.alone(model, streams, plan.load());
        System.err.println(" done");
        List<String> row = new ArrayList<>(List.of(Integer.toString(size), name, Integer.toString(streams)));
        for (StreamLoad.Result result : List.of(batcher, alone)) {
            row.add(String.format(Locale.ROOT, "%.0f", result.stepsPerSecond()));
            if (result == batcher) {
                row.add(String.format(Locale.ROOT, "%.1f", result.meanBatch()));
            }
            for (double percentile : LatencyTable.PERCENTILES) {
                row.add(ComparisonTable.number(result.latencyNanos(percentile) / 1e3));
            }
        }
        row.add(String.format(Locale.ROOT, "%.2f×", batcher.stepsPerSecond() / alone.stepsPerSecond()));
        return row.toArray(String[]::new);
    }
}
