package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * One LSTM or GRU layer's forward, through the vector and the scalar kernel, against the double-precision
 * reference, on many shapes including sizes that are not multiples of any lane count, so that padding, the 4-row and
 * 1-row tiles and the one- and two-block tiles are all covered; and what one runner does with calls of different
 * sizes.
 *
 * <p>Tolerance: max |error| &le; {@value #TOLERANCE} on y, hT and cT. It covers float accumulation over
 * I + H &le; 514 terms and the activation approximation (|error| &le; 5e-7, see Activations), carried
 * through up to 50 steps; the largest error measured on these shapes is about a tenth of it.
 */
class ForwardVsReferenceTest {

    static final double TOLERANCE = 1e-5;
    private static final int[] ODD_SIZES = {1, 3, 17, 33, 100, 257};

    /** I, H, T, B of one layer's forward, and whether it starts from given states (else from zeros). */
    record Sizes(int inputSize, int hiddenSize, int steps, int batch, boolean initialState) {

        Arguments arguments() {
            return Arguments.of(inputSize, hiddenSize, steps, batch, initialState);
        }
    }

    /** Every size from 1 to 257 that is a multiple of no lane count, as I and as H; every B from 1 to 9; long T. */
    static Stream<Sizes> oneLayerSizes() {
        List<Sizes> sizes = new ArrayList<>();
        for (int size : ODD_SIZES) {
            sizes.add(new Sizes(size, 17, 3, 2, true));
            sizes.add(new Sizes(17, size, 4, 3, false));
        }
        for (int hidden : new int[] {1, 3, 17, 33}) {
            for (int input : new int[] {1, 5, 17, 233}) {
                sizes.add(new Sizes(input, hidden, 3, 2, hidden % 2 == 1));
            }
            for (int batch = 1; batch <= 9; batch++) {
                sizes.add(new Sizes(7, hidden, 5, batch, batch % 2 == 0));
            }
        }
        for (int batch = 1; batch <= 9; batch++) {
            sizes.add(new Sizes(33, 33, 5, batch, batch % 2 == 0));
        }
        sizes.add(new Sizes(3, 100, 50, 1, true));
        sizes.add(new Sizes(100, 33, 50, 9, false));
        sizes.add(new Sizes(257, 257, 20, 5, true));
        sizes.add(new Sizes(1, 1, 50, 9, true));
        sizes.add(new Sizes(17, 33, 1, 1, false));
        sizes.add(new Sizes(100, 3, 1, 6, true));
        sizes.add(new Sizes(3, 33, 40, 1, true));
        sizes.add(new Sizes(33, 17, 40, 9, false));
        sizes.add(new Sizes(1, 1, 40, 5, true));
        SplittableRandom random = new SplittableRandom(2026);
        for (int n = 0; n < 16; n++) {
            sizes.add(new Sizes(ODD_SIZES[random.nextInt(ODD_SIZES.length)],
                    ODD_SIZES[random.nextInt(ODD_SIZES.length - 1)], 1 + random.nextInt(50), 1 + random.nextInt(9),
                    random.nextBoolean()));
        }
        return sizes.stream().distinct();
    }

    static Stream<Arguments> kernels() {
        return TestRnn.forEveryCell(Stream.of(Backend.PREFERRED, Backend.SCALAR).flatMap(backend ->
                oneLayerSizes().map(sizes -> Arguments.of(backend, sizes.inputSize(), sizes.hiddenSize(),
                        sizes.steps(), sizes.batch(), sizes.initialState()))));
    }

    @ParameterizedTest(name = "{0} {1} I={2} H={3} T={4} B={5} initialState={6}")
    @MethodSource("kernels")
    void kernelMatchesReference(Cell cell, Backend backend, int inputSize, int hiddenSize, int steps, int batch,
                                boolean initialState) {
        long work = (long) (inputSize + hiddenSize) * hiddenSize * steps * batch;
        assumeTrue(backend != Backend.SCALAR || work <= 4_000_000,
                "the scalar kernel is checked on the smaller shapes only, to keep the suite fast");
        long seed = 31L * inputSize + 7L * hiddenSize + 13L * steps + batch;
        try (TestRnn rnn = new TestRnn(seed, RnnShape.of(cell, inputSize, hiddenSize),
                Options.DEFAULT.withBackend(backend));
             Runner runner = rnn.model.runner(rnn.model.options().withMaxBatch(batch).withMaxSteps(steps)
                     .withChunkSteps(1 + steps / 3))) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = initialState ? rnn.hiddenStates(batch) : null;
            float[] c0 = initialState ? rnn.cellStates(batch) : null;
            assertForwardMatchesReference(rnn, runner, x, steps, batch, h0, c0);
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void oneRunnerServesSmallerBatchesAndSequencesLongerThanItsChunkInTurn(Cell cell) {
        try (TestRnn rnn = new TestRnn(77, RnnShape.of(cell, 17, 33), Options.DEFAULT);
             Runner runner = rnn.model.runner(rnn.model.options().withMaxBatch(9).withMaxSteps(13).withChunkSteps(4))) {
            int[][] calls = {{9, 10}, {3, 1}, {5, 13}, {1, 9}, {7, 4}, {9, 2}};
            for (int[] call : calls) {
                int batch = call[0];
                int steps = call[1];
                assertForwardMatchesReference(rnn, runner, rnn.input(steps, batch), steps, batch,
                        rnn.hiddenStates(batch), null);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void resultsDoNotDependOnTheBatchARowIsComputedIn(Cell cell) {
        try (TestRnn rnn = new TestRnn(78, RnnShape.of(cell, 33, 40), Options.DEFAULT);
             Runner runner = rnn.runner(7, 6)) {
            int steps = 6;
            float[] x = rnn.input(steps, 7);
            float[] y = new float[steps * 7 * 40];
            runner.forward(x, steps, 7, null, null, y, null, null);
            for (int row : new int[] {0, 4, 6}) {
                float[] single = new float[steps * 33];
                for (int t = 0; t < steps; t++) {
                    System.arraycopy(x, (t * 7 + row) * 33, single, t * 33, 33);
                }
                float[] alone = new float[steps * 40];
                runner.forward(single, steps, 1, null, null, alone, null, null);
                for (int t = 0; t < steps; t++) {
                    assertArrayEquals(Arrays.copyOfRange(y, (t * 7 + row) * 40, (t * 7 + row + 1) * 40),
                            Arrays.copyOfRange(alone, t * 40, (t + 1) * 40), "row " + row + " step " + t);
                }
            }
        }
    }

    /** The scalar kernel repeats the vector kernel's float operations in the same order, on 8-lane blocks. */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void scalarAndVectorKernelsGiveTheSameBits(Cell cell) {
        assumeFalse(Backend.PREFERRED.kernelName().equals("scalar"),
                "the preferred kernel is the scalar one here: it would be compared with itself");
        RnnShape shape = RnnShape.of(cell, 19, 37);
        int steps = 6;
        int batch = 7;
        try (TestRnn vector = new TestRnn(17, shape, Options.DEFAULT);
             Model scalar = Model.pack(vector.parameters, Options.DEFAULT.withBackend(Backend.SCALAR));
             Runner vectorRunner = vector.runner(batch, steps);
             Runner scalarRunner = scalar.runner(vector.model.options().withMaxBatch(batch).withMaxSteps(steps))) {
            float[] x = vector.input(steps, batch);
            float[] h0 = vector.hiddenStates(batch);
            float[] expected = new float[steps * batch * 37];
            float[] actual = new float[steps * batch * 37];
            vectorRunner.forward(x, steps, batch, h0, null, expected, null, null);
            scalarRunner.forward(x, steps, batch, h0, null, actual, null, null);
            assertArrayEquals(expected, actual);
        }
    }

    /** Weights at 8 times PyTorch's scale and inputs up to 1e30 drive the gates into saturation; h stays in [-1, 1]. */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void saturatedGatesAndLargeInputsStayFiniteAndMatchTheReference(Cell cell) {
        try (TestRnn rnn = new TestRnn(80, RnnShape.of(cell, 9, 21), Options.DEFAULT, true, 8f);
             Runner runner = rnn.runner(3, 12)) {
            int steps = 12;
            float[] x = rnn.uniform(steps * 3 * 9, 50f);
            x[0] = 1e30f;
            x[1] = -1e30f;
            float[] y = assertForwardMatchesReference(rnn, runner, x, steps, 3, null, null);
            for (float value : y) {
                assertTrue(value >= -1f && value <= 1f, "h must stay in [-1, 1], got " + value);
            }
        }
    }

    /**
     * Weights at 8 times PyTorch's scale, which drive many gates into saturation: each pre-activation's float
     * rounding grows with the size of its terms, so the tolerance is 8 times {@value #TOLERANCE} (measured: 1.4e-5).
     */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void largeWeightsMatchReferenceWithinTheirScaledTolerance(Cell cell) {
        float scale = 8f;
        try (TestRnn rnn = new TestRnn(23, RnnShape.of(cell, 17, 33), Options.DEFAULT, true, scale);
             Runner runner = rnn.runner(3, 20)) {
            float[] x = rnn.input(20, 3);
            float[] y = new float[20 * 3 * 33];
            runner.forward(x, 20, 3, null, null, y, null, null);
            double error = TestRnn.maxAbsError(y, rnn.reference.forward(x, 20, 3, null, null).y());
            assertTrue(error <= scale * TOLERANCE, "y error " + error);
        }
    }

    /**
     * Runs {@code x} through {@code runner} from {@code h0} and {@code c0} and holds y, hT and (LSTM) cT to the
     * reference's within {@value #TOLERANCE}.
     *
     * @return y, {@code [T][B][D·S]}
     */
    static float[] assertForwardMatchesReference(TestRnn rnn, Runner runner, float[] x, int steps, int batch,
                                                 float[] h0, float[] c0) {
        RnnShape shape = rnn.shape;
        float[] y = new float[steps * batch * shape.outputSize()];
        float[] hT = new float[shape.stateCount() * batch * shape.hiddenStateSize()];
        float[] cT = shape.cell().hasCellState() ? new float[shape.stateCount() * batch * shape.hiddenSize()] : null;
        runner.forward(x, steps, batch, h0, c0, y, hT, cT);
        ReferenceStack.Result expected = rnn.reference.forward(x, steps, batch, h0, c0);
        String call = " (B=" + batch + ", T=" + steps + ")";
        assertWithin("y" + call, y, expected.y());
        assertWithin("hT" + call, hT, expected.hT());
        if (cT != null) {
            assertWithin("cT" + call, cT, expected.cT());
        }
        return y;
    }

    static void assertWithin(String name, float[] actual, double[] expected) {
        double error = TestRnn.maxAbsError(actual, expected);
        assertTrue(error <= TOLERANCE, name + ": max abs error " + error + " > " + TOLERANCE);
    }
}
