package dev.vlstm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/** The gate's decision rule on synthetic rounds, with intervals and coverages worked out by hand. */
class GateStatisticsTest {

    private static final double THRESHOLD = 0.10;

    @Test
    void binomialTailsMatchHandCounts() {
        assertEquals(1.0 / 64, GateStatistics.binomialCdf(6, 0), 1e-15);
        assertEquals(7.0 / 64, GateStatistics.binomialCdf(6, 1), 1e-15);
        assertEquals((1 + 9 + 36) / 512.0, GateStatistics.binomialCdf(9, 2), 1e-15);
        assertEquals(1.0, GateStatistics.binomialCdf(5, 5), 1e-15);
    }

    @Test
    void theIntervalWidensToMinAndMaxForFewRoundsAndNarrowsForMany() {
        // n = 6: 2 · 1/64 = 0.031 ≤ 0.05 but 2 · 7/64 > 0.05, so [min, max] at 1 − 1/32 = 96.9 %.
        assertEquals(1, GateStatistics.intervalRank(6, 0.05));
        assertEquals(1 - 2.0 / 64, GateStatistics.coverage(6, 1), 1e-15);
        // n = 9: 2 · 10/512 = 0.039 ≤ 0.05, 2 · 46/512 > 0.05: the 2nd smallest and 2nd largest.
        assertEquals(2, GateStatistics.intervalRank(9, 0.05));
        // n = 12: 2 · 79/4096 = 0.039: the 3rd smallest and 3rd largest.
        assertEquals(3, GateStatistics.intervalRank(12, 0.05));
        assertEquals(6, GateStatistics.minimumRounds(0.05));
    }

