package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Options#nonFiniteInputs()} through the public {@link Runner}, for LSTM and GRU stacks of one and two layers:
 * with {@link NonFiniteInputs#REJECT} every entry point (forward, variable lengths, the float[] forms, step) names
 * the first NaN or infinity in x, h0, c0 or the state, says "this Runner", and changes nothing; with finite inputs
 * it gives the bits of {@link NonFiniteInputs#PROPAGATE}, which lets a NaN through exactly as {@link NonFiniteInputs}
 * documents (its batch row, from its step on, and nothing else).
 */
class ModelApiNonFiniteInputsTest {

    private static final int I = 5;
    private static final int H = 7;
    private static final int B = 3;
    private static final int T = 6;
    private static final float SENTINEL = -7f;
    private static final String REJECTS = ": this Runner rejects NaN and infinite inputs (NonFiniteInputs.REJECT)";

    private static Model model(Cell cell, int layers, Direction direction, NonFiniteInputs policy) {
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(layers).withDirection(direction);
        Options options = Options.DEFAULT.withMaxBatch(B).withMaxSteps(T).withNonFiniteInputs(policy);
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

    @ParameterizedTest(name = "{0} L={1} {2}")
    @CsvSource({"LSTM, 1, FORWARD", "LSTM, 2, BIDIRECTIONAL", "GRU, 1, FORWARD", "GRU, 2, BIDIRECTIONAL"})
    void rejectNamesTheFirstNonFiniteValueOfASequenceAndWritesNothing(Cell cell, int layers, Direction direction) {
        try (Model model = model(cell, layers, direction, NonFiniteInputs.REJECT);
             Runner runner = model.runner()) {
            RnnShape shape = model.shape();
            boolean lstm = cell == Cell.LSTM;
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

    @ParameterizedTest(name = "{0} L={1}")
    @CsvSource({"LSTM, 1", "LSTM, 2", "GRU, 1", "GRU, 2"})
    void rejectNamesTheFirstNonFiniteValueOfAStepAndLeavesTheStateAsItWas(Cell cell, int layers) {
        try (Model model = model(cell, layers, Direction.FORWARD, NonFiniteInputs.REJECT);
             Runner runner = model.runner();
             State state = model.newState(B)) {
            boolean lstm = cell == Cell.LSTM;
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
        try (Model propagating = model(cell, layers, Direction.FORWARD, NonFiniteInputs.PROPAGATE);
             Model rejecting = model(cell, layers, Direction.FORWARD, NonFiniteInputs.REJECT);
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
}
