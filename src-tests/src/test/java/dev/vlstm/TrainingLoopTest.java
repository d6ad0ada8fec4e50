package dev.vlstm;

import static dev.vlstm.TestRnn.doubles;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import dev.vlstm.reference.ReferenceCell;
import dev.vlstm.reference.ReferenceGru;
import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;
import dev.vlstm.train.Adam;
import dev.vlstm.train.GradientClipping;
import dev.vlstm.train.Sgd;

/**
 * Training LSTMs and GRUs with {@link Parameters}, {@link Trainer}, the optimizers of dev.vlstm.train and
 * {@link Trainer#updateWeights}: the seeded initialisation; updated weights reaching the trainer's forward and
 * backward and every runner of the model, as the reference of the new parameters computes them and bit for bit as
 * packing them afresh; and whole loops that must lower a loss, one layer learning a sequence's mean and a
 * bidirectional stack with dropout fitting a batch. The gradients have their exact tests in TrainerVsReferenceTest,
 * StackVsReferenceTest and DropoutTest; the loops check that the pieces work together.
 */
class TrainingLoopTest {

    /** PyTorch's U(-1/√H, 1/√H), from the seed; an LSTM's forget-gate biases sum to 1, so cells start remembering. */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void initialisationIsSeededUniformWithTheForgetBiasSet(Cell cell) {
        RnnShape shape = RnnShape.of(cell, 7, 9);
        try (Parameters first = Parameters.initialize(shape, 42);
             Parameters second = Parameters.initialize(shape, 42);
             Parameters other = Parameters.initialize(shape, 43)) {
            assertArrayEquals(floats(first.tensor("weight_hh_l0")), floats(second.tensor("weight_hh_l0")),
                    "same seed, same weights");
            assertFalse(Arrays.equals(floats(first.tensor("weight_hh_l0")), floats(other.tensor("weight_hh_l0"))),
                    "another seed differs");
            double bound = 1 / Math.sqrt(9);
            for (float value : floats(first.tensor("weight_ih_l0"))) {
                assertTrue(Math.abs(value) <= bound, "weight " + value + " outside the PyTorch bound " + bound);
            }
            float[] biasIh = floats(first.tensor("bias_ih_l0"));
            float[] biasHh = floats(first.tensor("bias_hh_l0"));
            for (int unit = 0; unit < 9; unit++) {
                if (cell == Cell.LSTM) {
                    assertEquals(1f, biasIh[9 + unit] + biasHh[9 + unit], "forget-gate bias of unit " + unit);
                } else {
                    assertTrue(Math.abs(biasIh[9 + unit]) <= bound && Math.abs(biasHh[9 + unit]) <= bound);
                }
                assertTrue(Math.abs(biasIh[unit]) <= bound
                        && Math.abs(biasHh[(shape.gates() - 1) * 9 + unit]) <= bound);
            }
        }
    }

    /**
     * Three Adam steps repacked by {@link Trainer#updateWeights}: the runner's and the trainer's y and the trainer's
     * gradients then match the reference of the new parameters, the runner's y is that of a model packed afresh
     * from them, bit for bit, and a NaN is refused by name.
     */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void updatedWeightsMatchTheReferenceOfTheNewParametersForTrainerAndRunner(Cell cell) {
        RnnShape shape = RnnShape.of(cell, 5, 11);
        try (TestRnn rnn = new TestRnn(700, shape, Options.DEFAULT);
             Trainer trainer = rnn.trainer(2, 6);
             Runner runner = rnn.runner(2, 6);
             Gradients gradients = new Gradients(shape);
             Adam adam = new Adam(rnn.parameters, gradients, 0.05)) {
            float[] x = rnn.input(6, 2);
            float[] dy = rnn.outputGradient(6, 2);
            for (int step = 0; step < 3; step++) {
                trainer.forward(x, 6, 2, null, null, null, null, null);
                trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
                adam.step();
                trainer.updateWeights(rnn.parameters);
            }
            float[][] updated = new float[rnn.flatWeights.length][];
            for (int n = 0; n < updated.length; n++) {
                updated[n] = floats(rnn.parameters.tensor(rnn.parameters.names().get(n)));
            }
            assertFalse(Arrays.equals(rnn.flatWeights[1], updated[1]), "Adam changed the weights");
            ReferenceCell layer = switch (cell) {
                case LSTM -> new ReferenceLstm(5, 11, updated[0], updated[1], updated[2], updated[3]);
                case GRU -> new ReferenceGru(5, 11, updated[0], updated[1], updated[2], updated[3]);
                case CIFG -> ReferenceLstm.coupledInputForget(5, 11, 0, updated[0], updated[1], updated[2],
                        updated[3], null);
            };
            ReferenceStack expected = new ReferenceStack(false, layer);
            try (Model packed = Model.pack(rnn.parameters, Options.DEFAULT);
                 Runner fresh = packed.runner(rnn.model.options().withMaxBatch(2).withMaxSteps(6))) {
                float[] y = new float[6 * 2 * 11];
                runner.forward(x, 6, 2, null, null, y, null, null);
                ReferenceStack.Result reference = expected.forward(x, 6, 2, null, null);
                ForwardVsReferenceTest.assertWithin("runner y", y, reference.y());
                float[] freshY = new float[y.length];
                fresh.forward(x, 6, 2, null, null, freshY, null, null);
                assertArrayEquals(freshY, y, "weights updated in place run as freshly packed ones");
                float[] trained = new float[y.length];
                trainer.forward(x, 6, 2, null, null, trained, null, null);
                ForwardVsReferenceTest.assertWithin("trainer y", trained, reference.y());
                // The trainer's transposed copies follow too: its gradients match the reference of the new weights.
                trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
                TrainerVsReferenceTest.assertClose("weight_hh after updates", floats(gradients.tensor("weight_hh_l0")),
                        expected.backward(doubles(x), 6, 2, null, null, null, doubles(dy), null, null)
                                .weightHh()[0]);
            }
            rnn.parameters.tensor("weight_hh_l0").setAtIndex(ValueLayout.JAVA_FLOAT, 13, Float.NaN);
            Throwable thrown = assertThrows(IllegalArgumentException.class,
                    () -> trainer.updateWeights(rnn.parameters));
            assertTrue(thrown.getMessage().contains("weightHh[1][2] is NaN"), thrown.getMessage());
        }
    }

