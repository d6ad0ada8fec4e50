package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.cli.StreamLoad;

/**
 * {@code vlstm bench --streams}: the parsing of its stream counts and the options it refuses, each with its exact
 * line and exit 2 before anything is loaded or timed; the table's ratios and percentiles on made-up results; and one
 * short run end to end on a small nn.LSTM from the golden cases. Speed itself is not asserted.
 */
class BenchStreamsTest {

    private static final Path LSTM = Path.of("src/test/resources/golden/i3_h5_t4_b2/model.safetensors");
    private static final Path BIDIRECTIONAL =
            Path.of("src/test/resources/golden/i4_h3_t5_b2_bidirectional/model.safetensors");

    @Test
    void countsAreReadInTheOrderGivenWithSpacesAllowed() {
        assertArrayEquals(new int[] {64, 1, 8}, BenchStreams.counts("64, 1 ,8"));
        assertArrayEquals(new int[] {BenchStreams.MAX_STREAMS}, BenchStreams.counts("1024"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '"', value = {
            "--streams=0           | --streams: '0' is not a whole number of streams from 1 to 1024",
            "--streams=-8          | --streams: '-8' is not a whole number of streams from 1 to 1024",
            "--streams=eight       | --streams: 'eight' is not a whole number of streams from 1 to 1024",
            "--streams=1.5         | --streams: '1.5' is not a whole number of streams from 1 to 1024",
            "--streams=1025        | --streams: '1025' is not a whole number of streams from 1 to 1024",
            "--streams=8,,64       | --streams: '' is not a whole number of streams from 1 to 1024",
            "--streams=8,64,8      | --streams: 8 given twice",
            "--streams=            | --streams needs a value: --streams N[,N...], got an empty one",
            "--streams=8 --mode=step     | --mode does not apply with --streams, which times streams served by a "
                    + "StreamBatcher",
            "--streams=8 --steps=5       | --steps does not apply with --streams, which times streams served by a "
                    + "StreamBatcher",
            "--streams=8 --json=out.json | --json does not apply with --streams, which times streams served by a "
                    + "StreamBatcher",
            "--streams=8 --batch=0       | --batch: '0' is not a whole number from 1 to 1024",
            "--streams=8 --iterations=-1 | --iterations: '-1' is not a whole number from 1 to 1000",
            "--streams=8 --threads=0     | --threads: '0' is not a number of threads from 1 to 256",
            "--streams=8 --rate=0        | --rate: '0' is not a rate in frames per second above 0 and at most "
                    + "10000000",
            "--streams=8 --rate=fast     | --rate: 'fast' is not a rate in frames per second above 0 and at most "
                    + "10000000",
            "--streams=8 --rate=100,,200 | --rate: '' is not a rate in frames per second above 0 and at most "
                    + "10000000",
            "--streams=8 --rate=2e7      | --rate: '2e7' is not a rate in frames per second above 0 and at most "
                    + "10000000",
            "--rate=100                  | --rate applies only with --streams",
            "--cold --rate=100           | --rate does not apply with --cold"})
    void badValuesExitWithTwoAndTheirLine(String options, String message) {
        CliOutcome.assertRefused(options, message, "bench", "--model", LSTM.toString());
    }

    @Test
    void aBidirectionalModelIsRefused() {
        CliOutcome outcome = CliOutcome.of("bench", "--model", BIDIRECTIONAL.toString(), "--streams", "2");
        assertEquals(2, outcome.code(), outcome.describe());
        assertTrue(outcome.err().contains("vlstm: a bidirectional model cannot be streamed (its reverse direction "
                + "needs the whole sequence): use --mode sequence"), outcome.describe());
    }

    @Test
    void theTableGivesEachPointsRateLatenciesAndSpeedOverAlone() {
        long[] latencies = new long[1000];
        for (int n = 0; n < latencies.length; n++) {
            latencies[n] = (n + 1) * 1000L;   // 1 µs to 1000 µs
        }
        StreamLoad.Result batcher = new StreamLoad.Result(StreamLoad.Serving.BATCHER, 8, 3000, 1_000_000_000L,
                latencies, 7.5, Double.NaN, 0, Double.NaN);
        StreamLoad.Result alone = new StreamLoad.Result(StreamLoad.Serving.ALONE, 8, 1000, 500_000_000L,
                new long[] {5000}, 1, Double.NaN, 0, Double.NaN);
        StreamLoad.Result open = new StreamLoad.Result(StreamLoad.Serving.BATCHER, 8, 5000, 1_000_000_000L,
                new long[] {1000, 2000}, 3.5, 6000, 17, 500);
        List<String> lines = BenchStreams.table(List.of(batcher, alone, open)).lines().toList();
        assertEquals(4, lines.size(), String.join("\n", lines));
        assertEquals(List.of("8", "batcher", "-", "3000", "7.5", "500.0", "990.0", "999.0", "-", "1.50×", "the",
                "steps/s"), List.of(lines.get(1).strip().split(" +")));
        assertEquals(List.of("8", "alone", "-", "2000", "1.0", "5.0", "5.0", "5.0", "-"),
                List.of(lines.get(2).strip().split(" +")));
        assertEquals(List.of("8", "open", "6000", "5000", "3.5", "1.0", "2.0", "2.0", "17", "2.50×", "the",
                "steps/s"), List.of(lines.get(3).strip().split(" +")));
    }

    @Test
    void aShortRunPrintsBothServingsForEachCount() {
        CliOutcome outcome = CliOutcome.of("bench", "--model", LSTM.toString(), "--streams", "1,3", "--rate", "500",
                "--iterations", "1");
        assertEquals(0, outcome.code(), outcome.describe());
        List<String> lines = outcome.out().lines().toList();
        assertTrue(lines.getFirst().startsWith("LSTM I=3 H=5 L=1 on "), outcome.out());
        assertTrue(lines.getFirst().contains("and in open loops (Poisson arrivals"), outcome.out());
        assertTrue(lines.getFirst().contains("1 s measured per point"), outcome.out());
        assertEquals(8, lines.size(), outcome.out());
        List<String> served = List.of("1 batcher", "1 alone", "1 open", "3 batcher", "3 alone", "3 open");
        for (int n = 0; n < served.size(); n++) {
            String[] cells = lines.get(n + 2).strip().split(" +");
            assertEquals(served.get(n), cells[0] + " " + cells[1], outcome.out());
            assertEquals(cells[1].equals("open") ? "500" : "-", cells[2], "offered/s: " + outcome.out());
            assertTrue(Double.parseDouble(cells[3]) > 0, "steps/s: " + outcome.out());
            double p50 = Double.parseDouble(cells[5]);
            double p999 = Double.parseDouble(cells[7]);
            assertTrue(p50 > 0 && p50 <= p999, "p50 ≤ p99.9: " + outcome.out());
        }
        assertTrue(outcome.err().contains("warming up"), "progress on stderr: " + outcome.err());
    }
}
