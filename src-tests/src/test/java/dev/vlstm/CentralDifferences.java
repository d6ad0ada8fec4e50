package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

/**
 * The check of an analytic gradient against central finite differences of the loss, element by element.
 *
 * <p>Criterion: an analytic gradient a and the difference d = (L(θ + ε) - L(θ - ε)) / 2ε, ε = {@value #EPSILON},
 * agree when |d - a| &le; {@value #RELATIVE_TOLERANCE} (|d| + |a|) or |d - a| &le; {@value #ABSOLUTE_TOLERANCE}.
 * The truncation error of d is about ε² |L'''| / 6 &asymp; 1e-13; its rounding error is the rounding of L over 2ε,
 * about 2e-10 per ulp of L (|L| is a few units in these tests), and stays below 1e-9. The absolute bound leaves ten
 * times that: it decides only for gradients near zero, where the relative error is all rounding, whereas a wrong sign
 * or a missing term moves a gradient by the size of that term, orders of magnitude more. A checked gradient should
 * also hold an element above {@value #SIGNIFICANT} in magnitude, so that no check passes on zeros alone: callers
 * assert that on what {@link #check} returns.
 */
final class CentralDifferences {

    static final double EPSILON = 1e-6;
    static final double RELATIVE_TOLERANCE = 1e-6;
    static final double ABSOLUTE_TOLERANCE = 1e-8;
    static final double SIGNIFICANT = 1e-4;

    private CentralDifferences() {
    }

    /**
     * Checks every element of {@code analytic} against the central difference of {@code loss} in the same element
     * of {@code values}, which {@code loss} reads and this method perturbs and restores.
     *
     * @return the largest |central difference|, for the caller's check that the gradient is not all zeros
     */
    static double check(String name, double[] values, double[] analytic, DoubleSupplier loss) {
        assertEquals(values.length, analytic.length, name + " gradient length");
        double largest = 0;
        for (int n = 0; n < values.length; n++) {
            double value = values[n];
            values[n] = value + EPSILON;
            double above = loss.getAsDouble();
            values[n] = value - EPSILON;
            double below = loss.getAsDouble();
            values[n] = value;
            double numeric = (above - below) / (2 * EPSILON);
            double error = Math.abs(numeric - analytic[n]);
            double relative = error / Math.max(1e-8, Math.abs(numeric) + Math.abs(analytic[n]));
            assertTrue(relative <= RELATIVE_TOLERANCE || error <= ABSOLUTE_TOLERANCE,
                    name + "[" + n + "]: analytic " + analytic[n] + ", central difference " + numeric
                            + ", relative error " + relative);
            largest = Math.max(largest, Math.abs(numeric));
        }
        return largest;
    }

    /**
     * {@link #check}, and that the gradient holds an element above {@value #SIGNIFICANT}, so that the check does not
     * pass on zeros alone.
     */
    static void checkSignificant(String name, double[] values, double[] analytic, DoubleSupplier loss) {
        double largest = check(name, values, analytic, loss);
        assertTrue(largest > SIGNIFICANT, name + ": largest gradient " + largest + " is too small to check");
    }

    /**
     * {@code count} inverted-dropout masks of {@code outputs} values each: 0 with probability {@code dropout}, else
     * 1 / (1 - dropout); null for {@code dropout} = 0, as the reference stack takes no masks.
     */
    static double[][] dropoutMasks(SplittableRandom random, int count, int outputs, double dropout) {
        if (dropout == 0) {
            return null;
        }
        double[][] masks = new double[count][outputs];
        for (double[] mask : masks) {
            for (int n = 0; n < outputs; n++) {
                mask[n] = random.nextDouble() < dropout ? 0 : 1 / (1 - dropout);
            }
        }
        return masks;
    }

    /** {@code length} values drawn uniformly from [-bound, bound). */
    static double[] uniform(SplittableRandom random, int length, double bound) {
        double[] values = new double[length];
        for (int n = 0; n < length; n++) {
            values[n] = (random.nextDouble() * 2 - 1) * bound;
        }
        return values;
    }

    /** Σ a·b, or 0 for a null {@code b} (a loss term that is absent). */
    static double dot(double[] a, double[] b) {
        if (b == null) {
            return 0;
        }
        double sum = 0;
        for (int n = 0; n < a.length; n++) {
            sum += a[n] * b[n];
        }
        return sum;
    }
}
