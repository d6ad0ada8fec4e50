package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.kernel.WeightFormat;
import dev.vlstm.reference.ReferenceStack;

/**
 * Forward inference on BFLOAT16 and INT8 weights, for the LSTM, the GRU and the CIFG (the three-gate tiles): the
 * vector kernel gives the scalar kernel's bits on the same
 * compressed weights, bfloat16 gives the float kernel's bits on rounded weights, both match the double reference
 * on the dequantised weights, the difference from float weights stays within the bound of {@link WeightPrecision}
 * for a step and within a stated bound over 100 steps, training refuses them, and they take fewer bytes.
 */
class CompressedWeightsTest {

    private static final WeightPrecision[] COMPRESSED = {WeightPrecision.BFLOAT16, WeightPrecision.INT8};
    private static final int[] ODD_SIZES = {1, 3, 17, 33, 257};
    /** Largest |h_compressed - h_float| allowed over 100 steps at H = I = 256 (measured: docs/service-guide.md). */
    private static final double BFLOAT16_SEQUENCE_BOUND = 3e-3;
    private static final double INT8_SEQUENCE_BOUND = 1e-2;

    /** Every size and batch for the LSTM; for the three-gate cells, batches 1 (one-row tiles) and 5 (both). */
    static Stream<Arguments> shapes() {
        List<Arguments> shapes = new ArrayList<>();
        for (Cell cell : Cell.values()) {
            for (WeightPrecision precision : COMPRESSED) {
                for (int size : ODD_SIZES) {
                    for (int batch = 1; batch <= 5; batch++) {
                        boolean all = cell == Cell.LSTM && size < 257;
                        if (all || batch == 1 || batch == 5) {
                            shapes.add(Arguments.of(cell, precision, size == 257 ? 40 : size, size, batch));
                        }
                    }
                }
            }
        }
        return shapes.stream();
    }

    /** A seeded layer of {@code cell} with its weights packed in {@code precision} for {@code backend}. */
    private static TestRnn layer(long seed, Cell cell, int inputSize, int hiddenSize, Backend backend,
                                 WeightPrecision precision) {
        return new TestRnn(seed, RnnShape.of(cell, inputSize, hiddenSize),
                Options.DEFAULT.withBackend(backend).withPrecision(precision));
    }

    /** The float weights that {@code precision} stands for: bfloat16-rounded, or q * scale row by row. */
    static float[] dequantised(float[] weights, int depth, WeightPrecision precision) {
        float[] result = new float[weights.length];
        for (int row = 0; row < weights.length / depth; row++) {
            float largest = 0;
            for (int k = 0; k < depth; k++) {
                largest = Math.max(largest, Math.abs(weights[row * depth + k]));
            }
            float scale = WeightFormat.int8Scale(largest);
            for (int k = 0; k < depth; k++) {
                float w = weights[row * depth + k];
                result[row * depth + k] = switch (precision) {
                    case FLOAT32 -> w;
                    case BFLOAT16 -> WeightFormat.fromBfloat16(WeightFormat.toBfloat16(w));
                    case INT8 -> WeightFormat.quantise(w, scale) * scale;
                };
            }
        }
        return result;
    }

