package dev.vlstm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

import dev.vlstm.Cell;
import dev.vlstm.Gradients;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;

/**
 * The optimizers and clipping include dW_hr of a projected layer (I = 1, H = 2, P = 1: W_hr is {@code [1][2]}),
 * against updates computed by hand in double (within 1e-6, float arithmetic); mismatched projections are refused
 * naming both shapes; the projected initialisation draws W_hr from PyTorch's bound, last, so that the other tensors
 * are those of the same model without projection.
 */
class ProjectionOptimizersTest {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final float[] GRADIENT = {0.25f, -0.5f};
    private static final RnnShape PLAIN = RnnShape.of(Cell.LSTM, 1, 2);
    private static final RnnShape PROJECTED = PLAIN.withProjection(1);

    private static Parameters projected() {
        return Parameters.fromPyTorch(PROJECTED, new float[8], new float[8], null, null, new float[] {0.5f, -0.25f});
    }

    private static void setWeightHrGradient(Gradients gradients, float scale) {
        for (int i = 0; i < GRADIENT.length; i++) {
            gradients.tensor("weight_hr_l0").setAtIndex(FLOAT, i, scale * GRADIENT[i]);
        }
    }

    @Test
    void sgdWithMomentumUpdatesWeightHr() {
        try (Parameters parameters = projected();
             Gradients gradients = new Gradients(PROJECTED);
             Sgd sgd = new Sgd(parameters, gradients, 0.5, 0.9)) {
            double[] expected = {0.5, -0.25};
            double[] velocity = new double[2];
            for (int step = 1; step <= 3; step++) {
                setWeightHrGradient(gradients, step);
                sgd.step();
                for (int i = 0; i < 2; i++) {
                    velocity[i] = 0.9 * velocity[i] + step * GRADIENT[i];
                    expected[i] -= 0.5 * velocity[i];
                    assertEquals(expected[i], parameters.tensor("weight_hr_l0").getAtIndex(FLOAT, i), 1e-6,
                            "step " + step);
                }
            }
        }
    }

    @Test
    void adamUpdatesWeightHrWithBiasCorrection() {
        try (Parameters parameters = projected();
             Gradients gradients = new Gradients(PROJECTED);
             Adam adam = new Adam(parameters, gradients, 0.01)) {
            double[] expected = {0.5, -0.25};
            double[] m = new double[2];
            double[] v = new double[2];
            for (int step = 1; step <= 3; step++) {
                setWeightHrGradient(gradients, step);
                adam.step();
                for (int i = 0; i < 2; i++) {
                    double g = step * GRADIENT[i];
                    m[i] = 0.9 * m[i] + 0.1 * g;
                    v[i] = 0.999 * v[i] + 0.001 * g * g;
                    double mHat = m[i] / (1 - Math.pow(0.9, step));
                    double vHat = v[i] / (1 - Math.pow(0.999, step));
                    expected[i] -= 0.01 * mHat / (Math.sqrt(vHat) + 1e-8);
                    assertEquals(expected[i], parameters.tensor("weight_hr_l0").getAtIndex(FLOAT, i), 1e-6,
                            "step " + step);
                }
            }
        }
    }

    /** dW_hr alone has norm sqrt(0.25² + 0.5²); clipped to 0.1 it scales by 0.1 / (norm + 1e-6). */
    @Test
    void clippingCountsAndScalesWeightHr() {
        try (Gradients gradients = new Gradients(PROJECTED)) {
            setWeightHrGradient(gradients, 1);
            double norm = Math.sqrt(0.25 * 0.25 + 0.5 * 0.5);
            assertEquals(norm, GradientClipping.clipGlobalNorm(gradients, 0.1), 1e-7);
            double scale = 0.1 / (norm + 1e-6);
            for (int i = 0; i < 2; i++) {
                assertEquals(GRADIENT[i] * scale, gradients.tensor("weight_hr_l0").getAtIndex(FLOAT, i), 1e-7);
            }
        }
    }

    @Test
    void mismatchedProjectionsAreRefusedNamingBothShapes() {
        try (Parameters parameters = projected();
             Parameters plain = Parameters.initialize(PLAIN, 5);
             Gradients projectedGradients = new Gradients(PROJECTED);
             Gradients plainGradients = new Gradients(PLAIN)) {
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                    () -> new Adam(parameters, plainGradients, 0.1));
            assertEquals("gradients are for a model of " + PLAIN + ", but the parameters are for " + PROJECTED,
                    thrown.getMessage());
            thrown = assertThrows(IllegalArgumentException.class, () -> new Sgd(plain, projectedGradients, 0.1, 0));
            assertEquals("gradients are for a model of " + PROJECTED + ", but the parameters are for " + PLAIN,
                    thrown.getMessage());
        }
    }

    @Test
    void projectedInitialisationDrawsWeightHrInPyTorchsBoundAfterTheOtherTensors() {
        RnnShape plainShape = RnnShape.of(Cell.LSTM, 3, 9);
        try (Parameters projected = Parameters.initialize(plainShape.withProjection(4), 42);
             Parameters plain = Parameters.initialize(plainShape, 42)) {
            assertEquals(4L * 4 * 9 * Float.BYTES, projected.tensor("weight_hh_l0").byteSize());
            assertEquals(4L * 9 * Float.BYTES, projected.tensor("weight_hr_l0").byteSize());
            double bound = 1 / Math.sqrt(9);
            boolean nonZero = false;
            for (float value : projected.tensor("weight_hr_l0").toArray(FLOAT)) {
                assertTrue(Math.abs(value) <= bound, "weight_hr " + value + " outside the PyTorch bound " + bound);
                nonZero |= value != 0;
            }
            assertTrue(nonZero, "weight_hr is drawn");
            assertEquals(1f, projected.tensor("bias_ih_l0").getAtIndex(FLOAT, 9), "the forget-gate bias");
            assertArrayEquals(plain.tensor("weight_ih_l0").toArray(FLOAT),
                    projected.tensor("weight_ih_l0").toArray(FLOAT));
        }
    }
}
