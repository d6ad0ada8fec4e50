package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceGru;

/**
 * The fused GRU forward (vector and scalar kernels) against the double-precision reference, on odd shapes so that
 * padding, the 4-row and 1-row tiles and the one- and two-block tiles are all covered; and the streaming step
 * against the sequence forward, bit for bit.
 *
 * <p>Tolerance: max |error| &le; {@value #TOLERANCE} on y and hT, as for the LSTM ({@link ForwardVsReferenceTest}):
 * float accumulation over I + H &le; 266 terms and the activation approximation (|error| &le; 5e-7, see
 * Activations), carried through up to 40 steps.
 */
class GruForwardVsReferenceTest {

    static final double TOLERANCE = 1e-5;
    private static final int[] HIDDEN_SIZES = {1, 3, 17, 33};
    private static final int[] INPUT_SIZES = {1, 5, 17, 233};

    static Stream<Arguments> shapes() {
        List<Arguments> shapes = new ArrayList<>();
        for (int hidden : HIDDEN_SIZES) {
            for (int input : INPUT_SIZES) {
                shapes.add(Arguments.of(input, hidden, 3, 2, hidden % 2 == 1));
            }
            for (int batch = 1; batch <= 9; batch++) {
                shapes.add(Arguments.of(7, hidden, 5, batch, batch % 2 == 0));
            }
        }
        shapes.add(Arguments.of(3, 33, 40, 1, true));
        shapes.add(Arguments.of(33, 17, 40, 9, false));
        shapes.add(Arguments.of(1, 1, 40, 5, true));
        return shapes.stream();
    }

    @ParameterizedTest(name = "I={0} H={1} T={2} B={3} h0={4}")
    @MethodSource("shapes")
    void vectorKernelMatchesReference(int inputSize, int hiddenSize, int steps, int batch, boolean initialState) {
        checkAgainstReference(Backend.PREFERRED, inputSize, hiddenSize, steps, batch, initialState);
    }

    @ParameterizedTest(name = "scalar I={0} H={1} T={2} B={3} h0={4}")
    @MethodSource("shapes")
    void scalarKernelMatchesReference(int inputSize, int hiddenSize, int steps, int batch, boolean initialState) {
        checkAgainstReference(Backend.SCALAR, inputSize, hiddenSize, steps, batch, initialState);
    }

    private static void checkAgainstReference(Backend backend, int inputSize, int hiddenSize, int steps, int batch,
                                              boolean initialState) {
        long seed = 31L * inputSize + 7L * hiddenSize + 13L * steps + batch;
        try (TestGru model = new TestGru(seed, inputSize, hiddenSize, backend);
             GruRunner runner = new GruRunner(model.weights, batch, 1 + steps / 3)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.state(batch) : null;
            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[batch * hiddenSize];
            runner.forward(x, steps, batch, h0, y, hT);
            ReferenceGru.Result expected = model.reference.forward(x, steps, batch, h0);
            double yError = TestModel.maxAbsError(y, expected.y());
            double hError = TestModel.maxAbsError(hT, expected.hT());
            assertTrue(yError <= TOLERANCE, "y error " + yError);
            assertTrue(hError <= TOLERANCE, "hT error " + hError);
        }
    }

    @ParameterizedTest(name = "I={0} H={1} T={2} B={3} h0={4}")
    @MethodSource("shapes")
    void steppingGivesTheSequenceForwardBitForBit(int inputSize, int hiddenSize, int steps, int batch,
                                                  boolean initialState) {
        try (TestGru model = new TestGru(5, inputSize, hiddenSize, Backend.PREFERRED);
             GruRunner runner = new GruRunner(model.weights, batch);
             GruState state = new GruState(model.weights, batch)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.state(batch) : null;
            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[batch * hiddenSize];
            runner.forward(x, steps, batch, h0, y, hT);
            if (h0 != null) {
                state.setHidden(h0);
            }
            int frame = batch * inputSize;
            int out = batch * hiddenSize;
            float[] h = new float[out];
            for (int t = 0; t < steps; t++) {
                float[] xt = new float[frame];
                System.arraycopy(x, t * frame, xt, 0, frame);
                runner.step(xt, state, h);
                float[] yt = new float[out];
                System.arraycopy(y, t * out, yt, 0, out);
                assertArrayEquals(yt, h, "step " + t);
            }
            assertArrayEquals(hT, state.hidden());
        }
    }

    /** The scalar kernel repeats the vector kernel's float operations in the same order, on 8-lane blocks. */
    @Test
    void scalarAndVectorKernelsGiveTheSameBits() {
        assumeFalse(Backend.PREFERRED.kernelName().equals("scalar"),
                "the preferred kernel is the scalar one here: it would be compared with itself");
        int inputSize = 19;
        int hiddenSize = 37;
        int steps = 6;
        int batch = 7;
        try (TestGru vector = new TestGru(17, inputSize, hiddenSize, Backend.PREFERRED);
             TestGru scalar = new TestGru(17, inputSize, hiddenSize, Backend.SCALAR);
             GruRunner vectorRunner = new GruRunner(vector.weights, batch);
             GruRunner scalarRunner = new GruRunner(scalar.weights, batch)) {
            float[] x = vector.input(steps, batch);
            float[] h0 = vector.state(batch);
            float[] expected = new float[steps * batch * hiddenSize];
            float[] actual = new float[steps * batch * hiddenSize];
            vectorRunner.forward(x, steps, batch, h0, expected, null);
            scalarRunner.forward(x, steps, batch, h0, actual, null);
            assertArrayEquals(expected, actual);
        }
    }

    /**
     * Weights at 8 times PyTorch's scale, which drive many gates into saturation: each pre-activation's float
     * rounding grows with the size of its terms, so the tolerance is 8 times {@value #TOLERANCE} (measured: 1.4e-5).
     */
    @Test
    void largeWeightsMatchReferenceWithinTheirScaledTolerance() {
        float scale = 8f;
        try (TestGru model = new TestGru(23, 17, 33, Backend.PREFERRED, scale);
             GruRunner runner = new GruRunner(model.weights, 3)) {
            float[] x = model.input(20, 3);
            float[] y = new float[20 * 3 * 33];
            runner.forward(x, 20, 3, null, y, null);
            double error = TestModel.maxAbsError(y, model.reference.forward(x, 20, 3, null).y());
            assertTrue(error <= scale * TOLERANCE, "y error " + error);
        }
    }
}
