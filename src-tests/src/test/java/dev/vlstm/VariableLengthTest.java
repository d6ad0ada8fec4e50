package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
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

import dev.vlstm.reference.ReferenceLstm;

/**
 * Variable-length batches ({@code lengths}, both layouts) in the runner and the trainer, against the double reference
 * and against themselves: every length equal to T is the plain call bit for bit; a sequence gives the same bits
 * whatever the other rows are, as when it runs alone with its own T; batch-first is time-major transposed, bit for
 * bit; padding inputs are never read. Tolerances are those of {@link ForwardVsReferenceTest} (1e-5 absolute on
 * y, hT, cT) and {@link TrainerVsReferenceTest} (1e-4 of each gradient tensor's largest value).
 */
class VariableLengthTest {

    static Stream<Arguments> shapes() {
        List<Arguments> shapes = new ArrayList<>();
        int[] hiddenSizes = {1, 3, 17, 33};
        SplittableRandom random = new SplittableRandom(77);
        for (int batch = 1; batch <= 9; batch++) {
            int hiddenSize = hiddenSizes[batch % hiddenSizes.length];
            int inputSize = hiddenSizes[random.nextInt(hiddenSizes.length)];
            shapes.add(Arguments.of(inputSize, hiddenSize, 1 + random.nextInt(12), batch, batch % 2 == 0,
                    batch % 3 == 0 ? SequenceLayout.BATCH_FIRST : SequenceLayout.TIME_MAJOR, Backend.PREFERRED));
        }
        shapes.add(Arguments.of(5, 17, 7, 6, true, SequenceLayout.BATCH_FIRST, Backend.SCALAR));
        shapes.add(Arguments.of(3, 33, 9, 5, false, SequenceLayout.TIME_MAJOR, Backend.SCALAR));
        return shapes.stream();
    }

    /** Seeded lengths in 0..T, unsorted, with at least one 0 and one T when B allows. */
    static int[] lengths(long seed, int steps, int batch) {
        SplittableRandom random = new SplittableRandom(seed);
        int[] lengths = new int[batch];
        for (int b = 0; b < batch; b++) {
            lengths[b] = random.nextInt(steps + 1);
        }
        if (batch >= 2) {
            lengths[random.nextInt(batch)] = steps;
        }
        if (batch >= 3) {
            lengths[batch - 1] = 0;
        }
        return lengths;
    }

