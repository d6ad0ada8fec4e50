package dev.vlstm.cli;

/** Percentiles of measured times by the nearest-rank method, shared by the CLI's timers and bench. */
public final class NearestRank {

    private NearestRank() {
    }

    /**
     * {@return the value at {@code percentile} of {@code sorted}: the smallest value with at least that share of
     * the values at or below it}
     *
     * @param sorted     values in ascending order, at least one
     * @param percentile 0 to 100, to a thousandth (e.g. 99.9); counted in integers, because {@code percentile / 100
     *                   * n} in doubles gives p99.9 of 1,000 values the rank 1,000, the maximum
     */
    public static long of(long[] sorted, double percentile) {
        long rank = Math.ceilDiv(Math.round(percentile * 1000) * sorted.length, 100_000L);
        return sorted[Math.clamp(rank - 1, 0, sorted.length - 1)];
    }
}
