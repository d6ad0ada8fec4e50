package dev.vlstm.bench;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;

/**
 * Runs one benchmark method of a benchmark jar in one JMH fork through JMH's own command line
 * ({@code java -cp JAR org.openjdk.jmh.Main}), and reads its JSON result. Going through the command line, not
 * JMH's API in this JVM, lets the gate run two builds' jars the same way: each fork gets its own jar's classes.
 *
 * <p>The time of a fork is the CPU time per call ({@link ProcessCpuTimeProfiler}) of its fastest measured iteration:
 * waiting for a core does not count, and noise on a shared machine only ever adds time.
 */
final class JmhFork {

    /** Warmup and measured iterations of one second each. */
    record Timing(int warmups, int iterations) {
    }

    private final Path java;
    private final Path logDirectory;

    /** Forks run with the {@code java} of this JVM; each one's JSON result and log go to {@code logDirectory}. */
    JmhFork(Path logDirectory) {
        this.java = Path.of(System.getProperty("java.home"), "bin", "java");
        this.logDirectory = logDirectory;
    }

    /**
     * Runs {@code benchmark.method} (the class's fully qualified name) from {@code jar} with {@code params}; returns
     * the fastest iteration's CPU time per call in nanoseconds. {@code forkJvmArgs} are prepended to the forked
     * JVM's arguments (the benchmark's own {@code @Fork} arguments are kept). {@code id} names the log and result.
     *
     * @throws IOException if the fork fails or writes no result; the message names its log
     */
    double cpuNanosPerCall(Path jar, String benchmark, String method, Map<String, String> params, Timing timing,
                           List<String> forkJvmArgs, String id) throws IOException, InterruptedException {
        Files.createDirectories(logDirectory);
        Path json = logDirectory.resolve(id + ".json");
        Path log = logDirectory.resolve(id + ".log");
        Files.deleteIfExists(json);
        // JMH refuses to start while another JMH run on the machine holds its lock. The gate's own forks run one at
        // a time, and what it compares is CPU time, which another process's load barely changes: a benchmark run
        // beside it (the comparison, a user's JMH) must not stop it.
        List<String> command = new ArrayList<>(List.of(java.toString(), "--add-modules", "jdk.incubator.vector",
                "-Djmh.ignoreLock=true", "-cp", jar.toString(), "org.openjdk.jmh.Main",
                "^" + Pattern.quote(benchmark + "." + method) + "$",
                "-f", "1", "-wi", Integer.toString(timing.warmups()), "-w", "1s",
                "-i", Integer.toString(timing.iterations()), "-r", "1s",
                "-prof", ProcessCpuTimeProfiler.class.getName(), "-foe", "true",
                "-rf", "json", "-rff", json.toString(), "-o", log.toString()));
        params.forEach((name, value) -> command.addAll(List.of("-p", name + "=" + value)));
        if (!forkJvmArgs.isEmpty()) {
            command.addAll(List.of("-jvmArgsPrepend", String.join(" ", forkJvmArgs)));
        }
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logDirectory.resolve(id + ".host.log").toFile()))
                .start();
        int exit = process.waitFor();
        if (exit != 0 || !Files.isRegularFile(json)) {
            throw new IOException("JMH fork " + id + " failed (exit " + exit + "); its log: " + log);
        }
        try (Reader reader = Files.newBufferedReader(json)) {
            return bestCpuNanos(JsonParser.parseReader(reader), id);
        }
    }

    /** The smallest per-iteration value of {@link ProcessCpuTimeProfiler#RESULT} in a JMH JSON result. */
    static double bestCpuNanos(JsonElement result, String id) throws IOException {
        if (!result.isJsonArray() || result.getAsJsonArray().size() != 1) {
            throw new IOException("JMH fork " + id + " should have run exactly one benchmark, its result: " + result);
        }
        JsonObject secondary = result.getAsJsonArray().get(0).getAsJsonObject().getAsJsonObject("secondaryMetrics");
        JsonObject cpu = secondary == null ? null : secondary.getAsJsonObject(ProcessCpuTimeProfiler.RESULT);
        if (cpu == null) {
            throw new IOException("JMH fork " + id + " reported no " + ProcessCpuTimeProfiler.RESULT);
        }
        double best = Double.POSITIVE_INFINITY;
        for (JsonElement fork : cpu.getAsJsonArray("rawData")) {
            for (JsonElement iteration : (JsonArray) fork) {
                best = Math.min(best, iteration.getAsDouble());
            }
        }
        if (!(best > 0 && Double.isFinite(best))) {
            throw new IOException("JMH fork " + id + " reported no positive " + ProcessCpuTimeProfiler.RESULT);
        }
        return best;
    }
}
