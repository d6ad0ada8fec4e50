package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;

import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import dev.vlstm.reference.ReferenceLstm;

/**
 * NaN and infinite inputs, as {@link NonFiniteInputs} documents them: by default they propagate exactly as
 * described (and no further: other batch rows and earlier steps keep their bits); with
 * {@link NonFiniteInputs#REJECT} the first one is named and the call changes nothing.
 */
class NonFiniteInputsTest {

    private static final int I = 5;
    private static final int H = 19;
    private static final int B = 3;
    private static final int T = 6;
    private static final float SENTINEL = -7f;

    /** The outputs of one forward: y, hT, cT. */
    private record Outputs(float[] y, float[] hT, float[] cT) {
    }

    private static Outputs forward(LstmRunner runner, float[] x, float[] h0, float[] c0) {
        Outputs out = new Outputs(new float[T * B * H], new float[B * H], new float[B * H]);
        runner.forward(x, T, B, h0, c0, out.y(), out.hT(), out.cT());
        return out;
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void aNaNInXMakesItsRowNaNFromItsStepOnAndNothingElse(Backend backend) {
        try (TestModel model = new TestModel(1000, I, H, backend);
             LstmRunner runner = new LstmRunner(model.weights, B)) {
            float[] x = model.input(T, B);
            float[] h0 = model.state(B);
            Outputs clean = forward(runner, x, h0, null);
            int step = 2, row = 1;
            x[(step * B + row) * I + 3] = Float.NaN;
            Outputs dirty = forward(runner, x, h0, null);
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
            assertRowsNaNOnlyAt(row, clean.cT(), dirty.cT(), "cT");
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void aNaNInH0MakesItsRowNaNAndANaNInC0ItsUnitFirstThenItsRow(Backend backend) {
        try (TestModel model = new TestModel(1001, I, H, backend);
             LstmRunner runner = new LstmRunner(model.weights, B)) {
            float[] x = model.input(T, B);
            float[] h0 = model.state(B);
            float[] c0 = model.state(B);
            Outputs clean = forward(runner, x, h0, c0);

            float[] badH0 = h0.clone();
            badH0[2 * H + 4] = Float.NaN;
            Outputs fromH0 = forward(runner, x, badH0, c0);
            for (int t = 0; t < T; t++) {
                assertAllNaN(slice(fromH0.y(), t * B + 2), "y[" + t + "][2] after a NaN in h0[2]");
                assertArrayEquals(slice(clean.y(), t * B), slice(fromH0.y(), t * B), "y[" + t + "][0]");
            }

            float[] badC0 = c0.clone();
            badC0[7] = Float.NaN;
            Outputs fromC0 = forward(runner, x, h0, badC0);
            float[] first = slice(fromC0.y(), 0);
            float[] cleanFirst = slice(clean.y(), 0);
            for (int j = 0; j < H; j++) {
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

    @ParameterizedTest
    @EnumSource(Backend.class)
    void anInfiniteInputSaturatesTheGatesLikeTheReferencesLimit(Backend backend) {
        try (TestModel model = new TestModel(1002, I, H, backend);
             LstmRunner runner = new LstmRunner(model.weights, B)) {
            float[] x = model.input(T, B);
            x[(B + 2) * I] = Float.POSITIVE_INFINITY;
            x[(3 * B) * I + 4] = Float.NEGATIVE_INFINITY;
            Outputs out = forward(runner, x, null, null);
            // No weight of the test model is zero, so every pre-activation of those rows is ±infinity.
            ReferenceLstm.Result expected = model.reference.forward(x, T, B, null, null);
            ForwardVsReferenceTest.assertWithin("y", out.y(), expected.y());
            ForwardVsReferenceTest.assertWithin("cT", out.cT(), expected.cT());
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void rejectingRunnersNameTheFirstNonFiniteInputAndChangeNothing(Backend backend) {
        try (TestModel model = new TestModel(1003, I, H, backend);
             LstmRunner runner = new LstmRunner(model.weights, B, NonFiniteInputs.REJECT);
             LstmRunner propagating = new LstmRunner(model.weights, B)) {
            assertEquals(NonFiniteInputs.REJECT, runner.nonFiniteInputs());
            assertEquals(NonFiniteInputs.PROPAGATE, propagating.nonFiniteInputs());
            float[] x = model.input(T, B);
            float[] h0 = model.state(B);
            float[] c0 = model.state(B);
            Outputs fine = forward(runner, x, h0, c0);
            Outputs same = forward(propagating, x, h0, c0);
            assertArrayEquals(same.y(), fine.y(), "finite inputs: the same result as without the check");

            float[] badX = x.clone();
            badX[(4 * B + 2) * I + 1] = Float.NaN;
            float[] badH0 = h0.clone();
            badH0[H + 18] = Float.POSITIVE_INFINITY;
            float[] badC0 = c0.clone();
            badC0[5] = Float.NEGATIVE_INFINITY;
            rejectsWithoutWriting(runner, badX, h0, c0, "x[4][2][1] is NaN");
            rejectsWithoutWriting(runner, x, badH0, c0, "h0[1][18] is Infinity");
            rejectsWithoutWriting(runner, x, h0, badC0, "c0[0][5] is -Infinity");
        }
    }

    @ParameterizedTest
    @EnumSource(Backend.class)
    void aRejectingStepNamesXOrTheStatesValueAndLeavesTheStateAsItWas(Backend backend) {
        try (TestModel model = new TestModel(1004, I, H, backend);
             LstmRunner runner = new LstmRunner(model.weights, B, 4, NonFiniteInputs.REJECT);
             LstmState state = new LstmState(model.weights, B)) {
            float[] frame = model.input(1, B);
            runner.step(frame, state, null);
            float[] h = state.hidden();
            float[] c = state.cell();

            float[] badFrame = frame.clone();
            badFrame[2 * I + 4] = Float.NaN;
            fails(() -> runner.step(badFrame, state, new float[B * H]), "x[2][4] is NaN");
            assertArrayEquals(h, state.hidden(), "h after the refused step");
            assertArrayEquals(c, state.cell(), "c after the refused step");

            float[] badHidden = h.clone();
            badHidden[H + 3] = Float.NaN;
            state.setHidden(badHidden);
            fails(() -> runner.step(frame, state, null), "state.h[1][3] is NaN");
            state.setHidden(h);
            float[] badCell = c.clone();
            badCell[2 * H + 17] = Float.NEGATIVE_INFINITY;
            state.setCell(badCell);
            fails(() -> runner.step(frame, state, null), "state.c[2][17] is -Infinity");
            assertArrayEquals(badCell, state.cell(), "c after the refused step");
        }
    }

    private static void rejectsWithoutWriting(LstmRunner runner, float[] x, float[] h0, float[] c0, String message) {
        float[] y = new float[T * B * H];
        float[] hT = new float[B * H];
        Arrays.fill(y, SENTINEL);
        Arrays.fill(hT, SENTINEL);
        fails(() -> runner.forward(x, T, B, h0, c0, y, hT, null), message);
        for (float value : y) {
            assertEquals(SENTINEL, value, "y must not be written by a refused call");
        }
        for (float value : hT) {
            assertEquals(SENTINEL, value, "hT must not be written by a refused call");
        }
    }

    private static void fails(Executable call, String message) {
        IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class, call);
        assertTrue(thrown.getMessage().startsWith(message), "message '" + thrown.getMessage() + "' should start with '"
                + message + "'");
        assertTrue(thrown.getMessage().contains("NonFiniteInputs.REJECT"), thrown.getMessage());
    }

    private static float[] slice(float[] rows, int row) {
        return Arrays.copyOfRange(rows, row * H, (row + 1) * H);
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
