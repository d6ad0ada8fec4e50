package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.internal.StrictJson;

/**
 * {@code vlstm bench --cold}: one new JVM end to end on a small nn.LSTM from the golden cases (the table's measures
 * and the JMH JSON, checked for consistency, not speed); every refusal with exit 2 before a JVM starts, and a JVM
 * option the JVM refuses; the report protocol's strict reading, the sliding window's rule and the table, on made-up
 * values.
 */
class BenchColdTest {

    private static final Path LSTM = Path.of("src/test/resources/golden/i3_h5_t4_b2/model.safetensors");
    private static final Path BIDIRECTIONAL =
            Path.of("src/test/resources/golden/i4_h3_t5_b2_bidirectional/model.safetensors");
    private static final Pattern DURATION = Pattern.compile("([0-9.]+) (ns|µs|ms|s)");

    @TempDir
    Path directory;

    /** Each warm-up a new JVM can do before (or while) its calls: named in the header and in the JSON params. */
    @ParameterizedTest
    @CsvSource({"--warm-up, warmUp() first, first", "--background-warm-up, warmUpInBackground() at load, background",
            "--background-warm-up --warming-kernel, 'warmUpInBackground() at load, calls on the warming kernel', "
                    + "background-warming"})
    void oneNewJvmReportsEveryMeasureAndItsJson(String warmUpOptions, String header, String param) throws IOException {
        Path json = directory.resolve("cold.json");
        List<String> arguments = new ArrayList<>(List.of("bench", "--model", LSTM.toString(), "--cold", "--jvms", "1",
                "--mode", "step"));
        arguments.addAll(List.of(warmUpOptions.split(" ")));
        arguments.addAll(List.of("--jvm-options", "-Xmx256m -Dvlstm.cold.test=1", "--json", json.toString()));
        CliOutcome outcome = CliOutcome.of(arguments.toArray(String[]::new));
        assertEquals(0, outcome.code(), outcome.describe());
        List<String> lines = outcome.out().lines().toList();
        assertTrue(lines.getFirst().startsWith("LSTM I=3 H=5 L=1 on "), outcome.out());
        assertTrue(lines.getFirst().contains("1 new JVM per mode, " + header + ", JVM options: -Xmx256m "
                + "-Dvlstm.cold.test=1; kernel "), outcome.out());
        Map<String, String[]> rows = new LinkedHashMap<>();
        for (String line : lines.subList(2, lines.size() - 1)) {
            String[] cells = line.strip().split(" {2,}");
            assertEquals("step", cells[0], line);
            rows.put(cells[1], cells);
        }
        assertEquals(List.of("JVM start to loaded", "load (file, pack, runner)", "warm-up (its own duration)",
                "first call",
                "p50 of the first 1000 calls", "p99 of the first 1000 calls", "max of the first 1000 calls",
                "warm (median once settled)", "calls to 1.2× warm", "load to 1.2× warm", "JVM start to 1.2× warm"),
                List.copyOf(rows.keySet()), outcome.out());
        double first = nanos(rows.get("first call")[2]);
        double p50 = nanos(rows.get("p50 of the first 1000 calls")[2]);
        double p99 = nanos(rows.get("p99 of the first 1000 calls")[2]);
        double max = nanos(rows.get("max of the first 1000 calls")[2]);
        assertTrue(first > 0 && p50 > 0 && p50 <= p99 && p99 <= max && first <= max, outcome.out());
        assertTrue(nanos(rows.get("load (file, pack, runner)")[2]) < nanos(rows.get("JVM start to loaded")[2]),
                outcome.out());
        for (String[] row : rows.values()) {
            if (!row[2].equals("not reached")) {
                assertEquals(row[2] + "–" + row[2], row[3], "one JVM: its value is the median and both ends of the "
                        + "range");
            }
        }
        String calls = rows.get("calls to 1.2× warm")[2];
        if (!calls.equals("not reached")) {
            assertTrue(Integer.parseInt(calls) >= ColdJvm.WINDOW, outcome.out());
            assertTrue(nanos(rows.get("load to 1.2× warm")[2]) < nanos(rows.get("JVM start to 1.2× warm")[2]),
                    outcome.out());
        }
        assertTrue(outcome.err().contains("step: JVM 1 of 1... first call "), "progress on stderr: " + outcome.err());

        List<?> entries = assertInstanceOf(List.class, StrictJson.parse(Files.readString(json), 64,
                StrictJson.Grammar.FULL));
        assertEquals(1, entries.size());
        Map<?, ?> entry = (Map<?, ?>) entries.getFirst();
        assertEquals("vlstm.bench.cold.step", entry.get("benchmark"));
        assertEquals("ss", entry.get("mode"));
        Map<?, ?> params = (Map<?, ?>) entry.get("params");
        assertEquals("5", params.get("hiddenSize"));
        assertEquals(param, params.get("warmUp"));
        assertEquals("-Xmx256m -Dvlstm.cold.test=1", params.get("jvmOptions"));
        assertTrue(lines.getFirst().endsWith("; kernel " + params.get("kernel")), outcome.out());
        Map<?, ?> primary = (Map<?, ?>) entry.get("primaryMetric");
        assertEquals("us/op", primary.get("scoreUnit"));
        assertEquals(List.of(List.of(primary.get("score"))), primary.get("rawData"));
        assertEquals(first / 1e3, (Double) primary.get("score"), 0.01 * first / 1e3 + 0.01);
        Map<?, ?> secondary = (Map<?, ?>) entry.get("secondaryMetrics");
        assertEquals(p99 / 1e3, score(secondary, "first1000.p99"), 0.01 * p99 / 1e3 + 0.01);
        assertEquals("ms", ((Map<?, ?>) secondary.get("warmUp")).get("scoreUnit"));
        assertEquals(!calls.equals("not reached"), secondary.containsKey("callsToWarm"), secondary.toString());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "--cold --jvms=0              | --jvms: '0' is not a whole number from 1 to 100",
            "--cold --jvms=many           | --jvms: 'many' is not a whole number from 1 to 100",
            "--cold --streams=2           | --streams does not apply with --cold",
            "--cold --max-slowdown=5      | --max-slowdown does not apply with --cold",
            "--cold --compare=src/test/resources/golden/i3_h5_t4_b2/model.safetensors | --compare does not apply "
                    + "with --cold",
            "--cold --iterations=3        | --iterations does not apply with --cold: give the number of new JVMs "
                    + "with --jvms",
            "--cold --mode=fast           | --mode: 'fast' is not step, sequence or train",
            "--cold --jvm-options=Xmx1g   | --jvm-options: 'Xmx1g' is not a JVM option (each starts with -; an "
                    + "option's value goes after = or :)",
            "--cold --jvm-options=-jar    | --jvm-options: -jar is not allowed: the new JVMs run vlstm from this "
                    + "JVM's class path",
            "--cold --jvm-options=--class-path=x | --jvm-options: --class-path is not allowed: the new JVMs run "
                    + "vlstm from this JVM's class path",
            "--jvms=2                     | --jvms applies only with --cold",
            "--warm-up                    | --warm-up applies only with --cold",
            "--background-warm-up         | --background-warm-up applies only with --cold",
            "--cold --warm-up --background-warm-up | --warm-up and --background-warm-up exclude each other: give one",
            "--cold --mode=step,train --background-warm-up | --background-warm-up warms runners: use --mode step or "
                    + "sequence",
            "--warming-kernel             | --warming-kernel applies only with --cold",
            "--cold --warming-kernel      | --warming-kernel applies only with --background-warm-up",
            "--jvm-options=-Xmx1g         | --jvm-options applies only with --cold",
            "--cold=yes                   | --cold takes no value, got '--cold=yes'"})
    void badValuesExitWithTwoAndTheirLine(String options, String message) {
        CliOutcome.assertRefused(options, message, "bench", "--model", LSTM.toString());
    }

    @Test
    void aModelThatCannotRunTheModeIsRefusedBeforeAnyJvmStarts() {
        CliOutcome outcome = CliOutcome.of("bench", "--model", BIDIRECTIONAL.toString(), "--cold", "--mode", "step");
        assertEquals(2, outcome.code(), outcome.describe());
        assertTrue(outcome.err().startsWith("vlstm: a bidirectional model cannot be stepped"), outcome.describe());
        assertTrue(!outcome.err().contains("JVM 1 of"), outcome.describe());
    }

    @Test
    void aJvmOptionTheJvmRefusesExitsWithTwoAndWhatTheJvmSaid() {
        CliOutcome outcome = CliOutcome.of("bench", "--model", LSTM.toString(), "--cold", "--jvms", "1",
                "--mode", "step", "--jvm-options", "-XX:+NoSuchVlstmFlag");
        assertEquals(2, outcome.code(), outcome.describe());
        assertTrue(outcome.err().contains("vlstm: a new JVM failed (exit 1): "), outcome.describe());
        assertTrue(outcome.err().contains("Unrecognized VM option 'NoSuchVlstmFlag'"), outcome.describe());
        assertEquals("", outcome.out());
    }

    @Test
    void aReportIsReadStrictlyAndTheJvmsOwnLinesAreSkipped() {
        ColdJvm.Report report = report(5_000_000, 120);
        List<String> stdout = new ArrayList<>(List.of("a line the JVM wrote itself"));
        stdout.addAll(report.lines());
        assertEquals(report, ColdJvm.Report.parse(stdout));
        String result = report.lines().get(1);
        String kernel = report.lines().get(0);
        for (List<String> bad : List.of(List.of(kernel), List.of(result), List.of(kernel, kernel, result),
                List.of(kernel, result, result), List.of(kernel, result.replace("first=5000000", "first=5e6")),
                List.of(kernel, result.replace(" first=5000000", "")),
                List.of(kernel, result + " first=1"), List.of(kernel, result + " speed=1"),
                List.of(kernel, result, ColdJvm.PREFIX + "note hello"), List.of(ColdJvm.PREFIX + "kernel", result))) {
            assertThrows(IllegalArgumentException.class, () -> ColdJvm.Report.parse(bad), bad.toString());
        }
    }

    @Test
    void warmIsReachedAtTheEndOfTheFirstWindowWhoseMedianIsWithinTheLimit() {
        long[] calls = new long[300];
        Arrays.fill(calls, 0, 100, 1000);
        Arrays.fill(calls, 100, 300, 10);
        assertEquals(124, ColdJvm.reachedWarm(calls, calls.length, 10), "25 of the 50 calls fast: the median");
        assertEquals(124, ColdJvm.reachedWarm(calls, calls.length, 9), "10 is within 1.2 × 9");
        assertEquals(-1, ColdJvm.reachedWarm(calls, calls.length, 8), "10 is not within 1.2 × 8");
        assertEquals(-1, ColdJvm.reachedWarm(calls, 124, 10), "only the kept calls count");
        long[] alternating = new long[100];
        for (int n = 0; n < alternating.length; n++) {
            alternating[n] = n % 2 == 0 ? 1000 : 10;
        }
        assertEquals(49, ColdJvm.reachedWarm(alternating, alternating.length, 10), "the first full window");
    }

    @Test
    void theTableGivesMediansRangesAndWhereWarmWasNotReached() {
        Map<BenchWorkload.Mode, List<ColdJvm.Report>> reports = Map.of(BenchWorkload.Mode.STEP,
                List.of(report(3_000_000, 200), report(1_000_000, -1), report(2_000_000, 400)));
        Map<String, String[]> rows = new LinkedHashMap<>();
        BenchCold.table(reports).lines().skip(1).forEach(line -> {
            String[] cells = line.strip().split(" {2,}");
            rows.put(cells[1], cells);
        });
        assertEquals(List.of("step", "first call", "2.00 ms", "1.00 ms–3.00 ms"),
                List.of(rows.get("first call")));
        assertEquals(List.of("step", "calls to 1.2× warm", "300", "200–400", "not reached in 1 of 3 JVMs"),
                List.of(rows.get("calls to 1.2× warm")));
        assertEquals(List.of("step", "JVM start to 1.2× warm", "1.30 s", "1.20 s–1.40 s",
                "not reached in 1 of 3 JVMs"), List.of(rows.get("JVM start to 1.2× warm")));
        assertTrue(!rows.containsKey("warm-up (its own duration)"), "no warm-up row without one");
    }

    /** A made-up report: the first call, the calls to warm (-1: not reached) at 1 ms each after 0.5 s to load. */
    private static ColdJvm.Report report(long first, long warmCalls) {
        Map<String, Long> values = new LinkedHashMap<>();
        for (String key : ColdJvm.Report.KEYS) {
            values.put(key, 0L);
        }
        values.put("jvmToLoaded", 500_000_000L);
        values.put("warmUp", -1L);
        values.put("warmUpSettled", -1L);
        values.put("first", first);
        values.put("settled", 1L);
        values.put("warmCalls", warmCalls);
        values.put("loadedToWarm", warmCalls < 0 ? -1 : warmCalls * 1_000_000L + 500_000_000L);
        return new ColdJvm.Report("vector-256", values);
    }

    private static double nanos(String duration) {
        Matcher matcher = DURATION.matcher(duration);
        assertTrue(matcher.matches(), duration);
        double value = Double.parseDouble(matcher.group(1));
        return value * switch (matcher.group(2)) {
            case "ns" -> 1;
            case "µs" -> 1e3;
            case "ms" -> 1e6;
            default -> 1e9;
        };
    }

    private static double score(Map<?, ?> metrics, String name) {
        return (Double) ((Map<?, ?>) metrics.get(name)).get("score");
    }
}
