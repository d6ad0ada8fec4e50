package dev.vlstm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;
import org.openjdk.jmh.runner.options.TimeValue;

/** When a vector run counts as warmed up, and what the table says about one that needed longer or never was. */
class ComparisonTableTest {

    private static final Roofline ROOFLINE = new Roofline(100, new TreeMap<>());
    private static final int PLAN_WARMUPS = 2;

    private static ComparisonTable.Row row(String shape, int warmups, boolean settled) {
        return new ComparisonTable.Row(Shape.named(shape), 10, 500, Shape.named(shape).steps(), Double.NaN,
                Double.NaN, 0, warmups, settled);
    }

    private static String render(ComparisonTable.Row... rows) {
        return ComparisonTable.render("quick", "plan", PLAN_WARMUPS, "kernel", ROOFLINE, "the ORT peer",
                "the oneDNN peer", List.of(rows));
    }

    private static String tableLine(String table, String shape) {
        return table.lines().filter(line -> line.startsWith("| " + shape + " ")).findFirst().orElseThrow();
    }

    /**
     * Each peer's time and its ratio to vlstm's (peer ÷ vector: above 1 when vlstm is faster) in its own columns,
     * blank where that peer did not run; the notes say what each peer ran.
     */
    @Test
    void eachPeerHasItsTimeAndRatioOrBlankCells() {
        ComparisonTable.Row both = new ComparisonTable.Row(Shape.named("train-B32-T25-H512"), 0.02, 0.5, 25, 0.03, 0.026, 0,
                PLAN_WARMUPS, true);
        ComparisonTable.Row oneDnnOnly = new ComparisonTable.Row(Shape.named("bptt-train-B32-T25-H512"), 60, 3000, 25,
                Double.NaN, 48, 0, PLAN_WARMUPS, true);
        String table = render(both, oneDnnOnly);
        List<String> stepCells = cells(tableLine(table, "train-B32-T25-H512"));
        assertEquals(List.of("0.0300", "1.5×", "0.0260", "1.3×"), stepCells.subList(4, 8), table);
        List<String> trainCells = cells(tableLine(table, "bptt-train-B32-T25-H512"));
        assertEquals(List.of("", "", "48.0", "0.8×"), trainCells.subList(4, 8), table);
        assertTrue(table.contains("ORT: the ORT peer;"), table);
        assertTrue(table.contains("oneDNN: the oneDNN peer;"), table);
    }

    /** A table line's cells, trimmed. */
    private static List<String> cells(String line) {
        String[] parts = line.split("\\|", -1);
        return Arrays.stream(parts, 1, parts.length - 1).map(String::trim).toList();
    }

    @Test
    void rowsWarmedUpAsPlannedAndSettledCarryNoNote() {
        String table = render(row("train-B32-T25-H512", PLAN_WARMUPS, true));
        assertFalse(table.contains("Vector warmed up longer"), table);
        assertFalse(table.contains("‡"), table);
    }

    @Test
    void aLongerWarmupIsListedWithItsIterations() {
        String table = render(row("train-B32-T25-H512", PLAN_WARMUPS, true), row("train-B64-T25-H1024", 6, true));
        assertTrue(table.contains("still compiling after 2 warmup iterations (shape and the warmup iterations of its"
                + " measured run): train-B64-T25-H1024 6."), table);
        assertFalse(table.contains("train-B32-T25-H512 2"), table);
    }

    @Test
    void aRunTheJitNeverFinishedIsMarkedInItsCellAndExplained() {
        String table = render(row("train-B32-T25-H512", PLAN_WARMUPS, true), row("train-B64-T25-H1024", 18, false));
        assertTrue(tableLine(table, "train-B64-T25-H1024").contains("10.0 ‡"), table);
        assertFalse(tableLine(table, "train-B32-T25-H512").contains("‡"), table);
        assertTrue(table.contains("‡The JIT still compiled during the measured iterations"), table);
    }

    @Test
    void aRunIsWarmedUpWhileTheJitCompiledForAtMostFivePercentOfItsMeasuredTime() {
        JmhRuns.Timing quick = JmhRuns.Timing.of(1, 2, 3, TimeValue.seconds(1));
        assertTrue(Comparison.settled(0, quick));
        assertTrue(Comparison.settled(150, quick));
        assertFalse(Comparison.settled(151, quick));
        assertFalse(Comparison.settled(179, quick));
        assertTrue(Comparison.settled(Double.NaN, quick), "a JVM without compilation time is not waited on");
        JmhRuns.Timing full = JmhRuns.Timing.of(2, 3, 5, TimeValue.seconds(2));
        assertTrue(Comparison.settled(1000, full));
        assertFalse(Comparison.settled(1001, full));
    }

    @Test
    void aLongerWarmupKeepsTheRestOfTheTiming() {
        JmhRuns.Timing timing = JmhRuns.Timing.of(2, 3, 5, TimeValue.seconds(2));
        JmhRuns.Timing longer = timing.withWarmups(9);
        assertEquals(JmhRuns.Timing.of(2, 9, 5, TimeValue.seconds(2)), longer);
        assertEquals(2 * 5 * 2000.0, longer.measuredMillis());
    }
}
