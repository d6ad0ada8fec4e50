package dev.vlstm.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import dev.vlstm.BatcherOptions;
import dev.vlstm.Direction;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.RnnShape;
import dev.vlstm.StreamBatcher;
import dev.vlstm.Vlstm;
import dev.vlstm.WeightPrecision;

/**
 * {@code vlstm bench --streams N[,N...] [--rate R[,R...]]}: for each N, N closed-loop streams of the user's model
 * (each a producer thread that submits one frame and waits for its output) served by a {@link StreamBatcher}, then
 * the same streams each stepped alone on a runner of their own, then an open loop at each rate R on a batcher; prints
 * steps per second and the latency percentiles of each ({@link StreamLoad} measures them).
 */
final class BenchStreams {

    /** The most streams one point may have: each is a thread. */
    static final int MAX_STREAMS = 1024;
    /** The highest rate of {@code --rate}, frames per second over all streams. */
    static final double MAX_RATE = 10_000_000;
    /** The closed loop's warm-up at each point, after the runner's own warm-up. */
    private static final Duration POINT_WARM_UP = Duration.ofSeconds(1);
    /** The longest each of the runner's and the batcher's warm-ups may take. */
    private static final Duration WARM_UP_LIMIT = Duration.ofSeconds(20);
    private static final double[] PERCENTILES = {50, 99, 99.9};

    private BenchStreams() {
    }

    /**
     * The options that time one call and mean nothing to a stream sweep, each refused with --streams.
     */
    static final List<Option> NOT_WITH_STREAMS = List.of(BenchCommand.MODE, BenchCommand.STEPS, BenchCommand.JSON,
            BenchCommand.COMPARE, BenchCommand.MAX_SLOWDOWN);

    /** The stream counts of {@code --streams}, in the order given. */
    static int[] counts(String list) {
        String[] items = list.split(",", -1);
        int[] counts = new int[items.length];
        for (int n = 0; n < items.length; n++) {
            String item = items[n].strip();
            int count;
            try {
                count = Integer.parseInt(item);
            } catch (NumberFormatException e) {
                count = 0;
            }
            if (count < 1 || count > MAX_STREAMS) {
                throw new Cli.UsageException(BenchCommand.STREAMS.name() + ": '" + items[n]
                        + "' is not a whole number of streams from 1 to " + MAX_STREAMS);
            }
            for (int before = 0; before < n; before++) {
                if (counts[before] == count) {
                    throw new Cli.UsageException(BenchCommand.STREAMS.name() + ": " + count + " given twice");
                }
            }
            counts[n] = count;
        }
        return counts;
    }

    /** The rates of {@code --rate}, frames per second over all streams, in the order given. */
    static double[] rates(String list) {
        String[] items = list.split(",", -1);
        double[] rates = new double[items.length];
        for (int n = 0; n < items.length; n++) {
            double rate;
            try {
                rate = Double.parseDouble(items[n].strip());
            } catch (NumberFormatException e) {
                rate = Double.NaN;
            }
            if (!(rate > 0 && rate <= MAX_RATE)) {
                throw new Cli.UsageException(String.format(Locale.ROOT, "%s: '%s' is not a rate in frames per second "
                        + "above 0 and at most %.0f", BenchCommand.RATE.name(), items[n], MAX_RATE));
            }
            rates[n] = rate;
        }
        return rates;
    }

