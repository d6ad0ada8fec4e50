package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
import static dev.vlstm.TrainerVsReferenceTest.assertClose;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static dev.vlstm.VariableLengthTest.fromLayout;
import static dev.vlstm.VariableLengthTest.toLayout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceGru;

/**
 * Variable-length batches ({@code lengths}, both layouts) in {@link GruRunner} and {@link GruTrainer}, vector and
 * scalar kernels, against the double reference ({@link ReferenceGru} with lengths) and against themselves: every
 * length equal to T is the plain call bit for bit; a sequence gives the same bits whatever the other rows are, as
 * when it runs alone with its own T; batch-first is time-major transposed, bit for bit; NaN padding is never read.
 * Tolerances are those of {@link ForwardVsReferenceTest} (1e-5 absolute on y and hT, through
 * {@link ForwardVsReferenceTest#assertWithin}) and {@link GruTrainerVsReferenceTest} (1e-4 of each gradient tensor's
 * largest value, through {@link TrainerVsReferenceTest#assertClose}).
 */
class GruVariableLengthTest {

    static Stream<Arguments> shapes() {
        List<Arguments> shapes = new ArrayList<>();
        int[] hiddenSizes = {1, 3, 17, 33};
        SplittableRandom random = new SplittableRandom(78);
        for (int batch = 1; batch <= 9; batch++) {
            int hiddenSize = hiddenSizes[batch % hiddenSizes.length];
            int inputSize = hiddenSizes[random.nextInt(hiddenSizes.length)];
            shapes.add(Arguments.of(inputSize, hiddenSize, 1 + random.nextInt(12), batch, batch % 2 == 0,
                    batch % 3 == 0 ? SequenceLayout.BATCH_FIRST : SequenceLayout.TIME_MAJOR, Backend.PREFERRED));
        }
        shapes.add(Arguments.of(5, 17, 7, 6, true, SequenceLayout.BATCH_FIRST, Backend.SCALAR));
        shapes.add(Arguments.of(3, 33, 9, 5, false, SequenceLayout.TIME_MAJOR, Backend.SCALAR));
        shapes.add(Arguments.of(1, 1, 4, 9, true, SequenceLayout.BATCH_FIRST, Backend.SCALAR));
        return shapes.stream();
    }