    @ParameterizedTest(name = "{6} I={0} H={1} T={2} B={3} initialState={4} {5}")
    @MethodSource("shapes")
    void runnerAndTrainerMatchTheReference(int inputSize, int hiddenSize, int steps, int batch, boolean initialState,
                                           SequenceLayout layout, Backend backend) {
        try (TestModel model = new TestModel(900 + batch, inputSize, hiddenSize, backend);
             LstmRunner runner = new LstmRunner(model.weights, batch + 1, 3);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch, steps + 1);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            int[] lengths = lengths(batch * 31L + steps, steps, batch);
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.state(batch) : null;
            float[] c0 = initialState ? model.state(batch) : null;
            float[] dy = model.uniform(steps * batch * hiddenSize, 1f);
            float[] dhT = model.state(batch);
            float[] dcT = model.state(batch);
            ReferenceLstm.Result expected = model.reference.forward(x, steps, batch, lengths, h0, c0);
            ReferenceLstm.Gradients expectedGradients = model.reference.backward(doubles(x), steps, batch, lengths,
                    doubles(h0), doubles(c0), doubles(dy), doubles(dhT), doubles(dcT));

            float[] input = toLayout(x, layout, steps, batch, inputSize);
            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[batch * hiddenSize];
            float[] cT = new float[batch * hiddenSize];
            runner.forward(input, layout, steps, batch, lengths, h0, c0, y, hT, cT);
            ForwardVsReferenceTest.assertWithin("y", fromLayout(y, layout, steps, batch, hiddenSize), expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());

            float[] trainerY = new float[y.length];
            float[] trainerHT = new float[hT.length];
            float[] trainerCT = new float[cT.length];
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * hiddenSize];
            float[] dc0 = new float[batch * hiddenSize];
            trainer.forward(MemorySegment.ofArray(input), layout, steps, batch, lengths, segment(h0), segment(c0),
                    MemorySegment.ofArray(trainerY), MemorySegment.ofArray(trainerHT), MemorySegment.ofArray(trainerCT));
            assertArrayEquals(y, trainerY, "the trainer's y is the runner's");
            assertArrayEquals(hT, trainerHT);
            assertArrayEquals(cT, trainerCT);
            trainer.backward(MemorySegment.ofArray(toLayout(dy, layout, steps, batch, hiddenSize)),
                    MemorySegment.ofArray(dhT), MemorySegment.ofArray(dcT), gradients, GradientMode.OVERWRITE,
                    MemorySegment.ofArray(dx), MemorySegment.ofArray(dh0), MemorySegment.ofArray(dc0));
            TrainerVsReferenceTest.assertClose("weightIh", TrainerVsReferenceTest.floats(gradients.weightIh()),
                    expectedGradients.weightIh());
            TrainerVsReferenceTest.assertClose("weightHh", TrainerVsReferenceTest.floats(gradients.weightHh()),
                    expectedGradients.weightHh());
            TrainerVsReferenceTest.assertClose("biasIh", TrainerVsReferenceTest.floats(gradients.biasIh()),
                    expectedGradients.biasIh());
            TrainerVsReferenceTest.assertClose("x", fromLayout(dx, layout, steps, batch, inputSize),
                    expectedGradients.x());
            TrainerVsReferenceTest.assertClose("h0", dh0, expectedGradients.h0());
            TrainerVsReferenceTest.assertClose("c0", dc0, expectedGradients.c0());
        }
    }

    @Test
    void lengthsAllTGiveThePlainCallBitForBit() {
        int steps = 6;
        int batch = 7;
        try (TestModel model = new TestModel(41, 9, 17);
             LstmRunner runner = new LstmRunner(model.weights, batch, 4);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch, steps);
             LstmGradients plain = new LstmGradients(model.weights);
             LstmGradients variable = new LstmGradients(model.weights)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.state(batch);
            float[] c0 = model.state(batch);
            int[] lengths = new int[batch];
            Arrays.fill(lengths, steps);
            Outputs expected = new Outputs(steps, batch, 17);
            runner.forward(x, steps, batch, h0, c0, expected.y, expected.hT, expected.cT);
            Outputs actual = new Outputs(steps, batch, 17);
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, c0, actual.y, actual.hT, actual.cT);
            expected.assertSame(actual);

            float[] dy = model.uniform(steps * batch * 17, 1f);
            float[] dxPlain = new float[x.length];
            float[] dxVariable = new float[x.length];
            trainer.forward(MemorySegment.ofArray(x), steps, batch, segment(h0), segment(c0), null, null, null);
            trainer.backward(MemorySegment.ofArray(dy), null, null, plain, GradientMode.OVERWRITE,
                    MemorySegment.ofArray(dxPlain), null, null);
            trainer.forward(MemorySegment.ofArray(x), SequenceLayout.TIME_MAJOR, steps, batch, lengths, segment(h0),
                    segment(c0), null, null, null);
            trainer.backward(MemorySegment.ofArray(dy), null, null, variable, GradientMode.OVERWRITE,
                    MemorySegment.ofArray(dxVariable), null, null);
            assertArrayEquals(dxPlain, dxVariable);
            assertArrayEquals(TrainerVsReferenceTest.floats(plain.weightHh()),
                    TrainerVsReferenceTest.floats(variable.weightHh()));
            assertArrayEquals(TrainerVsReferenceTest.floats(plain.weightIh()),
                    TrainerVsReferenceTest.floats(variable.weightIh()));
            assertArrayEquals(TrainerVsReferenceTest.floats(plain.biasHh()),
                    TrainerVsReferenceTest.floats(variable.biasHh()));
        }
    }

    /**
     * One long sequence among short ones and empty ones, unsorted: each row equals, bit for bit, the same sequence run
     * alone with T = its length (forward, and its dx, dh0, dc0 in the backward), and NaN padding is never read.
     */
    @Test
    void eachSequenceIsTheSameAsAlone() {
        int steps = 11;
        int[] lengths = {2, 0, 11, 1, 3, 2, 0, 1, 5};
        int batch = lengths.length;
        int inputSize = 6;
        int hiddenSize = 33;
        try (TestModel model = new TestModel(42, inputSize, hiddenSize);
             LstmRunner runner = new LstmRunner(model.weights, batch, 4);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch, steps);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            for (SequenceLayout layout : SequenceLayout.values()) {
                float[] x = model.input(steps, batch);
                for (int t = 0; t < steps; t++) {
                    for (int b = 0; b < batch; b++) {
                        if (t >= lengths[b]) {
                            Arrays.fill(x, (t * batch + b) * inputSize, (t * batch + b + 1) * inputSize, Float.NaN);
                        }
                    }
                }
                float[] h0 = model.state(batch);
                float[] c0 = model.state(batch);
                float[] dy = model.uniform(steps * batch * hiddenSize, 1f);
                float[] dhT = model.state(batch);
                float[] dcT = model.state(batch);
                Outputs batched = new Outputs(steps, batch, hiddenSize);
                float[] dx = new float[x.length];
                float[] dh0 = new float[batch * hiddenSize];
                float[] dc0 = new float[batch * hiddenSize];
                runner.forward(toLayout(x, layout, steps, batch, inputSize), layout, steps, batch, lengths, h0, c0,
                        batched.y, batched.hT, batched.cT);
                float[] trainerY = new float[batched.y.length];
                trainer.forward(MemorySegment.ofArray(toLayout(x, layout, steps, batch, inputSize)), layout, steps,
                        batch, lengths, segment(h0), segment(c0), MemorySegment.ofArray(trainerY), null, null);
                assertArrayEquals(batched.y, trainerY);
                trainer.backward(MemorySegment.ofArray(toLayout(dy, layout, steps, batch, hiddenSize)),
                        MemorySegment.ofArray(dhT), MemorySegment.ofArray(dcT), gradients, GradientMode.OVERWRITE,
                        MemorySegment.ofArray(dx), MemorySegment.ofArray(dh0), MemorySegment.ofArray(dc0));
                float[] y = fromLayout(batched.y, layout, steps, batch, hiddenSize);
                float[] dxTimeMajor = fromLayout(dx, layout, steps, batch, inputSize);
                for (int b = 0; b < batch; b++) {
                    int length = lengths[b];
                    float[] hAlone = row(h0, b, hiddenSize);
                    float[] cAlone = row(c0, b, hiddenSize);
                    if (length > 0) {
                        float[] xAlone = column(x, b, length, batch, inputSize);
                        Outputs alone = new Outputs(length, 1, hiddenSize);
                        runner.forward(xAlone, length, 1, hAlone, cAlone, alone.y, alone.hT, alone.cT);
                        assertArrayEquals(alone.y, column(y, b, length, batch, hiddenSize), layout + " y of row " + b);
                        assertArrayEquals(alone.hT, row(batched.hT, b, hiddenSize), "hT of row " + b);
                        assertArrayEquals(alone.cT, row(batched.cT, b, hiddenSize), "cT of row " + b);
                        float[] dxAlone = new float[xAlone.length];
                        float[] dh0Alone = new float[hiddenSize];
                        float[] dc0Alone = new float[hiddenSize];
                        trainer.forward(MemorySegment.ofArray(xAlone), length, 1, segment(hAlone), segment(cAlone),
                                null, null, null);
                        trainer.backward(MemorySegment.ofArray(column(dy, b, length, batch, hiddenSize)),
                                MemorySegment.ofArray(row(dhT, b, hiddenSize)),
                                MemorySegment.ofArray(row(dcT, b, hiddenSize)), gradients, GradientMode.OVERWRITE,
                                MemorySegment.ofArray(dxAlone), MemorySegment.ofArray(dh0Alone),
                                MemorySegment.ofArray(dc0Alone));
                        assertArrayEquals(dxAlone, column(dxTimeMajor, b, length, batch, inputSize), "dx of row " + b);
                        assertArrayEquals(dh0Alone, row(dh0, b, hiddenSize), "dh0 of row " + b);
                        assertArrayEquals(dc0Alone, row(dc0, b, hiddenSize), "dc0 of row " + b);
                    } else {
                        assertArrayEquals(hAlone, row(batched.hT, b, hiddenSize), "hT = h0 for length 0");
                        assertArrayEquals(cAlone, row(batched.cT, b, hiddenSize), "cT = c0 for length 0");
                        assertArrayEquals(row(dhT, b, hiddenSize), row(dh0, b, hiddenSize), "dh0 = dhT for length 0");
                        assertArrayEquals(row(dcT, b, hiddenSize), row(dc0, b, hiddenSize), "dc0 = dcT for length 0");
                    }
                    for (int t = length; t < steps; t++) {
                        assertArrayEquals(new float[hiddenSize], row(y, t * batch + b, hiddenSize), "y past the end");
                        assertArrayEquals(new float[inputSize], row(dxTimeMajor, t * batch + b, inputSize),
                                "dx past the end");
                    }
                }
            }
        }
    }

    /** No sequence runs a step: states pass through, outputs and weight gradients are zero. */
    @Test
    void everyLengthZero() {
        int steps = 3;
        int batch = 5;
        int hiddenSize = 17;
        try (TestModel model = new TestModel(47, 4, hiddenSize);
             LstmRunner runner = new LstmRunner(model.weights, batch);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch, steps);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            int[] lengths = new int[batch];
            float[] x = model.input(steps, batch);
            float[] h0 = model.state(batch);
            float[] c0 = model.state(batch);
            Outputs outputs = new Outputs(steps, batch, hiddenSize);
            java.util.Arrays.fill(outputs.y, 5f);
            runner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, h0, c0, outputs.y, outputs.hT,
                    outputs.cT);
            assertArrayEquals(new Outputs(steps, batch, hiddenSize).y, outputs.y);
            assertArrayEquals(h0, outputs.hT);
            assertArrayEquals(c0, outputs.cT);
            float[] dhT = model.state(batch);
            float[] dcT = model.state(batch);
            float[] dx = model.input(steps, batch);
            float[] dh0 = new float[batch * hiddenSize];
            float[] dc0 = new float[batch * hiddenSize];
            gradients.weightHh().fill((byte) 1);
            trainer.forward(MemorySegment.ofArray(x), SequenceLayout.TIME_MAJOR, steps, batch, lengths, null, null,
                    null, null, null);
            trainer.backward(MemorySegment.ofArray(model.uniform(steps * batch * hiddenSize, 1f)),
                    MemorySegment.ofArray(dhT), MemorySegment.ofArray(dcT), gradients, GradientMode.OVERWRITE,
                    MemorySegment.ofArray(dx), MemorySegment.ofArray(dh0), MemorySegment.ofArray(dc0));
            assertArrayEquals(new float[x.length], dx);
            assertArrayEquals(dhT, dh0);
            assertArrayEquals(dcT, dc0);
            assertArrayEquals(new float[4 * hiddenSize * hiddenSize], TrainerVsReferenceTest.floats(gradients.weightHh()));
        }
    }

    @Test
    void batchFirstIsTimeMajorTransposedBitForBit() {
        int steps = 5;
        int batch = 6;
        int[] lengths = {5, 3, 0, 4, 5, 1};
        try (TestModel model = new TestModel(43, 7, 17);
             LstmRunner runner = new LstmRunner(model.weights, batch)) {
            float[] x = model.input(steps, batch);
            Outputs timeMajor = new Outputs(steps, batch, 17);
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, null, null, timeMajor.y, timeMajor.hT,
                    timeMajor.cT);
            Outputs batchFirst = new Outputs(steps, batch, 17);
            runner.forward(toLayout(x, SequenceLayout.BATCH_FIRST, steps, batch, 7), SequenceLayout.BATCH_FIRST, steps,
                    batch, lengths, null, null, batchFirst.y, batchFirst.hT, batchFirst.cT);
            assertArrayEquals(timeMajor.y, fromLayout(batchFirst.y, SequenceLayout.BATCH_FIRST, steps, batch, 17));
            assertArrayEquals(timeMajor.hT, batchFirst.hT);
            assertArrayEquals(timeMajor.cT, batchFirst.cT);
        }
    }

    @Test
    void badLengthsAreRefusedByNameAndIndexChangingNothing() {
        try (TestModel model = new TestModel(44, 3, 5);
             LstmRunner runner = new LstmRunner(model.weights, 4);
             LstmTrainer trainer = new LstmTrainer(model.weights, 4, 6)) {
            float[] x = model.input(6, 3);
            float[] y = new float[6 * 3 * 5];
            Arrays.fill(y, 7f);
            float[] hT = new float[3 * 5];
            Arrays.fill(hT, 7f);
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 6, 3, null, null, null, y, hT, null),
                    "lengths must not be null");
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 6, 3, new int[]{1, 2}, null, null, y, hT,
                    null), "lengths must hold one length per batch row, B=3, but it holds 2");
            assertRefused(() -> runner.forward(x, SequenceLayout.BATCH_FIRST, 6, 3, new int[]{1, -1, 2}, null, null, y,
                    hT, null), "lengths[1] = -1 is outside 0..T=6");
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 6, 3, new int[]{1, 2, 7}, null, null, y,
                    hT, null), "lengths[2] = 7 is outside 0..T=6");
            assertRefused(() -> trainer.forward(MemorySegment.ofArray(x), SequenceLayout.TIME_MAJOR, 6, 3,
                    new int[]{6, 2, 7}, null, null, MemorySegment.ofArray(y), null, null),
                    "lengths[2] = 7 is outside 0..T=6");
            assertRefused(() -> trainer.forward(MemorySegment.ofArray(x), SequenceLayout.TIME_MAJOR, 6, 3, null, null,
                    null, null, null, null), "lengths must not be null");
            assertRefused(() -> runner.forward(new float[6 * 3 * 3 + 1], SequenceLayout.BATCH_FIRST, 6, 3,
                    new int[]{1, 2, 3}, null, null, y, hT, null), "x must hold [B=3][T=6][I=3]");
            for (float value : y) {
                assertEquals(7f, value);
            }
            for (float value : hT) {
                assertEquals(7f, value);
            }
            Throwable thrown = assertThrows(IllegalStateException.class, () -> trainer.backward(null, null, null,
                    new LstmGradients(model.weights), GradientMode.OVERWRITE, null, null, null));
            assertTrue(thrown.getMessage().contains("backward needs a forward"), thrown.getMessage());
        }
    }

    @Test
    void rejectChecksOnlyTheStepsThatAreRead() {
        try (TestModel model = new TestModel(45, 3, 5);
             LstmRunner runner = new LstmRunner(model.weights, 2, NonFiniteInputs.REJECT)) {
            float[] x = model.input(4, 2);
            x[(3 * 2 + 1) * 3] = Float.NaN;   // x[3][1][0]: past row 1's length 2
            float[] hT = new float[2 * 5];
            runner.forward(x, SequenceLayout.TIME_MAJOR, 4, 2, new int[]{4, 2}, null, null, null, hT, null);
            x[(1 * 2 + 1) * 3 + 2] = Float.POSITIVE_INFINITY;   // x[1][1][2]: read
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 4, 2, new int[]{4, 2}, null, null, null,
                    hT, null), "x[1][1][2] is Infinity");
            assertRefused(() -> runner.forward(toLayout(x, SequenceLayout.BATCH_FIRST, 4, 2, 3),
                    SequenceLayout.BATCH_FIRST, 4, 2, new int[]{4, 2}, null, null, null, hT, null), "x[1][1][2] is Infinity");
        }
    }

    /** The reference's variable-length backward against central differences of its forward. */
    @Test
    void referenceBackwardMatchesCentralDifferences() {
        int inputSize = 3;
        int hiddenSize = 4;
        int steps = 5;
        int batch = 4;
        int[] lengths = {2, 5, 0, 3};
        SplittableRandom random = new SplittableRandom(46);
        double bound = 2 / Math.sqrt(hiddenSize);
        double[][] variables = {
                uniform(random, 4 * hiddenSize * inputSize, bound), uniform(random, 4 * hiddenSize * hiddenSize, bound),
                uniform(random, 4 * hiddenSize, bound), uniform(random, 4 * hiddenSize, bound),
                uniform(random, steps * batch * inputSize, 1), uniform(random, batch * hiddenSize, 1),
                uniform(random, batch * hiddenSize, 1)};
        double[] dy = uniform(random, steps * batch * hiddenSize, 1);
        double[] dhT = uniform(random, batch * hiddenSize, 1);
        double[] dcT = uniform(random, batch * hiddenSize, 1);
        ReferenceLstm.Gradients gradients = new ReferenceLstm(inputSize, hiddenSize, variables[0], variables[1],
                variables[2], variables[3]).backward(variables[4], steps, batch, lengths, variables[5], variables[6], dy,
                dhT, dcT);
        double[][] analytic = {gradients.weightIh(), gradients.weightHh(), gradients.biasIh(), gradients.biasHh(),
                gradients.x(), gradients.h0(), gradients.c0()};
        String[] names = {"weightIh", "weightHh", "biasIh", "biasHh", "x", "h0", "c0"};
        for (int n = 0; n < names.length; n++) {
            double largest = CentralDifferences.check(names[n], variables[n], analytic[n], () -> {
                ReferenceLstm.Result result = new ReferenceLstm(inputSize, hiddenSize, variables[0], variables[1],
                        variables[2], variables[3]).forward(variables[4], steps, batch, lengths, variables[5],
                        variables[6]);
                return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT)
                        + CentralDifferences.dot(result.cT(), dcT);
            });
            assertTrue(largest > CentralDifferences.SIGNIFICANT, names[n] + " is all zeros");
        }
        // Row 2 (length 0): its state passes through untouched.
        for (int u = 0; u < hiddenSize; u++) {
            assertEquals(dhT[2 * hiddenSize + u], gradients.h0()[2 * hiddenSize + u]);
            assertEquals(dcT[2 * hiddenSize + u], gradients.c0()[2 * hiddenSize + u]);
        }
    }

    private static void assertRefused(org.junit.jupiter.api.function.Executable call, String message) {
        Throwable thrown = assertThrows(IllegalArgumentException.class, call);
        assertTrue(thrown.getMessage().contains(message), thrown.getMessage());
    }

    /** y, hT and cT of one forward. */
    private record Outputs(float[] y, float[] hT, float[] cT) {
        Outputs(int steps, int batch, int hiddenSize) {
            this(new float[steps * batch * hiddenSize], new float[batch * hiddenSize], new float[batch * hiddenSize]);
        }

        void assertSame(Outputs other) {
            assertArrayEquals(y, other.y, "y");
            assertArrayEquals(hT, other.hT, "hT");
            assertArrayEquals(cT, other.cT, "cT");
        }
    }

    /** A time-major {@code [T][B][width]} tensor in {@code layout}. */
    static float[] toLayout(float[] timeMajor, SequenceLayout layout, int steps, int batch, int width) {
        if (layout == SequenceLayout.TIME_MAJOR) {
            return timeMajor.clone();
        }
        float[] batchFirst = new float[timeMajor.length];
        for (int t = 0; t < steps; t++) {
            for (int b = 0; b < batch; b++) {
                System.arraycopy(timeMajor, (t * batch + b) * width, batchFirst, (b * steps + t) * width, width);
            }
        }
        return batchFirst;
    }

    /** The time-major form of a tensor in {@code layout}. */
    static float[] fromLayout(float[] values, SequenceLayout layout, int steps, int batch, int width) {
        if (layout == SequenceLayout.TIME_MAJOR) {
            return values.clone();
        }
        float[] timeMajor = new float[values.length];
        for (int t = 0; t < steps; t++) {
            for (int b = 0; b < batch; b++) {
                System.arraycopy(values, (b * steps + t) * width, timeMajor, (t * batch + b) * width, width);
            }
        }
        return timeMajor;
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

    private static double[] uniform(SplittableRandom random, int length, double bound) {
        double[] values = new double[length];
        for (int n = 0; n < length; n++) {
            values[n] = (random.nextDouble() * 2 - 1) * bound;
        }
        return values;
    }

    private static MemorySegment segment(float[] values) {
        return values == null ? null : MemorySegment.ofArray(values);
    }
}