    /**
     * One layer learns the mean of a sequence's inputs, read from the first unit of hT, by plain SGD: the loss of the
     * last 20 updates is a fifth of the first 20's or less.
     */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void sgdLearnsTheMeanOfASequence(Cell cell) {
        int hidden = 8;
        int steps = 6;
        int batch = 16;
        int updates = 300;
        SplittableRandom random = new SplittableRandom(5);
        double[] losses = new double[updates];
        RnnShape shape = RnnShape.of(cell, 1, hidden);
        try (Parameters parameters = Parameters.initialize(shape, 42);
             Model model = Model.pack(parameters, Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps));
             Trainer trainer = model.trainer();
             Gradients gradients = new Gradients(shape);
             Sgd sgd = new Sgd(parameters, gradients, 0.5, 0)) {
            float[] hT = new float[batch * hidden];
            float[] dhT = new float[batch * hidden];
            for (int update = 0; update < updates; update++) {
                float[] x = new float[steps * batch];
                for (int n = 0; n < x.length; n++) {
                    x[n] = (float) random.nextDouble(-1, 1);
                }
                trainer.forward(x, steps, batch, null, null, null, hT, null);
                double loss = 0;
                for (int b = 0; b < batch; b++) {
                    double mean = 0;
                    for (int t = 0; t < steps; t++) {
                        mean += x[t * batch + b] / (double) steps;
                    }
                    double error = hT[b * hidden] - mean;
                    loss += 0.5 * error * error / batch;
                    dhT[b * hidden] = (float) (error / batch);
                }
                losses[update] = loss;
                trainer.backward(null, dhT, null, gradients, GradientMode.OVERWRITE, null, null, null);
                sgd.step();
                trainer.updateWeights(parameters);
            }
            double first = Arrays.stream(losses, 0, 20).average().orElseThrow();
            double last = Arrays.stream(losses, updates - 20, updates).average().orElseThrow();
            assertTrue(last < first / 5, "loss of the first 20 updates " + first + ", of the last 20 " + last);
        }
    }

    /**
     * A bidirectional stack fits one fixed batch of random targets: forward with dropout, backward, global clipping,
     * Adam, updateWeights. The loss, measured in inference (no dropout), must fall below a fifth (measured: about a
     * tenth); the updated weights must then run as freshly packed ones do, bit for bit.
     */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void aBidirectionalStackFitsABatch(Cell cell) {
        int steps = 6;
        int batch = 4;
        RnnShape shape = RnnShape.of(cell, 3, 8).withLayers(2).withDirection(Direction.BIDIRECTIONAL);
        SplittableRandom random = new SplittableRandom(31);
        float[] x = new float[steps * batch * 3];
        float[] target = new float[steps * batch * shape.outputSize()];
        for (int n = 0; n < x.length; n++) {
            x[n] = (float) random.nextDouble(-1, 1);
        }
        for (int n = 0; n < target.length; n++) {
            target[n] = (float) random.nextDouble(-0.5, 0.5);
        }
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps);
        try (Parameters parameters = Parameters.initialize(shape, 30);
             Model model = Model.pack(parameters, options);
             Trainer trainer = model.trainer(options.withDropout(0.1, 32));
             Runner runner = model.runner();
             Gradients gradients = new Gradients(shape);
             Adam adam = new Adam(parameters, gradients, 0.02)) {
            double initial = loss(runner, x, target, steps, batch);
            float[] y = new float[target.length];
            float[] dy = new float[target.length];
            for (int update = 0; update < 150; update++) {
                trainer.forward(x, steps, batch, null, null, y, null, null);
                for (int n = 0; n < y.length; n++) {
                    dy[n] = y[n] - target[n];
                }
                trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
                GradientClipping.clipGlobalNorm(gradients, 1);
                adam.step();
                trainer.updateWeights(parameters);
            }
            double trained = loss(runner, x, target, steps, batch);
            assertTrue(trained < 0.2 * initial, "loss " + initial + " -> " + trained);

            float[] updated = new float[target.length];
            float[] fresh = new float[target.length];
            runner.forward(x, steps, batch, null, null, updated, null, null);
            try (Model packed = Model.pack(parameters, options);
                 Runner freshRunner = packed.runner()) {
                freshRunner.forward(x, steps, batch, null, null, fresh, null, null);
            }
            assertArrayEquals(fresh, updated, "weights updated in place run as freshly packed ones");
        }
    }

    /** ½ Σ (y - target)², y from the inference runner. */
    private static double loss(Runner runner, float[] x, float[] target, int steps, int batch) {
        float[] y = new float[target.length];
        runner.forward(x, steps, batch, null, null, y, null, null);
        double sum = 0;
        for (int n = 0; n < y.length; n++) {
            sum += 0.5 * (y[n] - target[n]) * (y[n] - target[n]);
        }
        return sum;
    }
}
