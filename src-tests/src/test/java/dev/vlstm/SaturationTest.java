package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceLstm;

/**
 * Pre-activations of magnitude up to about 1e31 (weights, biases or inputs scaled by 1e4 to 1e30), in the vector
 * and the scalar kernel: the gates saturate (σ to 0 or 1, tanh to ±1 within the approximation's bound), nothing
 * overflows into NaN, and the outputs match the double-precision reference within ForwardVsReferenceTest's
 * tolerance, since saturated gates make the cell a sum of ±1 terms.
 *
 * <p>Which tensor is large decides how to keep the pre-activations well conditioned, so that float and double
 * agree on their signs: a large input weight or input multiplies one-hot inputs (one large term per gate, no
 * cancellation between large terms); large biases and recurrent weights are random, their sums dominated by the
 * largest terms. Products stay below the float range (|w·x| &le; 1e30 · 1).
 *
 * <p>One case is ill-conditioned rather than saturated: recurrent weights at 1e4. Where h is small, a gate's
 * pre-activation is a sum of terms of about 1e4·|U|·|h| that cancel to a moderate value, its float rounding is
 * about 2^-23 of the terms' size, and an unsaturated σ passes a quarter of that to h. Any float implementation
 * differs from the double reference by that much (measured 5.7e-5 here); the test allows it, and no more. From
 * 1e8 on the sums are dominated by saturated terms again.
 */
class SaturationTest {

    private static final int INPUT = 5;
    private static final int HIDDEN = 19;
    private static final int BATCH = 3;
    private static final int STEPS = 10;
    private static final float BOUND = (float) (1 / Math.sqrt(HIDDEN));

    enum Large { INPUT_WEIGHTS, RECURRENT_WEIGHTS, BIASES, INPUTS }

    static Stream<Arguments> cases() {
        List<Arguments> cases = new ArrayList<>();
        for (Backend backend : Backend.values()) {
            for (Large large : Large.values()) {
                for (float scale : new float[]{1e4f, 1e8f, 1e16f, 1e30f}) {
                    cases.add(Arguments.of(backend, large, scale));
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0}, {1} x {2}")
    @MethodSource("cases")
    void hugePreActivationsSaturateLikeTheReference(Backend backend, Large large, float scale) {
        SplittableRandom random = new SplittableRandom(970 + large.ordinal());
        float[] weightIh = TestRnn.uniform(random, 4 * HIDDEN * INPUT,
                BOUND * (large == Large.INPUT_WEIGHTS ? scale : 1));
        float[] weightHh = TestRnn.uniform(random, 4 * HIDDEN * HIDDEN,
                BOUND * (large == Large.RECURRENT_WEIGHTS ? scale : 1));
        float[] biasIh = TestRnn.uniform(random, 4 * HIDDEN, BOUND * (large == Large.BIASES ? scale : 1));
        float[] biasHh = TestRnn.uniform(random, 4 * HIDDEN, BOUND);
        float[] x = large == Large.INPUT_WEIGHTS || large == Large.INPUTS
                ? oneHot(random, large == Large.INPUTS ? scale : 1)
                : TestRnn.uniform(random, STEPS * BATCH * INPUT, 1);
        float[] y = new float[STEPS * BATCH * HIDDEN];
        float[] cT = new float[BATCH * HIDDEN];
        try (Parameters parameters = Parameters.fromPyTorch(RnnShape.of(Cell.LSTM, INPUT, HIDDEN), weightIh, weightHh,
                biasIh, biasHh);
             Model model = Model.pack(parameters, Options.DEFAULT.withBackend(backend));
             Runner runner = model.runner(model.options().withMaxBatch(BATCH).withMaxSteps(STEPS))) {
            runner.forward(x, STEPS, BATCH, null, null, y, null, cT);
        }
        ReferenceLstm.Result expected = new ReferenceLstm(INPUT, HIDDEN, weightIh, weightHh, biasIh, biasHh)
                .forward(x, STEPS, BATCH, null, null);
        double tolerance = tolerance(large, scale);
        double yError = TestRnn.maxAbsError(y, expected.y());
        double cError = TestRnn.maxAbsError(cT, expected.cT());
        assertTrue(yError <= tolerance && cError <= tolerance,
                "max abs error: y " + yError + ", cT " + cError + "; tolerance " + tolerance);
        for (float h : y) {
            assertTrue(h >= -1f && h <= 1f, "h must stay in [-1, 1], got " + h);
        }
        for (float c : cT) {
            assertTrue(Math.abs(c) <= STEPS, "|c| can grow by at most 1 a step, got " + c);
        }
    }

    private static double tolerance(Large large, float scale) {
        if (large == Large.RECURRENT_WEIGHTS && scale < 1e8f) {
            return 0.25 * Math.ulp(1f) * scale * BOUND * HIDDEN;
        }
        return ForwardVsReferenceTest.TOLERANCE;
    }

    /** Inputs {@code [T][B][I]} with one entry of each row set to ±magnitude, the others zero. */
    private static float[] oneHot(SplittableRandom random, float magnitude) {
        float[] x = new float[STEPS * BATCH * INPUT];
        for (int row = 0; row < STEPS * BATCH; row++) {
            x[row * INPUT + random.nextInt(INPUT)] = random.nextBoolean() ? magnitude : -magnitude;
        }
        return x;
    }
}
