package dev.vlstm.cli;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;

import dev.vlstm.CallsDuringWarmUp;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Runner;
import dev.vlstm.Trainer;
import dev.vlstm.Vlstm;
import dev.vlstm.WarmUp;
import dev.vlstm.WeightPrecision;
import dev.vlstm.kernel.Settling;

/**
 * The main class of one new JVM that {@code vlstm bench --cold} starts ({@link BenchCold}): it loads the model
 * through the public API ({@link Vlstm#load}, {@link Model#runner}, {@link Model#trainer}) as a service would, calls
 * {@link Runner#warmUp()} or {@link Trainer#warmUp()} first or starts {@link Model#warmUpInBackground()} as it loads,
 * if asked ({@link WarmUpMode}), then times every call from the first: the first
 * {@value #FIRST_CALLS} calls always, then on until the calls have settled ({@link Settling}) or
 * {@value #COLD_LIMIT_SECONDS} s have passed, then {@value #WARM_SECONDS} s more of calls whose median is the warm
 * latency. It writes its results to stdout as {@link #PREFIX} lines ({@link Report}) and exits 0; on any failure it
 * writes one line to stderr and exits 1. Not an API: its arguments are what {@link BenchCold} passes.
 */
final class ColdJvm {

    /** What starts each line of the protocol on stdout; the JVM may write other lines of its own. */
    static final String PREFIX = "vlstm-cold ";
    /** The calls whose latency percentiles are reported. */
    static final int FIRST_CALLS = 1000;
    /** The calls of the sliding window whose median is compared with the warm median. */
    static final int WINDOW = 50;
    /** How far above the warm median the window's median counts as warm. */
    static final double WITHIN = 1.2;
    private static final int COLD_LIMIT_SECONDS = 30;
    /**
     * The limit of the warm-up that chooses its calls' kernel: 20 s, what {@link Model#warmUpInBackground()} gives
     * itself, so that both background variants run alike.
     */
    private static final Duration WARM_UP_LIMIT = Duration.ofSeconds(20);
    private static final int WARM_SECONDS = 1;
    /** Calls whose times are kept, the first {@value #FIRST_CALLS} included; later calls are timed but not kept. */
    private static final int KEPT_CALLS = 1 << 21;
    /** The arguments, in order. */
    static final List<String> ARGUMENTS = List.of("model", "prefix", "mode", "batch", "steps", "precision",
            "threads", "warm-up");
    /** What the prefix argument is when no prefix was given. */
    static final String NO_PREFIX = "-";

    /** What a new JVM does to warm up; its argument is the {@link #label()}. */
    enum WarmUpMode {
        /** Nothing: the first calls are cold. */
        NONE(""),
        /** {@link Runner#warmUp()} or {@link Trainer#warmUp()} before the first call. */
        FIRST(", warmUp() first"),
        /**
         * {@link Model#warmUpInBackground()} started as loading returns; the calls start at once, on the cold kernel
         * until it ends.
         */
        BACKGROUND(", warmUpInBackground() at load"),
        /** As {@link #BACKGROUND}, the calls on the kernels being warmed ({@link CallsDuringWarmUp#WARMING_KERNEL}). */
        BACKGROUND_WARMING(", warmUpInBackground() at load, calls on the warming kernel");

        private final String description;

        WarmUpMode(String description) {
            this.description = description;
        }

        /**
         * {@return the argument and JSON param: {@code none}, {@code first}, {@code background} or
         * {@code background-warming}}
         */
        String label() {
            return name().toLowerCase(Locale.ROOT).replace('_', '-');
        }

        /** {@return what the table's header adds: empty, or a comma and the warm-up} */
        String description() {
            return description;
        }

        static WarmUpMode of(String label) {
            for (WarmUpMode mode : values()) {
                if (mode.label().equals(label)) {
                    return mode;
                }
            }
            throw new IllegalArgumentException("no warm-up mode " + label);
        }
    }

    /**
     * The results of one JVM, in nanoseconds, -1 where there is none. {@code jvmToLoaded}: from the JVM's start
     * ({@link java.lang.management.RuntimeMXBean#getStartTime()}, milliseconds) until loading returned;
     * {@code load}: loading (file, packing, runner or trainer, starting a background warm-up); {@code warmUp}: the
     * warm-up's own {@link WarmUp#elapsed()} (in the background, while the calls ran), and whether it settled (1, 0,
     * -1 without one); {@code first}, {@code p50}, {@code p99}, {@code max}: the first call and the first
     * {@value #FIRST_CALLS} calls' nearest-rank percentiles; {@code warm}: the median after the calls settled (or
     * the limit came, {@code settled} 0); {@code warmCalls}: calls from the first until a window's median was within
     * {@value #WITHIN} × warm, and {@code loadedToWarm}: from the end of loading until the end of that window's last
     * call.
     */
    record Report(String kernel, Map<String, Long> values) {

