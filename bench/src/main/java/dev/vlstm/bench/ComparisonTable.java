package dev.vlstm.bench;

import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

import dev.vlstm.cli.CpuModel;

/**
 * The comparison's one table, as Markdown whose columns are padded so that it also reads well in a terminal:
 * a line saying when and where it was measured, the table, and notes on what the columns mean.
 */
final class ComparisonTable {

    /**
     * One shape's results, times in milliseconds per call.
     *
     * @param scalarMillis      the reference's time for all T steps (scaled if it was timed over fewer)
     * @param scalarStepsTimed  time steps the reference actually ran per call
     * @param onnxMillis        ONNX Runtime's time, NaN where it did not run
     * @param oneDnnMillis      oneDNN's time, NaN where it did not run
     * @param vectorBytesPerOp  JMH gc profiler's {@code gc.alloc.rate.norm} for the vector kernel
     * @param vectorWarmups     warmup iterations the vector kernel's measured run had
     * @param vectorSettled     false if the JIT still compiled during that run's measured iterations
     */
    record Row(Shape shape, double vectorMillis, double scalarMillis, int scalarStepsTimed, double onnxMillis,
               double oneDnnMillis, double vectorBytesPerOp, int vectorWarmups, boolean vectorSettled) {

        boolean scalarScaled() {
            return scalarStepsTimed < shape.steps();
        }
    }

    private static final String[] HEADER = {"shape", "vector ms", "scalar ms", "speedup", "ORT ms", "vs ORT",
            "oneDNN ms", "vs oneDNN", "vector GFLOP/s", "of FMA peak", "of read GB/s", "vector B/op"};
    private static final String SCALED = " †";
    private static final String UNSETTLED = " ‡";

    private ComparisonTable() {
    }

