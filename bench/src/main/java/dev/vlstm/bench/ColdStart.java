package dev.vlstm.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import dev.vlstm.Model;
import dev.vlstm.Runner;
import dev.vlstm.State;
import dev.vlstm.WarmUp;
import dev.vlstm.cli.CpuModel;

/**
 * How many calls does a cold JVM need before {@link Runner#step} runs at compiled speed, and what does
 * {@link Runner#warmUp()} change? For each streaming shape, two new JVMs time every step call from the first:
 * one without a warm-up, one after {@code warmUp()}. Prints a Markdown table.
 *
 * <p>Usage: {@code java --add-modules jdk.incubator.vector -cp vlstm-bench.jar dev.vlstm.bench.ColdStart [shape...]}
 * (default: step-H256 step-H1024).
 */
public final class ColdStart {

    /** Calls whose median is the warm time: the last fifth of each child's calls. */
    private static final double WARM_SHARE = 0.2;
    /** Calls in a moving window: "within 2× of warm" is the window's median, so one slow call does not count. */
    private static final int WINDOW = 50;
    /** Calls timed after a warm-up to see the first requests' latency. */
    private static final int FIRST_CALLS = 100;

    private ColdStart() {
    }

    public static void main(String[] args) throws IOException, InterruptedException {
        if (args.length > 0 && args[0].equals("--child")) {
            child(Shape.named(args[1]), Boolean.parseBoolean(args[2]), Integer.parseInt(args[3]));
            return;
        }
        List<String> shapes = args.length > 0 ? List.of(args) : List.of("step-H256", "step-H1024");
        List<String[]> cells = new ArrayList<>();
        cells.add(new String[]{"shape", "warm µs", "cold: calls to 2× warm", "cold: calls to 1.2× warm",
                "cold: time to 1.2× warm", "cold: calls until 0 B", "warmUp() time", "warmUp() calls",
                "after warmUp: first call µs", "after warmUp: median of first 100 µs"});
        for (String name : shapes) {
            Shape shape = Shape.named(name);
            int calls = Math.max(2000, (int) Math.min(12_000, 1.5e10 / shape.flops()));
            Map<String, String> cold = runChild(shape, false, calls);
            Map<String, String> warm = runChild(shape, true, calls);
            cells.add(new String[]{name, cold.get("warmMicros"), cold.get("callsTo2x"), cold.get("callsTo1.2x"),
                    cold.get("secondsTo1.2x") + " s", cold.get("callsTo0B"), warm.get("warmUpSeconds") + " s",
                    warm.get("warmUpCalls"), warm.get("firstMicros"), warm.get("firstMedianMicros")});
        }
        StringBuilder out = new StringBuilder(String.format(Locale.ROOT, "Cold start of Runner.step, %s, "
                + "JDK %s: every call timed from a new JVM's first; warm = median of the last %.0f%% of calls; "
                + "\"calls to N× warm\" = first call from which the median of %d calls is within N× warm.%n%n",
                CpuModel.current().identity(), Runtime.version(), WARM_SHARE * 100, WINDOW));
        ComparisonTable.appendTable(out, cells);
        System.out.print(out);
    }

    private static Map<String, String> runChild(Shape shape, boolean warmUp, int calls)
            throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new ArrayList<>(List.of(java));
        command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), ColdStart.class.getName(), "--child",
                shape.name(), Boolean.toString(warmUp), Integer.toString(calls)));
        System.err.printf("%s %s warm-up: %d calls in a new JVM%n", shape.name(), warmUp ? "with" : "without", calls);
        Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(10, TimeUnit.MINUTES) || process.exitValue() != 0) {
            throw new IllegalStateException("child JVM failed: " + output);
        }
        Map<String, String> values = new HashMap<>();
        for (String line : output.split("\n")) {
            int equals = line.indexOf('=');
            if (equals > 0) {
                values.put(line.substring(0, equals), line.substring(equals + 1).trim());
            }
        }
        return values;
    }

    /** Times each of {@code calls} step calls in this (new) JVM, after a warm-up or not; prints key=value lines. */
    private static void child(Shape shape, boolean warmUp, int calls) {
        com.sun.management.ThreadMXBean threads =
                (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        RandomLstm random = RandomLstm.create(shape, 1);
        long start = System.nanoTime();
        try (Model model = random.model();
             Runner runner = model.runner(shape.options());
             State state = model.newState(shape.batch());
             Arena arena = Arena.ofConfined()) {
            if (warmUp) {
                WarmUp report = runner.warmUp();
                System.out.printf(Locale.ROOT, "warmUpSeconds=%.2f%nwarmUpCalls=%d%nsettled=%b%n",
                        report.elapsed().toNanos() / 1e9, report.calls(), report.settled());
            }
            MemorySegment x = RandomLstm.toNative(arena, random.x());
            MemorySegment h = RandomLstm.floats(arena, (long) shape.batch() * shape.size());
            long[] nanos = new long[calls];
            long[] ends = new long[calls];
            long[] allocated = new long[calls];
            for (int call = 0; call < calls; call++) {
                long bytes = threads.getCurrentThreadAllocatedBytes();
                long before = System.nanoTime();
                runner.step(x, state, h);
                ends[call] = System.nanoTime();
                nanos[call] = ends[call] - before;
                allocated[call] = threads.getCurrentThreadAllocatedBytes() - bytes;
            }
            double warm = median(Arrays.copyOfRange(nanos, (int) (calls * (1 - WARM_SHARE)), calls));
            int to2x = firstWindowWithin(nanos, 2 * warm);
            int to12x = firstWindowWithin(nanos, 1.2 * warm);
            int noAllocation = calls;
            for (int call = calls - 1; call >= 0 && allocated[call] == 0; call--) {
                noAllocation = call;
            }
            System.out.printf(Locale.ROOT, "warmMicros=%s%ncallsTo2x=%d%ncallsTo1.2x=%d%nsecondsTo1.2x=%.2f%n"
                            + "callsTo0B=%d%nfirstMicros=%s%nfirstMedianMicros=%s%n",
                    ComparisonTable.number(warm / 1e3), to2x, to12x, (ends[Math.min(to12x, calls - 1)] - start) / 1e9,
                    noAllocation, ComparisonTable.number(nanos[0] / 1e3),
                    ComparisonTable.number(median(Arrays.copyOf(nanos, FIRST_CALLS)) / 1e3));
        }
    }

    /** The first call from which the median of {@link #WINDOW} calls is at most {@code limit} nanoseconds. */
    private static int firstWindowWithin(long[] nanos, double limit) {
        for (int call = 0; call + WINDOW <= nanos.length; call++) {
            if (median(Arrays.copyOfRange(nanos, call, call + WINDOW)) <= limit) {
                return call;
            }
        }
        return nanos.length;
    }

    private static double median(long[] values) {
        long[] sorted = values.clone();
        Arrays.sort(sorted);
        return sorted.length % 2 == 1 ? sorted[sorted.length / 2]
                : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2.0;
    }
}
