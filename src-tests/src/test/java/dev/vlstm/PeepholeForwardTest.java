package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceLstm;

/**
 * The runner with peephole connections (Graves 2012, ONNX's P) against the double-precision reference with the same
 * peepholes: vector and scalar kernels on odd shapes (H = 1, 3, 17, 33; B = 1..9), variable lengths in both layouts,
 * the cell clip, compressed W and U (against the reference on the dequantised weights), projection; streaming equals
 * the sequence bit for bit, the scalar kernel gives the vector kernel's bits, and all-zero peepholes give the bits of
 * a model without them.
 *
 * <p>Tolerance: max |error| &le; {@value ForwardVsReferenceTest#TOLERANCE} on y, hT and cT, as in
 * {@link ForwardVsReferenceTest}: the peephole terms add one float FMA per gate to each pre-activation.
 */
class PeepholeForwardTest {

    private static final int[] HIDDEN_SIZES = {1, 3, 17, 33};

    static Stream<Arguments> shapes() {
        List<Arguments> shapes = new ArrayList<>();
        for (int hiddenSize : HIDDEN_SIZES) {
            for (int batch = 1; batch <= 9; batch++) {
                shapes.add(Arguments.of(1 + (hiddenSize + batch) % 7, hiddenSize, 1 + batch % 5, batch));
            }
        }
        shapes.add(Arguments.of(17, 33, 30, 5));
        return shapes.stream();
    }

    @ParameterizedTest(name = "I={0} H={1} T={2} B={3}")
    @MethodSource("shapes")
    void vectorKernelMatchesReference(int inputSize, int hiddenSize, int steps, int batch) {
        checkAgainstReference(Backend.PREFERRED, inputSize, hiddenSize, steps, batch);
    }

    @ParameterizedTest(name = "scalar I={0} H={1} T={2} B={3}")
    @MethodSource("shapes")
    void scalarKernelMatchesReference(int inputSize, int hiddenSize, int steps, int batch) {
        checkAgainstReference(Backend.SCALAR, inputSize, hiddenSize, steps, batch);
    }

