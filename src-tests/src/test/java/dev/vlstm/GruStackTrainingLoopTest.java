package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/**
 * A whole training loop on a GRU stack: forward with dropout, backward, plain SGD written out on every layer and
 * direction of {@link GruStackParameters}, {@link GruStackTrainer#updateWeights}. Fitting one fixed batch of random
 * targets must cut the loss, measured in inference (no dropout), below a fifth (measured: about a tenth, with
 * learning rate 0.1 over 300 updates); the updated weights must then run as freshly packed ones do, bit for bit.
 * The gradients have their exact test in GruStackTrainerVsReferenceTest.
 */
class GruStackTrainingLoopTest {

    private static final float LEARNING_RATE = 0.1f;

    @Test
    void aBidirectionalStackFitsABatchAndItsUpdatedWeightsEqualFreshlyPackedOnes() {
        int steps = 6;
        int batch = 4;
        LstmStackShape shape = new LstmStackShape(3, 8, 2, true);
        SplittableRandom random = new SplittableRandom(41);
        float[] x = TestModel.uniform(random, steps * batch * 3, 1f);
        float[] target = TestModel.uniform(random, steps * batch * shape.outputSize(), 0.5f);
        try (GruStackParameters parameters = GruStackParameters.initialize(shape, 40);
             GruStackWeights weights = parameters.pack();
             GruStackTrainer trainer = new GruStackTrainer(weights, batch, steps, 0.1, 42);
             GruStackRunner runner = new GruStackRunner(weights, batch, steps);
             GruStackGradients gradients = new GruStackGradients(weights)) {
            double initial = loss(runner, x, target, steps, batch);
            float[] y = new float[target.length];
            float[] dy = new float[target.length];
            for (int update = 0; update < 300; update++) {
                trainer.forward(x, steps, batch, null, y, null);
                for (int n = 0; n < y.length; n++) {
                    dy[n] = y[n] - target[n];
                }
                trainer.backward(dy, null, gradients, GradientMode.OVERWRITE, null, null);
                for (int layer = 0; layer < shape.layers(); layer++) {
                    for (int direction = 0; direction < shape.directions(); direction++) {
                        GruParameters part = parameters.layer(layer, direction);
                        GruGradients gradient = gradients.layer(layer, direction);
                        descend(part.weightIh(), gradient.weightIh());
                        descend(part.weightHh(), gradient.weightHh());
                        descend(part.biasIh(), gradient.biasIh());
                        descend(part.biasHh(), gradient.biasHh());
                    }
                }
                trainer.updateWeights(parameters);
            }
            double trained = loss(runner, x, target, steps, batch);
            assertTrue(trained < 0.2 * initial, "loss " + initial + " -> " + trained);

            float[] updated = new float[target.length];
            float[] fresh = new float[target.length];
            runner.forward(x, steps, batch, null, updated, null);
            try (GruStackWeights packed = parameters.pack();
                 GruStackRunner freshRunner = new GruStackRunner(packed, batch, steps)) {
                freshRunner.forward(x, steps, batch, null, fresh, null);
            }
            assertArrayEquals(fresh, updated, "weights updated in place run as freshly packed ones");
        }
    }

    @Test
    void updateWeightsRefusesOtherShapesAndDivergedValuesByNameAndChangesNothing() {
        LstmStackShape shape = new LstmStackShape(3, 5, 2, true);
        try (GruStackParameters parameters = GruStackParameters.initialize(shape, 1);
             GruStackParameters other = GruStackParameters.initialize(new LstmStackShape(3, 5, 3, true), 1);
             GruStackWeights weights = parameters.pack();
             GruStackTrainer trainer = new GruStackTrainer(weights, 2, 4);
             GruStackRunner runner = new GruStackRunner(weights, 2, 4)) {
            GruStackBadInputTest.fails(IllegalArgumentException.class, () -> trainer.updateWeights(other),
                    "parameters are for a model of", "layers=3");
            float[] x = TestModel.uniform(new SplittableRandom(2), 4 * 2 * 3, 1f);
            float[] before = new float[4 * 2 * 10];
            runner.forward(x, 4, 2, null, before, null);
            parameters.layer(0, 0).biasHh().setAtIndex(ValueLayout.JAVA_FLOAT, 1, 0.5f);
            parameters.layer(1, 1).weightHh().setAtIndex(ValueLayout.JAVA_FLOAT, 7, Float.NaN);
            GruStackBadInputTest.fails(IllegalArgumentException.class, () -> trainer.updateWeights(parameters),
                    "layer 1 reverse: weightHh[1][2] is NaN");
            float[] after = new float[before.length];
            runner.forward(x, 4, 2, null, after, null);
            assertArrayEquals(before, after, "no layer changed by a refused update");
            GruStackBadInputTest.fails(IllegalArgumentException.class,
                    () -> GruStackParameters.initialize(new LstmStackShape(3, 5, 2, false, 2), 1),
                    "a GRU has no projection");
        }
    }

    /** ½ Σ (y - target)², y from the inference runner. */
    private static double loss(GruStackRunner runner, float[] x, float[] target, int steps, int batch) {
        float[] y = new float[target.length];
        runner.forward(x, steps, batch, null, y, null);
        double sum = 0;
        for (int n = 0; n < y.length; n++) {
            sum += 0.5 * (y[n] - target[n]) * (y[n] - target[n]);
        }
        return sum;
    }

    private static void descend(MemorySegment parameter, MemorySegment gradient) {
        for (long n = 0; n < parameter.byteSize() / Float.BYTES; n++) {
            float value = parameter.getAtIndex(ValueLayout.JAVA_FLOAT, n);
            parameter.setAtIndex(ValueLayout.JAVA_FLOAT, n,
                    value - LEARNING_RATE * gradient.getAtIndex(ValueLayout.JAVA_FLOAT, n));
        }
    }
}
