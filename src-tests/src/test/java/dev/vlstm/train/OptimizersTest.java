package dev.vlstm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

import dev.vlstm.LstmGradients;
import dev.vlstm.LstmParameters;
import dev.vlstm.LstmWeights;

/** SGD, Adam and clipping against updates computed by hand (in double) for a tiny layer, I = 1 and H = 1. */
class OptimizersTest {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    /** Sets every gradient element to {@code base + index * 0.1}, a different value per element and tensor. */
    private static void setGradients(LstmGradients gradients, double base) {
        MemorySegment[] tensors = {gradients.weightIh(), gradients.weightHh(), gradients.biasIh(), gradients.biasHh()};
        for (int t = 0; t < tensors.length; t++) {
            for (int i = 0; i < 4; i++) {
                tensors[t].setAtIndex(FLOAT, i, (float) (base + t + i * 0.1));
            }
        }
    }

    private static float parameter(LstmParameters parameters, int tensor, int i) {
        MemorySegment[] tensors = {parameters.weightIh(), parameters.weightHh(), parameters.biasIh(),
                parameters.biasHh()};
        return tensors[tensor].getAtIndex(FLOAT, i);
    }

    private static LstmGradients gradientsFor(LstmParameters parameters) {
        try (LstmWeights weights = parameters.pack()) {
            return new LstmGradients(weights);
        }
    }

    @Test
    void sgdWithMomentumFollowsTheFormulaStepByStep() {
        try (LstmParameters parameters = LstmParameters.initialize(1, 1, 3);
             LstmGradients gradients = gradientsFor(parameters);
             Sgd sgd = new Sgd(parameters, gradients, 0.5, 0.9)) {
            double[][] expected = new double[4][4];
            double[][] velocity = new double[4][4];
            for (int t = 0; t < 4; t++) {
                for (int i = 0; i < 4; i++) {
                    expected[t][i] = parameter(parameters, t, i);
                }
            }
            for (int step = 0; step < 3; step++) {
                setGradients(gradients, step - 1.0);
                sgd.step();
                for (int t = 0; t < 4; t++) {
                    for (int i = 0; i < 4; i++) {
                        double g = (float) (step - 1.0 + t + i * 0.1);
                        velocity[t][i] = 0.9 * velocity[t][i] + g;
                        expected[t][i] -= 0.5 * velocity[t][i];
                        assertEquals(expected[t][i], parameter(parameters, t, i), 1e-5, "step " + step);
                    }
                }
            }
        }
    }

    @Test
    void adamFollowsTheFormulaWithBiasCorrection() {
        try (LstmParameters parameters = LstmParameters.initialize(1, 1, 4);
             LstmGradients gradients = gradientsFor(parameters);
             Adam adam = new Adam(parameters, gradients, 0.01)) {
            double[][] expected = new double[4][4];
            double[][] m = new double[4][4];
            double[][] v = new double[4][4];
            for (int t = 0; t < 4; t++) {
                for (int i = 0; i < 4; i++) {
                    expected[t][i] = parameter(parameters, t, i);
                }
            }
            for (int step = 1; step <= 3; step++) {
                setGradients(gradients, 0.5 - step);
                adam.step();
                for (int t = 0; t < 4; t++) {
                    for (int i = 0; i < 4; i++) {
                        double g = (float) (0.5 - step + t + i * 0.1);
                        m[t][i] = 0.9 * m[t][i] + 0.1 * g;
                        v[t][i] = 0.999 * v[t][i] + 0.001 * g * g;
                        double mHat = m[t][i] / (1 - Math.pow(0.9, step));
                        double vHat = v[t][i] / (1 - Math.pow(0.999, step));
                        expected[t][i] -= 0.01 * mHat / (Math.sqrt(vHat) + 1e-8);
                        assertEquals(expected[t][i], parameter(parameters, t, i), 1e-6, "step " + step);
                    }
                }
            }
            assertEquals(3, adam.steps());
        }
    }

    @Test
    void clippingScalesToTheMaximumNormOnlyWhenAbove() {
        try (LstmParameters parameters = LstmParameters.initialize(1, 1, 5);
             LstmGradients gradients = gradientsFor(parameters)) {
            setGradients(gradients, 1.0);
            double sumOfSquares = 0;
            for (int t = 0; t < 4; t++) {
                for (int i = 0; i < 4; i++) {
                    double g = (float) (1.0 + t + i * 0.1);
                    sumOfSquares += g * g;
                }
            }
            double norm = Math.sqrt(sumOfSquares);
            assertEquals(norm, GradientClipping.clipGlobalNorm(gradients, 1000), 1e-9, "norm below the maximum");
            assertEquals((float) 1.0, gradients.weightIh().getAtIndex(FLOAT, 0), "unchanged below the maximum");
            assertEquals(norm, GradientClipping.clipGlobalNorm(gradients, 2), 1e-9);
            double scale = 2 / (norm + 1e-6);
            assertEquals(4.3 * scale, gradients.biasHh().getAtIndex(FLOAT, 3), 1e-6);
            assertEquals(2, GradientClipping.clipGlobalNorm(gradients, 1000), 1e-5, "clipped norm");
            gradients.weightHh().setAtIndex(FLOAT, 1, Float.NaN);
            assertTrue(Double.isNaN(GradientClipping.clipGlobalNorm(gradients, 1)));
            assertEquals((float) (1.0 * scale), gradients.weightIh().getAtIndex(FLOAT, 0), 1e-7f, "not scaled by NaN");
        }
    }

    @Test
    void badSettingsAreRefused() {
        try (LstmParameters parameters = LstmParameters.initialize(1, 1, 6);
             LstmParameters bigger = LstmParameters.initialize(2, 3, 6);
             LstmGradients gradients = gradientsFor(parameters)) {
            assertThrows(IllegalArgumentException.class, () -> new Sgd(parameters, gradients, 0, 0.9));
            assertThrows(IllegalArgumentException.class, () -> new Sgd(parameters, gradients, 0.1, 1));
            assertThrows(IllegalArgumentException.class, () -> new Adam(parameters, gradients, 0.1, 1, 0.9, 1e-8));
            assertThrows(IllegalArgumentException.class, () -> new Adam(parameters, gradients, Double.NaN));
            assertThrows(IllegalArgumentException.class, () -> new Sgd(bigger, gradients, 0.1, 0));
            assertThrows(IllegalArgumentException.class, () -> GradientClipping.clipGlobalNorm(gradients, 0));
            assertThrows(NullPointerException.class, () -> new Adam(null, gradients, 0.1));
        }
    }
}
