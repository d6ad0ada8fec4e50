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
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/**
 * Variable-length batches through stacked and bidirectional models (runner and trainer, both layouts): against the
 * double reference stack (whose variable-length backward is checked here by central differences); every sequence
 * bit for bit the same as when it runs alone with its own T, including the reverse direction, which must start at
 * each sequence's own last step; lengths all T bit for bit the plain call; batch-first bit for bit time-major
 * transposed; bad lengths refused before anything is written. Tolerances are those of StackVsReferenceTest:
 * 1e-5 absolute on y, h_n, c_n and 1e-4 of each gradient tensor's largest value.
 */
class StackVariableLengthTest {

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
        try (TestStack model = new TestStack(800 + 10L * hiddenSize + batch, shape, backend, true);
             LstmStackRunner runner = new LstmStackRunner(model.weights, batch + 1, steps + 2);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights, batch, steps, dropout, 5);
             LstmStackGradients gradients = new LstmStackGradients(model.weights)) {
            int[] lengths = VariableLengthTest.lengths(batch * 13L + steps, steps, batch);
            int outputSize = shape.outputSize();
            float[] x = model.input(steps, batch);
            float[] h0 = model.states(batch);
            float[] c0 = model.states(batch);
            int states = h0.length;
            float[] y = new float[steps * batch * outputSize];
            float[] hT = new float[states];
            float[] cT = new float[states];
            runner.forward(toLayout(x, layout, steps, batch, inputSize), layout, steps, batch, lengths, h0, c0, y, hT,
                    cT);
            ReferenceStack.Result expected = model.reference.forward(doubles(x), steps, batch, lengths,
                    doubles(h0), doubles(c0), null);
            ForwardVsReferenceTest.assertWithin("y", fromLayout(y, layout, steps, batch, outputSize), expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());

            float[] trainedY = new float[y.length];
            trainer.forward(MemorySegment.ofArray(toLayout(x, layout, steps, batch, inputSize)), layout, steps, batch,
                    lengths, segment(h0), segment(c0), segment(trainedY), null, null);
            double[][] masks = null;
            if (dropout > 0) {
                masks = new double[layers - 1][];
                for (int layer = 0; layer < layers - 1; layer++) {
                    masks[layer] = doubles(fromLayout(trainer.dropoutMask(layer), layout, steps, batch, outputSize));
                }
            } else {
                assertArrayEquals(y, trainedY, "without dropout the trainer's y is the runner's");
            }
            ReferenceStack.Result expectedTrained = model.reference.forward(doubles(x), steps, batch, lengths,
                    doubles(h0), doubles(c0), masks);
            ForwardVsReferenceTest.assertWithin("trainer y", fromLayout(trainedY, layout, steps, batch, outputSize),
                    expectedTrained.y());

            float[] dy = model.outputGradient(steps, batch);
            float[] dhT = model.states(batch);
            float[] dcT = model.states(batch);
            float[] dx = new float[x.length];
            Arrays.fill(dx, Float.NaN);
            float[] dh0 = new float[states];
            float[] dc0 = new float[states];
            trainer.backward(MemorySegment.ofArray(toLayout(dy, layout, steps, batch, outputSize)), segment(dhT),
                    segment(dcT), gradients, GradientMode.OVERWRITE, segment(dx), segment(dh0), segment(dc0));
            StackVsReferenceTest.assertGradients(shape, gradients, fromLayout(dx, layout, steps, batch, inputSize),
                    dh0, dc0, model.reference.backward(doubles(x), steps, batch, lengths, doubles(h0), doubles(c0),
                            masks, doubles(dy), doubles(dhT), doubles(dcT)));
        }
    }

    /**
     * One long sequence among short and empty ones, unsorted, NaN in the padding: in a 2-layer bidirectional model
     * each sequence's y, h_n, c_n and its dx, dh0, dc0 are bit for bit those of the same sequence run alone.
     */
    @Test
    void eachSequenceIsTheSameAsAlone() {
        int steps = 9;
        int[] lengths = {2, 0, 9, 1, 4, 3, 0, 7};
        int batch = lengths.length;
        int inputSize = 5;
        int hiddenSize = 17;
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, 2, true);
        try (TestStack model = new TestStack(810, shape, Backend.PREFERRED, true);
             LstmStackRunner runner = new LstmStackRunner(model.weights, batch, steps);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights, batch, steps);
             LstmStackGradients gradients = new LstmStackGradients(model.weights)) {
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
                float[] c0 = model.states(batch);
                float[] dy = model.outputGradient(steps, batch);
                float[] dhT = model.states(batch);
                float[] dcT = model.states(batch);
                float[] y = new float[steps * batch * outputSize];
                Arrays.fill(y, 9f);
                float[] hT = new float[h0.length];
                float[] cT = new float[c0.length];
                runner.forward(toLayout(x, layout, steps, batch, inputSize), layout, steps, batch, lengths, h0, c0, y,
                        hT, cT);
                float[] dx = new float[x.length];
                float[] dh0 = new float[h0.length];
                float[] dc0 = new float[c0.length];
                trainer.forward(MemorySegment.ofArray(toLayout(x, layout, steps, batch, inputSize)), layout, steps,
                        batch, lengths, segment(h0), segment(c0), null, null, null);
                trainer.backward(MemorySegment.ofArray(toLayout(dy, layout, steps, batch, outputSize)), segment(dhT),
                        segment(dcT), gradients, GradientMode.OVERWRITE, segment(dx), segment(dh0), segment(dc0));
                y = fromLayout(y, layout, steps, batch, outputSize);
                dx = fromLayout(dx, layout, steps, batch, inputSize);
                for (int b = 0; b < batch; b++) {
                    int length = lengths[b];
                    String row = layout + " row " + b;
                    for (int t = length; t < steps; t++) {
                        assertArrayEquals(new float[outputSize], slice(y, t * batch + b, outputSize), row + ": y past the end");
                        assertArrayEquals(new float[inputSize], slice(dx, t * batch + b, inputSize), row + ": dx past the end");
                    }
                    float[] hAlone = states(h0, b, batch, states, hiddenSize);
                    float[] cAlone = states(c0, b, batch, states, hiddenSize);
                    if (length == 0) {
                        assertArrayEquals(hAlone, states(hT, b, batch, states, hiddenSize), row + ": h_n = h0");
                        assertArrayEquals(cAlone, states(cT, b, batch, states, hiddenSize), row + ": c_n = c0");
                        assertArrayEquals(states(dhT, b, batch, states, hiddenSize),
                                states(dh0, b, batch, states, hiddenSize), row + ": dh0 = dh_n");
                        continue;
                    }
                    float[] xAlone = sequence(x, b, length, batch, inputSize);
                    float[] yAlone = new float[length * outputSize];
                    float[] hTAlone = new float[hAlone.length];
                    float[] cTAlone = new float[cAlone.length];
                    runner.forward(xAlone, length, 1, hAlone, cAlone, yAlone, hTAlone, cTAlone);
                    assertArrayEquals(yAlone, sequence(y, b, length, batch, outputSize), row + ": y");
                    assertArrayEquals(hTAlone, states(hT, b, batch, states, hiddenSize), row + ": h_n");
                    assertArrayEquals(cTAlone, states(cT, b, batch, states, hiddenSize), row + ": c_n");
                    float[] dxAlone = new float[xAlone.length];
                    float[] dh0Alone = new float[hAlone.length];
                    float[] dc0Alone = new float[cAlone.length];
                    trainer.forward(MemorySegment.ofArray(xAlone), length, 1, segment(hAlone), segment(cAlone), null,
                            null, null);
                    trainer.backward(MemorySegment.ofArray(sequence(dy, b, length, batch, outputSize)),
                            segment(states(dhT, b, batch, states, hiddenSize)),
                            segment(states(dcT, b, batch, states, hiddenSize)), gradients, GradientMode.OVERWRITE,
                            segment(dxAlone), segment(dh0Alone), segment(dc0Alone));
                    assertArrayEquals(dxAlone, sequence(dx, b, length, batch, inputSize), row + ": dx");
                    assertArrayEquals(dh0Alone, states(dh0, b, batch, states, hiddenSize), row + ": dh0");
                    assertArrayEquals(dc0Alone, states(dc0, b, batch, states, hiddenSize), row + ": dc0");
                }
            }
        }
    }

    @Test
    void lengthsAllTAreThePlainCallAndBatchFirstIsTimeMajorTransposed() {
        int steps = 5;
        int batch = 6;
        LstmStackShape shape = new LstmStackShape(7, 9, 2, true);
        try (TestStack model = new TestStack(820, shape, Backend.PREFERRED, true);
             LstmStackRunner runner = new LstmStackRunner(model.weights, batch, steps)) {
            int outputSize = shape.outputSize();
            float[] x = model.input(steps, batch);
            float[] h0 = model.states(batch);
            int[] full = new int[batch];
            Arrays.fill(full, steps);
            float[] plain = new float[steps * batch * outputSize];
            float[] plainHT = new float[h0.length];
            runner.forward(x, steps, batch, h0, null, plain, plainHT, null);
            float[] variable = new float[plain.length];
            float[] variableHT = new float[h0.length];
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, full, h0, null, variable, variableHT, null);
            assertArrayEquals(plain, variable, "lengths all T: y");
            assertArrayEquals(plainHT, variableHT, "lengths all T: h_n");

            int[] lengths = {5, 2, 0, 4, 5, 1};
            float[] timeMajor = new float[plain.length];
            float[] timeMajorHT = new float[h0.length];
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, null, timeMajor, timeMajorHT, null);
            float[] batchFirst = new float[plain.length];
            float[] batchFirstHT = new float[h0.length];
            runner.forward(toLayout(x, SequenceLayout.BATCH_FIRST, steps, batch, 7), SequenceLayout.BATCH_FIRST, steps,
                    batch, lengths, h0, null, batchFirst, batchFirstHT, null);
            assertArrayEquals(timeMajor, fromLayout(batchFirst, SequenceLayout.BATCH_FIRST, steps, batch, outputSize));
            assertArrayEquals(timeMajorHT, batchFirstHT);
        }
    }

    @Test
    void badLengthsAreRefusedBeforeAnythingIsWritten() {
        LstmStackShape shape = new LstmStackShape(3, 4, 2, true);
        try (TestStack model = new TestStack(830, shape, Backend.PREFERRED, true);
             LstmStackRunner runner = new LstmStackRunner(model.weights, 4, 6);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights, 4, 6);
             LstmStackGradients gradients = new LstmStackGradients(model.weights)) {
            float[] x = model.input(6, 3);
            float[] y = new float[6 * 3 * 8];
            Arrays.fill(y, 7f);
            float[] hT = new float[4 * 3 * 4];
            Arrays.fill(hT, 7f);
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 6, 3, null, null, null, y, hT, null),
                    "lengths must not be null");
            assertRefused(() -> runner.forward(x, SequenceLayout.BATCH_FIRST, 6, 3, new int[]{1, 2}, null, null, y,
                    hT, null), "lengths must hold one length per batch row, B=3, but it holds 2");
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 6, 3, new int[]{1, -1, 2}, null, null, y,
                    hT, null), "lengths[1] = -1 is outside 0..T=6");
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 7, 3, new int[]{1, 2, 7}, null, null, y,
                    hT, null), "steps 7 exceeds this LstmStackRunner's maxSteps 6");
            assertRefused(() -> runner.forward(new float[6 * 3 * 3 + 1], SequenceLayout.BATCH_FIRST, 6, 3,
                    new int[]{1, 2, 3}, null, null, y, hT, null), "x must hold [B=3][T=6][I=3]");
            assertRefused(() -> runner.forward(x, SequenceLayout.BATCH_FIRST, 6, 3, new int[]{1, 2, 3}, null, null,
                    new float[6 * 3 * 4], hT, null), "y must hold [B=3][T=6][D*H=8]");
            assertRefused(() -> trainer.forward(MemorySegment.ofArray(x), SequenceLayout.TIME_MAJOR, 6, 3,
                    new int[]{6, 2, 7}, null, null, segment(y), null, null), "lengths[2] = 7 is outside 0..T=6");
            Throwable nullLayout = assertThrows(NullPointerException.class, () -> runner.forward(x, null, 6, 3,
                    new int[]{1, 2, 3}, null, null, y, hT, null));
            assertTrue(nullLayout.getMessage().contains("layout must not be null"), nullLayout.getMessage());
            for (float value : y) {
                assertEquals(7f, value);
            }
            for (float value : hT) {
                assertEquals(7f, value);
            }
            Throwable thrown = assertThrows(IllegalStateException.class, () -> trainer.backward(null, null, null,
                    gradients, GradientMode.OVERWRITE, null, null, null));
            assertTrue(thrown.getMessage().contains("backward needs a forward"), thrown.getMessage());
            trainer.forward(MemorySegment.ofArray(toLayout(x, SequenceLayout.BATCH_FIRST, 6, 3, 3)),
                    SequenceLayout.BATCH_FIRST, 6, 3, new int[]{6, 2, 0}, null, null, null, null, null);
            assertRefused(() -> trainer.backward(MemorySegment.ofArray(new float[6 * 3 * 4]), null, null, gradients,
                    GradientMode.OVERWRITE, null, null, null), "dy must hold [B=3][T=6][D*H=8]");
        }
    }

    /** The reference stack's variable-length backward against central differences of its forward. */
    @ParameterizedTest(name = "L={0} bidirectional={1} p={2}")
    @CsvSource({"2, true, 0", "2, true, 0.4", "3, false, 0"})
    void referenceBackwardMatchesCentralDifferences(int layers, boolean bidirectional, double dropout) {
        int inputSize = 2;
        int hiddenSize = 3;
        int steps = 4;
        int[] lengths = {2, 4, 0, 3};
        int batch = lengths.length;
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, bidirectional);
        SplittableRandom random = new SplittableRandom(840 + layers);
        double bound = 2 / Math.sqrt(hiddenSize);
        int cells = shape.stateCount();
        double[][] parameters = new double[4 * cells][];
        for (int n = 0; n < cells; n++) {
            int input = shape.layerInputSize(n / shape.directions());
            parameters[4 * n] = uniform(random, 4 * hiddenSize * input, bound);
            parameters[4 * n + 1] = uniform(random, 4 * hiddenSize * hiddenSize, bound);
            parameters[4 * n + 2] = uniform(random, 4 * hiddenSize, bound);
            parameters[4 * n + 3] = uniform(random, 4 * hiddenSize, bound);
        }
        int states = cells * batch * hiddenSize;
        int outputs = steps * batch * shape.outputSize();
        double[] x = uniform(random, steps * batch * inputSize, 1);
        double[] h0 = uniform(random, states, 1);
        double[] c0 = uniform(random, states, 1);
        double[] dy = uniform(random, outputs, 1);
        double[] dhT = uniform(random, states, 1);
        double[] dcT = uniform(random, states, 1);
        double[][] masks = null;
        if (dropout > 0) {
            masks = new double[layers - 1][outputs];
            for (double[] mask : masks) {
                for (int n = 0; n < outputs; n++) {
                    mask[n] = random.nextDouble() < dropout ? 0 : 1 / (1 - dropout);
                }
            }
        }
        double[][] fixedMasks = masks;
        ReferenceStack.Gradients gradients = stack(shape, parameters).backward(x, steps, batch, lengths, h0, c0,
                masks, dy, dhT, dcT);
        java.util.function.DoubleSupplier loss = () -> {
            ReferenceStack.Result result = stack(shape, parameters).forward(x, steps, batch, lengths, h0, c0,
                    fixedMasks);
            return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT)
                    + CentralDifferences.dot(result.cT(), dcT);
        };
        String[] names = {"weightIh", "weightHh", "biasIh", "biasHh"};
        for (int n = 0; n < parameters.length; n++) {
            int cell = n / 4;
            double[][] analytic = {gradients.weightIh()[cell], gradients.weightHh()[cell], gradients.biasIh()[cell],
                    gradients.biasHh()[cell]};
            String name = "cell " + cell + " " + names[n % 4];
            significant(name, CentralDifferences.check(name, parameters[n], analytic[n % 4], loss));
        }
        significant("x", CentralDifferences.check("x", x, gradients.x(), loss));
        significant("h0", CentralDifferences.check("h0", h0, gradients.h0(), loss));
        significant("c0", CentralDifferences.check("c0", c0, gradients.c0(), loss));
        for (int t = lengths[0]; t < steps; t++) {
            for (int i = 0; i < inputSize; i++) {
                assertEquals(0.0, gradients.x()[(t * batch) * inputSize + i], "dx past the end of sequence 0");
            }
        }
    }

    private static ReferenceStack stack(LstmStackShape shape, double[][] parameters) {
        ReferenceLstm[] cells = new ReferenceLstm[shape.stateCount()];
        for (int n = 0; n < cells.length; n++) {
            cells[n] = new ReferenceLstm(shape.layerInputSize(n / shape.directions()), shape.hiddenSize(),
                    parameters[4 * n], parameters[4 * n + 1], parameters[4 * n + 2], parameters[4 * n + 3]);
        }
        return new ReferenceStack(shape.bidirectional(), cells);
    }

    private static void significant(String name, double largest) {
        assertTrue(largest > CentralDifferences.SIGNIFICANT, name + " is all zeros: the check would prove nothing");
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

    private static double[] uniform(SplittableRandom random, int length, double bound) {
        double[] values = new double[length];
        for (int n = 0; n < length; n++) {
            values[n] = (random.nextDouble() * 2 - 1) * bound;
        }
        return values;
    }
}