    /**
     * The table and its notes; {@code warmups} is the plan's warmup iterations, which a row's vector run exceeds
     * where the JIT needed longer; {@code onnxRuntime} and {@code oneDnn} say what each peer ran, or why it did not.
     */
    static String render(String mode, String plan, int warmups, String kernel, Roofline roofline, String onnxRuntime,
                         String oneDnn, List<Row> rows) {
        List<String[]> cells = new ArrayList<>();
        cells.add(HEADER);
        for (Row row : rows) {
            cells.add(new String[]{
                    row.shape().name(),
                    number(row.vectorMillis()) + (row.vectorSettled() ? "" : UNSETTLED),
                    number(row.scalarMillis()) + (row.scalarScaled() ? SCALED : ""),
                    String.format(Locale.ROOT, "%.1f×", row.scalarMillis() / row.vectorMillis()),
                    peerTime(row.onnxMillis()),
                    peerRatio(row.onnxMillis(), row.vectorMillis()),
                    peerTime(row.oneDnnMillis()),
                    peerRatio(row.oneDnnMillis(), row.vectorMillis()),
                    String.format(Locale.ROOT, "%.1f", row.shape().flops() / (row.vectorMillis() * 1e6)),
                    roofline.fmaCell(row.shape(), row.vectorMillis()),
                    roofline.bandwidthCell(row.shape(), row.vectorMillis()),
                    bytes(row.vectorBytesPerOp())});
        }
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "vlstm comparison (%s mode), %s, JDK %s (%s), %s, kernel %s. "
                        + "Shared machine: expect noise of several percent between runs.%n%n",
                mode, ZonedDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm 'UTC'")),
                Runtime.version(), System.getProperty("java.vm.vendor"), CpuModel.current().identity(), kernel));
        appendTable(out, cells);
        out.append(String.format(Locale.ROOT, "%nvector: a one-layer Model's Runner on native segments (step-*: "
                + "Runner.step with a carried State; bptt-*: Trainer.forward then backward with every gradient; "
                + "others: Runner.forward writing y, hT, cT; gru-*: the same calls on a GRU). scalar: ReferenceLstm "
                + "(gru-*: ReferenceGru), plain Java in double precision (step-*: one step from carried h, c; "
                + "bptt-*: the reference's backward). "
                + "ORT: %s; not for bptt-* (its Java package does not train), varlen-* nor stack-*. oneDNN: %s; "
                + "not for varlen-* nor stack-*. varlen-*: B "
                + "sequences padded to T with lengths drawn uniformly from 1..T (seeded), passed to both. stack-*: a "
                + "whole model of L layers of D directions (bi: 2), Runner.forward against "
                + "ReferenceStack. Times: JMH score "
                + "(mean of the measured iterations) per call; speedup = scalar / vector, vs ORT = ORT / vector, vs "
                + "oneDNN = oneDNN / vector; "
                + "GFLOP/s counts 2·G·H·(I+H)·B·T (G gates: 4, for gru-* 3), three times that for bptt-*, and "
                + "2·G·H·(I+H)·Σ lengths for varlen-* "
                + "(padding steps count nothing), summed over layers and directions for stack-* (I = D·H above "
                + "layer 0). B/op: "
                + "JMH gc profiler's gc.alloc.rate.norm, which includes JMH's own few KB per iteration spread over "
                + "that iteration's calls, so slow calls show some hundred bytes even when the kernel allocates "
                + "nothing. Measured: %s; every iteration and JMH's error bounds are in jmh-logs/.%n", onnxRuntime,
                oneDnn, plan));
        out.append(String.format(Locale.ROOT, "%nRoofline, one thread, measured in this run (the best of each "
                + "benchmark's one-second iterations): %s. of FMA peak = vector GFLOP/s ÷ the FMA peak. of read GB/s, for "
                + "batch-1 inference only: weight bytes per step ÷ time per step, as a share of the read bandwidth "
                + "of a buffer as large as the weights re-read every step (it lives where they do), which is the "
                + "number after \"of\". Weight bytes per step: step-*, W and U (4·G·H·(I+H)); seq-B1-*, U (4·G·H·H) "
                + "plus W once per call (the input projection of all T steps is one GEMM).%n", roofline.describe()));
        out.append(String.format(Locale.ROOT, "%nRows ending -bf16 or -int8: the same model with W and U packed as "
                + "WeightPrecision.BFLOAT16 or INT8 (2 or 1 bytes a weight, which the weight bytes per step count); "
                + "their scalar, ORT and oneDNN times, which run on float weights, are the float row's.%n"));
        List<String> scaled = rows.stream().filter(Row::scalarScaled).map(row -> row.shape().name() + " "
                + row.scalarStepsTimed() + " of " + row.shape().steps()).toList();
        if (!scaled.isEmpty()) {
            out.append(String.format(Locale.ROOT, "%n†Scalar timed over fewer time steps and scaled to T (its cost "
                    + "is linear in T; quick mode only): %s.%n", String.join(", ", scaled)));
        }
        List<String> warmedLonger = rows.stream().filter(row -> row.vectorWarmups() > warmups)
                .map(row -> row.shape().name() + " " + row.vectorWarmups()).toList();
        if (!warmedLonger.isEmpty()) {
            out.append(String.format(Locale.ROOT, "%nVector warmed up longer, as the JIT was still compiling after "
                    + "%d warmup iterations (shape and the warmup iterations of its measured run): %s.%n", warmups,
                    String.join(", ", warmedLonger)));
        }
        if (rows.stream().anyMatch(row -> !row.vectorSettled())) {
            out.append(String.format(Locale.ROOT, "%n‡The JIT still compiled during the measured iterations after "
                    + "the longest warmup: this time may be higher than the warmed kernel's.%n"));
        }
        return out.toString();
    }

    /** A peer's time, blank where it did not run. */
    private static String peerTime(double millis) {
        return Double.isNaN(millis) ? "" : number(millis);
    }

    /** A peer's time over vlstm's, blank where it did not run. */
    private static String peerRatio(double peerMillis, double vectorMillis) {
        return Double.isNaN(peerMillis) ? "" : String.format(Locale.ROOT, "%.1f×", peerMillis / vectorMillis);
    }

    /** Appends {@code cells} (the first line is the header) as a padded Markdown table. */
    static void appendTable(StringBuilder out, List<String[]> cells) {
        int[] widths = new int[cells.get(0).length];
        for (String[] line : cells) {
            for (int column = 0; column < line.length; column++) {
                widths[column] = Math.max(widths[column], line[column].length());
            }
        }
        for (int index = 0; index < cells.size(); index++) {
            String[] line = cells.get(index);
            out.append('|');
            for (int column = 0; column < line.length; column++) {
                String format = column == 0 ? " %-" + widths[column] + "s |" : " %" + widths[column] + "s |";
                out.append(String.format(Locale.ROOT, format, line[column]));
            }
            out.append('\n');
            if (index == 0) {
                out.append('|');
                for (int column = 0; column < widths.length; column++) {
                    out.append(column == 0 ? ":" + "-".repeat(widths[column] + 1) : "-".repeat(widths[column] + 1) + ":")
                            .append('|');
                }
                out.append('\n');
            }
        }
    }

    /** Three significant digits, no exponent: 0.0123, 1.23, 1230. */
    static String number(double value) {
        if (value >= 100) {
            return String.format(Locale.ROOT, "%.0f", value);
        }
        int decimals = Math.max(0, 2 - (int) Math.floor(Math.log10(Math.max(value, 1e-9))));
        return String.format(Locale.ROOT, "%." + decimals + "f", value);
    }

    private static String bytes(double bytes) {
        return bytes < 10 ? String.format(Locale.ROOT, "%.2f", bytes) : String.format(Locale.ROOT, "%.0f", bytes);
    }
}
