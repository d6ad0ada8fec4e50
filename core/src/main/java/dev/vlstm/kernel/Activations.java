package dev.vlstm.kernel;

/**
 * Scalar forms of the activation approximations that the kernels use, and their coefficients.
 *
 * <p>{@code tanh} is a [13/6] odd rational minimax approximation on [-CLAMP, CLAMP] (the form used by Eigen's
 * fast tanh), and exactly ±1 from |x| &ge; {@value #SATURATION}, where the float nearest to tanh(x) is ±1.
 * {@code sigmoid(x) = 0.5 + 0.5 * tanh(x / 2)}, so exactly 0 and 1 from |x| &ge; 2 * {@value #SATURATION}: a gate
 * held open keeps c exactly (at the rational's value at the clamp, 1 - 1.2e-7, a cell adding 1 per step would
 * leak down to 943,000 after 10^6 steps).
 * Maximum absolute error against {@link Math#tanh} over every float in [-20, 20] (beyond, both are ±1 to float
 * precision), measured: 2.9e-7 for tanh (at x = 5.126) and 1.7e-7 for sigmoid against the exact logistic. The
 * documented bounds, checked by ActivationsTest, are {@value #TANH_MAX_ABS_ERROR} and half of it.
 * NaN propagates and -0 stays -0; tanh(±Infinity) = ±1, sigmoid(-Infinity) = 0 and sigmoid(+Infinity) = 1;
 * results never leave [-1, 1] and [0, 1].
 */
public final class Activations {

    /** Documented bound on |tanh(x) - Math.tanh(x)| for every float x; ActivationsTest checks it. */
    public static final double TANH_MAX_ABS_ERROR = 5e-7;

    /** From this |x| on, tanh returns exactly ±1: float tanh(x) rounds to ±1 there (1 - tanh(9.02) = 2.9e-8, below half a float ulp of 1). */
    static final float SATURATION = 9.02f;
    static final float CLAMP = 7.90531110763549805f;
    static final float ALPHA_1 = 4.89352455891786e-03f;
    static final float ALPHA_3 = 6.37261928875436e-04f;
    static final float ALPHA_5 = 1.48572235717979e-05f;
    static final float ALPHA_7 = 5.12229709037114e-08f;
    static final float ALPHA_9 = -8.60467152213735e-11f;
    static final float ALPHA_11 = 2.00018790482477e-13f;
    static final float ALPHA_13 = -2.76076847742355e-16f;
    static final float BETA_0 = 4.89352518554385e-03f;
    static final float BETA_2 = 2.26843463243900e-03f;
    static final float BETA_4 = 1.18534705686654e-04f;
    static final float BETA_6 = 1.19825839466702e-06f;

    private Activations() {
    }

    /** Rational tanh approximation; see the class comment for its error bound. */
    public static float tanh(float x) {
        if (Math.abs(x) >= SATURATION) {
            return Math.copySign(1f, x);
        }
        float clamped = Math.min(Math.max(x, -CLAMP), CLAMP);
        float x2 = clamped * clamped;
        float p = Math.fma(x2, ALPHA_13, ALPHA_11);
        p = Math.fma(x2, p, ALPHA_9);
        p = Math.fma(x2, p, ALPHA_7);
        p = Math.fma(x2, p, ALPHA_5);
        p = Math.fma(x2, p, ALPHA_3);
        p = Math.fma(x2, p, ALPHA_1);
        p = p * clamped;
        float q = Math.fma(x2, BETA_6, BETA_4);
        q = Math.fma(x2, q, BETA_2);
        q = Math.fma(x2, q, BETA_0);
        return p / q;
    }

    /** Logistic sigmoid through {@link #tanh(float)}: {@code 0.5 + 0.5 * tanh(x / 2)}. */
    public static float sigmoid(float x) {
        return Math.fma(tanh(0.5f * x), 0.5f, 0.5f);
    }
}
