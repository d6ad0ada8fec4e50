package dev.vlstm;

import static dev.vlstm.TestRnn.doubles;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static dev.vlstm.VariableLengthTest.fromLayout;
import static dev.vlstm.VariableLengthTest.toLayout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;
import dev.vlstm.train.Adam;

/**
 * Training LSTMs with PyTorch's projection ({@code proj_size} = P; h is P wide, c is H wide, layers above the first
 * read D·P): the {@link Trainer} against the reference backward (whose projected cells and stacks
 * ProjectionReferenceBackwardTest checks by central differences) for y, h_n, c_n and every gradient including dW_hr,
 * dx, dh0 (P wide) and dc0 (H wide), on odd shapes (H = 2 to 40, P = 1 to 16, B = 1..9, L = 1..3), one and two
 * directions, for both kernels, with and without initial states and final-state gradients, with lengths in both
 * layouts and with dropout (the reference given the trainer's masks); two threads give one thread's bits; a projected
 * layer's and a projected stack's loss fall under Adam with {@link Trainer#updateWeights}.
 *
 * <p>Tolerance: as {@link TrainerVsReferenceTest}, for each gradient tensor max |actual - expected| &le;
 * {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} times max |expected|; y, h_n and c_n within
 * {@value ForwardVsReferenceTest#TOLERANCE}.
 */
class ProjectionTrainerTest {

    @ParameterizedTest(name = "{12} I={0} H={1} P={2} L={3} bidirectional={4} T={5} B={6} initialState={7}"
            + " finalGradients={8} lengths={9} {10} p={11}")
    @CsvSource({
            "3, 3, 1, 1, false, 4, 2, false, false, false, TIME_MAJOR, 0, PREFERRED",
            "1, 2, 1, 1, false, 1, 1, true, true, false, TIME_MAJOR, 0, PREFERRED",
            "2, 3, 2, 1, false, 6, 9, true, true, false, TIME_MAJOR, 0, PREFERRED",
            "17, 17, 5, 1, false, 7, 5, true, true, false, TIME_MAJOR, 0, PREFERRED",
            "5, 33, 16, 1, false, 5, 3, false, true, false, TIME_MAJOR, 0, PREFERRED",
            "33, 17, 16, 1, false, 6, 4, true, false, false, TIME_MAJOR, 0, PREFERRED",
            "4, 40, 5, 1, false, 9, 7, true, true, false, TIME_MAJOR, 0, PREFERRED",
            "3, 3, 2, 1, false, 4, 2, true, true, false, TIME_MAJOR, 0, SCALAR",
            "2, 17, 5, 1, false, 6, 9, true, false, false, TIME_MAJOR, 0, SCALAR",
            "17, 33, 16, 1, false, 5, 5, false, true, false, TIME_MAJOR, 0, SCALAR",
            "4, 19, 5, 1, false, 6, 7, true, true, true, TIME_MAJOR, 0, PREFERRED",
            "4, 19, 5, 1, false, 6, 7, true, true, true, BATCH_FIRST, 0, PREFERRED",
            "3, 5, 2, 2, true, 6, 4, true, true, false, TIME_MAJOR, 0, PREFERRED",
            "17, 33, 16, 2, true, 5, 7, true, true, false, TIME_MAJOR, 0, PREFERRED",
            "5, 20, 1, 3, false, 4, 3, true, true, false, TIME_MAJOR, 0, PREFERRED",
            "4, 17, 5, 2, true, 6, 9, true, true, true, BATCH_FIRST, 0, PREFERRED",
            "4, 17, 5, 2, false, 6, 5, true, true, true, TIME_MAJOR, 0, PREFERRED",
            "3, 3, 2, 2, true, 4, 1, true, true, false, TIME_MAJOR, 0, SCALAR",
            "6, 9, 5, 2, true, 5, 4, true, true, true, BATCH_FIRST, 0, SCALAR",
            "4, 11, 3, 3, true, 5, 3, false, false, false, TIME_MAJOR, 0.3, PREFERRED"})
    void everyGradientMatchesTheReference(int inputSize, int hiddenSize, int projectionSize, int layers,
                                          boolean bidirectional, int steps, int batch, boolean initialState,
                                          boolean finalGradients, boolean withLengths, SequenceLayout layout,
                                          double dropout, Backend backend) {
        RnnShape shape = RnnShape.of(Cell.LSTM, inputSize, hiddenSize).withProjection(projectionSize)
                .withLayers(layers).withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        try (TestRnn rnn = new TestRnn(1200 + 10L * hiddenSize + projectionSize, shape,
                Options.DEFAULT.withBackend(backend));
             Trainer trainer = rnn.model.trainer(rnn.model.options().withMaxBatch(batch + 1).withMaxSteps(steps + 2)
                     .withDropout(dropout, 77));
             Gradients gradients = new Gradients(shape)) {
            int[] lengths = withLengths ? VariableLengthTest.lengths(31L * steps + batch, steps, batch) : null;
            float[] x = rnn.input(steps, batch);
            float[] h0 = initialState ? rnn.hiddenStates(batch) : null;
            float[] c0 = initialState ? rnn.cellStates(batch) : null;
            float[] dy = rnn.outputGradient(steps, batch);
            float[] dhT = finalGradients ? rnn.hiddenStates(batch) : null;
            float[] dcT = finalGradients ? rnn.cellStates(batch) : null;
            int outputSize = shape.outputSize();
            float[] y = new float[dy.length];
            float[] hT = new float[shape.stateCount() * batch * projectionSize];
            float[] cT = new float[shape.stateCount() * batch * hiddenSize];
            float[] dx = new float[x.length];
            float[] dh0 = new float[hT.length];
            float[] dc0 = new float[cT.length];
            if (withLengths) {
                trainer.forward(toLayout(x, layout, steps, batch, inputSize), layout, steps, batch, lengths, h0, c0,
                        y, hT, cT);
                trainer.backward(toLayout(dy, layout, steps, batch, outputSize), dhT, dcT, gradients,
                        GradientMode.OVERWRITE, dx, dh0, dc0);
                y = fromLayout(y, layout, steps, batch, outputSize);
                dx = fromLayout(dx, layout, steps, batch, inputSize);
            } else {
                trainer.forward(x, steps, batch, h0, c0, y, hT, cT);
                trainer.backward(dy, dhT, dcT, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
            }
            double[][] masks = null;
            if (dropout > 0) {
                masks = new double[layers - 1][];
                for (int layer = 0; layer < layers - 1; layer++) {
                    masks[layer] = doubles(trainer.dropoutMask(layer));
                }
            }
            ReferenceStack.Result expected = rnn.reference.forward(doubles(x), steps, batch, lengths, doubles(h0),
                    doubles(c0), masks);
            ForwardVsReferenceTest.assertWithin("y", y, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());
            StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, rnn.reference.backward(doubles(x),
                    steps, batch, lengths, doubles(h0), doubles(c0), masks, doubles(dy), doubles(dhT),
                    doubles(dcT)));
        }
    }

