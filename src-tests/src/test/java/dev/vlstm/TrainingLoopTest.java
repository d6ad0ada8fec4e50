package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

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
        int steps = 10;
        try (TestModel model = new TestModel(701, 3, 7);
             LstmTrainer trainer = new LstmTrainer(model.weights, 2, window);
             TruncatedBptt truncated = new TruncatedBptt(trainer);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            float[] x = model.input(steps, 2);
            float[] dy = model.uniform(steps * 2 * 7, 1f);
            float[] h0 = model.uniform(2 * 7, 0.5f);
            float[] hT = new float[2 * 7];
            List<int[]> windows = new ArrayList<>();
            truncated.run(MemorySegment.ofArray(x), steps, 2, MemorySegment.ofArray(h0), null,
                    (start, length, y, windowDy) -> MemorySegment.copy(MemorySegment.ofArray(dy),
                            (long) start * 2 * 7 * Float.BYTES, windowDy, 0, windowDy.byteSize()),
                    gradients, GradientMode.ACCUMULATE, (start, length) -> windows.add(new int[]{start, length}),
                    MemorySegment.ofArray(hT), null);
            assertEquals(List.of("0+4", "4+4", "8+2"), windows.stream().map(w -> w[0] + "+" + w[1]).toList());

            // The reference of each window alone, from the carried state: nothing flows across a border.
            double[] expectedWeightIh = new double[4 * 7 * 3];
            double[] expectedWeightHh = new double[4 * 7 * 7];
            double[] expectedBias = new double[4 * 7];
            double[] h = toDoubles(h0);
            double[] c = new double[2 * 7];
            for (int start = 0; start < steps; start += window) {
                int length = Math.min(window, steps - start);
                double[] windowX = toDoubles(Arrays.copyOfRange(x, start * 2 * 3, (start + length) * 2 * 3));
                double[] windowDy = toDoubles(Arrays.copyOfRange(dy, start * 2 * 7, (start + length) * 2 * 7));
                ReferenceLstm.Gradients reference = model.reference.backward(windowX, length, 2, h, c, windowDy,
                        null, null);
                add(expectedWeightIh, reference.weightIh());
                add(expectedWeightHh, reference.weightHh());
                add(expectedBias, reference.biasIh());
                ReferenceLstm.Result carried = model.reference.forward(windowX, length, 2, h, c);
                h = carried.hT();
                c = carried.cT();
            }
            ForwardVsReferenceTest.assertWithin("hT after the last window", hT, h);
            TrainerVsReferenceTest.assertClose("weightIh summed over windows", floats(gradients.weightIh()),
                    expectedWeightIh);
            TrainerVsReferenceTest.assertClose("weightHh summed over windows", floats(gradients.weightHh()),
                    expectedWeightHh);
            TrainerVsReferenceTest.assertClose("biasIh summed over windows", floats(gradients.biasIh()),
                    expectedBias);
        }
    }

    @Test
    void oneTruncatedWindowIsFullBackpropagationThroughTime() {
        try (TestModel model = new TestModel(702, 5, 9);
             LstmTrainer trainer = new LstmTrainer(model.weights, 3, 6);
             TruncatedBptt truncated = new TruncatedBptt(trainer);
             LstmGradients windowed = new LstmGradients(model.weights);
             LstmGradients full = new LstmGradients(model.weights)) {
            MemorySegment x = MemorySegment.ofArray(model.input(6, 3));
            float[] dy = model.uniform(6 * 3 * 9, 1f);
            truncated.run(x, 6, 3, null, null, (start, length, y, windowDy) ->
                    MemorySegment.copy(MemorySegment.ofArray(dy), 0, windowDy, 0, windowDy.byteSize()),
                    windowed, GradientMode.OVERWRITE, null, null, null);
            trainer.forward(x, 6, 3, null, null, null, null, null);
            trainer.backward(MemorySegment.ofArray(dy), null, null, full, GradientMode.OVERWRITE, null, null, null);
            assertArrayEquals(floats(full.weightIh()), floats(windowed.weightIh()));
            assertArrayEquals(floats(full.weightHh()), floats(windowed.weightHh()));
            assertArrayEquals(floats(full.biasHh()), floats(windowed.biasHh()));
        }
    }

    @Test
    void truncatedBpttRefusesBadInputByName() {
        try (TestModel model = new TestModel(703, 2, 3);
             LstmTrainer trainer = new LstmTrainer(model.weights, 2, 4);
             TruncatedBptt truncated = new TruncatedBptt(trainer);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            MemorySegment x = MemorySegment.ofArray(model.input(9, 2));
            TruncatedBptt.WindowLoss loss = (start, length, y, dy) -> { };
            IllegalArgumentException tooBig = assertThrows(IllegalArgumentException.class, () ->
                    truncated.run(MemorySegment.ofArray(model.input(9, 3)), 9, 3, null, null, loss, gradients,
                            GradientMode.OVERWRITE, null, null, null));
            assertTrue(tooBig.getMessage().contains("maxBatch"), tooBig.getMessage());
            IllegalArgumentException shortX = assertThrows(IllegalArgumentException.class, () ->
                    truncated.run(x, 10, 2, null, null, loss, gradients, GradientMode.OVERWRITE, null, null, null));
            assertTrue(shortX.getMessage().startsWith("x "), shortX.getMessage());
            assertThrows(NullPointerException.class, () ->
                    truncated.run(x, 9, 2, null, null, null, gradients, GradientMode.OVERWRITE, null, null, null));
            truncated.close();
            assertThrows(IllegalStateException.class, () ->
                    truncated.run(x, 9, 2, null, null, loss, gradients, GradientMode.OVERWRITE, null, null, null));
        }
    }

    private static void add(double[] sum, double[] values) {
        for (int n = 0; n < sum.length; n++) {
            sum[n] += values[n];
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
