package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.vlstm.internal.StrictJson;

/**
 * {@code vlstm bench} end to end on small models from the golden cases (an nn.LSTM and an nn.GRU, one layer, and a
 * bidirectional nn.LSTM): its JMH JSON, the comparison's rule on exact measurements and, end to end, on files whose
 * times are scaled by 4 and by 1/4 (so that the machine's noise cannot flip them), and every refusal with exit 2. Two one-second iterations
 * per mode keep it short; speed itself is not asserted.
 */
class BenchCommandTest {

    private static final Path LSTM = Path.of("src/test/resources/golden/i3_h5_t4_b2/model.safetensors");
    private static final Path GRU = Path.of("src/test/resources/golden-gru/i3_h5_l2_t4_b2/model.safetensors");
    private static final Path BIDIRECTIONAL =
            Path.of("src/test/resources/golden/i4_h3_t5_b2_bidirectional/model.safetensors");

    @TempDir
    static Path directory;
    static Path lstmJson;
    static CliOutcome lstmRun;

    @BeforeAll
    static void benchTheLstmOnce() {
        lstmJson = directory.resolve("lstm.json");
        lstmRun = CliOutcome.of("bench", "--model", LSTM.toString(), "--mode", "step,sequence,train",
                "--steps", "7", "--iterations", "2", "--json", lstmJson.toString());
    }

    @Test
    void itWritesOneJmhEntryPerModeWithTheMeasuredIterations() throws IOException {
        assertEquals(0, lstmRun.code(), lstmRun.describe());
        List<?> entries = assertInstanceOf(List.class, StrictJson.parse(Files.readString(lstmJson), 64,
                StrictJson.Grammar.FULL));
        assertEquals(3, entries.size());
        List<String> modes = List.of("step", "sequence", "train");
        for (int n = 0; n < 3; n++) {
            Map<?, ?> entry = (Map<?, ?>) entries.get(n);
            assertEquals("vlstm.bench." + modes.get(n), entry.get("benchmark"));
            assertEquals("avgt", entry.get("mode"));
            Map<?, ?> params = (Map<?, ?>) entry.get("params");
            assertEquals("LSTM", params.get("cell"));
            assertEquals("3", params.get("inputSize"));
            assertEquals("5", params.get("hiddenSize"));
            assertEquals(n == 2 ? "32" : "1", params.get("batch"));
            assertEquals(n == 0 ? "1" : "7", params.get("steps"));
            assertFalse(((String) params.get("cpu")).isBlank());
            Map<?, ?> primary = (Map<?, ?>) entry.get("primaryMetric");
            List<?> raw = (List<?>) ((List<?>) primary.get("rawData")).getFirst();
            assertEquals(2, raw.size());
            double mean = (((Double) raw.get(0)) + ((Double) raw.get(1))) / 2;
            assertEquals(mean, (Double) primary.get("score"), 1e-9 * mean);
            assertTrue(mean > 0);
            assertTrue(List.of("us/op", "ms/op").contains(primary.get("scoreUnit")));
            Map<?, ?> secondary = (Map<?, ?>) entry.get("secondaryMetrics");
            assertTrue(secondary.containsKey("gflops"));
            assertEquals(n == 0, secondary.containsKey("latency"), "latency percentiles for step only");
        }
        assertTrue(lstmRun.out().contains("step") && lstmRun.out().contains("GFLOP/s"), lstmRun.out());
        assertTrue(lstmRun.err().contains("warming up"), "progress on stderr: " + lstmRun.err());
    }

    @Test
    void aGruBenchesToo() {
        CliOutcome gru = CliOutcome.of("bench", "--model", GRU.toString(), "--mode", "sequence", "--steps", "5",
                "--iterations", "2");
        assertEquals(0, gru.code(), gru.describe());
        assertTrue(gru.out().startsWith("GRU I=3 H=5 L=2"), gru.out());
    }