    /** Runs the sweep: {@code seconds} measured per point and serving. */
    static void run(Arguments arguments, WeightPrecision precision, int threads, int seconds, PrintStream out,
                    PrintStream err) throws IOException {
        for (Option option : NOT_WITH_STREAMS) {
            if (arguments.has(option)) {
                throw new Cli.UsageException(option.name() + " does not apply with " + BenchCommand.STREAMS.name()
                        + ", which times streams served by a StreamBatcher");
            }
        }
        int[] counts = counts(arguments.text(BenchCommand.STREAMS));
        double[] rates = arguments.has(BenchCommand.RATE) ? rates(arguments.text(BenchCommand.RATE)) : new double[0];
        Integer maxBatch = arguments.has(BenchCommand.BATCH)
                ? BenchCommand.positive(arguments, BenchCommand.BATCH, 1, MAX_STREAMS) : null;
        Options loading = Options.DEFAULT.withPrecision(precision).withPrefix(arguments.text(BenchCommand.PREFIX));
        Map<String, String> identity = BenchCommand.identity();
        StreamLoad.Plan plan = new StreamLoad.Plan(POINT_WARM_UP, Duration.ofSeconds(seconds));
        List<StreamLoad.Result> results = new ArrayList<>();
        String header;
        try (Model model = arguments.read(BenchCommand.MODEL, file -> Vlstm.load(file, loading))) {
            if (model.shape().direction() != Direction.FORWARD) {
                throw new IllegalArgumentException("a bidirectional model cannot be streamed (its reverse direction "
                        + "needs the whole sequence): use --mode sequence");
            }
            header = String.format(Locale.ROOT, "%s on %s, kernel %s, %s, %d thread%s per batched step; N streams in"
                            + " a closed loop (one producer thread each)%s, %d s measured per point after %d s of "
                            + "warm-up", describe(model.shape()), identity.get(BenchResults.CPU),
                    identity.get(BenchResults.KERNEL), BenchCommand.PRECISION_NAMES.get(precision), threads,
                    threads == 1 ? "" : "s", rates.length == 0 ? "" : " and in open loops (Poisson arrivals, a "
                            + "queue of 64 frames per stream, at most 4,096)", seconds, POINT_WARM_UP.toSeconds());
            err.println("vlstm bench: " + header);
            warmUp(model, threads, err);
            for (int streams : counts) {
                int batch = maxBatch == null ? streams : maxBatch;
                BatcherOptions batching = BatcherOptions.DEFAULT.withMaxBatch(batch).withMaxStreams(streams)
                        .withQueueCapacity(streams).withThreads(threads);
                err.printf(Locale.ROOT, "%d stream%s: batcher (max batch %d)...", streams, streams == 1 ? "" : "s",
                        batch);
                err.flush();
                results.add(StreamLoad.batcher(model, batching, streams, plan));
                err.print(" alone...");
                err.flush();
                results.add(StreamLoad.alone(model, streams, plan));
                for (double rate : rates) {
                    err.printf(Locale.ROOT, " open loop at %.0f/s...", rate);
                    err.flush();
                    results.add(StreamLoad.offered(model, batching.withQueueCapacity(
                            StreamLoad.openLoopQueue(streams)), streams, rate, plan));
                }
                err.println(" done");
            }
        }
        out.println(header);
        out.print(table(results));
    }

    /** Compiles the runner's and the batcher's paths once, so that no point times the JIT. */
    private static void warmUp(Model model, int threads, PrintStream err) {
        err.printf(Locale.ROOT, "warming up (until compiled, at most 2 × %d s)...", WARM_UP_LIMIT.toSeconds());
        err.flush();
        long start = System.nanoTime();
        boolean settled = StreamLoad.warmUp(model, threads, WARM_UP_LIMIT);
        err.printf(Locale.ROOT, " %.1f s%s%n", (System.nanoTime() - start) / 1e9,
                settled ? "" : " (not settled within the limit)");
    }

    /**
     * The results as one row per point and serving: a closed loop on the batcher ("batcher"), each stream alone
     * ("alone"), or an open loop on the batcher ("open", with its offered rate and the frames refused); a batcher or
     * open row also gives its steps per second over alone's.
     */
    static String table(List<StreamLoad.Result> results) {
        StringBuilder table = new StringBuilder(String.format(Locale.ROOT,
                "%7s  %-8s %10s %12s %10s %10s %10s %10s %8s  %s%n", "streams", "served", "offered/s", "steps/s",
                "mean batch", "p50 µs", "p99 µs", "p99.9 µs", "refused", "vs alone"));
        for (StreamLoad.Result result : results) {
            boolean open = !Double.isNaN(result.offeredPerSecond());
            table.append(String.format(Locale.ROOT, "%7d  %-8s %10s %12.0f %10.1f", result.streams(),
                    open ? "open" : result.serving().label(), open ? String.format(Locale.ROOT, "%.0f",
                            result.offeredPerSecond()) : "-", result.stepsPerSecond(), result.meanBatch()));
            for (double percentile : PERCENTILES) {
                table.append(String.format(Locale.ROOT, " %10.1f", result.latencyNanos(percentile) / 1e3));
            }
            table.append(String.format(Locale.ROOT, " %8s", open ? Long.toString(result.refused()) : "-"));
            StreamLoad.Result alone = results.stream().filter(other -> other.streams() == result.streams()
                    && other.serving() == StreamLoad.Serving.ALONE).findFirst().orElse(null);
            if (result.serving() == StreamLoad.Serving.BATCHER && alone != null) {
                table.append(String.format(Locale.ROOT, "  %.2f× the steps/s", result.stepsPerSecond()
                        / alone.stepsPerSecond()));
            }
            table.append(System.lineSeparator());
        }
        return table.toString();
    }

    /** The model, for people: e.g. {@code LSTM I=40 H=256 L=2}. */
    private static String describe(RnnShape shape) {
        return shape.cell() + " I=" + shape.inputSize() + " H=" + shape.hiddenSize() + " L=" + shape.layers()
                + (shape.projectionSize() > 0 ? " P=" + shape.projectionSize() : "");
    }
}
