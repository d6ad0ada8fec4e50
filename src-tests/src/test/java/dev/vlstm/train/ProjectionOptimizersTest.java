package dev.vlstm.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

import dev.vlstm.LstmGradients;
import dev.vlstm.LstmParameters;

/**
 * The optimizers and clipping include dW_hr of a projected layer (I = 1, H = 2, P = 1: W_hr is {@code [1][2]}),
 * against updates computed by hand in double (within 1e-6, float arithmetic); mismatched projections are refused by
 * name; the projected initialisation draws W_hr from PyTorch's bound and leaves a model without projection as it
 * was.
 */
class ProjectionOptimizersTest {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final float[] GRADIENT = {0.25f, -0.5f};

    private static LstmParameters projected() {
        return LstmParameters.fromPyTorch(1, 2, 1, new float[8], new float[8], null, null,
                new float[]{0.5f, -0.25f});
    }

    private static void setWeightHrGradient(LstmGradients gradients, float scale) {
        for (int i = 0; i < GRADIENT.length; i++) {
            gradients.weightHr().setAtIndex(FLOAT, i, scale * GRADIENT[i]);
        }
    }

    @Test
    void sgdWithMomentumUpdatesWeightHr() {
        try (LstmParameters parameters = projected();
             LstmGradients gradients = new LstmGradients(1, 2, 1, false);
             Sgd sgd = new Sgd(parameters, gradients, 0.5, 0.9)) {
            double[] expected = {0.5, -0.25};
            double[] velocity = new double[2];
            for (int step = 1; step <= 3; step++) {
                setWeightHrGradient(gradients, step);
                sgd.step();
                for (int i = 0; i < 2; i++) {
                    velocity[i] = 0.9 * velocity[i] + step * GRADIENT[i];
                    expected[i] -= 0.5 * velocity[i];
                    assertEquals(expected[i], parameters.weightHr().getAtIndex(FLOAT, i), 1e-6, "step " + step);
                }
            }
        }
    }

    @Test
    void adamUpdatesWeightHrWithBiasCorrection() {
        try (LstmParameters parameters = projected();
             LstmGradients gradients = new LstmGradients(1, 2, 1, false);
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
                    assertEquals(expected[i], parameters.weightHr().getAtIndex(FLOAT, i), 1e-6, "step " + step);
                }
            }
        }
    }

    /** dW_hr alone has norm sqrt(0.25² + 0.5²); clipped to 0.1 it scales by 0.1 / (norm + 1e-6). */
    @Test
    void clippingCountsAndScalesWeightHr() {
        try (LstmGradients gradients = new LstmGradients(1, 2, 1, false)) {
            setWeightHrGradient(gradients, 1);
            double norm = Math.sqrt(0.25 * 0.25 + 0.5 * 0.5);
            assertEquals(norm, GradientClipping.clipGlobalNorm(gradients, 0.1), 1e-7);
            double scale = 0.1 / (norm + 1e-6);
            for (int i = 0; i < 2; i++) {
                assertEquals(GRADIENT[i] * scale, gradients.weightHr().getAtIndex(FLOAT, i), 1e-7);
            }
        }
    }

    @Test
    void mismatchedProjectionsAreRefusedByName() {
        try (LstmParameters parameters = projected();
             LstmParameters plain = LstmParameters.initialize(1, 2, 5);
             LstmGradients projectedGradients = new LstmGradients(1, 2, 1, false);
             LstmGradients plainGradients = new LstmGradients(1, 2)) {
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                    () -> new Adam(parameters, plainGradients, 0.1));
            assertTrue(thrown.getMessage().contains("parameters have projectionSize 1 (PyTorch's proj_size), but the"
                    + " gradients hold no dW_hr"), thrown.getMessage());
            thrown = assertThrows(IllegalArgumentException.class, () -> new Sgd(plain, projectedGradients, 0.1, 0));
            assertTrue(thrown.getMessage().contains("gradients hold dW_hr (a projection), but the parameters have no"
                    + " projection"), thrown.getMessage());
        }
    }

    @Test
    void projectedInitialisationDrawsWeightHrInPyTorchsBound() {
        try (LstmParameters projected = LstmParameters.initializeProjected(3, 9, 4, 42);
             LstmParameters unprojected = LstmParameters.initializeProjected(3, 9, 0, 42);
             LstmParameters classic = LstmParameters.initialize(3, 9, 42)) {
            assertEquals(4, projected.projectionSize());
            assertEquals(4L * 4 * 9 * Float.BYTES, projected.weightHh().byteSize());
            assertEquals(4L * 9 * Float.BYTES, projected.weightHr().byteSize());
            double bound = 1 / Math.sqrt(9);
            float[] weightHr = projected.weightHr().toArray(FLOAT);
            boolean nonZero = false;
            for (float value : weightHr) {
                assertTrue(Math.abs(value) <= bound, "weight_hr " + value + " outside the PyTorch bound " + bound);
                nonZero |= value != 0;
            }
            assertTrue(nonZero, "weight_hr is drawn");
            assertEquals(LstmParameters.DEFAULT_FORGET_BIAS, projected.biasIh().getAtIndex(FLOAT, 9));
            assertArrayEquals(classic.weightHh().toArray(FLOAT), unprojected.weightHh().toArray(FLOAT));
            assertArrayEquals(classic.biasHh().toArray(FLOAT), unprojected.biasHh().toArray(FLOAT));
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                    () -> LstmParameters.initializeProjected(3, 9, 9, 1));
            assertTrue(thrown.getMessage().contains("projectionSize must be < hiddenSize"), thrown.getMessage());
        }
    }
}
