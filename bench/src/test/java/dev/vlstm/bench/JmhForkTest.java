package dev.vlstm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;

import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;

/** Reading a fork's time from JMH's JSON result. */
class JmhForkTest {

    private static final String RESULT = """
            [{"benchmark": "dev.vlstm.bench.StepBenchmark.vector", "mode": "avgt", "forks": 1,
              "params": {"shape": "step-H256"},
              "primaryMetric": {"score": 26.5, "scoreUnit": "us/op", "rawData": [[26.0, 27.0, 26.5]]},
              "secondaryMetrics": {
                "cpu.time.per.op": {"score": 26200.0, "scoreUnit": "ns/op", "rawData": [[26400.0, 25900.5, 26300.0]]},
                "gc.alloc.rate.norm": {"score": 0.0, "scoreUnit": "B/op", "rawData": [[0.0, 0.0, 0.0]]}}}]""";

    @Test
    void theFastestIterationsCpuTimeIsTheForksTime() throws IOException {
        assertEquals(25900.5, JmhFork.bestCpuNanos(JsonParser.parseString(RESULT), "test"));
    }

    @Test
    void aResultWithoutCpuTimeOrWithSeveralBenchmarksIsRefused() {
        String noCpu = RESULT.replace("cpu.time.per.op", "other");
        assertThrows(IOException.class, () -> JmhFork.bestCpuNanos(JsonParser.parseString(noCpu), "test"));
        String two = "[" + RESULT.strip().substring(1, RESULT.strip().length() - 1) + ", "
                + RESULT.strip().substring(1);
        assertThrows(IOException.class, () -> JmhFork.bestCpuNanos(JsonParser.parseString(two), "test"));
        assertThrows(IOException.class, () -> JmhFork.bestCpuNanos(JsonParser.parseString("[]"), "test"));
    }
}