    /**
     * y and c_n (null for a GRU) of a sequence (its input GEMM in chunks of a third of the steps) and h of a stream
     * stepped over the same input, both on {@code model}.
     */
    static float[][] run(Model model, float[] x, int steps, int batch, float[] h0, float[] c0) {
        int hidden = model.shape().hiddenSize();
        float[] y = new float[steps * batch * hidden];
        float[] cT = c0 == null ? null : new float[batch * hidden];
        float[] streamed = new float[steps * batch * hidden];
        try (Runner runner = model.runner(model.options().withMaxBatch(batch).withMaxSteps(steps)
                .withChunkSteps(1 + steps / 3));
             State state = model.newState(batch)) {
            runner.forward(x, steps, batch, h0, c0, y, null, cT);
            if (h0 != null) {
                state.setHidden(h0);
            }
            if (c0 != null) {
                state.setCell(c0);
            }
            int frame = batch * model.shape().inputSize();
            float[] h = new float[batch * hidden];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * frame, (t + 1) * frame), state, h);
                System.arraycopy(h, 0, streamed, t * batch * hidden, h.length);
            }
        }
        return new float[][]{y, cT, streamed};
    }

    @ParameterizedTest(name = "{0} {1} I={2} H={3} B={4}")
    @MethodSource("shapes")
    void vectorKernelGivesTheScalarKernelsBitsAndMatchesTheReferenceOnDequantisedWeights(
            Cell cell, WeightPrecision precision, int inputSize, int hiddenSize, int batch) {
        int steps = 7;
        long seed = 41L * inputSize + hiddenSize + batch;
        try (TestRnn vector = layer(seed, cell, inputSize, hiddenSize, Backend.PREFERRED, precision);
             TestRnn scalar = layer(seed, cell, inputSize, hiddenSize, Backend.SCALAR, precision)) {
            float[] x = vector.input(steps, batch);
            float[] h0 = vector.hiddenStates(batch);
            float[] c0 = vector.cellStates(batch);
            float[][] fromVector = run(vector.model, x, steps, batch, h0, c0);
            float[][] fromScalar = run(scalar.model, x, steps, batch, h0, c0);
            assertArrayEquals(fromScalar[0], fromVector[0], "y");
            assertArrayEquals(fromScalar[1], fromVector[1], "cT");
            assertArrayEquals(fromVector[0], fromVector[2], "streaming equals the sequence forward");
            // TestRnn's reference runs on the dequantised W and U.
            ReferenceStack.Result expected = vector.reference.forward(x, steps, batch, h0, c0);
            double yError = TestRnn.maxAbsError(fromVector[0], expected.y());
            assertTrue(yError <= ForwardVsReferenceTest.TOLERANCE, "y off the reference by " + yError);
            if (cell.hasCellState()) {
                double cError = TestRnn.maxAbsError(fromVector[1], expected.cT());
                assertTrue(cError <= ForwardVsReferenceTest.TOLERANCE, "cT off the reference by " + cError);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void bfloat16WeightsGiveTheFloatKernelsBitsOnRoundedWeights(Cell cell) {
        int inputSize = 33;
        int hiddenSize = 257;
        int steps = 5;
        try (TestRnn model = layer(3, cell, inputSize, hiddenSize, Backend.PREFERRED, WeightPrecision.BFLOAT16);
             Parameters roundedParameters = Parameters.fromPyTorch(model.shape,
                     dequantised(model.flatWeights[0], inputSize, WeightPrecision.BFLOAT16),
                     dequantised(model.flatWeights[1], hiddenSize, WeightPrecision.BFLOAT16), model.flatWeights[2],
                     model.flatWeights[3]);
             Model rounded = Model.pack(roundedParameters, Options.DEFAULT)) {
            for (int batch : new int[]{1, 2, 4, 5}) {
                float[] x = model.input(steps, batch);
                float[] h0 = model.hiddenStates(batch);
                float[] c0 = model.cellStates(batch);
                float[][] compressed = run(model.model, x, steps, batch, h0, c0);
                float[][] floats = run(rounded, x, steps, batch, h0, c0);
                assertArrayEquals(floats[0], compressed[0], "y, B=" + batch);
                assertArrayEquals(floats[1], compressed[1], "cT, B=" + batch);
            }
        }
    }

    /**
     * One step at H = I = 256 from random h, c and x: every unit's |h_compressed - h_float| is within the bound of
     * {@link WeightPrecision} computed from that unit's weights and inputs (plus float rounding, 1e-5).
     */
    @ParameterizedTest
    @EnumSource(value = WeightPrecision.class, names = {"BFLOAT16", "INT8"})
    void oneStepStaysWithinTheDerivedBound(WeightPrecision precision) {
        int size = 256;
        for (long seed = 1; seed <= 3; seed++) {
            try (TestRnn model = layer(seed, Cell.LSTM, size, size, Backend.PREFERRED, precision);
                 Model floats = Model.pack(model.parameters, Options.DEFAULT)) {
                float[] weightIh = model.flatWeights[0];
                float[] weightHh = model.flatWeights[1];
                float[] x = model.input(1, 1);
                float[] h0 = model.hiddenStates(1);
                float[] c0 = model.cellStates(1);
                float[] hCompressed = run(model.model, x, 1, 1, h0, c0)[0];
                float[] hFloat = run(floats, x, 1, 1, h0, c0)[0];
                double worst = 0;
                for (int unit = 0; unit < size; unit++) {
                    double[] dz = new double[4];
                    for (int gate = 0; gate < 4; gate++) {
                        int row = gate * size + unit;
                        dz[gate] = preActivationBound(weightIh, row, size, x, precision)
                                + preActivationBound(weightHh, row, size, h0, precision);
                    }
                    double bound = dz[0] / 4 + Math.abs(c0[unit]) * dz[1] / 4 + dz[2] + dz[3] / 4 + 1e-5;
                    double difference = Math.abs(hCompressed[unit] - hFloat[unit]);
                    worst = Math.max(worst, difference / bound);
                    assertTrue(difference <= bound, precision + " unit " + unit + ": |Δh| " + difference
                            + " > bound " + bound);
                }
                assertTrue(worst > 0, "compression changed nothing: the test would prove nothing");
            }
        }
    }

    /** The bound on |Δz| of one gate row: 2^-8 Σ|w v| (bfloat16) or (scale / 2) Σ|v| (int8). */
    private static double preActivationBound(float[] weights, int row, int depth, float[] v, WeightPrecision precision) {
        double weighted = 0;
        double plain = 0;
        float largest = 0;
        for (int k = 0; k < depth; k++) {
            weighted += Math.abs((double) weights[row * depth + k] * v[k]);
            plain += Math.abs(v[k]);
            largest = Math.max(largest, Math.abs(weights[row * depth + k]));
        }
        return precision == WeightPrecision.BFLOAT16 ? 0x1p-8 * weighted
                : WeightFormat.int8Scale(largest) / 2.0 * plain;
    }

    /** 100 steps at H = I = 256, three random models: the largest |y_compressed - y_float| stays below a bound. */
    @ParameterizedTest
    @EnumSource(value = WeightPrecision.class, names = {"BFLOAT16", "INT8"})
    void aHundredStepSequenceStaysWithinTheStatedBound(WeightPrecision precision) {
        int size = 256;
        int steps = 100;
        double worst = 0;
        for (long seed = 1; seed <= 3; seed++) {
            try (TestRnn model = layer(100 + seed, Cell.LSTM, size, size, Backend.PREFERRED, precision);
                 Model floats = Model.pack(model.parameters, Options.DEFAULT);
                 Runner onCompressed = model.runner(1, steps);
                 Runner onFloats = floats.runner(Options.DEFAULT.withMaxBatch(1).withMaxSteps(steps))) {
                float[] x = model.input(steps, 1);
                float[] y = new float[steps * size];
                float[] expected = new float[steps * size];
                onCompressed.forward(x, steps, 1, null, null, y, null, null);
                onFloats.forward(x, steps, 1, null, null, expected, null, null);
                for (int n = 0; n < y.length; n++) {
                    worst = Math.max(worst, Math.abs(y[n] - expected[n]));
                }
            }
        }
        System.out.printf("%s: largest |y - y_float32| over 100 steps, H = I = 256, 3 models: %.3g%n", precision, worst);
        double bound = precision == WeightPrecision.BFLOAT16 ? BFLOAT16_SEQUENCE_BOUND : INT8_SEQUENCE_BOUND;
        assertTrue(worst > 0 && worst <= bound, precision + ": " + worst + " outside (0, " + bound + "]");
    }

    @ParameterizedTest
    @EnumSource(value = WeightPrecision.class, names = {"BFLOAT16", "INT8"})
    void trainingRefusesCompressedWeightsNamingThePrecision(WeightPrecision precision) {
        try (TestRnn model = layer(9, Cell.LSTM, 5, 7, Backend.PREFERRED, precision)) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                    () -> model.trainer(2, 3));
            assertTrue(error.getMessage().contains(precision.name()), error.getMessage());
            assertTrue(error.getMessage().contains("FLOAT32"), error.getMessage());
        }
    }

    @Test
    void compressedWeightsTakeHalfAndAQuarterOfTheBytes() {
        int inputSize = 40;
        int hiddenSize = 256;
        try (TestRnn model = layer(10, Cell.LSTM, inputSize, hiddenSize, Backend.PREFERRED, WeightPrecision.FLOAT32);
             Model bfloat16 = Model.pack(model.parameters, Options.DEFAULT.withPrecision(WeightPrecision.BFLOAT16));
             Model int8 = Model.pack(model.parameters, Options.DEFAULT.withPrecision(WeightPrecision.INT8))) {
            assertEquals(WeightPrecision.FLOAT32, model.model.options().precision());
            assertEquals(WeightPrecision.BFLOAT16, bfloat16.options().precision());
            long gateRowBytes = 4L * hiddenSize * Float.BYTES;   // H is a multiple of every lane count
            long floatWeights = model.model.packedBytes() - gateRowBytes;
            assertEquals(4L * Float.BYTES * hiddenSize * (inputSize + hiddenSize), floatWeights);
            assertEquals(floatWeights / 2 + gateRowBytes, bfloat16.packedBytes());
            assertEquals(floatWeights / 4 + 3 * gateRowBytes, int8.packedBytes(), "W, U, two rows of scales, bias");
        }
    }

    @Test
    void aWeightBeyondBfloat16sRangeIsRefusedByName() {
        try (TestRnn model = layer(11, Cell.LSTM, 3, 2, Backend.PREFERRED, WeightPrecision.FLOAT32)) {
            float[][] flat = model.flatWeights.clone();
            flat[1] = flat[1].clone();
            flat[1][2 * 2 + 1] = Float.MAX_VALUE;
            try (Parameters parameters = Parameters.fromPyTorch(model.shape, flat)) {
                IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                        () -> Model.pack(parameters, Options.DEFAULT.withPrecision(WeightPrecision.BFLOAT16)));
                assertTrue(error.getMessage().startsWith("layer 0: weightHh[2][1] is 3.4028235E38"),
                        error.getMessage());
                // INT8 holds any finite weight.
                Model.pack(parameters, Options.DEFAULT.withPrecision(WeightPrecision.INT8)).close();
            }
        }
    }

    @Test
    void anAllZeroMatrixGivesTheBiasOnly() {
        int size = 5;
        float[] zeros = new float[4 * size * size];
        float[] bias = new float[4 * size];
        Arrays.fill(bias, 0.25f);
        RnnShape shape = RnnShape.of(Cell.LSTM, size, size);
        try (Parameters parameters = Parameters.fromPyTorch(shape, zeros, zeros, bias, null)) {
            for (WeightPrecision precision : WeightPrecision.values()) {
                float[][] results = new float[2][];
                for (Backend backend : Backend.values()) {
                    try (Model model = Model.pack(parameters,
                            Options.DEFAULT.withBackend(backend).withPrecision(precision))) {
                        results[backend.ordinal()] = run(model, new float[2 * size], 2, 1, null, null)[0];
                    }
                }
                assertArrayEquals(results[0], results[1], precision.name());
                assertTrue(Float.isFinite(results[0][size]) && results[0][size] > 0,
                        precision + ": " + results[0][size]);
            }
        }
    }
}
