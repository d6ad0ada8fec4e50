package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceLstm;

/**
 * The fused forward kernel against the double-precision scalar reference, on many shapes including sizes that
 * are not multiples of any lane count.
 *
 * <p>Tolerance: max |error| &le; {@value #TOLERANCE} on y, hT and cT. It covers float accumulation over
 * I + H &le; 514 terms and the activation approximation (|error| &le; 5e-7, see Activations), carried
 * through up to 50 steps; the largest error measured on these shapes is about a tenth of it.
 */
class ForwardVsReferenceTest {

    static final double TOLERANCE = 1e-5;
    private static final int[] ODD_SIZES = {1, 3, 17, 33, 100, 257};

    static Stream<Arguments> shapes() {
        List<Arguments> shapes = new ArrayList<>();
        // Every odd size as I and as H, with small T and B.
        for (int size : ODD_SIZES) {
            shapes.add(Arguments.of(size, 17, 3, 2, true));
            shapes.add(Arguments.of(17, size, 4, 3, false));
        }
        // Every batch size 1..9 (the row tiles are 4 and 1), and long sequences.
        for (int batch = 1; batch <= 9; batch++) {
            shapes.add(Arguments.of(33, 33, 5, batch, batch % 2 == 0));
        }
        shapes.add(Arguments.of(3, 100, 50, 1, true));
        shapes.add(Arguments.of(100, 33, 50, 9, false));
        shapes.add(Arguments.of(257, 257, 20, 5, true));
        shapes.add(Arguments.of(1, 1, 50, 9, true));
        shapes.add(Arguments.of(17, 33, 1, 1, false));
        shapes.add(Arguments.of(100, 3, 1, 6, true));
        // Seeded random mixes of the above.
        SplittableRandom random = new SplittableRandom(2026);
        for (int n = 0; n < 16; n++) {
            shapes.add(Arguments.of(ODD_SIZES[random.nextInt(ODD_SIZES.length)],
                    ODD_SIZES[random.nextInt(ODD_SIZES.length - 1)],
                    1 + random.nextInt(50), 1 + random.nextInt(9), random.nextBoolean()));
        }
        return shapes.stream();
    }

    @ParameterizedTest(name = "I={0} H={1} T={2} B={3} initialState={4}")
    @MethodSource("shapes")
    void vectorKernelMatchesReference(int inputSize, int hiddenSize, int steps, int batch, boolean initialState) {
        checkAgainstReference(Backend.PREFERRED, inputSize, hiddenSize, steps, batch, initialState);
    }

    @ParameterizedTest(name = "scalar I={0} H={1} T={2} B={3} initialState={4}")
    @MethodSource("shapes")
    void scalarKernelMatchesReference(int inputSize, int hiddenSize, int steps, int batch, boolean initialState) {
        assumeTrue((long) (inputSize + hiddenSize) * hiddenSize * steps * batch <= 4_000_000,
                "the scalar kernel is checked on the smaller shapes only, to keep the suite fast");
        checkAgainstReference(Backend.SCALAR, inputSize, hiddenSize, steps, batch, initialState);
    }

    static void checkAgainstReference(Backend backend, int inputSize, int hiddenSize, int steps, int batch,
                                      boolean initialState) {
        long seed = 31L * inputSize + 7L * hiddenSize + 13L * steps + batch;
        try (TestModel model = new TestModel(seed, inputSize, hiddenSize, backend);
             LstmRunner runner = new LstmRunner(model.weights, batch, 1 + steps / 3)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.state(batch) : null;
            float[] c0 = initialState ? model.state(batch) : null;
            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[batch * hiddenSize];
            float[] cT = new float[batch * hiddenSize];
            runner.forward(x, steps, batch, h0, c0, y, hT, cT);
            ReferenceLstm.Result expected = model.reference.forward(x, steps, batch, h0, c0);
            assertWithin("y", y, expected.y());
            assertWithin("hT", hT, expected.hT());
            assertWithin("cT", cT, expected.cT());
        }
    }