    private static void checkAgainstReference(Backend backend, int inputSize, int hiddenSize, int steps, int batch) {
        long seed = 31L * inputSize + 7L * hiddenSize + 13L * steps + batch;
        try (PeepholeTestModel model = new PeepholeTestModel(seed, inputSize, hiddenSize, backend);
             LstmRunner runner = new LstmRunner(model.weights, batch, 1 + steps / 3)) {
            assertTrue(model.weights.hasPeepholes());
            float[] x = model.input(steps, batch);
            float[] h0 = model.hidden(batch);
            float[] c0 = model.cell(batch);
            float[][] result = run(runner, x, steps, batch, h0, c0);
            ReferenceLstm.Result expected = model.reference.forward(x, steps, batch, h0, c0);
            ForwardVsReferenceTest.assertWithin("y", result[0], expected.y());
            ForwardVsReferenceTest.assertWithin("hT", result[1], expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", result[2], expected.cT());
        }
    }

    @ParameterizedTest(name = "H={0} B={1}")
    @CsvSource({"1, 1", "3, 5", "17, 9", "33, 4", "40, 7"})
    void steppingEqualsTheSequenceForwardBitForBitAndTheScalarKernelGivesTheSameBits(int hiddenSize, int batch) {
        int steps = 7;
        int inputSize = 6;
        try (PeepholeTestModel vector = new PeepholeTestModel(3, inputSize, hiddenSize, Backend.PREFERRED);
             PeepholeTestModel scalar = new PeepholeTestModel(3, inputSize, hiddenSize, Backend.SCALAR);
             LstmRunner runner = new LstmRunner(vector.weights, batch);
             LstmRunner scalarRunner = new LstmRunner(scalar.weights, batch);
             LstmState state = new LstmState(vector.weights, batch)) {
            float[] x = vector.input(steps, batch);
            float[] h0 = vector.hidden(batch);
            float[] c0 = vector.cell(batch);
            float[][] sequence = run(runner, x, steps, batch, h0, c0);
            state.setHidden(h0);
            state.setCell(c0);
            int frame = batch * inputSize;
            int outputFrame = batch * hiddenSize;
            float[] h = new float[outputFrame];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * frame, (t + 1) * frame), state, h);
                assertArrayEquals(Arrays.copyOfRange(sequence[0], t * outputFrame, (t + 1) * outputFrame), h,
                        "step " + t);
            }
            assertArrayEquals(sequence[1], state.hidden(), "hT");
            assertArrayEquals(sequence[2], state.cell(), "cT");
            float[][] fromScalar = run(scalarRunner, x, steps, batch, h0, c0);
            assertArrayEquals(fromScalar[0], sequence[0], "the scalar kernel's y");
            assertArrayEquals(fromScalar[2], sequence[2], "the scalar kernel's cT");
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(SequenceLayout.class)
    void variableLengthsMatchTheReference(SequenceLayout layout) {
        int steps = 6;
        int batch = 7;
        int[] lengths = {6, 0, 3, 1, 6, 5, 2};
        try (PeepholeTestModel model = new PeepholeTestModel(4, 9, 33, Backend.PREFERRED);
             LstmRunner runner = new LstmRunner(model.weights, batch, 4)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.hidden(batch);
            float[] c0 = model.cell(batch);
            float[] y = new float[steps * batch * 33];
            float[] hT = new float[batch * 33];
            float[] cT = new float[batch * 33];
            runner.forward(layout == SequenceLayout.TIME_MAJOR ? x : transpose(x, steps, batch, 9), layout, steps,
                    batch, lengths, h0, c0, y, hT, cT);
            ReferenceLstm.Result expected = model.reference.forward(x, steps, batch, lengths, h0, c0);
            float[] timeMajorY = layout == SequenceLayout.TIME_MAJOR ? y : transpose(y, batch, steps, 33);
            ForwardVsReferenceTest.assertWithin("y", timeMajorY, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Backend.class, names = {"PREFERRED", "SCALAR"})
    void theCellClipMatchesTheReference(Backend backend) {
        int steps = 8;
        int batch = 3;
        try (PeepholeTestModel model = new PeepholeTestModel(5, 4, 17, backend);
             LstmRunner runner = new LstmRunner(model.weights, batch, 3, NonFiniteInputs.PROPAGATE, 0.5f)) {
            float[] x = model.uniform(steps * batch * 4, 4f);
            float[] c0 = model.uniform(batch * 17, 3f);
            ReferenceLstm.Result expected = model.reference.withCellClip(0.5).forward(x, steps, batch, null, c0);
            float[][] clipped = run(runner, x, steps, batch, null, c0);
            ForwardVsReferenceTest.assertWithin("y", clipped[0], expected.y());
            ForwardVsReferenceTest.assertWithin("cT", clipped[2], expected.cT());
            try (LstmRunner plain = new LstmRunner(model.weights, batch)) {
                float[][] unclipped = run(plain, x, steps, batch, null, c0);
                assertTrue(TestModel.maxAbsError(unclipped[0], expected.y()) > 1e-3, "the clip must change y here");
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"BFLOAT16, PREFERRED", "INT8, PREFERRED", "BFLOAT16, SCALAR", "INT8, SCALAR"})
    void compressedWeightsMatchTheReferenceOnDequantisedWeights(WeightPrecision precision, Backend backend) {
        int steps = 5;
        for (int batch : new int[]{1, 6}) {
            try (PeepholeTestModel model = new PeepholeTestModel(6, 13, 33, 0, backend, precision);
                 LstmRunner runner = new LstmRunner(model.weights, batch)) {
                float[] x = model.input(steps, batch);
                float[] c0 = model.cell(batch);
                float[][] result = run(runner, x, steps, batch, null, c0);
                ReferenceLstm.Result expected = model.reference.forward(x, steps, batch, null, c0);
                ForwardVsReferenceTest.assertWithin("y", result[0], expected.y());
                ForwardVsReferenceTest.assertWithin("cT", result[2], expected.cT());
            }
        }
    }

    @ParameterizedTest(name = "H={0} P={1} {2}")
    @CsvSource({"2, 1, PREFERRED", "17, 5, PREFERRED", "33, 16, PREFERRED", "17, 5, SCALAR"})
    void projectionWithPeepholesMatchesTheReference(int hiddenSize, int projectionSize, Backend backend) {
        int steps = 6;
        int batch = 5;
        try (PeepholeTestModel model = new PeepholeTestModel(8, 7, hiddenSize, projectionSize, backend,
                WeightPrecision.FLOAT32);
             LstmRunner runner = new LstmRunner(model.weights, batch)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.hidden(batch);
            float[] c0 = model.cell(batch);
            float[][] result = run(runner, x, steps, batch, h0, c0);
            ReferenceLstm.Result expected = model.reference.forward(x, steps, batch, h0, c0);
            ForwardVsReferenceTest.assertWithin("y", result[0], expected.y());
            ForwardVsReferenceTest.assertWithin("hT", result[1], expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", result[2], expected.cT());
        }
    }

    @ParameterizedTest(name = "{0} {1} P={2}")
    @CsvSource({"PREFERRED, FLOAT32, 0", "SCALAR, FLOAT32, 0", "PREFERRED, BFLOAT16, 0", "PREFERRED, INT8, 0",
        "SCALAR, INT8, 0", "PREFERRED, FLOAT32, 4"})
    void zeroPeepholesGiveTheBitsOfNoPeepholes(Backend backend, WeightPrecision precision, int projectionSize) {
        int steps = 6;
        int batch = 6;
        try (PeepholeTestModel model = new PeepholeTestModel(9, 5, 19, projectionSize, backend, precision);
             LstmWeights plain = model.withoutPeepholes(backend, precision);
             LstmWeights zero = model.withZeroPeepholes(backend, precision);
             LstmRunner plainRunner = new LstmRunner(plain, batch, 4);
             LstmRunner zeroRunner = new LstmRunner(zero, batch, 4)) {
            assertFalse(plain.hasPeepholes());
            assertTrue(zero.hasPeepholes());
            float[] x = model.input(steps, batch);
            float[] h0 = model.hidden(batch);
            float[] c0 = model.cell(batch);
            float[][] expected = run(plainRunner, x, steps, batch, h0, c0);
            float[][] actual = run(zeroRunner, x, steps, batch, h0, c0);
            for (int n = 0; n < 3; n++) {
                assertArrayEquals(expected[n], actual[n], new String[]{"y", "hT", "cT"}[n]);
            }
            try (LstmRunner runner = new LstmRunner(model.weights, batch)) {
                assertTrue(TestModel.maxAbsError(run(runner, x, steps, batch, h0, c0)[0],
                        TestModel.doubles(expected[0])) > 1e-3, "the random peepholes must change y");
            }
        }
    }

    @Test
    void peepholesCostOnlyOneGateRowOfPackedBytes() {
        try (PeepholeTestModel model = new PeepholeTestModel(10, 5, 19, Backend.PREFERRED);
             LstmWeights plain = model.withoutPeepholes(Backend.PREFERRED, WeightPrecision.FLOAT32)) {
            assertTrue(model.weights.packedBytes() - plain.packedBytes()
                    == (long) plain.layout().gateRowFloats() * Float.BYTES);
        }
    }

    /** y, hT and cT of a sequence forward. */
    private static float[][] run(LstmRunner runner, float[] x, int steps, int batch, float[] h0, float[] c0) {
        LstmWeights weights = runner.weights();
        float[] y = new float[steps * batch * weights.outputSize()];
        float[] hT = new float[batch * weights.outputSize()];
        float[] cT = new float[batch * weights.hiddenSize()];
        runner.forward(x, steps, batch, h0, c0, y, hT, cT);
        return new float[][]{y, hT, cT};
    }

    /** {@code [outer][inner][width]} as {@code [inner][outer][width]}. */
    private static float[] transpose(float[] values, int outer, int inner, int width) {
        float[] result = new float[values.length];
        for (int o = 0; o < outer; o++) {
            for (int i = 0; i < inner; i++) {
                System.arraycopy(values, (o * inner + i) * width, result, (i * outer + o) * width, width);
            }
        }
        return result;
    }
}
