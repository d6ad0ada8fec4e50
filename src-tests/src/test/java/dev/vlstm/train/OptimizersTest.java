package dev.vlstm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import dev.vlstm.Cell;
import dev.vlstm.Direction;
import dev.vlstm.Gradients;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;

/**
 * SGD, Adam and clipping against updates computed by hand (in double) for a tiny LSTM or GRU layer, I = 1 and H = 1
 * (each of its four tensors G values, G the gate count); and clipping a whole stack by one norm over every layer and
 * direction, as clip_grad_norm_ does on nn.LSTM and nn.GRU. Adam follows the formula with PyTorch's betas and eps and
 * with others, and refuses them out of range.
 */
class OptimizersTest {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private static RnnShape tiny(Cell cell) {
        return RnnShape.of(cell, 1, 1);
    }

    /** Element i of tensor t (in state_dict order) is set to {@code base + t + i * 0.1}, a value of its own. */
    private static double gradient(double base, int t, int i) {
        return (float) (base + t + i * 0.1);
    }

    private static void setGradients(Gradients gradients, double base) {
        List<String> names = gradients.names();
        for (int t = 0; t < names.size(); t++) {
            for (int i = 0; i < gradients.shape().gates(); i++) {
                gradients.tensor(names.get(t)).setAtIndex(FLOAT, i, (float) gradient(base, t, i));
            }
        }
    }

