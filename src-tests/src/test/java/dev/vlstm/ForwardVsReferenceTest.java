package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

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
        if ((long) inputSize * hiddenSize * steps * batch <= 2_000_000) {
            checkAgainstReference(Backend.SCALAR, inputSize, hiddenSize, steps, batch, initialState);
        }
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

    static void assertWithin(String name, float[] actual, double[] expected) {
        double error = TestModel.maxAbsError(actual, expected);
        assertTrue(error <= TOLERANCE, name + ": max abs error " + error + " > " + TOLERANCE);
    }
}
