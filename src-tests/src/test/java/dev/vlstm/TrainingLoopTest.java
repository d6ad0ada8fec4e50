package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import org.junit.jupiter.api.Test;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.train.Adam;

/** Parameters, their initialisation, weight updates in place, and truncated BPTT windows. */
class TrainingLoopTest {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private static float[] floats(MemorySegment segment) {
        return segment.toArray(FLOAT);
    }

    @Test
    void initialisationIsSeededUniformWithTheForgetBiasSet() {
        try (LstmParameters first = LstmParameters.initialize(7, 9, 42);
             LstmParameters second = LstmParameters.initialize(7, 9, 42);
             LstmParameters other = LstmParameters.initialize(7, 9, 43)) {
            assertTrue(Arrays.equals(floats(first.weightHh()), floats(second.weightHh())), "same seed, same weights");
            assertTrue(!Arrays.equals(floats(first.weightHh()), floats(other.weightHh())), "another seed differs");
            double bound = 1 / Math.sqrt(9);
            for (float value : floats(first.weightIh())) {
                assertTrue(Math.abs(value) <= bound, "weight " + value + " outside the PyTorch bound " + bound);
            }
            float[] biasIh = floats(first.biasIh());
            float[] biasHh = floats(first.biasHh());
            for (int unit = 0; unit < 9; unit++) {
                assertEquals(LstmParameters.DEFAULT_FORGET_BIAS, biasIh[9 + unit] + biasHh[9 + unit]);
                assertTrue(Math.abs(biasIh[unit]) <= bound && Math.abs(biasHh[3 * 9 + unit]) <= bound);
            }
        }
    }

    @Test
    void updatedWeightsMatchTheReferenceOfTheNewParametersForTrainerAndRunner() {
        try (TestModel model = new TestModel(700, 5, 11);
             LstmParameters parameters = LstmParameters.fromPyTorch(5, 11, model.weightIh, model.weightHh,
                     model.biasIh, model.biasHh);
             LstmWeights weights = parameters.pack();
             LstmTrainer trainer = new LstmTrainer(weights, 2, 6);
             LstmRunner runner = new LstmRunner(weights, 2);
             LstmGradients gradients = new LstmGradients(weights);
             Adam adam = new Adam(parameters, gradients, 0.05)) {
            float[] x = model.input(6, 2);
            MemorySegment dy = MemorySegment.ofArray(model.uniform(6 * 2 * 11, 1f));
            for (int step = 0; step < 3; step++) {
                trainer.forward(MemorySegment.ofArray(x), 6, 2, null, null, null, null, null);
                trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
                adam.step();
                trainer.updateWeights(parameters);
            }
            ReferenceLstm updated = new ReferenceLstm(5, 11, floats(parameters.weightIh()),
                    floats(parameters.weightHh()), floats(parameters.biasIh()), floats(parameters.biasHh()));
            assertTrue(!Arrays.equals(model.weightHh, floats(parameters.weightHh())), "Adam changed the weights");
            float[] y = new float[6 * 2 * 11];
            runner.forward(x, 6, 2, null, null, y, null, null);
            ReferenceLstm.Result expected = updated.forward(x, 6, 2, null, null);
            ForwardVsReferenceTest.assertWithin("runner y", y, expected.y());
            float[] trained = new float[y.length];
            trainer.forward(MemorySegment.ofArray(x), 6, 2, null, null, MemorySegment.ofArray(trained), null, null);
            ForwardVsReferenceTest.assertWithin("trainer y", trained, expected.y());
            // The trainer's transposed copies follow too: its gradients match the reference of the new weights.
            trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
            double[] dyValues = new double[6 * 2 * 11];
            float[] dyFloats = floats(dy);
            for (int n = 0; n < dyValues.length; n++) {
                dyValues[n] = dyFloats[n];
            }
            double[] xValues = new double[x.length];
            for (int n = 0; n < x.length; n++) {
                xValues[n] = x[n];
            }
            TrainerVsReferenceTest.assertClose("weightHh after updates", floats(gradients.weightHh()),
                    updated.backward(xValues, 6, 2, null, null, dyValues, null, null).weightHh());

            parameters.weightHh().setAtIndex(FLOAT, 13, Float.NaN);
            Throwable thrown = assertThrows(IllegalArgumentException.class, () -> trainer.updateWeights(parameters));
            assertTrue(thrown.getMessage().contains("weightHh[1][2] is NaN"), thrown.getMessage());
        }
    }

    @Test
    void truncatedWindowsCarryTheStateAndCutTheGradientAtTheirBorder() {
        int window = 4;
        try (TestModel model = new TestModel(701, 3, 7);
             LstmTrainer trainer = new LstmTrainer(model.weights, 2, window);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            float[] x = model.input(2 * window, 2);
            float[] dy = model.uniform(2 * window * 2 * 7, 1f);
            int frame = window * 2 * 3;
            int outputs = window * 2 * 7;
            float[] h = new float[2 * 7];
            float[] c = new float[2 * 7];
            double[] expectedWeightHh = new double[4 * 7 * 7];
            double[] h0 = new double[2 * 7];
            double[] c0 = new double[2 * 7];
            for (int w = 0; w < 2; w++) {
                float[] windowX = Arrays.copyOfRange(x, w * frame, (w + 1) * frame);
                float[] windowDy = Arrays.copyOfRange(dy, w * outputs, (w + 1) * outputs);
                MemorySegment state = MemorySegment.ofArray(h);
                MemorySegment cell = MemorySegment.ofArray(c);
                trainer.forward(MemorySegment.ofArray(windowX), window, 2, state, cell, null, state, cell);
                trainer.backward(MemorySegment.ofArray(windowDy), null, null, gradients,
                        w == 0 ? GradientMode.OVERWRITE : GradientMode.ACCUMULATE, null, null, null);
                // The reference of this window alone, from the carried state: nothing flows across the border.
                ReferenceLstm.Gradients reference = model.reference.backward(toDoubles(windowX), window, 2, h0, c0,
                        toDoubles(windowDy), null, null);
                for (int n = 0; n < expectedWeightHh.length; n++) {
                    expectedWeightHh[n] += reference.weightHh()[n];
                }
                ReferenceLstm.Result carried = model.reference.forward(toDoubles(windowX), window, 2, h0, c0);
                h0 = carried.hT();
                c0 = carried.cT();
                ForwardVsReferenceTest.assertWithin("carried h after window " + w, h, h0);
            }
            TrainerVsReferenceTest.assertClose("weightHh summed over windows", floats(gradients.weightHh()),
                    expectedWeightHh);
        }
    }

    private static double[] toDoubles(float[] values) {
        double[] result = new double[values.length];
        for (int n = 0; n < values.length; n++) {
            result[n] = values[n];
        }
        return result;
    }
}