    /** Every parameter as a double, {@code [tensor][element]}. */
    private static double[][] values(Parameters parameters) {
        List<String> names = parameters.names();
        double[][] values = new double[names.size()][parameters.shape().gates()];
        for (int t = 0; t < values.length; t++) {
            for (int i = 0; i < values[t].length; i++) {
                values[t][i] = parameters.tensor(names.get(t)).getAtIndex(FLOAT, i);
            }
        }
        return values;
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void sgdWithMomentumFollowsTheFormulaStepByStep(Cell cell) {
        try (Parameters parameters = Parameters.initialize(tiny(cell), 3);
             Gradients gradients = new Gradients(tiny(cell));
             Sgd sgd = new Sgd(parameters, gradients, 0.5, 0.9)) {
            double[][] expected = values(parameters);
            double[][] velocity = new double[expected.length][expected[0].length];
            for (int step = 0; step < 3; step++) {
                setGradients(gradients, step - 1.0);
                sgd.step();
                double[][] actual = values(parameters);
                for (int t = 0; t < expected.length; t++) {
                    for (int i = 0; i < expected[t].length; i++) {
                        velocity[t][i] = 0.9 * velocity[t][i] + gradient(step - 1.0, t, i);
                        expected[t][i] -= 0.5 * velocity[t][i];
                        assertEquals(expected[t][i], actual[t][i], 1e-5, "step " + step);
                    }
                }
            }
        }
    }

    /** With PyTorch's defaults (betas 0.9 and 0.999, eps 1e-8), and with betas and eps of its own. */
    @ParameterizedTest(name = "{0} defaults={1}")
    @CsvSource({"LSTM, true", "GRU, true", "LSTM, false", "GRU, false"})
    void adamFollowsTheFormulaWithBiasCorrection(Cell cell, boolean defaults) {
        double beta1 = defaults ? 0.9 : 0.5;
        double beta2 = defaults ? 0.999 : 0.75;
        double epsilon = defaults ? 1e-8 : 1e-3;
        try (Parameters parameters = Parameters.initialize(tiny(cell), 4);
             Gradients gradients = new Gradients(tiny(cell));
             Adam adam = defaults ? new Adam(parameters, gradients, 0.01)
                     : new Adam(parameters, gradients, 0.01, beta1, beta2, epsilon)) {
            double[][] expected = values(parameters);
            double[][] m = new double[expected.length][expected[0].length];
            double[][] v = new double[expected.length][expected[0].length];
            for (int step = 1; step <= 3; step++) {
                setGradients(gradients, 0.5 - step);
                adam.step();
                double[][] actual = values(parameters);
                for (int t = 0; t < expected.length; t++) {
                    for (int i = 0; i < expected[t].length; i++) {
                        double g = gradient(0.5 - step, t, i);
                        m[t][i] = beta1 * m[t][i] + (1 - beta1) * g;
                        v[t][i] = beta2 * v[t][i] + (1 - beta2) * g * g;
                        double mHat = m[t][i] / (1 - Math.pow(beta1, step));
                        double vHat = v[t][i] / (1 - Math.pow(beta2, step));
                        expected[t][i] -= 0.01 * mHat / (Math.sqrt(vHat) + epsilon);
                        assertEquals(expected[t][i], actual[t][i], 1e-6, "step " + step);
                    }
                }
            }
            assertEquals(3, adam.steps());
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void clippingScalesToTheMaximumNormOnlyWhenAbove(Cell cell) {
        int gates = cell.gates();
        try (Gradients gradients = new Gradients(tiny(cell))) {
            setGradients(gradients, 1.0);
            double sumOfSquares = 0;
            for (int t = 0; t < 4; t++) {
                for (int i = 0; i < gates; i++) {
                    sumOfSquares += gradient(1.0, t, i) * gradient(1.0, t, i);
                }
            }
            double norm = Math.sqrt(sumOfSquares);
            assertEquals(norm, GradientClipping.clipGlobalNorm(gradients, 1000), 1e-9, "norm below the maximum");
            assertEquals((float) 1.0, gradients.tensor("weight_ih_l0").getAtIndex(FLOAT, 0),
                    "unchanged below the maximum");
            assertEquals(norm, GradientClipping.clipGlobalNorm(gradients, 2), 1e-9);
            double scale = 2 / (norm + 1e-6);
            assertEquals(gradient(1.0, 3, gates - 1) * scale,
                    gradients.tensor("bias_hh_l0").getAtIndex(FLOAT, gates - 1), 1e-6);
            assertEquals(2, GradientClipping.clipGlobalNorm(gradients, 1000), 1e-5, "clipped norm");
            gradients.tensor("weight_hh_l0").setAtIndex(FLOAT, 1, Float.NaN);
            assertTrue(Double.isNaN(GradientClipping.clipGlobalNorm(gradients, 1)));
            assertEquals((float) (1.0 * scale), gradients.tensor("weight_ih_l0").getAtIndex(FLOAT, 0), 1e-7f,
                    "not scaled by NaN");
        }
    }

    /** Layers of very different sizes, so that clipping each alone would scale them differently. */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void aStackIsClippedByOneNormOverEveryLayerAndOneScaleForAll(Cell cell) {
        RnnShape shape = RnnShape.of(cell, 3, 4).withLayers(2).withDirection(Direction.BIDIRECTIONAL);
        try (Gradients gradients = new Gradients(shape)) {
            SplittableRandom random = new SplittableRandom(5);
            double squares = 0;
            for (int layer = 0; layer < 2; layer++) {
                for (int direction = 0; direction < 2; direction++) {
                    double magnitude = layer * 2 + direction + 1;
                    for (String stem : List.of("weight_ih", "weight_hh", "bias_ih", "bias_hh")) {
                        MemorySegment tensor = gradients.tensor(shape.tensorName(stem, layer, direction));
                        for (long n = 0; n < tensor.byteSize() / Float.BYTES; n++) {
                            float value = (float) (random.nextDouble(-1, 1) * magnitude);
                            tensor.setAtIndex(FLOAT, n, value);
                            squares += (double) value * value;
                        }
                    }
                }
            }
            float before = gradients.tensor("weight_hh_l1_reverse").getAtIndex(FLOAT, 3);
            float beforeFirst = gradients.tensor("bias_ih_l0").getAtIndex(FLOAT, 1);
            double norm = Math.sqrt(squares);
            assertEquals(norm, GradientClipping.clipGlobalNorm(gradients, norm / 4), 1e-9 * norm);
            double scale = (norm / 4) / (norm + 1e-6);
            assertEquals(before * scale, gradients.tensor("weight_hh_l1_reverse").getAtIndex(FLOAT, 3), 1e-6);
            assertEquals(beforeFirst * scale, gradients.tensor("bias_ih_l0").getAtIndex(FLOAT, 1), 1e-6);
            assertEquals(norm / 4, GradientClipping.clipGlobalNorm(gradients, norm), 1e-5 * norm, "clipped norm");
            assertThrows(IllegalArgumentException.class, () -> GradientClipping.clipGlobalNorm(gradients, -1));
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void badSettingsAreRefused(Cell cell) {
        try (Parameters parameters = Parameters.initialize(tiny(cell), 6);
             Parameters bigger = Parameters.initialize(RnnShape.of(cell, 2, 3), 6);
             Gradients gradients = new Gradients(tiny(cell))) {
            assertThrows(IllegalArgumentException.class, () -> new Sgd(parameters, gradients, 0, 0.9));
            assertThrows(IllegalArgumentException.class, () -> new Sgd(parameters, gradients, 0.1, 1));
            assertThrows(IllegalArgumentException.class, () -> new Adam(parameters, gradients, Double.NaN));
            assertThrows(IllegalArgumentException.class, () -> new Sgd(bigger, gradients, 0.1, 0));
            assertThrows(IllegalArgumentException.class, () -> GradientClipping.clipGlobalNorm(gradients, 0));
            assertThrows(NullPointerException.class, () -> new Adam(null, gradients, 0.1));
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void adamRefusesHyperparametersOutOfRange(Cell cell) {
        try (Parameters parameters = Parameters.initialize(tiny(cell), 6);
             Gradients gradients = new Gradients(tiny(cell))) {
            assertEquals("Adam needs learningRate > 0, betas in [0, 1) and epsilon > 0, got 0.1, 1.0, 0.9, 1.0E-8",
                    assertThrows(IllegalArgumentException.class,
                            () -> new Adam(parameters, gradients, 0.1, 1, 0.9, 1e-8)).getMessage());
            assertThrows(IllegalArgumentException.class, () -> new Adam(parameters, gradients, 0.1, 0.9, 1, 1e-8));
            assertThrows(IllegalArgumentException.class, () -> new Adam(parameters, gradients, 0.1, -0.1, 0.9, 1e-8));
            assertThrows(IllegalArgumentException.class, () -> new Adam(parameters, gradients, 0.1, 0.9, 0.999, 0));
            assertThrows(IllegalArgumentException.class, () -> new Adam(parameters, gradients, 0, 0.9, 0.999, 1e-8));
        }
    }
}
