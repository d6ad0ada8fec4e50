package dev.vlstm;

import static dev.vlstm.CellClipTest.full;
import static dev.vlstm.CentralDifferences.uniform;
import static dev.vlstm.TestRnn.doubles;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import dev.vlstm.reference.ReferenceGru;
import dev.vlstm.reference.ReferenceStack;

/**
 * ONNX's GRU clip ({@link Options#withCellClip} on a GRU: the inputs of r's, z's and n's activations clipped to
 * [-clip, clip]) in the runner (sequences and streaming steps) and the trainer, against the double reference with the
 * same clip, with the tolerances of {@link ForwardVsReferenceTest} and {@link TrainerVsReferenceTest}; the engine's
 * clipped gradients by central differences of its own float forward; a clip that never acts changes no bit; the
 * reference's clipped backward by central differences.
 */
class GruClipTest {

    @ParameterizedTest(name = "{9} L={0} {1} I={2} H={3} T={4} B={5} clip={6} variableLengths={7} threads={8}")
    @CsvSource({
            "1, FORWARD, 3, 1, 4, 1, 1.0, false, 1, PREFERRED",
            "1, FORWARD, 5, 7, 6, 5, 0.5, true, 1, PREFERRED",
            "1, FORWARD, 17, 33, 5, 9, 0.25, false, 2, PREFERRED",
            "2, BIDIRECTIONAL, 5, 17, 6, 4, 0.4, true, 1, PREFERRED",
            "2, BIDIRECTIONAL, 6, 17, 5, 4, 0.3, true, 2, PREFERRED",
            "2, FORWARD, 4, 33, 7, 6, 0.4, false, 1, PREFERRED",
            "1, FORWARD, 6, 17, 5, 4, 0.3, true, 1, SCALAR",
            "2, BIDIRECTIONAL, 5, 9, 4, 3, 0.5, true, 2, SCALAR"})
    void clippedRunnerStepsAndTrainerMatchTheReference(int layers, Direction direction, int inputSize,
                                                       int hiddenSize, int steps, int batch, float clip,
                                                       boolean variableLengths, int threads, Backend backend) {
        RnnShape shape = RnnShape.of(Cell.GRU, inputSize, hiddenSize).withLayers(layers).withDirection(direction);
        Options options = Options.DEFAULT.withBackend(backend).withMaxBatch(batch).withMaxSteps(steps)
                .withThreads(threads);
        try (TestRnn rnn = new TestRnn(1400 + hiddenSize, shape, options.withCellClip(clip));
             TestRnn unclipped = new TestRnn(1400 + hiddenSize, shape, options);
             Runner runner = rnn.model.runner(rnn.model.options().withChunkSteps(2));
             Trainer trainer = rnn.model.trainer(rnn.model.options());
             Gradients gradients = new Gradients(shape)) {
            int[] lengths = variableLengths ? VariableLengthTest.lengths(steps + batch, steps, batch) : full(steps,
                    batch);
            float[] x = rnn.uniform(steps * batch * inputSize, 3f);
            float[] h0 = rnn.hiddenStates(batch);
            float[] dy = rnn.outputGradient(steps, batch);
            float[] dhT = rnn.hiddenStates(batch);
            ReferenceStack.Result expected = rnn.reference.forward(doubles(x), steps, batch, lengths, doubles(h0),
                    null, null);
            ReferenceStack.Result unclippedResult = unclipped.reference.forward(doubles(x), steps, batch, lengths,
                    doubles(h0), null, null);
            assertTrue(maxDifference(unclippedResult.y(), expected.y()) > 1e-2, "the clip acts");

            float[] y = new float[steps * batch * shape.outputSize()];
            float[] hT = new float[h0.length];
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, null, y, hT, null);
            ForwardVsReferenceTest.assertWithin("y", y, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());

            if (direction == Direction.FORWARD) {
                assertStepsMatchTheReference(rnn, runner, x, steps, batch, h0);
            }

            float[] dx = new float[x.length];
            float[] dh0 = new float[h0.length];
            trainer.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, null, null, null, null);
            trainer.backward(dy, dhT, null, gradients, GradientMode.OVERWRITE, dx, dh0, null);
            ReferenceStack.Gradients expectedGradients = rnn.reference.backward(doubles(x), steps, batch, lengths,
                    doubles(h0), null, null, doubles(dy), doubles(dhT), null);
            StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, null, expectedGradients);
            assertTrue(maxDifference(expectedGradients.weightIh()[0], new double[expectedGradients.weightIh()[0]
                    .length]) > 1e-2, "some gradient passes the clip");
            ReferenceStack.Gradients unclippedGradients = unclipped.reference.backward(doubles(x), steps, batch,
                    lengths, doubles(h0), null, null, doubles(dy), doubles(dhT), null);
            assertTrue(maxDifference(unclippedGradients.biasIh()[0], expectedGradients.biasIh()[0]) > 1e-2,
                    "the clip changes the gradients");
        }
    }

    /** Streaming steps of a unidirectional stack from h0: every step's h against the reference's y of that step. */
    private static void assertStepsMatchTheReference(TestRnn rnn, Runner runner, float[] x, int steps, int batch,
                                                     float[] h0) {
        RnnShape shape = rnn.shape;
        int inputRow = batch * shape.inputSize();
        int outputRow = batch * shape.outputSize();
        ReferenceStack.Result expected = rnn.reference.forward(doubles(x), steps, batch, doubles(h0), null, null);
        try (State state = rnn.model.newState(batch)) {
            state.setHidden(h0);
            float[] h = new float[outputRow];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * inputRow, (t + 1) * inputRow), state, h);
                ForwardVsReferenceTest.assertWithin("h of step " + t, h,
                        Arrays.copyOfRange(expected.y(), t * outputRow, (t + 1) * outputRow));
            }
        }
    }

    /**
     * A finite clip above every value takes the clipped paths (the kept pre-activations, the gradient masks) and
     * changes no bit against no clip, forward, step and backward, in both kernel families.
     */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void aClipThatNeverActsChangesNoBit(Backend backend) {
        int steps = 6;
        int batch = 5;
        int hiddenSize = 33;
        RnnShape shape = RnnShape.of(Cell.GRU, 7, hiddenSize).withLayers(2).withDirection(Direction.BIDIRECTIONAL);
        Options base = Options.DEFAULT.withBackend(backend);
        try (TestRnn rnn = new TestRnn(1500, shape, base);
             Model clippedModel = Model.pack(rnn.parameters, base.withCellClip(1e30f));
             Gradients plain = new Gradients(shape);
             Gradients clipped = new Gradients(shape)) {
            assertEquals(Float.POSITIVE_INFINITY, rnn.model.options().cellClip());
            assertEquals(1e30f, clippedModel.options().cellClip());
            float[] x = rnn.input(steps, batch);
            float[] h0 = rnn.hiddenStates(batch);
            float[] dy = rnn.outputGradient(steps, batch);
            int[] lengths = VariableLengthTest.lengths(1501, steps, batch);
            Model[] models = {rnn.model, clippedModel};
            Gradients[] results = {plain, clipped};
            float[][] outputs = new float[6][];
            for (int n = 0; n < 2; n++) {
                Options options = base.withMaxBatch(batch).withMaxSteps(steps);
                try (Runner runner = models[n].runner(options.withChunkSteps(n == 0 ? 0 : 64));
                     Trainer trainer = models[n].trainer(options)) {
                    float[] y = new float[steps * batch * shape.outputSize()];
                    float[] hT = new float[h0.length];
                    float[] dx = new float[x.length];
                    float[] dh0 = new float[h0.length];
                    runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, null, y, hT, null);
                    trainer.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, null, null, null, null);
                    trainer.backward(dy, null, null, results[n], GradientMode.OVERWRITE, dx, dh0, null);
                    outputs[3 * n] = y;
                    outputs[3 * n + 1] = dx;
                    outputs[3 * n + 2] = dh0;
                }
            }
            for (int n = 0; n < 3; n++) {
                assertArrayEquals(outputs[n], outputs[3 + n], new String[] {"y", "dx", "dh0"}[n]);
            }
            for (String name : plain.names()) {
                assertArrayEquals(floats(plain.tensor(name)), floats(clipped.tensor(name)), name);
            }
        }
    }

    /**
     * The engine's clipped gradients of x, h0 and both biases against central differences of the engine's own
     * float forward (the loss {@code y·dy + hT·dhT} summed in double). In float the difference quotient carries the
     * rounding of the loss over 2ε (about 1e-4 here) and, where a perturbation moves a pre-activation across the
     * clip, a kink: hence a tolerance of 2% plus 5e-3, far below the gradients' size (a dropped mask or a missing term
     * moves a gradient by its whole size). The clip acts on these values (the gradients differ from the unclipped
     * model's).
     */
    @ParameterizedTest
    @EnumSource(Backend.class)
    void engineGradientsMatchCentralDifferencesOfItsForward(Backend backend) {
        int inputSize = 3;
        int hiddenSize = 4;
        int steps = 5;
        int batch = 3;
        int[] lengths = {5, 2, 4};
        float clip = 0.5f;
        RnnShape shape = RnnShape.of(Cell.GRU, inputSize, hiddenSize);
        Options options = Options.DEFAULT.withBackend(backend).withMaxBatch(batch).withMaxSteps(steps)
                .withCellClip(clip);
        try (TestRnn rnn = new TestRnn(1600, shape, options, true, 2f);
             Trainer trainer = rnn.model.trainer(options);
             Gradients gradients = new Gradients(shape)) {
            float[] x = rnn.uniform(steps * batch * inputSize, 2f);
            float[] h0 = rnn.hiddenStates(batch);
            float[] dy = rnn.outputGradient(steps, batch);
            float[] dhT = rnn.hiddenStates(batch);
            float[] dx = new float[x.length];
            float[] dh0 = new float[h0.length];
            trainer.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, null, null, null, null);
            trainer.backward(dy, dhT, null, gradients, GradientMode.OVERWRITE, dx, dh0, null);
            float[][] weights = rnn.flatWeights;
            DoubleSupplier loss = () -> {
                try (Parameters parameters = Parameters.fromPyTorch(shape, weights);
                     Model model = Model.pack(parameters, options);
                     Runner runner = model.runner()) {
                    float[] y = new float[steps * batch * hiddenSize];
                    float[] hT = new float[h0.length];
                    runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, null, y, hT, null);
                    return CentralDifferences.dot(doubles(y), doubles(dy)) + CentralDifferences.dot(doubles(hT),
                            doubles(dhT));
                }
            };
            assertMatchesCentralDifferences("x", x, dx, loss);
            assertMatchesCentralDifferences("h0", h0, dh0, loss);
            assertMatchesCentralDifferences("bias_ih", weights[2], floats(gradients.tensor("bias_ih_l0")), loss);
            assertMatchesCentralDifferences("bias_hh", weights[3], floats(gradients.tensor("bias_hh_l0")), loss);
            ReferenceStack.Gradients unclipped;
            try (TestRnn plain = new TestRnn(1600, shape, options.withCellClip(Float.POSITIVE_INFINITY), true, 2f)) {
                unclipped = plain.reference.backward(doubles(x), steps, batch, lengths, doubles(h0), null, null,
                        doubles(dy), doubles(dhT), null);
            }
            assertTrue(maxDifference(unclipped.biasIh()[0], doubles(floats(gradients.tensor("bias_ih_l0")))) > 1e-2,
                    "the clip changes the gradients");
        }
    }

    /** Each element of {@code analytic} against the float central difference of {@code loss} in {@code values}. */
    private static void assertMatchesCentralDifferences(String name, float[] values, float[] analytic,
                                                        DoubleSupplier loss) {
        float epsilon = 2e-3f;
        double largest = 0;
        for (int n = 0; n < values.length; n++) {
            float value = values[n];
            values[n] = value + epsilon;
            float up = values[n];
            double plus = loss.getAsDouble();
            values[n] = value - epsilon;
            float down = values[n];
            double minus = loss.getAsDouble();
            values[n] = value;
            double difference = (plus - minus) / ((double) up - down);
            double error = Math.abs(difference - analytic[n]);
            assertTrue(error <= 0.02 * (Math.abs(difference) + Math.abs(analytic[n])) + 5e-3,
                    name + "[" + n + "]: analytic " + analytic[n] + ", central difference " + difference);
            largest = Math.max(largest, Math.abs(analytic[n]));
        }
        assertTrue(largest > 1e-2, name + ": largest gradient " + largest + " is too small to check");
    }

    @Test
    void referenceClippedBackwardMatchesCentralDifferences() {
        int inputSize = 3;
        int hiddenSize = 4;
        int steps = 4;
        int batch = 3;
        int[] lengths = {4, 2, 3};
        double clip = 0.6;
        SplittableRandom random = new SplittableRandom(1701);
        double[][] variables = {
                uniform(random, 3 * hiddenSize * inputSize, 1.5), uniform(random, 3 * hiddenSize * hiddenSize, 1.5),
                uniform(random, 3 * hiddenSize, 1), uniform(random, 3 * hiddenSize, 1),
                uniform(random, steps * batch * inputSize, 1), uniform(random, batch * hiddenSize, 1)};
        double[] dy = uniform(random, steps * batch * hiddenSize, 1);
        double[] dhT = uniform(random, batch * hiddenSize, 1);
        ReferenceGru.Gradients gradients = new ReferenceGru(inputSize, hiddenSize, variables[0], variables[1],
                variables[2], variables[3]).withCellClip(clip).backward(variables[4], steps, batch, lengths,
                variables[5], dy, dhT);
        double[][] analytic = {gradients.weightIh(), gradients.weightHh(), gradients.biasIh(), gradients.biasHh(),
                gradients.x(), gradients.h0()};
        String[] names = {"weightIh", "weightHh", "biasIh", "biasHh", "x", "h0"};
        for (int n = 0; n < names.length; n++) {
            CentralDifferences.checkSignificant(names[n], variables[n], analytic[n], () -> {
                ReferenceGru.Result result = new ReferenceGru(inputSize, hiddenSize, variables[0], variables[1],
                        variables[2], variables[3]).withCellClip(clip).forward(variables[4], steps, batch, lengths,
                        variables[5]);
                return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT);
            });
        }
        ReferenceGru.Gradients unclipped = new ReferenceGru(inputSize, hiddenSize, variables[0], variables[1],
                variables[2], variables[3]).backward(variables[4], steps, batch, lengths, variables[5], dy, dhT);
        assertTrue(maxDifference(gradients.biasIh(), unclipped.biasIh()) > 1e-2, "the clip changes the gradients");
        assertTrue(maxDifference(gradients.biasHh(), unclipped.biasHh()) > 1e-2, "the clip changes b_hh's gradient");
    }

    @Test
    void theReferenceRefusesAClipThatIsNotPositive() {
        ReferenceGru reference = new ReferenceGru(3, 5, new float[45], new float[75], null, null);
        for (double clip : new double[] {0, -1, Double.NaN, Double.NEGATIVE_INFINITY}) {
            assertThrows(IllegalArgumentException.class, () -> reference.withCellClip(clip), "clip " + clip);
        }
    }

    private static double maxDifference(double[] a, double[] b) {
        assertEquals(a.length, b.length);
        double largest = 0;
        for (int n = 0; n < a.length; n++) {
            largest = Math.max(largest, Math.abs(a[n] - b[n]));
        }
        return largest;
    }
}
