package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.stream.LongStream;

import org.junit.jupiter.api.Test;

/** Nearest-rank percentiles, checked against the definition: the ⌈p/100 · n⌉-th smallest value. */
class NearestRankTest {

    @Test
    void percentilesOfOneThousandValuesAreTheirNearestRanks() {
        long[] values = LongStream.rangeClosed(1, 1000).toArray();
        assertEquals(500, NearestRank.of(values, 50));
        assertEquals(990, NearestRank.of(values, 99));
        assertEquals(999, NearestRank.of(values, 99.9), "p99.9 of 1,000 is the 999th, not the maximum");
        assertEquals(1000, NearestRank.of(values, 100));
        assertEquals(1, NearestRank.of(values, 0));
    }

    @Test
    void ranksThatAreNotWholeRoundUp() {
        long[] values = {10, 20, 30};
        assertEquals(20, NearestRank.of(values, 50), "⌈1.5⌉ = 2");
        assertEquals(30, NearestRank.of(values, 99.9), "⌈2.997⌉ = 3");
        assertEquals(10, NearestRank.of(values, 33.333), "⌈0.99999⌉ = 1");
        assertEquals(7, NearestRank.of(new long[] {7}, 99.9));
    }
}
