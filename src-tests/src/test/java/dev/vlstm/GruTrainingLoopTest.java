package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/**
 * A GRU learns with {@link GruTrainer}, {@link GruParameters} and {@link GruTrainer#updateWeights}: plain SGD written
 * out here (the optimizers of dev.vlstm.train take LSTM tensors) on a task a GRU can solve, the mean of a sequence's
 * inputs read from the first unit of hT; and the repacked weights are exactly what packing the parameters afresh gives.
 */
class GruTrainingLoopTest {

    private static final int INPUT = 1;
    private static final int HIDDEN = 8;
    private static final int STEPS = 6;
    private static final int BATCH = 16;
    private static final float LEARNING_RATE = 0.5f;

    /** The loss of the last 20 updates is a fifth of the first 20's or less. */
    @Test
    void sgdLowersTheLossAndUpdatedWeightsEqualFreshlyPackedOnes() {
        SplittableRandom random = new SplittableRandom(5);
        int updates = 300;
        double[] losses = new double[updates];
        try (GruParameters parameters = GruParameters.initialize(INPUT, HIDDEN, 42);
             GruWeights weights = parameters.pack();
             GruTrainer trainer = new GruTrainer(weights, BATCH, STEPS);
             GruGradients gradients = new GruGradients(weights)) {
            float[] hT = new float[BATCH * HIDDEN];
            float[] dhT = new float[BATCH * HIDDEN];
            for (int update = 0; update < updates; update++) {
                float[] x = TestModel.uniform(random, STEPS * BATCH * INPUT, 1f);
                trainer.forward(x, STEPS, BATCH, null, null, hT);
                double loss = 0;
                for (int b = 0; b < BATCH; b++) {
                    double mean = 0;
                    for (int t = 0; t < STEPS; t++) {
                        mean += x[t * BATCH + b] / (double) STEPS;
                    }
                    double error = hT[b * HIDDEN] - mean;
                    loss += 0.5 * error * error / BATCH;
                    dhT[b * HIDDEN] = (float) (error / BATCH);
                }
                losses[update] = loss;
                trainer.backward(null, dhT, gradients, GradientMode.OVERWRITE, null, null);
                descend(parameters.weightIh(), gradients.weightIh());
                descend(parameters.weightHh(), gradients.weightHh());
                descend(parameters.biasIh(), gradients.biasIh());
                descend(parameters.biasHh(), gradients.biasHh());
                trainer.updateWeights(parameters);
            }
            double first = Arrays.stream(losses, 0, 20).average().orElseThrow();
            double last = Arrays.stream(losses, updates - 20, updates).average().orElseThrow();
            assertTrue(last < first / 5, "loss of the first 20 updates " + first + ", of the last 20 " + last);

            float[] x = TestModel.uniform(random, STEPS * BATCH * INPUT, 1f);
            float[] trained = new float[STEPS * BATCH * HIDDEN];
            float[] fresh = new float[trained.length];
            trainer.forward(x, STEPS, BATCH, null, trained, null);
            try (GruWeights packed = parameters.pack();
                 GruRunner runner = new GruRunner(packed, BATCH)) {
                runner.forward(x, STEPS, BATCH, null, fresh, null);
            }
            assertArrayEquals(fresh, trained);
        }
    }

    @Test
    void updateWeightsRefusesOtherSizesAndDivergedValuesByName() {
        try (GruParameters parameters = GruParameters.initialize(INPUT, HIDDEN, 1);
             GruParameters other = GruParameters.initialize(INPUT, HIDDEN + 1, 1);
             GruWeights weights = parameters.pack();
             GruTrainer trainer = new GruTrainer(weights, 1, 1)) {
            Throwable thrown = assertThrows(IllegalArgumentException.class, () -> trainer.updateWeights(other));
            assertTrue(thrown.getMessage().contains("parameters are for inputSize 1, hiddenSize 9"),
                    thrown.getMessage());
            parameters.weightHh().setAtIndex(ValueLayout.JAVA_FLOAT, 2L * HIDDEN + 3, Float.NaN);
            thrown = assertThrows(IllegalArgumentException.class, () -> trainer.updateWeights(parameters));
            assertTrue(thrown.getMessage().contains("weightHh[2][3] is NaN"), thrown.getMessage());
            thrown = assertThrows(IllegalArgumentException.class,
                    () -> GruParameters.fromPyTorch(2, 3, new float[17], new float[27], null, null));
            assertTrue(thrown.getMessage().contains("weightIh must hold [3H=9][I=2] = 18 floats"),
                    thrown.getMessage());
        }
    }

    private static void descend(MemorySegment parameter, MemorySegment gradient) {
        for (long n = 0; n < parameter.byteSize() / Float.BYTES; n++) {
            float value = parameter.getAtIndex(ValueLayout.JAVA_FLOAT, n);
            parameter.setAtIndex(ValueLayout.JAVA_FLOAT, n,
                    value - LEARNING_RATE * gradient.getAtIndex(ValueLayout.JAVA_FLOAT, n));
        }
    }
}
