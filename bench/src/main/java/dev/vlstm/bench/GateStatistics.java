package dev.vlstm.bench;

import java.util.Arrays;
import java.util.function.Consumer;

/**
 * The performance gate's decision rule, on paired rounds. Round i times the baseline build and the candidate build
 * close together in time, in separate JVMs, and gives the ratio r_i = candidate time ÷ baseline time; a slow phase
 * of a shared machine slows both sides of a round, so the ratios spread far less than the times do.
 *
 * <p>The estimate is the median of the ratios. Its confidence interval is the distribution-free one for a median:
 * the k-th smallest and k-th largest ratio, with k the largest rank for which {@code 2 · P(Bin(n, ½) < k) ≤ α}
 * (the sign test's interval; it assumes only that rounds are independent). With α = 0.05 it needs at least 6
 * rounds, where it is [min, max] at 96.9 % confidence.
 *
 * <p>Verdict, for a threshold θ (0.10 is 10 %):
 * <ul>
 * <li>{@link Verdict#SLOWER} (the gate fails) when the median ratio exceeds 1 + θ and the whole interval lies above
 *     1: slower by more than the threshold by the estimate, and slower at all with confidence;</li>
 * <li>{@link Verdict#UNCLEAR} when the median exceeds 1 + θ but the interval reaches down to 1: more rounds may
 *     decide; after the last round the gate passes it, since it fails only with confidence;</li>
 * <li>{@link Verdict#FASTER} when the median is below 1 ÷ (1 + θ) and the whole interval below 1;</li>
 * <li>{@link Verdict#SAME} otherwise: within the threshold.</li>
 * </ul>
 */
final class GateStatistics {

    /** The default risk of an interval: 5 %. */
    static final double ALPHA = 0.05;
    static final int FIRST_ROUNDS = 6;
    static final int MORE_ROUNDS = 3;
    static final int MAX_ROUNDS = 12;

    private GateStatistics() {
    }

    enum Verdict {
        SLOWER("SLOWER"), UNCLEAR("unclear"), SAME("same"), FASTER("faster");

        private final String label;

        Verdict(String label) {
            this.label = label;
        }

        String label() {
            return label;
        }
    }

    /**
     * One shape's judgement: the builds' median times (any unit, the same for both), the median ratio with its
     * interval and the interval's confidence (0 to 1), the verdict and the number of rounds.
     */
    record Judgement(double baselineMedian, double candidateMedian, double ratio, double low, double high,
                     double confidence, Verdict verdict, int rounds) {
    }

    /**
     * Judges paired rounds: {@code baseline[i]} and {@code candidate[i]} are the two builds' times in round i.
     *
     * @throws IllegalArgumentException if the arrays differ in length, hold a time that is not positive and finite,
     *                                  or are too few for an interval at {@code alpha}
     */
    static Judgement judge(double[] baseline, double[] candidate, double threshold, double alpha) {
        if (baseline.length != candidate.length) {
            throw new IllegalArgumentException("paired rounds need as many baseline times as candidate times, got "
                    + baseline.length + " and " + candidate.length);
        }
        if (!(threshold > 0)) {
            throw new IllegalArgumentException("threshold must be positive, got " + threshold);
        }
        double[] ratios = new double[baseline.length];
        for (int n = 0; n < ratios.length; n++) {
            requireTime(baseline[n]);
            requireTime(candidate[n]);
            ratios[n] = candidate[n] / baseline[n];
        }
        int rank = intervalRank(ratios.length, alpha);
        double[] sorted = ratios.clone();
        Arrays.sort(sorted);
        double ratio = median(sorted);
        double low = sorted[rank - 1];
        double high = sorted[sorted.length - rank];
        Verdict verdict = ratio > 1 + threshold ? (low > 1 ? Verdict.SLOWER : Verdict.UNCLEAR)
                : ratio < 1 / (1 + threshold) && high < 1 ? Verdict.FASTER : Verdict.SAME;
        return new Judgement(median(baseline), median(candidate), ratio, low, high,
                coverage(ratios.length, rank), verdict, ratios.length);
    }

    /** Times both builds in one round: {@code times[0]} the baseline's, {@code times[1]} the candidate's. */
    interface Round {
        void time(int round, double[] times) throws Exception;
    }

    /**
     * Judges {@link #FIRST_ROUNDS} rounds, then {@link #MORE_ROUNDS} more at a time while the verdict is
     * {@link Verdict#UNCLEAR}, up to {@link #MAX_ROUNDS}; {@code unclear} hears of each extension.
     */
    static Judgement judgeSequentially(Round round, double threshold, double alpha,
                                       Consumer<Judgement> unclear) throws Exception {
        double[] baseline = new double[MAX_ROUNDS];
        double[] candidate = new double[MAX_ROUNDS];
        double[] times = new double[2];
        int rounds = 0;
        while (true) {
            for (int target = rounds == 0 ? FIRST_ROUNDS : rounds + MORE_ROUNDS; rounds < target; rounds++) {
                round.time(rounds, times);
                baseline[rounds] = times[0];
                candidate[rounds] = times[1];
            }
            Judgement judgement = judge(Arrays.copyOf(baseline, rounds), Arrays.copyOf(candidate, rounds), threshold,
                    alpha);
            if (judgement.verdict() != Verdict.UNCLEAR || rounds + MORE_ROUNDS > MAX_ROUNDS) {
                return judgement;
            }
            unclear.accept(judgement);
        }
    }

    /**
     * The rank k (1-based, from each end) of the order statistics that bound a median's interval at risk
     * {@code alpha}: the largest k with {@code 2 · P(Bin(n, ½) ≤ k − 1) ≤ alpha}.
     *
     * @throws IllegalArgumentException if even [min, max] is not confident enough for n values
     */
    static int intervalRank(int n, double alpha) {
        if (!(alpha > 0 && alpha < 1)) {
            throw new IllegalArgumentException("alpha must lie in (0, 1), got " + alpha);
        }
        int rank = 0;
        while (rank < n / 2 && 2 * binomialCdf(n, rank) <= alpha) {
            rank++;
        }
        if (rank == 0) {
            throw new IllegalArgumentException(n + " rounds cannot bound a median at " + (1 - alpha) * 100
                    + " % confidence; " + minimumRounds(alpha) + " can");
        }
        return rank;
    }

    /** The fewest rounds whose [min, max] bounds the median at risk {@code alpha}. */
    static int minimumRounds(double alpha) {
        int n = 1;
        while (2 * Math.pow(0.5, n) > alpha) {
            n++;
        }
        return n;
    }

    /** The confidence of [k-th smallest, k-th largest] of n values as an interval of their median. */
    static double coverage(int n, int rank) {
        return 1 - 2 * binomialCdf(n, rank - 1);
    }

    /** P(Bin(n, ½) ≤ k). */
    static double binomialCdf(int n, int k) {
        double sum = 0;
        double term = Math.pow(0.5, n);   // C(n, 0) / 2^n
        for (int i = 0; i <= k; i++) {
            sum += term;
            term = term * (n - i) / (i + 1);
        }
        return sum;
    }

    static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int middle = sorted.length / 2;
        return sorted.length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    private static void requireTime(double time) {
        if (!(time > 0 && Double.isFinite(time))) {
            throw new IllegalArgumentException("a round's time must be positive and finite, got " + time);
        }
    }
}