    @Test
    void twoThreadsGiveOneThreadsBits() {
        int steps = 5;
        int batch = 4;
        RnnShape shape = RnnShape.of(Cell.LSTM, 6, 40).withProjection(7);
        try (TestRnn rnn = new TestRnn(1230, shape, Options.DEFAULT);
             Trainer one = rnn.trainer(batch, steps);
             Trainer two = rnn.model.trainer(rnn.model.options().withMaxBatch(batch).withMaxSteps(steps)
                     .withThreads(2));
             Gradients first = new Gradients(shape);
             Gradients second = new Gradients(shape)) {
            float[] x = rnn.input(steps, batch);
            float[] dy = rnn.outputGradient(steps, batch);
            one.forward(x, steps, batch, null, null, null, null, null);
            one.backward(dy, null, null, first, GradientMode.OVERWRITE, null, null, null);
            two.forward(x, steps, batch, null, null, null, null, null);
            two.backward(dy, null, null, second, GradientMode.OVERWRITE, null, null, null);
            for (String name : first.names()) {
                assertArrayEquals(floats(first.tensor(name)), floats(second.tensor(name)), name);
            }
        }
    }

    /**
     * A projected LSTM learns: Adam on the mean squared error of y against a target that needs memory (unit 0 copies
     * the current input, unit 1 the previous step's), with {@code updateWeights} after each step; the loss after 150
     * steps is below a quarter of the first, and the trainer then matches the reference of the new parameters (so
     * updateWeights repacked W_hr and its transposed copy).
     */
    @Test
    void aProjectedLstmsLossFalls() {
        int steps = 8;
        int batch = 4;
        RnnShape shape = RnnShape.of(Cell.LSTM, 2, 12).withProjection(2);
        try (Parameters parameters = Parameters.initialize(shape, 7);
             Model model = Model.pack(parameters, Options.DEFAULT);
             Trainer trainer = model.trainer(model.options().withMaxBatch(batch).withMaxSteps(steps));
             Gradients gradients = new Gradients(shape);
             Adam adam = new Adam(parameters, gradients, 0.02)) {
            SplittableRandom random = new SplittableRandom(8);
            float[] x = new float[steps * batch * 2];
            for (int n = 0; n < x.length; n++) {
                x[n] = (float) (random.nextDouble() * 2 - 1);
            }
            float[] target = new float[steps * batch * 2];
            for (int t = 0; t < steps; t++) {
                for (int b = 0; b < batch; b++) {
                    int row = (t * batch + b) * 2;
                    target[row] = 0.5f * x[row];
                    target[row + 1] = t == 0 ? 0 : 0.5f * x[((t - 1) * batch + b) * 2 + 1];
                }
            }
            float[] dy = new float[target.length];
            double[] losses = train(trainer, adam, parameters, gradients, x, steps, batch, target, dy, 150);
            assertTrue(losses[1] < losses[0] / 4, "loss " + losses[0] + " -> " + losses[1]);
            ReferenceStack updated = new ReferenceStack(false, ReferenceLstm.projected(2, 12, 2,
                    floats(parameters.tensor("weight_ih_l0")), floats(parameters.tensor("weight_hh_l0")),
                    floats(parameters.tensor("bias_ih_l0")), floats(parameters.tensor("bias_hh_l0")),
                    floats(parameters.tensor("weight_hr_l0"))));
            float[] y = new float[target.length];
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * 2];
            float[] dc0 = new float[batch * 12];
            trainer.forward(x, steps, batch, null, null, y, null, null);
            trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
            ForwardVsReferenceTest.assertWithin("y after training", y, updated.forward(x, steps, batch, null, null).y());
            StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, updated.backward(doubles(x), steps,
                    batch, null, null, null, doubles(dy), null, null));
        }
    }

    /**
     * A projected two-layer bidirectional stack from {@link Parameters#initialize} learns a fixed target under Adam
     * with {@code updateWeights}: the loss after 100 steps is below half the first.
     */
    @Test
    void aProjectedStacksLossFalls() {
        int steps = 6;
        int batch = 3;
        RnnShape shape = RnnShape.of(Cell.LSTM, 3, 10).withLayers(2).withDirection(Direction.BIDIRECTIONAL)
                .withProjection(2);
        try (Parameters parameters = Parameters.initialize(shape, 31);
             Model model = Model.pack(parameters, Options.DEFAULT);
             Trainer trainer = model.trainer(model.options().withMaxBatch(batch).withMaxSteps(steps));
             Gradients gradients = new Gradients(shape);
             Adam adam = new Adam(parameters, gradients, 0.02)) {
            assertEquals(2 * 10 * Float.BYTES, parameters.tensor("weight_hr_l1_reverse").byteSize());
            assertEquals(2 * 10 * Float.BYTES, gradients.tensor("weight_hr_l1_reverse").byteSize());
            SplittableRandom random = new SplittableRandom(32);
            float[] x = new float[steps * batch * 3];
            float[] target = new float[steps * batch * shape.outputSize()];
            for (int n = 0; n < x.length; n++) {
                x[n] = (float) (random.nextDouble() * 2 - 1);
            }
            for (int n = 0; n < target.length; n++) {
                target[n] = (float) ((random.nextDouble() * 2 - 1) * 0.5);
            }
            double[] losses = train(trainer, adam, parameters, gradients, x, steps, batch, target,
                    new float[target.length], 100);
            assertTrue(losses[1] < losses[0] / 2, "loss " + losses[0] + " -> " + losses[1]);
        }
    }

    /**
     * {@code iterations} steps of Adam (over {@code parameters} and {@code gradients}) on the mean squared error of y
     * against {@code target}, each followed by {@code updateWeights}; {@code dy} is left holding the last loss's
     * gradient.
     *
     * @return the first and the last loss
     */
    private static double[] train(Trainer trainer, Adam adam, Parameters parameters, Gradients gradients, float[] x,
                                  int steps, int batch, float[] target, float[] dy, int iterations) {
        float[] y = new float[target.length];
        double first = 0;
        double last = 0;
        for (int iteration = 0; iteration < iterations; iteration++) {
            trainer.forward(x, steps, batch, null, null, y, null, null);
            double loss = 0;
            for (int n = 0; n < y.length; n++) {
                double error = y[n] - target[n];
                loss += error * error / y.length;
                dy[n] = (float) (2 * error / y.length);
            }
            first = iteration == 0 ? loss : first;
            last = loss;
            trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
            adam.step();
            trainer.updateWeights(parameters);
        }
        return new double[] {first, last};
    }
}
