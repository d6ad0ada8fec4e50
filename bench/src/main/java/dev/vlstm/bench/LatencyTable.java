package dev.vlstm.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The comparison's latency view for services: per streaming shape, percentiles of single-call times sampled by JMH
 * ({@code Mode.SampleTime}) for vlstm's step and, where it runs, ONNX Runtime's.
 */
final class LatencyTable {

    /** Percentiles reported, in percent. */
    static final double[] PERCENTILES = {50, 99, 99.9};

    /**
     * One shape's sampled latencies in microseconds, in the order of {@link #PERCENTILES}.
     *
     * @param onnxMicros empty where ONNX Runtime did not run
     * @param samples    calls vlstm's run timed
     */
    record Row(Shape shape, double[] vectorMicros, double[] onnxMicros, long samples) {
    }

    private LatencyTable() {
    }

    static String render(List<Row> rows) {
        List<String> header = new ArrayList<>(List.of("shape"));
        for (String who : List.of("vector", "ORT")) {
            for (double percentile : PERCENTILES) {
                header.add(who + " p" + label(percentile) + " µs");
            }
        }
        header.add("vector samples");
        List<String[]> cells = new ArrayList<>();
        cells.add(header.toArray(String[]::new));
        for (Row row : rows) {
            List<String> line = new ArrayList<>(List.of(row.shape().name()));
            for (double micros : row.vectorMicros()) {
                line.add(ComparisonTable.number(micros));
            }
            for (int n = 0; n < PERCENTILES.length; n++) {
                line.add(row.onnxMicros().length == 0 ? "" : ComparisonTable.number(row.onnxMicros()[n]));
            }
            line.add(Long.toString(row.samples()));
            cells.add(line.toArray(String[]::new));
        }
        StringBuilder out = new StringBuilder(String.format(Locale.ROOT, "%nLatency of one streaming step "
                + "(JMH sample mode: every call timed on its own, same forks and iterations as above):%n%n"));
        ComparisonTable.appendTable(out, cells);
        out.append(String.format(Locale.ROOT, "%nOne thread, warm JVM; the tail includes the shared machine's "
                + "interruptions and GC pauses of JMH's own bookkeeping (vlstm's step allocates nothing).%n"));
        return out.toString();
    }

    private static String label(double percentile) {
        return percentile == Math.rint(percentile) ? Integer.toString((int) percentile) : Double.toString(percentile);
    }
}
