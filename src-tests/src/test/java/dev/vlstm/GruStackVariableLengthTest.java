package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
import static dev.vlstm.TrainerVsReferenceTest.segment;
import static dev.vlstm.VariableLengthTest.fromLayout;
import static dev.vlstm.VariableLengthTest.toLayout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * Variable-length batches through stacked and bidirectional GRU models ({@link GruStackRunner},
 * {@link GruStackTrainer}, both layouts): against the double reference stack (whose variable-length backward is
 * checked by central differences in {@link ReferenceGruVariableLengthTest}); every sequence bit for bit the same as
 * when it runs alone with its own T, including the reverse direction, which must start at each sequence's own last
 * step; lengths all T bit for bit the plain call; batch-first bit for bit time-major transposed; bad lengths refused
 * before anything is written. Tolerances are those of StackVsReferenceTest: 1e-5 absolute on y and h_n, and 1e-4
 * of each gradient tensor's largest value.
 */
class GruStackVariableLengthTest {

    @ParameterizedTest(name = "{8} I={0} H={1} L={2} bidirectional={3} T={4} B={5} {6} p={7}")
    @CsvSource({
            "3, 5, 2, true, 6, 4, TIME_MAJOR, 0, PREFERRED",
            "17, 33, 2, true, 7, 9, BATCH_FIRST, 0.3, PREFERRED",
            "1, 1, 3, true, 4, 3, TIME_MAJOR, 0, PREFERRED",
            "33, 17, 3, false, 5, 7, BATCH_FIRST, 0.2, PREFERRED",
            "5, 3, 1, true, 8, 5, TIME_MAJOR, 0, PREFERRED",
            "7, 17, 2, true, 5, 6, BATCH_FIRST, 0.4, SCALAR"})
    void runnerAndTrainerMatchTheReference(int inputSize, int hiddenSize, int layers, boolean bidirectional,
                                           int steps, int batch, SequenceLayout layout, double dropout,
                                           Backend backend) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, bidirectional);
        try (TestGruStack model = new TestGruStack(1800 + 10L * hiddenSize + batch, shape, backend, true);
             GruStackRunner runner = new GruStackRunner(model.weights, batch + 1, steps + 2);
             GruStackTrainer trainer = new GruStackTrainer(model.weights, batch, steps, dropout, 5);
             GruStackGradients gradients = new GruStackGradients(model.weights)) {
            int[] lengths = VariableLengthTest.lengths(batch * 17L + steps, steps, batch);
            int outputSize = shape.outputSize();
            float[] x = model.input(steps, batch);
            float[] h0 = model.states(batch);
            float[] y = new float[steps * batch * outputSize];
            float[] hT = new float[h0.length];
            runner.forward(toLayout(x, layout, steps, batch, inputSize), layout, steps, batch, lengths, h0, y, hT);
            ReferenceStack.Result expected = model.reference.forward(doubles(x), steps, batch, lengths,
                    doubles(h0), null, null);
            ForwardVsReferenceTest.assertWithin("y", fromLayout(y, layout, steps, batch, outputSize), expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());

            float[] trainedY = new float[y.length];
            float[] trainedHT = new float[hT.length];
            trainer.forward(MemorySegment.ofArray(toLayout(x, layout, steps, batch, inputSize)), layout, steps, batch,
                    lengths, segment(h0), segment(trainedY), segment(trainedHT));
            double[][] masks = null;
            if (dropout > 0 && layers > 1) {
                masks = new double[layers - 1][];
                for (int layer = 0; layer < layers - 1; layer++) {
                    masks[layer] = doubles(fromLayout(trainer.dropoutMask(layer), layout, steps, batch, outputSize));
                }
            } else {
                assertArrayEquals(y, trainedY, "without dropout the trainer's y is the runner's");
                assertArrayEquals(hT, trainedHT, "without dropout the trainer's h_n is the runner's");
            }
            ReferenceStack.Result expectedTrained = model.reference.forward(doubles(x), steps, batch, lengths,
                    doubles(h0), null, masks);
            ForwardVsReferenceTest.assertWithin("trainer y", fromLayout(trainedY, layout, steps, batch, outputSize),
                    expectedTrained.y());
            ForwardVsReferenceTest.assertWithin("trainer hT", trainedHT, expectedTrained.hT());

            float[] dy = model.outputGradient(steps, batch);
            float[] dhT = model.states(batch);
            float[] dx = new float[x.length];
            Arrays.fill(dx, Float.NaN);
            float[] dh0 = new float[h0.length];
            trainer.backward(MemorySegment.ofArray(toLayout(dy, layout, steps, batch, outputSize)), segment(dhT),
                    gradients, GradientMode.OVERWRITE, segment(dx), segment(dh0));
            GruStackTrainerVsReferenceTest.assertGradients(shape, gradients,
                    fromLayout(dx, layout, steps, batch, inputSize), dh0, model.reference.backward(doubles(x), steps,
                            batch, lengths, doubles(h0), null, masks, doubles(dy), doubles(dhT), null));
        }
    }

    /**
     * One long sequence among short and empty ones, unsorted, NaN in the padding: in a 2-layer bidirectional model
     * each sequence's y, h_n and its dx, dh0 are bit for bit those of the same sequence run alone.
     */
    @Test
    void eachSequenceIsTheSameAsAlone() {
        int steps = 9;
        int[] lengths = {2, 0, 9, 1, 4, 3, 0, 7};
        int batch = lengths.length;
        int inputSize = 5;
        int hiddenSize = 17;
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, 2, true);
        try (TestGruStack model = new TestGruStack(1810, shape, Backend.PREFERRED, true);
             GruStackRunner runner = new GruStackRunner(model.weights, batch, steps);
             GruStackTrainer trainer = new GruStackTrainer(model.weights, batch, steps);
             GruStackGradients gradients = new GruStackGradients(model.weights)) {
            int outputSize = shape.outputSize();
            int states = shape.stateCount();
            for (SequenceLayout layout : SequenceLayout.values()) {
                float[] x = model.input(steps, batch);
                for (int t = 0; t < steps; t++) {
                    for (int b = 0; b < batch; b++) {
                        if (t >= lengths[b]) {
                            Arrays.fill(x, (t * batch + b) * inputSize, (t * batch + b + 1) * inputSize, Float.NaN);
                        }
                    }
                }
                float[] h0 = model.states(batch);
                float[] dy = model.outputGradient(steps, batch);
                float[] dhT = model.states(batch);
                float[] y = new float[steps * batch * outputSize];
                Arrays.fill(y, 9f);
                float[] hT = new float[h0.length];
                runner.forward(toLayout(x, layout, steps, batch, inputSize), layout, steps, batch, lengths, h0, y, hT);
                float[] dx = new float[x.length];
                float[] dh0 = new float[h0.length];
                trainer.forward(MemorySegment.ofArray(toLayout(x, layout, steps, batch, inputSize)), layout, steps,
                        batch, lengths, segment(h0), null, null);
                trainer.backward(MemorySegment.ofArray(toLayout(dy, layout, steps, batch, outputSize)), segment(dhT),
                        gradients, GradientMode.OVERWRITE, segment(dx), segment(dh0));
                y = fromLayout(y, layout, steps, batch, outputSize);
                dx = fromLayout(dx, layout, steps, batch, inputSize);
                for (int b = 0; b < batch; b++) {
                    int length = lengths[b];
                    String row = layout + " row " + b;
                    for (int t = length; t < steps; t++) {
                        assertArrayEquals(new float[outputSize], slice(y, t * batch + b, outputSize),
                                row + ": y past the end");
                        assertArrayEquals(new float[inputSize], slice(dx, t * batch + b, inputSize),
                                row + ": dx past the end");
                    }
                    float[] hAlone = states(h0, b, batch, states, hiddenSize);
                    if (length == 0) {
                        assertArrayEquals(hAlone, states(hT, b, batch, states, hiddenSize), row + ": h_n = h0");
                        assertArrayEquals(states(dhT, b, batch, states, hiddenSize),
                                states(dh0, b, batch, states, hiddenSize), row + ": dh0 = dh_n");
                        continue;
                    }
                    float[] xAlone = sequence(x, b, length, batch, inputSize);
                    float[] yAlone = new float[length * outputSize];
                    float[] hTAlone = new float[hAlone.length];
                    runner.forward(xAlone, length, 1, hAlone, yAlone, hTAlone);
                    assertArrayEquals(yAlone, sequence(y, b, length, batch, outputSize), row + ": y");
                    assertArrayEquals(hTAlone, states(hT, b, batch, states, hiddenSize), row + ": h_n");
                    float[] dxAlone = new float[xAlone.length];
                    float[] dh0Alone = new float[hAlone.length];
                    trainer.forward(xAlone, length, 1, hAlone, null, null);
                    trainer.backward(sequence(dy, b, length, batch, outputSize),
                            states(dhT, b, batch, states, hiddenSize), gradients, GradientMode.OVERWRITE, dxAlone,
                            dh0Alone);
                    assertArrayEquals(dxAlone, sequence(dx, b, length, batch, inputSize), row + ": dx");
                    assertArrayEquals(dh0Alone, states(dh0, b, batch, states, hiddenSize), row + ": dh0");
                }
            }
        }
    }

    @Test
    void lengthsAllTAreThePlainCallAndBatchFirstIsTimeMajorTransposed() {
        int steps = 5;
        int batch = 6;
        LstmStackShape shape = new LstmStackShape(7, 9, 2, true);
        try (TestGruStack model = new TestGruStack(1820, shape, Backend.PREFERRED, true);
             GruStackRunner runner = new GruStackRunner(model.weights, batch, steps)) {
            int outputSize = shape.outputSize();
            float[] x = model.input(steps, batch);
            float[] h0 = model.states(batch);
            int[] full = new int[batch];
            Arrays.fill(full, steps);
            float[] plain = new float[steps * batch * outputSize];
            float[] plainHT = new float[h0.length];
            runner.forward(x, steps, batch, h0, plain, plainHT);
            float[] variable = new float[plain.length];
            float[] variableHT = new float[h0.length];
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, full, h0, variable, variableHT);
            assertArrayEquals(plain, variable, "lengths all T: y");
            assertArrayEquals(plainHT, variableHT, "lengths all T: h_n");

            int[] lengths = {5, 2, 0, 4, 5, 1};
            float[] timeMajor = new float[plain.length];
            float[] timeMajorHT = new float[h0.length];
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, timeMajor, timeMajorHT);
            float[] batchFirst = new float[plain.length];
            float[] batchFirstHT = new float[h0.length];
            runner.forward(toLayout(x, SequenceLayout.BATCH_FIRST, steps, batch, 7), SequenceLayout.BATCH_FIRST, steps,
                    batch, lengths, h0, batchFirst, batchFirstHT);
            assertArrayEquals(timeMajor, fromLayout(batchFirst, SequenceLayout.BATCH_FIRST, steps, batch, outputSize));
            assertArrayEquals(timeMajorHT, batchFirstHT);
        }
    }

    @Test
    void badLengthsAreRefusedBeforeAnythingIsWritten() {
        LstmStackShape shape = new LstmStackShape(3, 4, 2, true);
        try (TestGruStack model = new TestGruStack(1830, shape, Backend.PREFERRED, true);
             GruStackRunner runner = new GruStackRunner(model.weights, 4, 6);
             GruStackTrainer trainer = new GruStackTrainer(model.weights, 4, 6);
             GruStackGradients gradients = new GruStackGradients(model.weights)) {
            float[] x = model.input(6, 3);
            float[] y = new float[6 * 3 * 8];
            Arrays.fill(y, 7f);
            float[] hT = new float[4 * 3 * 4];
            Arrays.fill(hT, 7f);
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 6, 3, null, null, y, hT),
                    "lengths must not be null");
            assertRefused(() -> runner.forward(x, SequenceLayout.BATCH_FIRST, 6, 3, new int[]{1, 2}, null, y, hT),
                    "lengths must hold one length per batch row, B=3, but it holds 2");
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 6, 3, new int[]{1, -1, 2}, null, y, hT),
                    "lengths[1] = -1 is outside 0..T=6");
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 7, 3, new int[]{1, 2, 7}, null, y, hT),
                    "steps 7 exceeds this GruStackRunner's maxSteps 6");
            assertRefused(() -> runner.forward(new float[6 * 3 * 3 + 1], SequenceLayout.BATCH_FIRST, 6, 3,
                    new int[]{1, 2, 3}, null, y, hT), "x must hold [B=3][T=6][I=3]");
            assertRefused(() -> runner.forward(x, SequenceLayout.BATCH_FIRST, 6, 3, new int[]{1, 2, 3}, null,
                    new float[6 * 3 * 4], hT), "y must hold [B=3][T=6][D*H=8]");
            assertRefused(() -> trainer.forward(MemorySegment.ofArray(x), SequenceLayout.TIME_MAJOR, 6, 3,
                    new int[]{6, 2, 7}, null, segment(y), null), "lengths[2] = 7 is outside 0..T=6");
            Throwable nullLayout = assertThrows(NullPointerException.class, () -> runner.forward(x, null, 6, 3,
                    new int[]{1, 2, 3}, null, y, hT));
            assertTrue(nullLayout.getMessage().contains("layout must not be null"), nullLayout.getMessage());
            for (float value : y) {
                assertEquals(7f, value);
            }
            for (float value : hT) {
                assertEquals(7f, value);
            }
            Throwable thrown = assertThrows(IllegalStateException.class, () -> trainer.backward((float[]) null, null,
                    gradients, GradientMode.OVERWRITE, null, null));
            assertTrue(thrown.getMessage().contains("backward needs a forward"), thrown.getMessage());
            trainer.forward(MemorySegment.ofArray(toLayout(x, SequenceLayout.BATCH_FIRST, 6, 3, 3)),
                    SequenceLayout.BATCH_FIRST, 6, 3, new int[]{6, 2, 0}, null, null, null);
            assertRefused(() -> trainer.backward(MemorySegment.ofArray(new float[6 * 3 * 4]), null, gradients,
                    GradientMode.OVERWRITE, null, null), "dy must hold [B=3][T=6][D*H=8]");
        }
    }

    private static void assertRefused(org.junit.jupiter.api.function.Executable call, String message) {
        Throwable thrown = assertThrows(IllegalArgumentException.class, call);
        assertTrue(thrown.getMessage().contains(message), thrown.getMessage());
    }

    /** The first {@code length} steps of sequence b of a time-major tensor, as {@code [length][1][width]}. */
    private static float[] sequence(float[] timeMajor, int b, int length, int batch, int width) {
        float[] sequence = new float[length * width];
        for (int t = 0; t < length; t++) {
            System.arraycopy(timeMajor, (t * batch + b) * width, sequence, t * width, width);
        }
        return sequence;
    }

    /** Row b of every {@code [B][H]} block of an {@code [L·D][B][H]} state, as {@code [L·D][1][H]}. */
    private static float[] states(float[] states, int b, int batch, int count, int hiddenSize) {
        float[] row = new float[count * hiddenSize];
        for (int n = 0; n < count; n++) {
            System.arraycopy(states, (n * batch + b) * hiddenSize, row, n * hiddenSize, hiddenSize);
        }
        return row;
    }

    private static float[] slice(float[] values, int index, int width) {
        return Arrays.copyOfRange(values, index * width, (index + 1) * width);
    }
}