    @Test
    void theRuleComparesMeanTimesOfTheSameMeasurement() {
        BenchResults.Measurement measured = measurement("vlstm.bench.step", 10, 12);   // mean 11 µs
        Map<String, String> params = measured.params();
        Path file = Path.of("base.json");
        List<BenchCommand.Verdict> same = BenchCommand.compare(List.of(measured),
                List.of(new BenchResults.Stored("vlstm.bench.step", params, 11, "us/op")), file, 10);
        assertEquals(1.0, same.getFirst().ratio(), 1e-12);
        assertFalse(same.getFirst().slower());
        List<BenchCommand.Verdict> halved = BenchCommand.compare(List.of(measured),
                List.of(new BenchResults.Stored("vlstm.bench.step", params, 5.5e-3, "ms/op")), file, 10);
        assertEquals(2.0, halved.getFirst().ratio(), 1e-12);
        assertTrue(halved.getFirst().slower());
        List<BenchCommand.Verdict> justAbove = BenchCommand.compare(List.of(measured),
                List.of(new BenchResults.Stored("vlstm.bench.step", params, 11 / 1.11, "us/op")), file, 10);
        assertTrue(justAbove.getFirst().slower(), "1.11 is above 1 + 10 %");
        List<BenchCommand.Verdict> justBelow = BenchCommand.compare(List.of(measured),
                List.of(new BenchResults.Stored("vlstm.bench.step", params, 11 / 1.09, "us/op")), file, 10);
        assertFalse(justBelow.getFirst().slower(), "1.09 is within 1 + 10 %");
        Map<String, String> otherBatch = new java.util.LinkedHashMap<>(params);
        otherBatch.put("batch", "8");
        IllegalArgumentException none = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> BenchCommand.compare(List.of(measured),
                        List.of(new BenchResults.Stored("vlstm.bench.step", otherBatch, 11, "us/op")), file, 10));
        assertTrue(none.getMessage().contains("holds none of these measurements"), none.getMessage());
    }

    @Test
    void endToEndABaselineFourTimesAsSlowPassesAndOneFourTimesAsFastFails() throws IOException {
        // Factors of 4, not 2: two runs of this tiny model in one JVM have differed by 1.7x on a loaded machine.
        assertEquals(0, lstmRun.code(), lstmRun.describe());
        Path slower = scaled("slower.json", 4);
        Path faster = scaled("faster.json", 0.25);
        String[] bench = {"bench", "--model", LSTM.toString(), "--mode", "step,sequence,train", "--steps", "7",
                "--iterations", "2", "--compare"};
        CliOutcome pass = CliOutcome.of(append(bench, slower.toString()));
        assertEquals(0, pass.code(), pass.describe());
        assertEquals(3, pass.out().split("× the baseline's time", -1).length - 1, pass.out());
        CliOutcome fail = CliOutcome.of(append(bench, faster.toString()));
        assertEquals(1, fail.code(), fail.describe());
        assertTrue(fail.out().contains("SLOWER"), fail.out());
        assertTrue(fail.err().contains("slower than"), fail.err());
    }

    private static BenchResults.Measurement measurement(String benchmark, double... micros) {
        Map<String, String> params = new java.util.LinkedHashMap<>();
        params.put("cell", "LSTM");
        params.put("batch", "1");
        params.put(BenchResults.CPU, "a CPU");
        params.put(BenchResults.KERNEL, "vector-512");
        return new BenchResults.Measurement(benchmark, "avgt", params, 0, 1, 1,
                new BenchResults.Metric("us/op", micros, new double[0]), Map.of());
    }

    @Test
    void aBaselineOfAnotherCpuIsRefused() throws IOException {
        Path other = directory.resolve("other-cpu.json");
        Files.writeString(other, Files.readString(lstmJson).replaceAll("\"cpu\" : \"[^\"]*\"",
                "\"cpu\" : \"Some Other CPU, 64 CPUs\""));
        CliOutcome refused = CliOutcome.of("bench", "--model", LSTM.toString(), "--mode", "step", "--iterations",
                "2", "--compare", other.toString());
        assertEquals(2, refused.code(), refused.describe());
        assertTrue(refused.err().contains("Some Other CPU") && refused.err().contains("one baseline per machine"),
                refused.err());
    }

    @Test
    void badArgumentsExitWithTwoAndOneLine() throws IOException {
        Path notJmh = directory.resolve("not-jmh.json");
        Files.writeString(notJmh, "{\"a\": 1}");
        Map<List<String>, String> cases = Map.of(
                List.of("--mode", "walk"), "is not step, sequence or train",
                List.of("--mode", "train", "--precision", "bf16"), "training runs on float32 weights only",
                List.of("--batch", "0"), "is not a whole number",
                List.of("--iterations", "1"), "at least 2 iterations",
                List.of("--max-slowdown", "5"), "applies only with --compare",
                List.of("--compare", directory.resolve("missing.json").toString()), "not found",
                List.of("--compare", notJmh.toString()), "is not a JMH result file",
                List.of("--dy", "x.npy"), "--dy",
                List.of("--json", directory.toString()), "json file is a directory",
                List.of("--json", directory.resolve("no/such/dir.json").toString()), "directory does not exist");
        cases.forEach((options, message) -> {
            CliOutcome outcome = CliOutcome.of(append(new String[] {"bench", "--model", LSTM.toString()},
                    options.toArray(String[]::new)));
            assertEquals(2, outcome.code(), options + ": " + outcome.describe());
            assertTrue(outcome.err().contains(message), options + ": " + outcome.err());
        });
        CliOutcome bidirectionalStep = CliOutcome.of("bench", "--model", BIDIRECTIONAL.toString(), "--mode", "step");
        assertEquals(2, bidirectionalStep.code(), bidirectionalStep.describe());
        assertTrue(bidirectionalStep.err().contains("cannot be stepped"), bidirectionalStep.err());
    }

    /** The LSTM's results with every score and raw value multiplied by {@code factor}. */
    private static Path scaled(String name, double factor) throws IOException {
        List<?> entries = (List<?>) StrictJson.parse(Files.readString(lstmJson), 64, StrictJson.Grammar.FULL);
        String text = Files.readString(lstmJson);
        for (Object entry : entries) {
            Map<?, ?> primary = (Map<?, ?>) ((Map<?, ?>) entry).get("primaryMetric");
            double score = (Double) primary.get("score");
            text = text.replace("\"score\" : " + score + ",", "\"score\" : " + score * factor + ",");
        }
        Path file = directory.resolve(name);
        Files.writeString(file, text);
        return file;
    }

    private static String[] append(String[] head, String... tail) {
        String[] all = java.util.Arrays.copyOf(head, head.length + tail.length);
        System.arraycopy(tail, 0, all, head.length, tail.length);
        return all;
    }
}