        static final List<String> KEYS = List.of("jvmToLoaded", "load", "warmUp", "warmUpSettled", "first", "p50",
                "p99", "max", "warm", "settled", "warmCalls", "loadedToWarm");

        Report {
            if (!values.keySet().equals(Set.copyOf(KEYS))) {
                throw new IllegalArgumentException("values for " + values.keySet() + ", expected " + KEYS);
            }
        }

        long get(String key) {
            Long value = values.get(key);
            if (value == null) {
                throw new IllegalArgumentException("no value " + key);
            }
            return value;
        }

        /** {@return the lines this report is written as} */
        List<String> lines() {
            StringBuilder result = new StringBuilder(PREFIX + "result");
            values.forEach((key, value) -> result.append(' ').append(key).append('=').append(value));
            return List.of(PREFIX + "kernel " + kernel, result.toString());
        }

        /**
         * Reads a report from a JVM's stdout: exactly one kernel line and one result line with every key once, each a
         * whole number; lines without {@link #PREFIX} are the JVM's own and are skipped.
         *
         * @throws IllegalArgumentException naming what is missing, repeated or malformed
         */
        static Report parse(List<String> stdout) {
            String kernel = null;
            Map<String, Long> values = null;
            for (String line : stdout) {
                if (!line.startsWith(PREFIX)) {
                    continue;
                }
                String[] words = line.substring(PREFIX.length()).split(" ", -1);
                switch (words[0]) {
                    case "kernel" -> {
                        if (kernel != null || words.length != 2 || words[1].isEmpty()) {
                            throw new IllegalArgumentException("a second or malformed kernel line: " + line);
                        }
                        kernel = words[1];
                    }
                    case "result" -> {
                        if (values != null) {
                            throw new IllegalArgumentException("a second result line: " + line);
                        }
                        values = new LinkedHashMap<>();
                        for (int n = 1; n < words.length; n++) {
                            int equals = words[n].indexOf('=');
                            String key = equals < 0 ? words[n] : words[n].substring(0, equals);
                            if (equals < 0 || !KEYS.contains(key) || values.containsKey(key)) {
                                throw new IllegalArgumentException("an unknown, repeated or valueless item '"
                                        + words[n] + "' in " + line);
                            }
                            try {
                                values.put(key, Long.parseLong(words[n].substring(equals + 1)));
                            } catch (NumberFormatException e) {
                                throw new IllegalArgumentException("not a whole number in '" + words[n] + "'", e);
                            }
                        }
                        if (values.size() != KEYS.size()) {
                            throw new IllegalArgumentException("a result line without every value " + KEYS + ": "
                                    + line);
                        }
                    }
                    default -> throw new IllegalArgumentException("an unknown line: " + line);
                }
            }
            if (kernel == null || values == null) {
                throw new IllegalArgumentException("no " + (kernel == null ? "kernel" : "result") + " line");
            }
            return new Report(kernel, values);
        }
    }

    private ColdJvm() {
    }

    public static void main(String[] args) {
        long mainNanos = System.nanoTime();
        long mainMillis = System.currentTimeMillis();
        try {
            if (args.length != ARGUMENTS.size()) {
                throw new IllegalArgumentException("expected the arguments " + ARGUMENTS + ", got "
                        + Arrays.toString(args));
            }
            Report report = measure(args, mainNanos, mainMillis);
            report.lines().forEach(System.out::println);
            System.out.flush();
        } catch (IOException | RuntimeException e) {
            System.err.println("vlstm bench --cold, in a new JVM: " + (e.getMessage() == null ? e.toString()
                    : e.getMessage()));
            System.exit(1);
        }
    }