    @Test
    void oneRunnerServesSmallerBatchesAndLongerSequencesInTurn() {
        try (TestModel model = new TestModel(77, 17, 33); LstmRunner runner = new LstmRunner(model.weights, 9, 4)) {
            int[][] calls = {{9, 10}, {3, 1}, {5, 13}, {1, 9}, {7, 4}, {9, 2}};
            for (int[] call : calls) {
                int batch = call[0];
                int steps = call[1];
                float[] x = model.input(steps, batch);
                float[] h0 = model.state(batch);
                float[] y = new float[steps * batch * 33];
                float[] hT = new float[batch * 33];
                runner.forward(x, steps, batch, h0, null, y, hT, null);
                ReferenceLstm.Result expected = model.reference.forward(x, steps, batch, h0, null);
                assertWithin("y (B=" + batch + ", T=" + steps + ")", y, expected.y());
                assertWithin("hT (B=" + batch + ", T=" + steps + ")", hT, expected.hT());
            }
        }
    }

    @Test
    void resultsDoNotDependOnTheBatchARowIsComputedIn() {
        try (TestModel model = new TestModel(78, 33, 40); LstmRunner runner = new LstmRunner(model.weights, 7)) {
            int steps = 6;
            float[] x = model.input(steps, 7);
            float[] y = new float[steps * 7 * 40];
            runner.forward(x, steps, 7, null, null, y, null, null);
            for (int row : new int[]{0, 4, 6}) {
                float[] single = new float[steps * 33];
                for (int t = 0; t < steps; t++) {
                    System.arraycopy(x, (t * 7 + row) * 33, single, t * 33, 33);
                }
                float[] alone = new float[steps * 40];
                runner.forward(single, steps, 1, null, null, alone, null, null);
                for (int t = 0; t < steps; t++) {
                    assertArrayEquals(java.util.Arrays.copyOfRange(y, (t * 7 + row) * 40, (t * 7 + row + 1) * 40),
                            java.util.Arrays.copyOfRange(alone, t * 40, (t + 1) * 40), "row " + row + " step " + t);
                }
            }
        }
    }

    @Test
    void initialStatesMayBeTheFinalStateBuffersToCarryStateAcrossCalls() {
        try (TestModel model = new TestModel(79, 5, 17); LstmRunner runner = new LstmRunner(model.weights, 2)) {
            float[] x = model.input(8, 2);
            float[] hT = new float[2 * 17];
            float[] cT = new float[2 * 17];
            int frame = 4 * 2 * 5;
            runner.forward(java.util.Arrays.copyOfRange(x, 0, frame), 4, 2, null, null, null, hT, cT);
            runner.forward(java.util.Arrays.copyOfRange(x, frame, 2 * frame), 4, 2, hT, cT, null, hT, cT);
            ReferenceLstm.Result expected = model.reference.forward(x, 8, 2, null, null);
            assertWithin("hT", hT, expected.hT());
            assertWithin("cT", cT, expected.cT());
        }
    }

    @Test
    void saturatedGatesAndLargeInputsStayFiniteAndMatchTheReference() {
        try (TestModel model = new TestModel(80, 9, 21, 8f); LstmRunner runner = new LstmRunner(model.weights, 3)) {
            int steps = 12;
            float[] x = model.uniform(steps * 3 * 9, 50f);
            x[0] = 1e30f;
            x[1] = -1e30f;
            float[] y = new float[steps * 3 * 21];
            float[] cT = new float[3 * 21];
            runner.forward(x, steps, 3, null, null, y, null, cT);
            ReferenceLstm.Result expected = model.reference.forward(x, steps, 3, null, null);
            assertWithin("y", y, expected.y());
            assertWithin("cT", cT, expected.cT());
            for (float value : y) {
                assertTrue(value >= -1f && value <= 1f, "h must stay in [-1, 1], got " + value);
            }
        }
    }

    static void assertWithin(String name, float[] actual, double[] expected) {
        double error = TestModel.maxAbsError(actual, expected);
        assertTrue(error <= TOLERANCE, name + ": max abs error " + error + " > " + TOLERANCE);
    }
}
