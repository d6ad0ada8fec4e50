package dev.vlstm;

import static dev.vlstm.TrainerVsReferenceTest.segment;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import dev.vlstm.train.Adam;
import dev.vlstm.train.GradientClipping;

/**
 * A whole training loop on a stack: forward with dropout, backward, global clipping, one Adam per layer and
 * direction, updateWeights. Fitting one fixed batch of random targets must cut the loss, measured in inference (no
 * dropout), below a fifth (measured: about a tenth). The pieces have their own exact tests (the gradients in
 * StackVsReferenceTest, updateWeights reaching every layer in StackParametersTest); this one checks they work
 * together.
 */
class StackTrainingLoopTest {

    @Test
    void aBidirectionalStackFitsABatch() {
        int steps = 6;
        int batch = 4;
        LstmStackShape shape = new LstmStackShape(3, 8, 2, true);
        SplittableRandom random = new SplittableRandom(31);
        float[] x = TestModel.uniform(random, steps * batch * 3, 1f);
        float[] target = TestModel.uniform(random, steps * batch * shape.outputSize(), 0.5f);
        try (LstmStackParameters parameters = LstmStackParameters.initialize(shape, 30);
             LstmStackWeights weights = parameters.pack();
             LstmStackTrainer trainer = new LstmStackTrainer(weights, batch, steps, 0.1, 32);
             LstmStackRunner runner = new LstmStackRunner(weights, batch, steps);
             LstmStackGradients gradients = new LstmStackGradients(weights)) {
            Adam[] optimizers = new Adam[shape.stateCount()];
            for (int n = 0; n < optimizers.length; n++) {
                optimizers[n] = new Adam(parameters.layer(n / 2, n % 2), gradients.layer(n / 2, n % 2), 0.02);
            }
            double initial = loss(runner, x, target, steps, batch);
            float[] y = new float[target.length];
            float[] dy = new float[target.length];
            for (int update = 0; update < 150; update++) {
                trainer.forward(segment(x), steps, batch, null, null, segment(y), null, null);
                for (int n = 0; n < y.length; n++) {
                    dy[n] = y[n] - target[n];
                }
                trainer.backward(segment(dy), null, null, gradients, GradientMode.OVERWRITE, null, null, null);
                GradientClipping.clipGlobalNorm(gradients, 1);
                for (Adam optimizer : optimizers) {
                    optimizer.step();
                }
                trainer.updateWeights(parameters);
            }
            double trained = loss(runner, x, target, steps, batch);
            for (Adam optimizer : optimizers) {
                optimizer.close();
            }
            assertTrue(trained < 0.2 * initial, "loss " + initial + " -> " + trained);
        }
    }

    /** ½ Σ (y - target)², y from the inference runner. */
    private static double loss(LstmStackRunner runner, float[] x, float[] target, int steps, int batch) {
        float[] y = new float[target.length];
        runner.forward(x, steps, batch, null, null, y, null, null);
        double sum = 0;
        for (int n = 0; n < y.length; n++) {
            sum += 0.5 * (y[n] - target[n]) * (y[n] - target[n]);
        }
        return sum;
    }
}
