package dev.vlstm;

import static dev.vlstm.CentralDifferences.uniform;
import static dev.vlstm.TestRnn.doubles;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/**
 * ONNX's cell clip (gate pre-activations and the cell state before tanh clipped to [-clip, clip], {@link
 * Options#withCellClip}) in the runner and the trainer, against the double reference with the same clip, with the
 * tolerances of {@link ForwardVsReferenceTest} and {@link TrainerVsReferenceTest}; a clip that never acts changes no
 * bit; the reference's clipped backward is checked by central differences.
 */
class CellClipTest {

    @ParameterizedTest(name = "{6} I={0} H={1} T={2} B={3} clip={4} variableLengths={5}")
    @CsvSource({
            "3, 1, 4, 1, 0.3, false, PREFERRED",
            "5, 3, 6, 5, 0.5, true, PREFERRED",
            "17, 17, 5, 9, 0.25, false, PREFERRED",
            "4, 33, 7, 6, 0.4, true, PREFERRED",
            "6, 17, 5, 4, 0.3, true, SCALAR"})
    void clippedRunnerAndTrainerMatchTheReference(int inputSize, int hiddenSize, int steps, int batch, float clip,
                                                  boolean variableLengths, Backend backend) {
        RnnShape shape = RnnShape.of(Cell.LSTM, inputSize, hiddenSize);
        Options options = Options.DEFAULT.withBackend(backend);
        try (TestRnn rnn = new TestRnn(1200 + hiddenSize, shape, options.withCellClip(clip));
             TestRnn unclipped = new TestRnn(1200 + hiddenSize, shape, options);
             Runner runner = rnn.model.runner(rnn.model.options().withMaxBatch(batch).withMaxSteps(steps)
                     .withChunkSteps(2));
             Trainer trainer = rnn.trainer(batch, steps);
             Gradients gradients = new Gradients(shape)) {
            int[] lengths = variableLengths ? VariableLengthTest.lengths(steps + batch, steps, batch)
                    : full(steps, batch);
            float[] x = rnn.uniform(steps * batch * inputSize, 3f);
            float[] h0 = rnn.hiddenStates(batch);
            float[] c0 = rnn.uniform(batch * hiddenSize, 3f);
            float[] dy = rnn.outputGradient(steps, batch);
            float[] dhT = rnn.hiddenStates(batch);
            float[] dcT = rnn.cellStates(batch);
            ReferenceStack.Result expected = rnn.reference.forward(doubles(x), steps, batch, lengths, doubles(h0),
                    doubles(c0), null);
            ReferenceStack.Result unclippedResult = unclipped.reference.forward(doubles(x), steps, batch, lengths,
                    doubles(h0), doubles(c0), null);
            assertTrue(TestRnn.maxAbsError(toFloats(unclippedResult.y()), expected.y()) > 1e-2, "the clip acts");

            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[batch * hiddenSize];
            float[] cT = new float[batch * hiddenSize];
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, c0, y, hT, cT);
            ForwardVsReferenceTest.assertWithin("y", y, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());

            float[] dx = new float[x.length];
            float[] dh0 = new float[h0.length];
            float[] dc0 = new float[c0.length];
            trainer.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, c0, null, null, null);
            trainer.backward(dy, dhT, dcT, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
            StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, rnn.reference.backward(doubles(x),
                    steps, batch, lengths, doubles(h0), doubles(c0), null, doubles(dy), doubles(dhT), doubles(dcT)));
        }
    }

    /** A finite clip above every value takes the clipping code paths and changes no bit, forward or backward. */
    @Test
    void aClipThatNeverActsChangesNoBit() {
        int steps = 6;
        int batch = 5;
        int hiddenSize = 33;
        RnnShape shape = RnnShape.of(Cell.LSTM, 7, hiddenSize);
        try (TestRnn rnn = new TestRnn(1300, shape, Options.DEFAULT);
             Model clippedModel = Model.pack(rnn.parameters, Options.DEFAULT.withCellClip(1e30f));
             Gradients plain = new Gradients(shape);
             Gradients clipped = new Gradients(shape)) {
            assertEquals(Float.POSITIVE_INFINITY, rnn.model.options().cellClip());
            assertEquals(1e30f, clippedModel.options().cellClip());
            float[] x = rnn.input(steps, batch);
            float[] h0 = rnn.hiddenStates(batch);
            float[] dy = rnn.outputGradient(steps, batch);
            Model[] models = {rnn.model, clippedModel};
            Gradients[] results = {plain, clipped};
            float[][] outputs = new float[8][];
            for (int n = 0; n < 2; n++) {
                Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps);
                try (Runner runner = models[n].runner(options.withChunkSteps(n == 0 ? 0 : 64));
                     Trainer trainer = models[n].trainer(options)) {
                    float[] y = new float[steps * batch * hiddenSize];
                    float[] cT = new float[batch * hiddenSize];
                    float[] dx = new float[x.length];
                    float[] dc0 = new float[batch * hiddenSize];
                    runner.forward(x, steps, batch, h0, null, y, null, cT);
                    trainer.forward(x, steps, batch, h0, null, null, null, null);
                    trainer.backward(dy, null, null, results[n], GradientMode.OVERWRITE, dx, null, dc0);
                    outputs[4 * n] = y;
                    outputs[4 * n + 1] = cT;
                    outputs[4 * n + 2] = dx;
                    outputs[4 * n + 3] = dc0;
                }
            }
            for (int n = 0; n < 4; n++) {
                assertArrayEquals(outputs[n], outputs[4 + n], new String[] {"y", "cT", "dx", "dc0"}[n]);
            }
            for (String name : plain.names()) {
                assertArrayEquals(floats(plain.tensor(name)), floats(clipped.tensor(name)), name);
            }
        }
    }

    @Test
    void referenceClippedBackwardMatchesCentralDifferences() {
        int inputSize = 3;
        int hiddenSize = 4;
        int steps = 4;
        int batch = 3;
        int[] lengths = {4, 2, 3};
        double clip = 0.6;
        SplittableRandom random = new SplittableRandom(1301);
        double[][] variables = {
                uniform(random, 4 * hiddenSize * inputSize, 1.5), uniform(random, 4 * hiddenSize * hiddenSize, 1.5),
                uniform(random, 4 * hiddenSize, 1), uniform(random, 4 * hiddenSize, 1),
                uniform(random, steps * batch * inputSize, 1), uniform(random, batch * hiddenSize, 1),
                uniform(random, batch * hiddenSize, 1.5)};
        double[] dy = uniform(random, steps * batch * hiddenSize, 1);
        double[] dhT = uniform(random, batch * hiddenSize, 1);
        double[] dcT = uniform(random, batch * hiddenSize, 1);
        ReferenceLstm.Gradients gradients = new ReferenceLstm(inputSize, hiddenSize, variables[0], variables[1],
                variables[2], variables[3]).withCellClip(clip).backward(variables[4], steps, batch, lengths,
                variables[5], variables[6], dy, dhT, dcT);
        double[][] analytic = {gradients.weightIh(), gradients.weightHh(), gradients.biasIh(), gradients.biasHh(),
                gradients.x(), gradients.h0(), gradients.c0()};
        String[] names = {"weightIh", "weightHh", "biasIh", "biasHh", "x", "h0", "c0"};
        for (int n = 0; n < names.length; n++) {
            CentralDifferences.checkSignificant(names[n], variables[n], analytic[n], () -> {
                ReferenceLstm.Result result = new ReferenceLstm(inputSize, hiddenSize, variables[0], variables[1],
                        variables[2], variables[3]).withCellClip(clip).forward(variables[4], steps, batch, lengths,
                        variables[5], variables[6]);
                return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT)
                        + CentralDifferences.dot(result.cT(), dcT);
            });
        }
        // The clip acts on these values: the gradients differ from the unclipped model's.
        ReferenceLstm.Gradients unclipped = new ReferenceLstm(inputSize, hiddenSize, variables[0], variables[1],
                variables[2], variables[3]).backward(variables[4], steps, batch, lengths, variables[5], variables[6], dy,
                dhT, dcT);
        double difference = 0;
        for (int n = 0; n < unclipped.biasIh().length; n++) {
            difference = Math.max(difference, Math.abs(gradients.biasIh()[n] - unclipped.biasIh()[n]));
        }
        assertTrue(difference > 1e-2, "the clip changes the gradients: " + difference);
    }

    /** Options.withCellClip's refusals are ParametersBadInputTest's; the reference refuses a clip that is not > 0. */
    @Test
    void theReferenceRefusesAClipThatIsNotPositive() {
        ReferenceLstm reference = new ReferenceLstm(3, 5, new float[60], new float[100], null, null);
        for (double clip : new double[] {0, -1, Double.NaN, Double.NEGATIVE_INFINITY}) {
            assertThrows(IllegalArgumentException.class, () -> reference.withCellClip(clip), "clip " + clip);
        }
    }

    /** {@code batch} lengths of {@code steps} each: every sequence runs every step. */
    static int[] full(int steps, int batch) {
        int[] lengths = new int[batch];
        java.util.Arrays.fill(lengths, steps);
        return lengths;
    }

    private static float[] toFloats(double[] values) {
        float[] result = new float[values.length];
        for (int n = 0; n < values.length; n++) {
            result[n] = (float) values[n];
        }
        return result;
    }
}