    @Test
    void tooFewRoundsAreRefusedWithTheNumberThatWould() {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> GateStatistics.intervalRank(5, 0.05));
        assertTrue(refused.getMessage().contains("6"), refused.getMessage());
    }

    @Test
    void aClearSlowdownFails() {
        double[] baseline = {100, 102, 98, 101, 99, 100};
        double[] candidate = {121, 122, 117, 120, 119, 123};
        GateStatistics.Judgement judgement = GateStatistics.judge(baseline, candidate, THRESHOLD, 0.05);
        assertEquals(GateStatistics.Verdict.SLOWER, judgement.verdict());
        assertEquals(100, judgement.baselineMedian(), 1e-12);
        assertEquals(120.5, judgement.candidateMedian(), 1e-12);
        double[] ratios = {1.21, 122 / 102.0, 117 / 98.0, 120 / 101.0, 119 / 99.0, 1.23};
        Arrays.sort(ratios);
        assertEquals(ratios[0], judgement.low(), 1e-12);
        assertEquals(ratios[5], judgement.high(), 1e-12);
        assertEquals((ratios[2] + ratios[3]) / 2, judgement.ratio(), 1e-12);
        assertEquals(6, judgement.rounds());
    }

    @Test
    void aSlowdownWithinTheThresholdPasses() {
        double[] baseline = {100, 100, 100, 100, 100, 100};
        double[] candidate = {106, 107, 105, 108, 106, 107};
        assertEquals(GateStatistics.Verdict.SAME,
                GateStatistics.judge(baseline, candidate, THRESHOLD, 0.05).verdict());
    }

    @Test
    void aLargeMedianWithOneFastRoundIsUnclearNotSlower() {
        // The median ratio is 1.2, but one round has the candidate faster: [min, max] reaches below 1.
        double[] baseline = {100, 100, 100, 100, 100, 100};
        double[] candidate = {120, 125, 118, 95, 121, 119};
        assertEquals(GateStatistics.Verdict.UNCLEAR,
                GateStatistics.judge(baseline, candidate, THRESHOLD, 0.05).verdict());
    }

    @Test
    void aClearSpeedupIsFaster() {
        double[] baseline = {100, 100, 100, 100, 100, 100};
        double[] candidate = {80, 82, 79, 85, 81, 80};
        assertEquals(GateStatistics.Verdict.FASTER,
                GateStatistics.judge(baseline, candidate, THRESHOLD, 0.05).verdict());
    }

    @Test
    void pairingCancelsAPhaseThatSlowsBothBuilds() {
        // Rounds 3 and 4 ran while the machine was 1.5× slower: the times spread, the ratios do not.
        double[] baseline = {100, 101, 150, 152, 99, 100};
        double[] candidate = {101, 100, 151, 150, 100, 101};
        GateStatistics.Judgement judgement = GateStatistics.judge(baseline, candidate, THRESHOLD, 0.05);
        assertEquals(GateStatistics.Verdict.SAME, judgement.verdict());
        assertTrue(judgement.high() - judgement.low() < 0.03, judgement.toString());
    }

    @Test
    void sameDistributionsRarelyFailAndAFifteenPercentSlowdownUsuallyDoes() throws Exception {
        // The gate's sequential procedure on forks with 5 % noise each, under a phase both builds of a round
        // share: A/A must fail (almost) never, 1.167× (every 6th call twice) must fail (almost) always.
        SplittableRandom random = new SplittableRandom(42);
        int trials = 2000;
        int falseAlarms = 0;
        int caught = 0;
        for (int trial = 0; trial < trials; trial++) {
            if (judgeNoisy(random, 1.0) == GateStatistics.Verdict.SLOWER) {
                falseAlarms++;
            }
            if (judgeNoisy(random, 7.0 / 6) == GateStatistics.Verdict.SLOWER) {
                caught++;
            }
        }
        assertTrue(falseAlarms <= trials / 500, falseAlarms + " false alarms of " + trials);
        assertTrue(caught >= trials * 0.9, caught + " of " + trials + " caught");
    }

    private static GateStatistics.Verdict judgeNoisy(SplittableRandom random, double slowdown) throws Exception {
        return GateStatistics.judgeSequentially((round, times) -> {
            double phase = 1 + random.nextDouble();   // what both builds of a round share
            times[0] = 100 * phase * Math.exp(0.05 * gaussian(random));
            times[1] = 100 * slowdown * phase * Math.exp(0.05 * gaussian(random));
        }, THRESHOLD, 0.05, unclear -> { }).verdict();
    }

    @Test
    void anUnclearShapeGetsThreeMoreRoundsAtATimeUpToTwelve() throws Exception {
        // Every round 1.2× slower but the first one 0.9×: [min, max] reaches 1 until 9 rounds drop the extremes.
        int[] rounds = {0};
        int[] extensions = {0};
        GateStatistics.Judgement judgement = GateStatistics.judgeSequentially((round, times) -> {
            rounds[0]++;
            times[0] = 100;
            times[1] = round == 0 ? 90 : 120;
        }, THRESHOLD, 0.05, unclear -> extensions[0]++);
        assertEquals(9, rounds[0]);
        assertEquals(1, extensions[0]);
        assertEquals(GateStatistics.Verdict.SLOWER, judgement.verdict());
        // Rounds 1, 7 and 8 faster, the rest 1.2× slower: the interval reaches below 1 at 6, 9 and 12 rounds, so it
        // stops at 12 and stays unclear, which passes.
        rounds[0] = 0;
        judgement = GateStatistics.judgeSequentially((round, times) -> {
            rounds[0]++;
            times[0] = 100;
            times[1] = round == 0 || round == 6 || round == 7 ? 90 : 120;
        }, THRESHOLD, 0.05, unclear -> { });
        assertEquals(12, rounds[0]);
        assertEquals(12, judgement.rounds());
        assertEquals(GateStatistics.Verdict.UNCLEAR, judgement.verdict());
    }

    private static double gaussian(SplittableRandom random) {
        return Math.sqrt(-2 * Math.log(1 - random.nextDouble())) * Math.cos(2 * Math.PI * random.nextDouble());
    }

    @Test
    void badRoundsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> GateStatistics.judge(new double[6], new double[6],
                THRESHOLD, 0.05));
        assertThrows(IllegalArgumentException.class, () -> GateStatistics.judge(new double[]{1, 1, 1, 1, 1, 1},
                new double[]{1, 1, 1, 1, 1}, THRESHOLD, 0.05));
        assertThrows(IllegalArgumentException.class, () -> GateStatistics.judge(new double[]{1, 1, 1, 1, 1, 1},
                new double[]{1, 1, 1, 1, 1, Double.NaN}, THRESHOLD, 0.05));
        assertThrows(IllegalArgumentException.class, () -> GateStatistics.judge(new double[]{1, 1, 1, 1, 1, 1},
                new double[]{1, 1, 1, 1, 1, 1}, 0, 0.05));
    }
}