    private static Report measure(String[] args, long mainNanos, long mainMillis) throws IOException {
        Path file = Path.of(args[0]);
        String prefix = args[1].equals(NO_PREFIX) ? null : args[1];
        BenchWorkload.Mode mode = BenchCommand.modes(args[2]).getFirst();
        int batch = Integer.parseInt(args[3]);
        int steps = Integer.parseInt(args[4]);
        WeightPrecision precision = BenchCommand.PRECISION_NAMES.entrySet().stream()
                .filter(entry -> entry.getValue().equals(args[5])).findFirst().orElseThrow().getKey();
        int threads = Integer.parseInt(args[6]);
        WarmUpMode warmUpMode = WarmUpMode.of(args[7]);
        Options options = Options.DEFAULT.withPrecision(precision).withPrefix(prefix).withMaxBatch(batch)
                .withMaxSteps(steps).withThreads(threads);
        long[] kept = new long[KEPT_CALLS];
        long[] ends = new long[KEPT_CALLS];
        BenchWorkload.Setup setup = new BenchWorkload.Setup(mode, batch, steps, precision, threads);
        long loadStart = System.nanoTime();
        try (BenchWorkload workload = new BenchWorkload(Vlstm.load(file, options), setup)) {
            CompletableFuture<WarmUp> background = switch (warmUpMode) {
                case BACKGROUND -> workload.model().warmUpInBackground();
                case BACKGROUND_WARMING -> workload.model().warmUpInBackground(workload.model().options(),
                        WARM_UP_LIMIT, CallsDuringWarmUp.WARMING_KERNEL);
                case NONE, FIRST -> null;
            };
            long loaded = System.nanoTime();
            Map<String, Long> values = new LinkedHashMap<>();
            values.put("load", loaded - loadStart);
            WarmUp warmUp = warmUpMode == WarmUpMode.FIRST ? workload.warmUp() : null;
            long previous = System.nanoTime();
            for (int n = 0; n < FIRST_CALLS; n++) {
                workload.call();
                long now = System.nanoTime();
                kept[n] = now - previous;
                ends[n] = now;
                previous = System.nanoTime();
            }
            int[] count = {FIRST_CALLS};
            Settling.Outcome cold = Settling.repeat(round -> {
                long start = System.nanoTime();
                workload.call();
                long now = System.nanoTime();
                if (count[0] < KEPT_CALLS) {
                    kept[count[0]] = now - start;
                    ends[count[0]++] = now;
                }
                return 1;
            }, System.nanoTime() + COLD_LIMIT_SECONDS * 1_000_000_000L);
            long warm = warmMedian(workload);
            if (background != null) {
                warmUp = background.join();
            }
            values.put("warmUp", warmUp == null ? -1L : warmUp.elapsed().toNanos());
            values.put("warmUpSettled", warmUp == null ? -1L : warmUp.settled() ? 1L : 0L);
            long[] first = Arrays.copyOf(kept, FIRST_CALLS);
            long firstCall = first[0];
            Arrays.sort(first);
            int reached = reachedWarm(kept, count[0], warm);
            long jvmToLoaded = (mainMillis - ManagementFactory.getRuntimeMXBean().getStartTime()) * 1_000_000L
                    + loaded - mainNanos;
            values.put("jvmToLoaded", jvmToLoaded);
            values.put("first", firstCall);
            values.put("p50", NearestRank.of(first, 50));
            values.put("p99", NearestRank.of(first, 99));
            values.put("max", first[FIRST_CALLS - 1]);
            values.put("warm", warm);
            values.put("settled", cold.settled() ? 1L : 0L);
            values.put("warmCalls", reached < 0 ? -1L : reached + 1L);
            values.put("loadedToWarm", reached < 0 ? -1L : ends[reached] - loaded);
            Map<String, Long> ordered = new LinkedHashMap<>();
            Report.KEYS.forEach(key -> ordered.put(key, values.get(key)));
            return new Report(workload.model().kernelName(), ordered);
        }
    }

    /** The median nanoseconds of the calls of {@value #WARM_SECONDS} s (at least {@value #WINDOW} calls). */
    private static long warmMedian(BenchWorkload workload) {
        long[] calls = new long[KEPT_CALLS];
        int count = 0;
        long deadline = System.nanoTime() + WARM_SECONDS * 1_000_000_000L;
        long now;
        do {
            long start = System.nanoTime();
            workload.call();
            now = System.nanoTime();
            calls[count++] = now - start;
        } while (count < KEPT_CALLS && (count < WINDOW || now < deadline));
        long[] sorted = Arrays.copyOf(calls, count);
        Arrays.sort(sorted);
        return NearestRank.of(sorted, 50);
    }

    /**
     * {@return the index of the last call of the first window of {@value #WINDOW} calls whose median (nearest rank:
     * the {@code WINDOW / 2}-th fastest) is at most {@value #WITHIN} × {@code warm}, or -1 if none of the kept calls
     * ends one}
     */
    static int reachedWarm(long[] calls, int count, long warm) {
        double limit = WITHIN * warm;
        int fast = 0;
        for (int n = 0; n < count; n++) {
            if (calls[n] <= limit) {
                fast++;
            }
            if (n >= WINDOW && calls[n - WINDOW] <= limit) {
                fast--;
            }
            if (n >= WINDOW - 1 && fast >= WINDOW / 2) {
                return n;
            }
        }
        return -1;
    }
}
