package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * NaN and infinite inputs through the public {@link Runner}, as {@link NonFiniteInputs} documents them, for LSTMs and
 * GRUs of one and two layers on both kernels. By default ({@link NonFiniteInputs#PROPAGATE}) they propagate exactly
 * as described and no further: a NaN in x makes its batch row NaN from its step on, one in h0 its row, one in an
 * LSTM's c0 its unit first and then its row, and other batch rows and earlier steps keep their bits; an infinite
 * input saturates the gates as the reference's limit does. With {@link NonFiniteInputs#REJECT} every entry point
 * (forward, variable lengths, the float[] forms, step) names the first NaN or infinity in x, h0, c0 or the state,
 * says "this Runner", and changes nothing; with finite inputs it gives the bits of PROPAGATE.
 */
class NonFiniteInputsTest {

    private static final int I = 5;
    private static final int H = 7;
    /** H of the one-layer propagation cases: more units than a vector lane count, and odd. */
    private static final int LAYER_H = 19;
    private static final int B = 3;
    private static final int T = 6;
    private static final float SENTINEL = -7f;
    private static final String REJECTS = ": this Runner rejects NaN and infinite inputs (NonFiniteInputs.REJECT)";

    private static Model model(Cell cell, int layers, Direction direction, NonFiniteInputs policy, Backend backend) {
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(layers).withDirection(direction);
        Options options = Options.DEFAULT.withMaxBatch(B).withMaxSteps(T).withNonFiniteInputs(policy)
                .withBackend(backend);
        return ZeroAllocationTest.packed(shape, 41, options);
    }

    private static float[] filled(int length) {
        float[] values = new float[length];
        Arrays.fill(values, SENTINEL);
        return values;
    }

    private static void assertRejected(String expected, Executable call, float[]... untouched) {
        assertEquals(expected + REJECTS, assertThrows(IllegalArgumentException.class, call).getMessage());
        for (float[] output : untouched) {
            for (float value : output) {
                assertEquals(SENTINEL, value, "an output was written before the inputs were checked");
            }
        }
    }

    @ParameterizedTest(name = "{0} L={1} {2} {3}")
    @CsvSource({"LSTM, 1, FORWARD, PREFERRED", "LSTM, 2, BIDIRECTIONAL, PREFERRED", "GRU, 1, FORWARD, PREFERRED",
            "GRU, 2, BIDIRECTIONAL, PREFERRED", "LSTM, 1, FORWARD, SCALAR", "GRU, 2, BIDIRECTIONAL, SCALAR"})
    void rejectNamesTheFirstNonFiniteValueOfASequenceAndWritesNothing(Cell cell, int layers, Direction direction,
                                                                      Backend backend) {
        try (Model model = model(cell, layers, direction, NonFiniteInputs.REJECT, backend);
             Runner runner = model.runner()) {
            assertEquals(NonFiniteInputs.REJECT, runner.nonFiniteInputs());
            RnnShape shape = model.shape();
            boolean lstm = cell.hasCellState();
            SplittableRandom random = new SplittableRandom(42);
            float[] x = ModelApiTest.uniform(random, T * B * I);
            float[] h0 = ModelApiTest.uniform(random, shape.stateCount() * B * H);
            float[] c0 = lstm ? ModelApiTest.uniform(random, shape.stateCount() * B * H) : null;
            float[] y = filled(T * B * shape.outputSize());
            float[] hT = filled(h0.length);
            float[] cT = lstm ? filled(c0.length) : null;
            int last = shape.stateCount() - 1;

            float[] badX = x.clone();
            badX[(4 * B + 2) * I + 3] = Float.NaN;
            badX[(5 * B) * I] = Float.POSITIVE_INFINITY;
            assertRejected("x[4][2][3] is NaN", () -> runner.forward(badX, T, B, h0, c0, y, hT, cT), y, hT);
            assertRejected("x[4][2][3] is NaN", () -> runner.forward(MemorySegment.ofArray(badX), T, B,
                    MemorySegment.ofArray(h0), c0 == null ? null : MemorySegment.ofArray(c0),
                    MemorySegment.ofArray(y), MemorySegment.ofArray(hT),
                    cT == null ? null : MemorySegment.ofArray(cT)), y, hT);

            float[] badH0 = h0.clone();
            badH0[(last * B + 1) * H + 6] = Float.POSITIVE_INFINITY;
            assertRejected("h0[" + last + "][1][6] is Infinity", () -> runner.forward(x, T, B, badH0, c0, y, hT, cT),
                    y, hT);
            if (lstm) {
                float[] badC0 = c0.clone();
                badC0[H + 2] = Float.NEGATIVE_INFINITY;
                assertRejected("c0[0][1][2] is -Infinity", () -> runner.forward(x, T, B, h0, badC0, y, hT, cT), y,
                        hT, cT);
            }

            // Variable lengths, batch-first: only the steps within each length are read, so only they are checked.
            int[] lengths = {2, T, 0};
            float[] padded = x.clone();
            padded[(2 * T + 1) * I] = Float.NaN;
            padded[(0 * T + 3) * I + 1] = Float.NaN;
            float[] expected = new float[y.length];
            try (Runner propagate = model.runner(model.options().withNonFiniteInputs(NonFiniteInputs.PROPAGATE))) {
                assertEquals(NonFiniteInputs.PROPAGATE, propagate.nonFiniteInputs());
                propagate.forward(x, SequenceLayout.BATCH_FIRST, T, B, lengths, h0, c0, expected, null, null);
            }
            float[] actual = new float[y.length];
            runner.forward(padded, SequenceLayout.BATCH_FIRST, T, B, lengths, h0, c0, actual, null, null);
            assertArrayEquals(expected, actual, "NaNs past each sequence's end are not read");
            padded[(1 * T + 5) * I + 4] = Float.NaN;
            assertRejected("x[1][5][4] is NaN",
                    () -> runner.forward(padded, SequenceLayout.BATCH_FIRST, T, B, lengths, h0, c0, y, hT, cT), y,
                    hT);
            assertRejected("h0[" + last + "][1][6] is Infinity",
                    () -> runner.forward(x, SequenceLayout.TIME_MAJOR, T, B, lengths, badH0, c0, y, hT, cT), y, hT);
        }
    }

    @ParameterizedTest(name = "{0} L={1} {2}")
    @CsvSource({"LSTM, 1, PREFERRED", "LSTM, 2, PREFERRED", "GRU, 1, PREFERRED", "GRU, 2, PREFERRED",
            "LSTM, 1, SCALAR", "GRU, 1, SCALAR"})
    void rejectNamesTheFirstNonFiniteValueOfAStepAndLeavesTheStateAsItWas(Cell cell, int layers, Backend backend) {
        try (Model model = model(cell, layers, Direction.FORWARD, NonFiniteInputs.REJECT, backend);
             Runner runner = model.runner();
             State state = model.newState(B)) {
            boolean lstm = cell.hasCellState();
            SplittableRandom random = new SplittableRandom(43);
            float[] x = ModelApiTest.uniform(random, B * I);
            runner.step(x, state, null);
            float[] h = filled(B * H);

            float[] badX = x.clone();
            badX[2 * I + 1] = Float.NaN;
            float[] hidden = state.hidden();
            assertRejected("x[2][1] is NaN", () -> runner.step(badX, state, h), h);
            assertArrayEquals(hidden, state.hidden(), "a refused step leaves h as it was");

            float[] badHidden = hidden.clone();
            badHidden[((layers - 1) * B + 1) * H + 5] = Float.NaN;
            state.setHidden(badHidden);
            assertRejected("state.h[" + (layers - 1) + "][1][5] is NaN", () -> runner.step(x, state, h), h);
            state.setHidden(hidden);
            if (lstm) {
                float[] cell0 = state.cell();
                float[] badCell = cell0.clone();
                badCell[2 * H] = Float.POSITIVE_INFINITY;
                state.setCell(badCell);
                assertRejected("state.c[0][2][0] is Infinity", () -> runner.step(MemorySegment.ofArray(x), state,
                        MemorySegment.ofArray(h)), h);
                assertArrayEquals(badCell, state.cell(), "a refused step leaves c as it was");
                state.setCell(cell0);
            }
            runner.step(x, state, h);
            for (float value : h) {
                assertTrue(Float.isFinite(value), "a step of finite inputs runs");
            }
        }
    }

    @ParameterizedTest(name = "{0} L={1}")
    @CsvSource({"LSTM, 1", "LSTM, 2", "GRU, 1", "GRU, 2"})
    void propagateLetsANaNInXReachItsRowFromItsStepOnAndNothingElse(Cell cell, int layers) {
        try (Model propagating = model(cell, layers, Direction.FORWARD, NonFiniteInputs.PROPAGATE, Backend.PREFERRED);
             Model rejecting = model(cell, layers, Direction.FORWARD, NonFiniteInputs.REJECT, Backend.PREFERRED);
             Runner runner = propagating.runner();
             Runner checking = rejecting.runner()) {
            SplittableRandom random = new SplittableRandom(44);
            float[] x = ModelApiTest.uniform(random, T * B * I);
            float[] h0 = ModelApiTest.uniform(random, layers * B * H);
            float[] clean = new float[T * B * H];
            runner.forward(x, T, B, h0, null, clean, null, null);
            float[] checked = new float[clean.length];
            checking.forward(x, T, B, h0, null, checked, null, null);
            assertArrayEquals(clean, checked, "REJECT computes the same bits for finite inputs");

            int step = 2;
            int row = 1;
            float[] badX = x.clone();
            badX[(step * B + row) * I + 3] = Float.NaN;
            float[] dirty = new float[clean.length];
            runner.forward(badX, T, B, h0, null, dirty, null, null);
            for (int t = 0; t < T; t++) {
                for (int b = 0; b < B; b++) {
                    for (int j = 0; j < H; j++) {
                        int index = (t * B + b) * H + j;
                        if (b == row && t >= step) {
                            assertTrue(Float.isNaN(dirty[index]), "y[" + t + "][" + b + "][" + j + "] is NaN");
                        } else {
                            assertEquals(clean[index], dirty[index], "y[" + t + "][" + b + "][" + j + "] unchanged");
                        }
                    }
                }
            }
        }
    }

    /** The outputs of one forward: y, hT, cT (null for a GRU). */
    private record Outputs(float[] y, float[] hT, float[] cT) {
    }

    private static Outputs forward(TestRnn rnn, Runner runner, float[] x, float[] h0, float[] c0) {
        Outputs out = new Outputs(new float[T * B * LAYER_H], new float[B * LAYER_H],
                rnn.shape.cell().hasCellState() ? new float[B * LAYER_H] : null);
        runner.forward(x, T, B, h0, c0, out.y(), out.hT(), out.cT());
        return out;
    }

    private static TestRnn layer(long seed, Cell cell, Backend backend) {
        return new TestRnn(seed, RnnShape.of(cell, I, LAYER_H), Options.DEFAULT.withBackend(backend));
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cellsAndBackends")
    void aNaNInXMakesItsRowNaNFromItsStepOnAndNothingElse(Cell cell, Backend backend) {
        try (TestRnn rnn = layer(1000, cell, backend);
             Runner runner = rnn.runner(B, T)) {
            float[] x = rnn.input(T, B);
            float[] h0 = rnn.hiddenStates(B);
            Outputs clean = forward(rnn, runner, x, h0, null);
            int step = 2;
            int row = 1;
            x[(step * B + row) * I + 3] = Float.NaN;
            Outputs dirty = forward(rnn, runner, x, h0, null);
            for (int t = 0; t < T; t++) {
                for (int b = 0; b < B; b++) {
                    float[] actual = slice(dirty.y(), t * B + b);
                    if (b == row && t >= step) {
                        assertAllNaN(actual, "y[" + t + "][" + b + "]");
                    } else {
                        assertArrayEquals(slice(clean.y(), t * B + b), actual, "y[" + t + "][" + b + "]");
                    }
                }
            }
            assertRowsNaNOnlyAt(row, clean.hT(), dirty.hT(), "hT");
            if (cell.hasCellState()) {
                assertRowsNaNOnlyAt(row, clean.cT(), dirty.cT(), "cT");
            }
        }
    }

    /** A NaN in h0 reaches every unit of its row at the first step (through U·h); one in c0, its unit first. */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cellsAndBackends")
    void aNaNInH0MakesItsRowNaNAndANaNInC0ItsUnitFirstThenItsRow(Cell cell, Backend backend) {
        try (TestRnn rnn = layer(1001, cell, backend);
             Runner runner = rnn.runner(B, T)) {
            float[] x = rnn.input(T, B);
            float[] h0 = rnn.hiddenStates(B);
            float[] c0 = rnn.cellStates(B);
            Outputs clean = forward(rnn, runner, x, h0, c0);

            float[] badH0 = h0.clone();
            badH0[2 * LAYER_H + 4] = Float.NaN;
            Outputs fromH0 = forward(rnn, runner, x, badH0, c0);
            for (int t = 0; t < T; t++) {
                assertAllNaN(slice(fromH0.y(), t * B + 2), "y[" + t + "][2] after a NaN in h0[2]");
                assertArrayEquals(slice(clean.y(), t * B), slice(fromH0.y(), t * B), "y[" + t + "][0]");
            }
            if (!cell.hasCellState()) {
                return;
            }
            float[] badC0 = c0.clone();
            badC0[7] = Float.NaN;
            Outputs fromC0 = forward(rnn, runner, x, h0, badC0);
            float[] first = slice(fromC0.y(), 0);
            float[] cleanFirst = slice(clean.y(), 0);
            for (int j = 0; j < LAYER_H; j++) {
                if (j == 7) {
                    assertTrue(Float.isNaN(first[j]), "y[0][0][7] after a NaN in c0[0][7]");
                } else {
                    assertEquals(cleanFirst[j], first[j], "y[0][0][" + j + "]: other units of step 0 are unaffected");
                }
            }
            assertAllNaN(slice(fromC0.y(), B), "y[1][0]: from the second step the whole row");
            assertArrayEquals(slice(clean.y(), B + 1), slice(fromC0.y(), B + 1), "y[1][1]");
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cellsAndBackends")
    void anInfiniteInputSaturatesTheGatesLikeTheReferencesLimit(Cell cell, Backend backend) {
        try (TestRnn rnn = layer(1002, cell, backend);
             Runner runner = rnn.runner(B, T)) {
            float[] x = rnn.input(T, B);
            x[(B + 2) * I] = Float.POSITIVE_INFINITY;
            x[(3 * B) * I + 4] = Float.NEGATIVE_INFINITY;
            Outputs out = forward(rnn, runner, x, null, null);
            // No weight of the test model is zero, so every pre-activation of those rows is ±infinity.
            ReferenceStack.Result expected = rnn.reference.forward(x, T, B, null, null);
            ForwardVsReferenceTest.assertWithin("y", out.y(), expected.y());
            ForwardVsReferenceTest.assertWithin("hT", out.hT(), expected.hT());
            if (cell.hasCellState()) {
                ForwardVsReferenceTest.assertWithin("cT", out.cT(), expected.cT());
            }
        }
    }

    static Stream<Arguments> cellsAndBackends() {
        return TestRnn.forEveryCell(Stream.of(Backend.values()).map(Arguments::of));
    }

    private static float[] slice(float[] rows, int row) {
        return Arrays.copyOfRange(rows, row * LAYER_H, (row + 1) * LAYER_H);
    }

    private static void assertAllNaN(float[] values, String what) {
        for (float value : values) {
            assertTrue(Float.isNaN(value), what + " should be all NaN: " + Arrays.toString(values));
        }
    }

    private static void assertRowsNaNOnlyAt(int row, float[] clean, float[] dirty, String what) {
        for (int b = 0; b < B; b++) {
            if (b == row) {
                assertAllNaN(slice(dirty, b), what + "[" + b + "]");
            } else {
                assertArrayEquals(slice(clean, b), slice(dirty, b), what + "[" + b + "]");
            }
        }
    }
}
