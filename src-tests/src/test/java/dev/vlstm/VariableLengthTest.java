package dev.vlstm;

import static dev.vlstm.TestRnn.doubles;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static dev.vlstm.TrainerVsReferenceTest.segment;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * Variable-length batches ({@code lengths}, both layouts) through the {@link Runner} and the {@link Trainer} of LSTMs
 * and GRUs of one or more layers and one or two directions, vector and scalar kernels: against the double-precision
 * {@link ReferenceStack} with lengths, and against themselves. A sequence gives the same bits whatever the other rows
 * are, as when it runs alone with its own T, the reverse direction included, which must start at each sequence's
 * own last step; every length equal to T is the plain call bit for bit; batch-first is time-major transposed, bit
 * for bit; padding inputs are never read, not even by {@link NonFiniteInputs#REJECT}; bad lengths are refused before
 * anything is written. The reference's variable-length backward is checked by central differences in
 * ReferenceVariableLengthTest.
 *
 * <p>Tolerances: ForwardVsReferenceTest's max |error| &le; {@value ForwardVsReferenceTest#TOLERANCE} on y, hT and
 * cT; TrainerVsReferenceTest's max |error| &le; {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} of each gradient
 * tensor's largest value.
 */
class VariableLengthTest {

    /**
     * One case of {@link #runnerAndTrainerMatchTheReference}: the model's sizes, the batch, whether it starts from
     * given states, the layout, the trainer's dropout, and the runner's chunk of input steps (0 for the default).
     */
    record Case(int inputSize, int hiddenSize, int layers, boolean bidirectional, int steps, int batch,
                boolean initialState, SequenceLayout layout, double dropout, int chunkSteps, Backend backend) {

        RnnShape shape(Cell cell) {
            return RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers)
                    .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        }
    }

    /**
     * One layer: every B from 1 to 9 at H = 1, 3, 17, 33, twice over (two seeds draw I and T), in chunks of 3 steps;
     * stacks of up to 3 layers, bidirectional or not, with and without dropout; both kernels.
     */
    static Stream<Arguments> cases() {
        List<Case> cases = new ArrayList<>();
        addOneLayerCases(cases, 77);
        addOneLayerCases(cases, 78);
        cases.add(new Case(5, 17, 1, false, 7, 6, true, SequenceLayout.BATCH_FIRST, 0, 3, Backend.SCALAR));
        cases.add(new Case(3, 33, 1, false, 9, 5, false, SequenceLayout.TIME_MAJOR, 0, 3, Backend.SCALAR));
        cases.add(new Case(1, 1, 1, false, 4, 9, true, SequenceLayout.BATCH_FIRST, 0, 3, Backend.SCALAR));
        cases.add(new Case(3, 5, 2, true, 6, 4, true, SequenceLayout.TIME_MAJOR, 0, 0, Backend.PREFERRED));
        cases.add(new Case(17, 33, 2, true, 7, 9, true, SequenceLayout.BATCH_FIRST, 0.3, 0, Backend.PREFERRED));
        cases.add(new Case(1, 1, 3, true, 4, 3, true, SequenceLayout.TIME_MAJOR, 0, 0, Backend.PREFERRED));
        cases.add(new Case(33, 17, 3, false, 5, 7, true, SequenceLayout.BATCH_FIRST, 0.2, 0, Backend.PREFERRED));
        cases.add(new Case(5, 3, 1, true, 8, 5, true, SequenceLayout.TIME_MAJOR, 0, 0, Backend.PREFERRED));
        cases.add(new Case(7, 17, 2, true, 5, 6, true, SequenceLayout.BATCH_FIRST, 0.4, 0, Backend.SCALAR));
        return TestRnn.forEveryCell(cases.stream().distinct().map(Arguments::of));
    }

    private static void addOneLayerCases(List<Case> cases, long seed) {
        int[] hiddenSizes = {1, 3, 17, 33};
        SplittableRandom random = new SplittableRandom(seed);
        for (int batch = 1; batch <= 9; batch++) {
            int inputSize = hiddenSizes[random.nextInt(hiddenSizes.length)];
            int steps = 1 + random.nextInt(12);
            cases.add(new Case(inputSize, hiddenSizes[batch % hiddenSizes.length], 1, false, steps, batch,
                    batch % 2 == 0, batch % 3 == 0 ? SequenceLayout.BATCH_FIRST : SequenceLayout.TIME_MAJOR, 0, 3,
                    Backend.PREFERRED));
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void runnerAndTrainerMatchTheReference(Cell cell, Case c) {
        RnnShape shape = c.shape(cell);
        int steps = c.steps();
        int batch = c.batch();
        SequenceLayout layout = c.layout();
        try (TestRnn rnn = new TestRnn(800 + 10L * c.hiddenSize() + batch, shape,
                Options.DEFAULT.withBackend(c.backend()));
             Runner runner = rnn.model.runner(rnn.model.options().withMaxBatch(batch + 1).withMaxSteps(steps + 2)
                     .withChunkSteps(c.chunkSteps()));
             Trainer trainer = rnn.model.trainer(rnn.model.options().withMaxBatch(batch).withMaxSteps(steps + 1)
                     .withDropout(c.dropout(), 5));
             Gradients gradients = new Gradients(shape)) {
            int[] lengths = lengths(batch * 31L + steps, steps, batch);
            float[] x = rnn.input(steps, batch);
            float[] h0 = c.initialState() ? rnn.hiddenStates(batch) : null;
            float[] c0 = c.initialState() ? rnn.cellStates(batch) : null;
            float[] input = toLayout(x, layout, steps, batch, shape.inputSize());

            Outputs run = new Outputs(shape, steps, batch);
            runner.forward(input, layout, steps, batch, lengths, h0, c0, run.y(), run.hT(), run.cT());
            run.assertWithin("runner", layout, steps, batch, rnn.reference.forward(doubles(x), steps, batch, lengths,
                    doubles(h0), doubles(c0), null));

            Outputs trained = new Outputs(shape, steps, batch);
            trainer.forward(segment(input), layout, steps, batch, lengths, segment(h0), segment(c0),
                    segment(trained.y()), segment(trained.hT()), segment(trained.cT()));
            double[][] masks = null;
            if (c.dropout() > 0 && c.layers() > 1) {
                masks = new double[c.layers() - 1][];
                for (int layer = 0; layer < masks.length; layer++) {
                    masks[layer] = doubles(fromLayout(trainer.dropoutMask(layer), layout, steps, batch,
                            shape.outputSize()));
                }
            } else {
                run.assertSame(trained, "without dropout the trainer's outputs are the runner's");
            }
            trained.assertWithin("trainer", layout, steps, batch, rnn.reference.forward(doubles(x), steps, batch,
                    lengths, doubles(h0), doubles(c0), masks));

            float[] dy = rnn.outputGradient(steps, batch);
            float[] dhT = rnn.hiddenStates(batch);
            float[] dcT = rnn.cellStates(batch);
            float[] dx = new float[x.length];
            Arrays.fill(dx, Float.NaN);
            float[] dh0 = hiddenZeros(shape, batch);
            float[] dc0 = cellZeros(shape, batch);
            trainer.backward(segment(toLayout(dy, layout, steps, batch, shape.outputSize())), segment(dhT),
                    segment(dcT), gradients, GradientMode.OVERWRITE, segment(dx), segment(dh0), segment(dc0));
            StackVsReferenceTest.assertGradients(shape, gradients,
                    fromLayout(dx, layout, steps, batch, shape.inputSize()), dh0, dc0,
                    rnn.reference.backward(doubles(x), steps, batch, lengths, doubles(h0), doubles(c0), masks,
                            doubles(dy), doubles(dhT), doubles(dcT)));
        }
    }

    /** One long sequence among short and empty ones, unsorted: one layer (both kernels), a bidirectional stack. */
    static Stream<Arguments> batchesOfUnequalSequences() {
        int[] oneLayerLengths = {2, 0, 11, 1, 3, 2, 0, 1, 5};
        int[] stackLengths = {2, 0, 9, 1, 4, 3, 0, 7};
        return TestRnn.forEveryCell(Stream.of(
                Arguments.of(Backend.PREFERRED, 6, 33, 1, false, 4, 11, oneLayerLengths),
                Arguments.of(Backend.SCALAR, 6, 33, 1, false, 4, 11, oneLayerLengths),
                Arguments.of(Backend.PREFERRED, 5, 17, 2, true, 0, 9, stackLengths)));
    }

    /**
     * With NaN in the padding: each sequence's y, hT, cT and its dx, dh0, dc0 are bit for bit those of the same
     * sequence run alone with T = its length; y and dx are zero past its end; a length of 0 passes the states through
     * and their gradients back.
     */
    @ParameterizedTest(name = "{0} {1} I={2} H={3} L={4} bidirectional={5} chunk={6} T={7} lengths={8}")
    @MethodSource("batchesOfUnequalSequences")
    void eachSequenceIsTheSameAsAlone(Cell cell, Backend backend, int inputSize, int hiddenSize, int layers,
                                      boolean bidirectional, int chunkSteps, int steps, int[] lengths) {
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers)
                .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        int batch = lengths.length;
        try (TestRnn rnn = new TestRnn(810 + hiddenSize, shape, Options.DEFAULT.withBackend(backend));
             Runner runner = rnn.model.runner(rnn.model.options().withMaxBatch(batch).withMaxSteps(steps)
                     .withChunkSteps(chunkSteps));
             Trainer trainer = rnn.trainer(batch, steps);
             Gradients gradients = new Gradients(shape)) {
            int outputSize = shape.outputSize();
            for (SequenceLayout layout : SequenceLayout.values()) {
                float[] x = rnn.input(steps, batch);
                for (int t = 0; t < steps; t++) {
                    for (int b = 0; b < batch; b++) {
                        if (t >= lengths[b]) {
                            Arrays.fill(x, (t * batch + b) * inputSize, (t * batch + b + 1) * inputSize, Float.NaN);
                        }
                    }
                }
                float[] h0 = rnn.hiddenStates(batch);
                float[] c0 = rnn.cellStates(batch);
                float[] dy = rnn.outputGradient(steps, batch);
                float[] dhT = rnn.hiddenStates(batch);
                float[] dcT = rnn.cellStates(batch);
                Outputs batched = new Outputs(shape, steps, batch);
                Arrays.fill(batched.y(), 9f);
                runner.forward(toLayout(x, layout, steps, batch, inputSize), layout, steps, batch, lengths, h0, c0,
                        batched.y(), batched.hT(), batched.cT());
                float[] trainerY = new float[batched.y().length];
                trainer.forward(segment(toLayout(x, layout, steps, batch, inputSize)), layout, steps, batch, lengths,
                        segment(h0), segment(c0), segment(trainerY), null, null);
                assertArrayEquals(batched.y(), trainerY, layout + ": the trainer's y is the runner's");
                float[] dx = new float[x.length];
                float[] dh0 = hiddenZeros(shape, batch);
                float[] dc0 = cellZeros(shape, batch);
                trainer.backward(segment(toLayout(dy, layout, steps, batch, outputSize)), segment(dhT), segment(dcT),
                        gradients, GradientMode.OVERWRITE, segment(dx), segment(dh0), segment(dc0));
                float[] y = fromLayout(batched.y(), layout, steps, batch, outputSize);
                float[] dxTimeMajor = fromLayout(dx, layout, steps, batch, inputSize);
                for (int b = 0; b < batch; b++) {
                    int length = lengths[b];
                    String row = backend + " " + layout + " row " + b;
                    for (int t = length; t < steps; t++) {
                        assertArrayEquals(new float[outputSize], slice(y, t * batch + b, outputSize),
                                row + ": y past the end");
                        assertArrayEquals(new float[inputSize], slice(dxTimeMajor, t * batch + b, inputSize),
                                row + ": dx past the end");
                    }
                    float[] hAlone = states(shape, h0, b, batch);
                    float[] cAlone = states(shape, c0, b, batch);
                    if (length == 0) {
                        assertArrayEquals(hAlone, states(shape, batched.hT(), b, batch), row + ": hT = h0");
                        assertArrayEquals(cAlone, states(shape, batched.cT(), b, batch), row + ": cT = c0");
                        assertArrayEquals(states(shape, dhT, b, batch), states(shape, dh0, b, batch),
                                row + ": dh0 = dhT");
                        assertArrayEquals(states(shape, dcT, b, batch), states(shape, dc0, b, batch),
                                row + ": dc0 = dcT");
                        continue;
                    }
                    float[] xAlone = sequence(x, b, length, batch, inputSize);
                    Outputs alone = new Outputs(shape, length, 1);
                    runner.forward(xAlone, length, 1, hAlone, cAlone, alone.y(), alone.hT(), alone.cT());
                    alone.assertSame(new Outputs(sequence(y, b, length, batch, outputSize),
                            states(shape, batched.hT(), b, batch), states(shape, batched.cT(), b, batch)), row);
                    float[] dxAlone = new float[xAlone.length];
                    float[] dh0Alone = hiddenZeros(shape, 1);
                    float[] dc0Alone = cellZeros(shape, 1);
                    trainer.forward(xAlone, length, 1, hAlone, cAlone, null, null, null);
                    trainer.backward(sequence(dy, b, length, batch, outputSize), states(shape, dhT, b, batch),
                            states(shape, dcT, b, batch), gradients, GradientMode.OVERWRITE, dxAlone, dh0Alone,
                            dc0Alone);
                    assertArrayEquals(dxAlone, sequence(dxTimeMajor, b, length, batch, inputSize), row + ": dx");
                    assertArrayEquals(dh0Alone, states(shape, dh0, b, batch), row + ": dh0");
                    assertArrayEquals(dc0Alone, states(shape, dc0, b, batch), row + ": dc0");
                }
            }
        }
    }

    /** Lengths all T: the runner's y, hT, cT and the trainer's dx, dh0, dc0 and every gradient of the plain call. */
    @ParameterizedTest(name = "{0} I={1} H={2} L={3} bidirectional={4} T={5} B={6} chunk={7}")
    @CsvSource({"LSTM, 9, 17, 1, false, 6, 7, 4", "LSTM, 7, 9, 2, true, 5, 6, 0",
            "GRU, 9, 17, 1, false, 6, 7, 4", "GRU, 7, 9, 2, true, 5, 6, 0"})
    void lengthsAllTAreThePlainCallBitForBit(Cell cell, int inputSize, int hiddenSize, int layers,
                                             boolean bidirectional, int steps, int batch, int chunkSteps) {
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers)
                .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        try (TestRnn rnn = new TestRnn(820 + hiddenSize, shape, Options.DEFAULT);
             Runner runner = rnn.model.runner(rnn.model.options().withMaxBatch(batch).withMaxSteps(steps)
                     .withChunkSteps(chunkSteps));
             Trainer trainer = rnn.trainer(batch, steps);
             Gradients plain = new Gradients(shape);
             Gradients variable = new Gradients(shape)) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = rnn.hiddenStates(batch);
            float[] c0 = rnn.cellStates(batch);
            int[] lengths = new int[batch];
            Arrays.fill(lengths, steps);
            Outputs expected = new Outputs(shape, steps, batch);
            runner.forward(x, steps, batch, h0, c0, expected.y(), expected.hT(), expected.cT());
            Outputs actual = new Outputs(shape, steps, batch);
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, c0, actual.y(), actual.hT(),
                    actual.cT());
            expected.assertSame(actual, "lengths all T");

            float[] dy = rnn.outputGradient(steps, batch);
            float[] dhT = rnn.hiddenStates(batch);
            float[] dcT = rnn.cellStates(batch);
            float[] dxPlain = new float[x.length];
            float[] dxVariable = new float[x.length];
            float[] dh0Plain = hiddenZeros(shape, batch);
            float[] dh0Variable = hiddenZeros(shape, batch);
            float[] dc0Plain = cellZeros(shape, batch);
            float[] dc0Variable = cellZeros(shape, batch);
            trainer.forward(segment(x), steps, batch, segment(h0), segment(c0), null, null, null);
            trainer.backward(segment(dy), segment(dhT), segment(dcT), plain, GradientMode.OVERWRITE,
                    segment(dxPlain), segment(dh0Plain), segment(dc0Plain));
            trainer.forward(segment(x), SequenceLayout.TIME_MAJOR, steps, batch, lengths, segment(h0), segment(c0),
                    null, null, null);
            trainer.backward(dy, dhT, dcT, variable, GradientMode.OVERWRITE, dxVariable, dh0Variable, dc0Variable);
            assertArrayEquals(dxPlain, dxVariable, "dx");
            assertArrayEquals(dh0Plain, dh0Variable, "dh0");
            assertArrayEquals(dc0Plain, dc0Variable, "dc0");
            for (String name : plain.names()) {
                assertArrayEquals(floats(plain.tensor(name)), floats(variable.tensor(name)), name);
            }
        }
    }

    @ParameterizedTest(name = "{0} H={1} L={2} bidirectional={3} initialState={4}")
    @CsvSource({"LSTM, 17, 1, false, false", "LSTM, 9, 2, true, true",
            "GRU, 17, 1, false, false", "GRU, 9, 2, true, true"})
    void batchFirstIsTimeMajorTransposedBitForBit(Cell cell, int hiddenSize, int layers, boolean bidirectional,
                                                  boolean initialState) {
        int inputSize = 7;
        int steps = 5;
        int batch = 6;
        int[] lengths = layers == 1 ? new int[] {5, 3, 0, 4, 5, 1} : new int[] {5, 2, 0, 4, 5, 1};
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers)
                .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        try (TestRnn rnn = new TestRnn(830 + hiddenSize, shape, Options.DEFAULT);
             Runner runner = rnn.runner(batch, steps)) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = initialState ? rnn.hiddenStates(batch) : null;
            float[] c0 = initialState ? rnn.cellStates(batch) : null;
            Outputs timeMajor = new Outputs(shape, steps, batch);
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, c0, timeMajor.y(), timeMajor.hT(),
                    timeMajor.cT());
            Outputs batchFirst = new Outputs(shape, steps, batch);
            runner.forward(toLayout(x, SequenceLayout.BATCH_FIRST, steps, batch, inputSize), SequenceLayout.BATCH_FIRST,
                    steps, batch, lengths, h0, c0, batchFirst.y(), batchFirst.hT(), batchFirst.cT());
            timeMajor.assertSame(new Outputs(fromLayout(batchFirst.y(), SequenceLayout.BATCH_FIRST, steps, batch,
                    shape.outputSize()), batchFirst.hT(), batchFirst.cT()), "batch-first transposed");
        }
    }

    /**
     * Null, short and out-of-range lengths, a T above maxSteps, a wrong x or y, a null layout: refused by name (and
     * index), with y and hT untouched; a backward needs a forward, and its dy the shape of that forward's y.
     */
    @ParameterizedTest(name = "{0} H={1} L={2} bidirectional={3}")
    @CsvSource({"LSTM, 5, 1, false", "LSTM, 4, 2, true", "GRU, 5, 1, false", "GRU, 4, 2, true"})
    void badLengthsAreRefusedBeforeAnythingIsWritten(Cell cell, int hiddenSize, int layers, boolean bidirectional) {
        RnnShape shape = RnnShape.of(cell, 3, hiddenSize).withLayers(layers)
                .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        String outputShape = "[B=3][T=6][D*H=" + shape.outputSize() + "]";
        try (TestRnn rnn = new TestRnn(840 + hiddenSize, shape, Options.DEFAULT);
             Runner runner = rnn.runner(4, 6);
             Trainer trainer = rnn.trainer(4, 6);
             Gradients gradients = new Gradients(shape)) {
            float[] x = rnn.input(6, 3);
            float[] y = new float[6 * 3 * shape.outputSize()];
            Arrays.fill(y, 7f);
            float[] hT = hiddenZeros(shape, 3);
            Arrays.fill(hT, 7f);
            for (SequenceLayout layout : SequenceLayout.values()) {
                assertRefused(() -> runner.forward(x, layout, 6, 3, null, null, null, y, hT, null),
                        "lengths must not be null");
                assertRefused(() -> runner.forward(x, layout, 6, 3, new int[] {1, 2}, null, null, y, hT, null),
                        "lengths must hold one length per batch row, B=3, but it holds 2");
                assertRefused(() -> runner.forward(x, layout, 6, 3, new int[] {1, -1, 2}, null, null, y, hT, null),
                        "lengths[1] = -1 is outside 0..T=6");
                assertRefused(() -> runner.forward(x, layout, 6, 3, new int[] {1, 2, 7}, null, null, y, hT, null),
                        "lengths[2] = 7 is outside 0..T=6");
            }
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 7, 3, new int[] {1, 2, 7}, null, null, y,
                    hT, null), "steps 7 exceeds this Runner's maxSteps 6");
            assertRefused(() -> runner.forward(new float[6 * 3 * 3 + 1], SequenceLayout.BATCH_FIRST, 6, 3,
                    new int[] {1, 2, 3}, null, null, y, hT, null), "x must hold [B=3][T=6][I=3]");
            assertRefused(() -> runner.forward(x, SequenceLayout.BATCH_FIRST, 6, 3, new int[] {1, 2, 3}, null, null,
                    new float[6 * 3 * shape.outputSize() - 1], hT, null), "y must hold " + outputShape);
            assertRefused(() -> trainer.forward(segment(x), SequenceLayout.TIME_MAJOR, 6, 3, new int[] {6, 2, 7},
                    null, null, segment(y), null, null), "lengths[2] = 7 is outside 0..T=6");
            assertRefused(() -> trainer.forward(segment(x), SequenceLayout.TIME_MAJOR, 6, 3, null, null, null,
                    segment(y), null, null), "lengths must not be null");
            Throwable nullLayout = assertThrows(NullPointerException.class, () -> runner.forward(x, null, 6, 3,
                    new int[] {1, 2, 3}, null, null, y, hT, null));
            assertTrue(nullLayout.getMessage().contains("layout must not be null"), nullLayout.getMessage());
            for (float value : y) {
                assertEquals(7f, value);
            }
            for (float value : hT) {
                assertEquals(7f, value);
            }
            Throwable thrown = assertThrows(IllegalStateException.class, () -> trainer.backward((float[]) null, null,
                    null, gradients, GradientMode.OVERWRITE, null, null, null));
            assertTrue(thrown.getMessage().contains("backward needs a forward"), thrown.getMessage());
            trainer.forward(segment(toLayout(x, SequenceLayout.BATCH_FIRST, 6, 3, 3)), SequenceLayout.BATCH_FIRST, 6,
                    3, new int[] {6, 2, 0}, null, null, null, null, null);
            assertRefused(() -> trainer.backward(new float[6 * 3 * shape.outputSize() + 1], null, null, gradients,
                    GradientMode.OVERWRITE, null, null, null), "dy must hold " + outputShape);
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void rejectChecksOnlyTheStepsThatAreRead(Cell cell) {
        try (TestRnn rnn = new TestRnn(850, RnnShape.of(cell, 3, 5), Options.DEFAULT);
             Runner runner = rnn.model.runner(rnn.model.options().withMaxBatch(2).withMaxSteps(4)
                     .withNonFiniteInputs(NonFiniteInputs.REJECT))) {
            float[] x = rnn.input(4, 2);
            x[(3 * 2 + 1) * 3] = Float.NaN;   // x[3][1][0]: past row 1's length 2
            float[] hT = new float[2 * 5];
            runner.forward(x, SequenceLayout.TIME_MAJOR, 4, 2, new int[] {4, 2}, null, null, null, hT, null);
            x[(1 * 2 + 1) * 3 + 2] = Float.POSITIVE_INFINITY;   // x[1][1][2]: read
            assertRefused(() -> runner.forward(x, SequenceLayout.TIME_MAJOR, 4, 2, new int[] {4, 2}, null, null, null,
                    hT, null), "x[1][1][2] is Infinity");
            assertRefused(() -> runner.forward(toLayout(x, SequenceLayout.BATCH_FIRST, 4, 2, 3),
                    SequenceLayout.BATCH_FIRST, 4, 2, new int[] {4, 2}, null, null, null, hT, null),
                    "x[1][1][2] is Infinity");
        }
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

    /** y, hT and cT of one forward; cT is null for a GRU. */
    record Outputs(float[] y, float[] hT, float[] cT) {

        /** Zeros, shaped for T steps of B sequences through a model of {@code shape}. */
        Outputs(RnnShape shape, int steps, int batch) {
            this(new float[steps * batch * shape.outputSize()], hiddenZeros(shape, batch), cellZeros(shape, batch));
        }

        void assertSame(Outputs other, String what) {
            assertArrayEquals(y, other.y, what + ": y");
            assertArrayEquals(hT, other.hT, what + ": hT");
            assertArrayEquals(cT, other.cT, what + ": cT");
        }

        /** Holds these outputs, y in {@code layout}, to the reference's within ForwardVsReferenceTest's tolerance. */
        void assertWithin(String who, SequenceLayout layout, int steps, int batch, ReferenceStack.Result expected) {
            ForwardVsReferenceTest.assertWithin(who + " y", fromLayout(y, layout, steps, batch,
                    y.length / (steps * batch)), expected.y());
            ForwardVsReferenceTest.assertWithin(who + " hT", hT, expected.hT());
            if (cT != null) {
                ForwardVsReferenceTest.assertWithin(who + " cT", cT, expected.cT());
            }
        }
    }

    /** Zeros shaped as h0 or hT, {@code [L·D][B][S]}. */
    static float[] hiddenZeros(RnnShape shape, int batch) {
        return new float[shape.stateCount() * batch * shape.hiddenStateSize()];
    }

    /** Zeros shaped as an LSTM's c0 or cT, {@code [L·D][B][H]}; null for a GRU. */
    static float[] cellZeros(RnnShape shape, int batch) {
        return shape.cell().hasCellState() ? new float[shape.stateCount() * batch * shape.hiddenSize()] : null;
    }

    /** Row b of every {@code [B][W]} block of an {@code [L·D][B][W]} state, as {@code [L·D][1][W]}; null for null. */
    static float[] states(RnnShape shape, float[] states, int b, int batch) {
        if (states == null) {
            return null;
        }
        int count = shape.stateCount();
        int width = states.length / (count * batch);
        float[] row = new float[count * width];
        for (int n = 0; n < count; n++) {
            System.arraycopy(states, (n * batch + b) * width, row, n * width, width);
        }
        return row;
    }

    /** The first {@code length} steps of sequence b of a time-major tensor, as {@code [length][1][width]}. */
    static float[] sequence(float[] timeMajor, int b, int length, int batch, int width) {
        float[] sequence = new float[length * width];
        for (int t = 0; t < length; t++) {
            System.arraycopy(timeMajor, (t * batch + b) * width, sequence, t * width, width);
        }
        return sequence;
    }

    private static float[] slice(float[] values, int index, int width) {
        return Arrays.copyOfRange(values, index * width, (index + 1) * width);
    }

    private static void assertRefused(Executable call, String message) {
        Throwable thrown = assertThrows(IllegalArgumentException.class, call);
        assertTrue(thrown.getMessage().contains(message), thrown.getMessage());
    }
}