    @ParameterizedTest(name = "{6} I={0} H={1} T={2} B={3} initialState={4} {5}")
    @MethodSource("shapes")
    void runnerAndTrainerMatchTheReference(int inputSize, int hiddenSize, int steps, int batch, boolean initialState,
                                           SequenceLayout layout, Backend backend) {
        try (TestGru model = new TestGru(1900 + batch, inputSize, hiddenSize, backend);
             GruRunner runner = new GruRunner(model.weights, batch + 1, 3);
             GruTrainer trainer = new GruTrainer(model.weights, batch, steps + 1);
             GruGradients gradients = new GruGradients(model.weights)) {
            int[] lengths = VariableLengthTest.lengths(batch * 37L + steps, steps, batch);
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.state(batch) : null;
            float[] dy = TestModel.uniform(new SplittableRandom(batch), steps * batch * hiddenSize, 1f);
            float[] dhT = model.state(batch);
            ReferenceGru.Result expected = model.reference.forward(x, steps, batch, lengths, h0);
            ReferenceGru.Gradients expectedGradients = model.reference.backward(doubles(x), steps, batch, lengths,
                    doubles(h0), doubles(dy), doubles(dhT));

            float[] input = toLayout(x, layout, steps, batch, inputSize);
            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[batch * hiddenSize];
            runner.forward(input, layout, steps, batch, lengths, h0, y, hT);
            ForwardVsReferenceTest.assertWithin("y", fromLayout(y, layout, steps, batch, hiddenSize), expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());

            float[] trainerY = new float[y.length];
            float[] trainerHT = new float[hT.length];
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * hiddenSize];
            trainer.forward(MemorySegment.ofArray(input), layout, steps, batch, lengths, segment(h0),
                    MemorySegment.ofArray(trainerY), MemorySegment.ofArray(trainerHT));
            assertArrayEquals(y, trainerY, "the trainer's y is the runner's");
            assertArrayEquals(hT, trainerHT, "the trainer's hT is the runner's");
            trainer.backward(MemorySegment.ofArray(toLayout(dy, layout, steps, batch, hiddenSize)),
                    MemorySegment.ofArray(dhT), gradients, GradientMode.OVERWRITE, MemorySegment.ofArray(dx),
                    MemorySegment.ofArray(dh0));
            assertClose("weightIh", floats(gradients.weightIh()), expectedGradients.weightIh());
            assertClose("weightHh", floats(gradients.weightHh()), expectedGradients.weightHh());
            assertClose("biasIh", floats(gradients.biasIh()), expectedGradients.biasIh());
            assertClose("biasHh", floats(gradients.biasHh()), expectedGradients.biasHh());
            assertClose("x", fromLayout(dx, layout, steps, batch, inputSize), expectedGradients.x());
            assertClose("h0", dh0, expectedGradients.h0());
        }
    }

    @Test
    void lengthsAllTGiveThePlainCallBitForBit() {
        int steps = 6;
        int batch = 7;
        int hiddenSize = 17;
        try (TestGru model = new TestGru(141, 9, hiddenSize, Backend.PREFERRED);
             GruRunner runner = new GruRunner(model.weights, batch, 4);
             GruTrainer trainer = new GruTrainer(model.weights, batch, steps);
             GruGradients plain = new GruGradients(model.weights);
             GruGradients variable = new GruGradients(model.weights)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.state(batch);
            int[] lengths = new int[batch];
            Arrays.fill(lengths, steps);
            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[batch * hiddenSize];
            runner.forward(x, steps, batch, h0, y, hT);
            float[] yVariable = new float[y.length];
            float[] hTVariable = new float[hT.length];
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, yVariable, hTVariable);
            assertArrayEquals(y, yVariable, "y");
            assertArrayEquals(hT, hTVariable, "hT");

            float[] dy = TestModel.uniform(new SplittableRandom(145), y.length, 1f);
            float[] dhT = model.state(batch);
            float[] dxPlain = new float[x.length];
            float[] dxVariable = new float[x.length];
            float[] dh0Plain = new float[hT.length];
            float[] dh0Variable = new float[hT.length];
            trainer.forward(x, steps, batch, h0, null, null);
            trainer.backward(dy, dhT, plain, GradientMode.OVERWRITE, dxPlain, dh0Plain);
            trainer.forward(MemorySegment.ofArray(x), SequenceLayout.TIME_MAJOR, steps, batch, lengths,
                    MemorySegment.ofArray(h0), null, null);
            trainer.backward(dy, dhT, variable, GradientMode.OVERWRITE, dxVariable,
                    dh0Variable);
            assertArrayEquals(dxPlain, dxVariable, "dx");
            assertArrayEquals(dh0Plain, dh0Variable, "dh0");
            assertArrayEquals(floats(plain.weightIh()), floats(variable.weightIh()), "weightIh");
            assertArrayEquals(floats(plain.weightHh()), floats(variable.weightHh()), "weightHh");
            assertArrayEquals(floats(plain.biasIh()), floats(variable.biasIh()), "biasIh");
            assertArrayEquals(floats(plain.biasHh()), floats(variable.biasHh()), "biasHh");
        }
    }

    /**
     * One long sequence among short ones and empty ones, unsorted: each row equals, bit for bit, the same sequence run
     * alone with T = its length (forward, and its dx and dh0 in the backward), and NaN padding is never read.
     */
    @Test
    void eachSequenceIsTheSameAsAlone() {
        int steps = 11;
        int[] lengths = {2, 0, 11, 1, 3, 2, 0, 1, 5};
        int batch = lengths.length;
        int inputSize = 6;
        int hiddenSize = 33;
        for (Backend backend : new Backend[]{Backend.PREFERRED, Backend.SCALAR}) {
            try (TestGru model = new TestGru(142, inputSize, hiddenSize, backend);
                 GruRunner runner = new GruRunner(model.weights, batch, 4);
                 GruTrainer trainer = new GruTrainer(model.weights, batch, steps);
                 GruGradients gradients = new GruGradients(model.weights)) {
                for (SequenceLayout layout : SequenceLayout.values()) {
                    float[] x = model.input(steps, batch);
                    for (int t = 0; t < steps; t++) {
                        for (int b = 0; b < batch; b++) {
                            if (t >= lengths[b]) {
                                Arrays.fill(x, (t * batch + b) * inputSize, (t * batch + b + 1) * inputSize,
                                        Float.NaN);
                            }
                        }
                    }
                    float[] h0 = model.state(batch);
                    float[] dy = TestModel.uniform(new SplittableRandom(146), steps * batch * hiddenSize, 1f);
                    float[] dhT = model.state(batch);
                    float[] batchedY = new float[steps * batch * hiddenSize];
                    float[] batchedHT = new float[batch * hiddenSize];
                    float[] dx = new float[x.length];
                    float[] dh0 = new float[batch * hiddenSize];
                    runner.forward(toLayout(x, layout, steps, batch, inputSize), layout, steps, batch, lengths, h0,
                            batchedY, batchedHT);
                    float[] trainerY = new float[batchedY.length];
                    trainer.forward(MemorySegment.ofArray(toLayout(x, layout, steps, batch, inputSize)), layout,
                            steps, batch, lengths, MemorySegment.ofArray(h0), MemorySegment.ofArray(trainerY), null);
                    assertArrayEquals(batchedY, trainerY);
                    trainer.backward(MemorySegment.ofArray(toLayout(dy, layout, steps, batch, hiddenSize)),
                            MemorySegment.ofArray(dhT), gradients, GradientMode.OVERWRITE, MemorySegment.ofArray(dx),
                            MemorySegment.ofArray(dh0));
                    float[] y = fromLayout(batchedY, layout, steps, batch, hiddenSize);
                    float[] dxTimeMajor = fromLayout(dx, layout, steps, batch, inputSize);
                    for (int b = 0; b < batch; b++) {
                        String where = backend + " " + layout + " row " + b;
                        int length = lengths[b];
                        float[] hAlone = row(h0, b, hiddenSize);
                        if (length > 0) {
                            float[] xAlone = column(x, b, length, batch, inputSize);
                            float[] yAlone = new float[length * hiddenSize];
                            float[] hTAlone = new float[hiddenSize];
                            runner.forward(xAlone, length, 1, hAlone, yAlone, hTAlone);
                            assertArrayEquals(yAlone, column(y, b, length, batch, hiddenSize), "y of " + where);
                            assertArrayEquals(hTAlone, row(batchedHT, b, hiddenSize), "hT of " + where);
                            float[] dxAlone = new float[xAlone.length];
                            float[] dh0Alone = new float[hiddenSize];
                            trainer.forward(xAlone, length, 1, hAlone, null, null);
                            trainer.backward(column(dy, b, length, batch, hiddenSize), row(dhT, b, hiddenSize),
                                    gradients, GradientMode.OVERWRITE, dxAlone, dh0Alone);
                            assertArrayEquals(dxAlone, column(dxTimeMajor, b, length, batch, inputSize),
                                    "dx of " + where);
                            assertArrayEquals(dh0Alone, row(dh0, b, hiddenSize), "dh0 of " + where);
                        } else {
                            assertArrayEquals(hAlone, row(batchedHT, b, hiddenSize), "hT = h0, length 0, " + where);
                            assertArrayEquals(row(dhT, b, hiddenSize), row(dh0, b, hiddenSize),
                                    "dh0 = dhT, length 0, " + where);
                        }
                        for (int t = length; t < steps; t++) {
                            assertArrayEquals(new float[hiddenSize], row(y, t * batch + b, hiddenSize),
                                    "y past the end, " + where);
                            assertArrayEquals(new float[inputSize], row(dxTimeMajor, t * batch + b, inputSize),
                                    "dx past the end, " + where);
                        }
                    }
                }
            }
        }
    }

    /** No sequence runs a step: h0 passes through, dhT passes back, outputs and weight gradients are zero. */
    @Test
    void everyLengthZero() {
        int steps = 3;
        int batch = 5;
        int hiddenSize = 17;
        try (TestGru model = new TestGru(147, 4, hiddenSize, Backend.PREFERRED);
             GruRunner runner = new GruRunner(model.weights, batch);
             GruTrainer trainer = new GruTrainer(model.weights, batch, steps);
             GruGradients gradients = new GruGradients(model.weights)) {
            int[] lengths = new int[batch];
            float[] x = model.input(steps, batch);
            float[] h0 = model.state(batch);
            float[] y = new float[steps * batch * hiddenSize];
            Arrays.fill(y, 5f);
            float[] hT = new float[batch * hiddenSize];
            runner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, h0, y, hT);
            assertArrayEquals(new float[y.length], y);
            assertArrayEquals(h0, hT);
            float[] dhT = model.state(batch);
            float[] dx = model.input(steps, batch);
            float[] dh0 = new float[batch * hiddenSize];
            gradients.weightHh().fill((byte) 1);
            trainer.forward(MemorySegment.ofArray(x), SequenceLayout.TIME_MAJOR, steps, batch, lengths, null, null,
                    null);
            trainer.backward(MemorySegment.ofArray(new float[y.length]), MemorySegment.ofArray(dhT), gradients,
                    GradientMode.OVERWRITE, MemorySegment.ofArray(dx), MemorySegment.ofArray(dh0));
            assertArrayEquals(new float[x.length], dx);
            assertArrayEquals(dhT, dh0);
            assertArrayEquals(new float[3 * hiddenSize * hiddenSize], floats(gradients.weightHh()));
        }
    }

    @Test
    void batchFirstIsTimeMajorTransposedBitForBit() {
        int steps = 5;
        int batch = 6;
        int hiddenSize = 17;
        int[] lengths = {5, 3, 0, 4, 5, 1};
        try (TestGru model = new TestGru(143, 7, hiddenSize, Backend.PREFERRED);
             GruRunner runner = new GruRunner(model.weights, batch)) {
            float[] x = model.input(steps, batch);
            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[batch * hiddenSize];
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, null, y, hT);
            float[] yBatchFirst = new float[y.length];
            float[] hTBatchFirst = new float[hT.length];
            runner.forward(toLayout(x, SequenceLayout.BATCH_FIRST, steps, batch, 7), SequenceLayout.BATCH_FIRST, steps,
                    batch, lengths, null, yBatchFirst, hTBatchFirst);
            assertArrayEquals(y, fromLayout(yBatchFirst, SequenceLayout.BATCH_FIRST, steps, batch, hiddenSize));
            assertArrayEquals(hT, hTBatchFirst);
        }
    }

    @Test
    void badLengthsAreRefusedByNameAndIndexChangingNothing() {
        try (TestGru model = new TestGru(144, 3, 5, Backend.PREFERRED);
             GruRunner runner = new GruRunner(model.weights, 4);
             GruTrainer trainer = new GruTrainer(model.weights, 4, 6)) {
            float[] x = model.input(6, 3);
            float[] y = new float[6 * 3 * 5];
            Arrays.fill(y, 7f);
            float[] hT = new float[3 * 5];
            Arrays.fill(hT, 7f);
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 6, 3, null, null, y, hT),
                    "lengths must not be null");
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 6, 3, new int[]{1, 2}, null, y, hT),
                    "lengths must hold one length per batch row, B=3, but it holds 2");
            assertRefused(() -> runner.forward(x, SequenceLayout.BATCH_FIRST, 6, 3, new int[]{1, -1, 2}, null, y, hT),
                    "lengths[1] = -1 is outside 0..T=6");
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 6, 3, new int[]{1, 2, 7}, null, y, hT),
                    "lengths[2] = 7 is outside 0..T=6");
            assertRefused(() -> trainer.forward(MemorySegment.ofArray(x), SequenceLayout.TIME_MAJOR, 6, 3,
                    new int[]{6, 2, 7}, null, MemorySegment.ofArray(y), null), "lengths[2] = 7 is outside 0..T=6");
            assertRefused(() -> trainer.forward(MemorySegment.ofArray(x), SequenceLayout.BATCH_FIRST, 6, 3, null, null,
                    null, null), "lengths must not be null");
            assertRefused(() -> runner.forward(new float[6 * 3 * 3 + 1], SequenceLayout.BATCH_FIRST, 6, 3,
                    new int[]{1, 2, 3}, null, y, hT), "x must hold [B=3][T=6][I=3]");
            for (float value : y) {
                assertEquals(7f, value);
            }
            for (float value : hT) {
                assertEquals(7f, value);
            }
            Throwable thrown = assertThrows(IllegalStateException.class, () -> trainer.backward((float[]) null, null,
                    new GruGradients(model.weights), GradientMode.OVERWRITE, null, null));
            assertTrue(thrown.getMessage().contains("backward needs a forward"), thrown.getMessage());
            trainer.forward(MemorySegment.ofArray(x), SequenceLayout.BATCH_FIRST, 6, 3, new int[]{6, 2, 0}, null,
                    null, null);
            try (GruGradients gradients = new GruGradients(model.weights)) {
                assertRefused(() -> trainer.backward(new float[6 * 3 * 5 + 1], null, gradients,
                        GradientMode.OVERWRITE, null, null), "dy must hold [B=3][T=6][H=5]");
            }
        }
    }

    /** The first {@code length} steps of sequence b of a time-major tensor, as {@code [length][1][width]}. */
    private static float[] column(float[] timeMajor, int b, int length, int batch, int width) {
        float[] column = new float[length * width];
        for (int t = 0; t < length; t++) {
            System.arraycopy(timeMajor, (t * batch + b) * width, column, t * width, width);
        }
        return column;
    }

    private static float[] row(float[] values, int index, int width) {
        return Arrays.copyOfRange(values, index * width, (index + 1) * width);
    }

    private static void assertRefused(org.junit.jupiter.api.function.Executable call, String message) {
        Throwable thrown = assertThrows(IllegalArgumentException.class, call);
        assertTrue(thrown.getMessage().contains(message), thrown.getMessage());
    }

    private static MemorySegment segment(float[] values) {
        return values == null ? null : MemorySegment.ofArray(values);
    }
}