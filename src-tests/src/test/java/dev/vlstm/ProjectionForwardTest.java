package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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
 * The forward of a projected LSTM (PyTorch's {@code proj_size} = P: h = W_hr·(o*tanh c)) on the vector and scalar
 * kernels against the double-precision reference, at odd H and P (1, 2, 3, 5, 16, 17, 32, 33) and every batch 1..9,
 * with and without initial states; the streaming step against the sequence forward, bit for bit; variable lengths
 * in both layouts, the cell clip and compressed W and U against the reference.
 *
 * <p>Tolerance: max |error| &le; {@value ForwardVsReferenceTest#TOLERANCE} on y, hT and cT, as for the plain layer
 * (ForwardVsReferenceTest): the projection adds one float sum over H &le; 100 terms of products below 1 per output,
 * whose rounding is of the order of 1e-7, well inside it.
 */
class ProjectionForwardTest {

    static Stream<Arguments> shapes() {
        List<Arguments> shapes = new ArrayList<>();
        int[][] sizes = {{2, 1}, {3, 1}, {3, 2}, {17, 5}, {17, 16}, {33, 1}, {33, 17}, {33, 32}, {100, 33}};
        for (int[] size : sizes) {
            shapes.add(Arguments.of(5, size[0], size[1], 4, 3, true));
            shapes.add(Arguments.of(1, size[0], size[1], 3, 1, false));
        }
        for (int batch = 1; batch <= 9; batch++) {
            shapes.add(Arguments.of(17, 33, 5, 6, batch, batch % 2 == 0));
        }
        shapes.add(Arguments.of(3, 64, 16, 40, 2, true));
        return shapes.stream();
    }

    @ParameterizedTest(name = "I={0} H={1} P={2} T={3} B={4} initialState={5}")
    @MethodSource("shapes")
    void vectorKernelMatchesReference(int inputSize, int hiddenSize, int projectionSize, int steps, int batch,
                                      boolean initialState) {
        checkAgainstReference(Backend.PREFERRED, inputSize, hiddenSize, projectionSize, steps, batch, initialState);
    }

    @ParameterizedTest(name = "scalar I={0} H={1} P={2} T={3} B={4} initialState={5}")
    @MethodSource("shapes")
    void scalarKernelMatchesReference(int inputSize, int hiddenSize, int projectionSize, int steps, int batch,
                                      boolean initialState) {
        checkAgainstReference(Backend.SCALAR, inputSize, hiddenSize, projectionSize, steps, batch, initialState);
    }

    private static void checkAgainstReference(Backend backend, int inputSize, int hiddenSize, int projectionSize,
                                              int steps, int batch, boolean initialState) {
        long seed = 31L * inputSize + 7L * hiddenSize + 5L * projectionSize + 13L * steps + batch;
        try (ProjectedTestModel model = new ProjectedTestModel(seed, inputSize, hiddenSize, projectionSize, backend,
                WeightPrecision.FLOAT32);
             LstmRunner runner = new LstmRunner(model.weights, batch, 1 + steps / 3)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.hidden(batch) : null;
            float[] c0 = initialState ? model.cell(batch) : null;
            float[][] result = run(runner, x, steps, batch, h0, c0);
            ReferenceLstm.Result expected = model.reference.forward(x, steps, batch, h0, c0);
            ForwardVsReferenceTest.assertWithin("y", result[0], expected.y());
            ForwardVsReferenceTest.assertWithin("hT", result[1], expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", result[2], expected.cT());
        }
    }

    @ParameterizedTest(name = "H={0} P={1} B={2}")
    @CsvSource({"1, 1, 1", "3, 2, 5", "17, 5, 9", "33, 16, 4", "40, 33, 7"})
    void steppingEqualsTheSequenceForwardBitForBitAndTheScalarKernelGivesTheSameBits(int hiddenSize,
                                                                                    int projectionSize, int batch) {
        if (projectionSize >= hiddenSize) {
            hiddenSize = projectionSize + 1;
        }
        int steps = 7;
        int inputSize = 6;
        try (ProjectedTestModel vector = new ProjectedTestModel(3, inputSize, hiddenSize, projectionSize,
                Backend.PREFERRED, WeightPrecision.FLOAT32);
             ProjectedTestModel scalar = new ProjectedTestModel(3, inputSize, hiddenSize, projectionSize,
                     Backend.SCALAR, WeightPrecision.FLOAT32);
             LstmRunner runner = new LstmRunner(vector.weights, batch);
             LstmRunner scalarRunner = new LstmRunner(scalar.weights, batch);
             LstmState state = new LstmState(vector.weights, batch)) {
            float[] x = vector.input(steps, batch);
            float[] h0 = vector.hidden(batch);
            float[] c0 = vector.cell(batch);
            float[][] sequence = run(runner, x, steps, batch, h0, c0);
            assertEquals(projectionSize, state.outputSize());
            assertEquals(projectionSize, state.projectionSize());
            state.setHidden(h0);
            state.setCell(c0);
            int frame = batch * inputSize;
            int outputFrame = batch * projectionSize;
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
        try (ProjectedTestModel model = new ProjectedTestModel(4, 9, 33, 5);
             LstmRunner runner = new LstmRunner(model.weights, batch, 4)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.hidden(batch);
            float[] c0 = model.cell(batch);
            float[] y = new float[steps * batch * 5];
            float[] hT = new float[batch * 5];
            float[] cT = new float[batch * 33];
            runner.forward(layout == SequenceLayout.TIME_MAJOR ? x : transpose(x, steps, batch, 9), layout, steps,
                    batch, lengths, h0, c0, y, hT, cT);
            ReferenceLstm.Result expected = model.reference.forward(x, steps, batch, lengths, h0, c0);
            float[] timeMajorY = layout == SequenceLayout.TIME_MAJOR ? y : transpose(y, batch, steps, 5);
            ForwardVsReferenceTest.assertWithin("y", timeMajorY, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());
        }
    }

    @Test
    void theCellClipMatchesTheReference() {
        int steps = 8;
        int batch = 3;
        try (ProjectedTestModel model = new ProjectedTestModel(5, 4, 17, 3);
             LstmRunner runner = new LstmRunner(model.weights, batch, 3, NonFiniteInputs.PROPAGATE, 0.5f)) {
            float[] x = model.uniform(steps * batch * 4, 4f);
            ReferenceLstm.Result expected = model.reference.withCellClip(0.5).forward(x, steps, batch, null, null);
            float[][] clipped = run(runner, x, steps, batch, null, null);
            ForwardVsReferenceTest.assertWithin("y", clipped[0], expected.y());
            ForwardVsReferenceTest.assertWithin("cT", clipped[2], expected.cT());
            try (LstmRunner plain = new LstmRunner(model.weights, batch)) {
                float[][] unclipped = run(plain, x, steps, batch, null, null);
                assertTrue(TestModel.maxAbsError(unclipped[0], expected.y()) > 1e-3, "the clip must change y here");
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"BFLOAT16, PREFERRED", "INT8, PREFERRED", "BFLOAT16, SCALAR", "INT8, SCALAR"})
    void compressedWeightsMatchTheReferenceOnDequantisedWeights(WeightPrecision precision, Backend backend) {
        int steps = 5;
        int batch = 6;
        try (ProjectedTestModel model = new ProjectedTestModel(6, 13, 33, 7, backend, precision);
             LstmRunner runner = new LstmRunner(model.weights, batch)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.hidden(batch);
            float[][] result = run(runner, x, steps, batch, h0, null);
            ReferenceLstm.Result expected = model.reference.forward(x, steps, batch, h0, null);
            ForwardVsReferenceTest.assertWithin("y", result[0], expected.y());
            ForwardVsReferenceTest.assertWithin("cT", result[2], expected.cT());
        }
    }

    @Test
    void warmUpRunsAProjectedRunner() {
        try (ProjectedTestModel model = new ProjectedTestModel(7, 3, 9, 2);
             LstmRunner runner = new LstmRunner(model.weights, 4)) {
            runner.warmUp(java.time.Duration.ofMillis(200));
            float[] x = model.input(3, 2);
            float[][] result = run(runner, x, 3, 2, null, null);
            ForwardVsReferenceTest.assertWithin("y", result[0], model.reference.forward(x, 3, 2, null, null).y());
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
