package dev.vlstm;

import static dev.vlstm.TestRnn.doubles;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static dev.vlstm.VariableLengthTest.fromLayout;
import static dev.vlstm.VariableLengthTest.toLayout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceStack;
import dev.vlstm.train.Adam;
import dev.vlstm.train.GradientClipping;

/**
 * Stacks with peephole connections (ONNX's P) in every layer and direction, with and without a cell clip and
 * projection: the runner's y, h_n, c_n and the trainer's every gradient (the peephole gradients
 * {@code peephole_l{k}[_reverse]} included) against the double-precision {@link ReferenceStack} (whose peephole
 * backward StackPeepholeReferenceBackwardTest checks by central differences), plain and with variable lengths (0 and T
 * among them) in both layouts; compressed W and U; streaming bit for bit the sequence; and a training step through
 * clipping, Adam and {@link Trainer#updateWeights}.
 *
 * <p>Tolerances are those of StackVsReferenceTest: forward max |error| &le; {@value ForwardVsReferenceTest#TOLERANCE};
 * gradients max |error| &le; {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} of each tensor's largest value.
 */
class StackPeepholeTest {

    private static RnnShape shape(int inputSize, int hiddenSize, int projectionSize, int layers,
                                  boolean bidirectional) {
        return RnnShape.of(Cell.LSTM, inputSize, hiddenSize).withLayers(layers).withProjection(projectionSize)
                .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD).withPeepholes(true);
    }

    @ParameterizedTest(name = "{10} I={0} H={1} P={2} L={3} bidirectional={4} T={5} B={6} clip={7} {8}"
            + " lengths={9}")
    @CsvSource({
            "3, 5, 0, 2, true, 4, 2, Infinity, TIME_MAJOR, false, PREFERRED",
            "1, 1, 0, 3, false, 3, 1, 0.5, BATCH_FIRST, true, PREFERRED",
            "17, 33, 0, 2, true, 6, 5, 0.8, BATCH_FIRST, true, PREFERRED",
            "5, 7, 3, 2, true, 6, 3, Infinity, TIME_MAJOR, true, PREFERRED",
            "33, 17, 0, 3, false, 5, 9, Infinity, TIME_MAJOR, true, PREFERRED",
            "7, 9, 4, 1, true, 5, 7, 0.7, BATCH_FIRST, true, PREFERRED",
            "3, 5, 0, 2, true, 4, 3, 0.6, TIME_MAJOR, true, SCALAR",
            "5, 3, 0, 2, false, 6, 4, Infinity, BATCH_FIRST, true, SCALAR"})
    void forwardAndEveryGradientMatchTheReference(int inputSize, int hiddenSize, int projectionSize, int layers,
                                                  boolean bidirectional, int steps, int batch, float clip,
                                                  SequenceLayout layout, boolean variableLengths, Backend backend) {
        RnnShape shape = shape(inputSize, hiddenSize, projectionSize, layers, bidirectional);
        Options options = Options.DEFAULT.withBackend(backend).withCellClip(clip);
        try (TestRnn rnn = new TestRnn(1300 + 10L * hiddenSize + layers, shape, options);
             Runner runner = rnn.runner(batch + 1, steps + 2);
             Trainer trainer = rnn.trainer(batch, steps);
             Gradients gradients = new Gradients(shape)) {
            assertEquals(clip, rnn.model.options().cellClip());
            int[] lengths = variableLengths ? VariableLengthTest.lengths(steps * 31L + batch, steps, batch) : null;
            int outputSize = shape.outputSize();
            float[] x = rnn.input(steps, batch);
            float[] h0 = rnn.hiddenStates(batch);
            float[] c0 = rnn.cellStates(batch);
            float[] y = new float[steps * batch * outputSize];
            float[] hT = new float[h0.length];
            float[] cT = new float[c0.length];
            if (lengths == null) {
                runner.forward(x, steps, batch, h0, c0, y, hT, cT);
            } else {
                runner.forward(toLayout(x, layout, steps, batch, inputSize), layout, steps, batch, lengths, h0, c0, y,
                        hT, cT);
                y = fromLayout(y, layout, steps, batch, outputSize);
            }
            ReferenceStack.Result expected = rnn.reference.forward(doubles(x), steps, batch, lengths,
                    doubles(h0), doubles(c0), null);
            ForwardVsReferenceTest.assertWithin("y", y, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());
            if (clip < Float.POSITIVE_INFINITY) {
                assertClipActs(rnn, x, steps, batch, h0, c0, y);
            }

            float[] dy = rnn.outputGradient(steps, batch);
            float[] dhT = rnn.hiddenStates(batch);
            float[] dcT = rnn.cellStates(batch);
            float[] trainedY = new float[y.length];
            float[] dx = new float[x.length];
            float[] dh0 = new float[h0.length];
            float[] dc0 = new float[c0.length];
            if (lengths == null) {
                trainer.forward(x, steps, batch, h0, c0, trainedY, null, null);
                trainer.backward(dy, dhT, dcT, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
            } else {
                trainer.forward(toLayout(x, layout, steps, batch, inputSize), layout, steps, batch, lengths, h0, c0,
                        trainedY, null, null);
                trainer.backward(toLayout(dy, layout, steps, batch, outputSize), dhT, dcT, gradients,
                        GradientMode.OVERWRITE, dx, dh0, dc0);
                trainedY = fromLayout(trainedY, layout, steps, batch, outputSize);
                dx = fromLayout(dx, layout, steps, batch, inputSize);
            }
            assertArrayEquals(y, trainedY, "the trainer's y is the runner's");
            StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, rnn.reference.backward(doubles(x),
                    steps, batch, lengths, doubles(h0), doubles(c0), null, doubles(dy), doubles(dhT), doubles(dcT)));
        }
    }

    /** A finite clip must change the output here, or the comparison above would not show that it is applied. */
    private static void assertClipActs(TestRnn rnn, float[] x, int steps, int batch, float[] h0, float[] c0,
                                       float[] clipped) {
        Options unclippedOptions = rnn.model.options().withCellClip(Float.POSITIVE_INFINITY);
        try (Model unclipped = Model.pack(rnn.parameters, unclippedOptions);
             Runner runner = unclipped.runner(unclippedOptions.withMaxBatch(batch).withMaxSteps(steps))) {
            float[] y = new float[clipped.length];
            runner.forward(x, steps, batch, h0, c0, y, null, null);
            double largest = 0;
            for (int n = 0; n < y.length; n++) {
                largest = Math.max(largest, Math.abs(y[n] - clipped[n]));
            }
            assertTrue(largest > 1e-3, "the clip changes y by " + largest + " only");
        }
    }

    /** Compressed W and U (peepholes stay float32) against the reference on the dequantised weights. */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"BFLOAT16, PREFERRED", "INT8, PREFERRED", "BFLOAT16, SCALAR", "INT8, SCALAR"})
    void compressedStacksMatchTheReferenceOnDequantisedWeights(WeightPrecision precision, Backend backend) {
        RnnShape shape = shape(13, 17, 0, 2, true);
        int steps = 5;
        int batch = 3;
        try (TestRnn rnn = new TestRnn(1320, shape, Options.DEFAULT.withPrecision(precision).withBackend(backend)
                .withCellClip(0.9f));
             Runner runner = rnn.runner(batch, steps)) {
            int[] lengths = {5, 0, 3};
            float[] x = rnn.input(steps, batch);
            float[] h0 = rnn.hiddenStates(batch);
            float[] c0 = rnn.cellStates(batch);
            float[] y = new float[steps * batch * shape.outputSize()];
            float[] hT = new float[h0.length];
            float[] cT = new float[c0.length];
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, c0, y, hT, cT);
            ReferenceStack.Result expected = rnn.reference.forward(doubles(x), steps, batch, lengths,
                    doubles(h0), doubles(c0), null);
            ForwardVsReferenceTest.assertWithin("y", y, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());
        }
    }

    /** Streaming a unidirectional peephole stack, clipped or not, is its sequence forward, bit for bit. */
    @ParameterizedTest(name = "{3} I={0} H={1} P={2} clip={4}")
    @CsvSource({"3, 5, 0, PREFERRED, 0.5", "17, 33, 0, PREFERRED, Infinity", "5, 7, 3, PREFERRED, 0.8",
            "1, 1, 0, PREFERRED, Infinity", "5, 9, 0, SCALAR, 0.7"})
    void stepsEqualTheSequenceForwardBitForBit(int inputSize, int hiddenSize, int projectionSize, Backend backend,
                                               float clip) {
        int steps = 6;
        int batch = 3;
        RnnShape shape = shape(inputSize, hiddenSize, projectionSize, 3, false);
        try (TestRnn rnn = new TestRnn(1330 + hiddenSize, shape, Options.DEFAULT.withBackend(backend)
                .withCellClip(clip));
             Runner runner = rnn.runner(batch, steps);
             State state = rnn.model.newState(batch)) {
            int stateSize = shape.hiddenStateSize();
            float[] x = rnn.input(steps, batch);
            float[] y = new float[steps * batch * stateSize];
            float[] hT = new float[3 * batch * stateSize];
            float[] cT = new float[3 * batch * hiddenSize];
            runner.forward(x, steps, batch, null, null, y, hT, cT);
            float[] h = new float[batch * stateSize];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * batch * inputSize, (t + 1) * batch * inputSize), state, h);
                assertArrayEquals(Arrays.copyOfRange(y, t * batch * stateSize, (t + 1) * batch * stateSize), h,
                        "step " + t);
            }
            assertArrayEquals(hT, state.hidden(), "h_n");
            assertArrayEquals(cT, state.cell(), "c_n");
        }
    }

    /**
     * One training step with dropout: the global norm counts the peephole gradients of every layer and direction,
     * clipping scales them, Adam moves the peepholes, and updateWeights carries the new peepholes into the model's
     * weights: the runner then gives the bits of a model packed afresh from the same parameters.
     */
    @Test
    void aTrainingStepUpdatesThePeepholesOfEveryPart() {
        RnnShape shape = shape(4, 6, 0, 2, true);
        int steps = 5;
        int batch = 3;
        Options options = Options.DEFAULT.withCellClip(1.5f).withMaxBatch(batch).withMaxSteps(steps);
        try (TestRnn rnn = new TestRnn(1340, shape, options);
             Trainer trainer = rnn.model.trainer(options.withDropout(0.2, 7));
             Runner runner = rnn.model.runner();
             Gradients gradients = new Gradients(shape);
             Adam adam = new Adam(rnn.parameters, gradients, 0.05)) {
            Parameters parameters = rnn.parameters;
            float[] x = rnn.input(steps, batch);
            trainer.forward(x, steps, batch, null, null, null, null, null);
            trainer.backward(rnn.outputGradient(steps, batch), null, null, gradients, GradientMode.OVERWRITE, null,
                    null, null);
            double sum = 0;
            for (String name : gradients.names()) {
                for (float value : floats(gradients.tensor(name))) {
                    sum += (double) value * value;
                }
            }
            String[] peepholeNames = new String[shape.stateCount()];
            float[][] before = new float[shape.stateCount()][];
            for (int n = 0; n < shape.stateCount(); n++) {
                peepholeNames[n] = shape.tensorName("peephole", n / 2, n % 2);
                assertTrue(gradients.names().contains(peepholeNames[n]), peepholeNames[n]);
                before[n] = floats(gradients.tensor(peepholeNames[n]));
            }
            double maxNorm = 0.5 * Math.sqrt(sum);
            double norm = GradientClipping.clipGlobalNorm(gradients, maxNorm);
            assertEquals(Math.sqrt(sum), norm, 1e-5 * norm, "the norm counts every tensor, the peepholes too");
            for (int n = 0; n < shape.stateCount(); n++) {
                float[] scaled = floats(gradients.tensor(peepholeNames[n]));
                for (int k = 0; k < scaled.length; k++) {
                    assertEquals(before[n][k] * maxNorm / (norm + 1e-6), scaled[k], 1e-6,
                            peepholeNames[n] + "[" + k + "] clipped");
                }
            }
            adam.step();
            for (int n = 0; n < shape.stateCount(); n++) {
                float[] initial = rnn.flatWeights[5 * n + 4];
                float[] moved = floats(parameters.tensor(peepholeNames[n]));
                for (int k = 0; k < moved.length; k++) {
                    // Adam's first step moves every element with a nonzero gradient by about the learning rate.
                    if (before[n][k] != 0) {
                        assertEquals(0.05, Math.abs(moved[k] - initial[k]), 1e-3, peepholeNames[n] + "[" + k + "]");
                    }
                }
            }
            trainer.updateWeights(parameters);
            float[] y = new float[steps * batch * shape.outputSize()];
            runner.forward(x, steps, batch, null, null, y, null, null);
            try (Model fresh = Model.pack(parameters, options);
                 Runner freshRunner = fresh.runner()) {
                float[] expected = new float[y.length];
                freshRunner.forward(x, steps, batch, null, null, expected, null, null);
                assertArrayEquals(expected, y, "updated weights run as freshly packed ones");
            }
        }
    }
}
