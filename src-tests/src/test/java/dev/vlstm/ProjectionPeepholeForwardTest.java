package dev.vlstm;

import static dev.vlstm.TestRnn.doubles;
import static dev.vlstm.VariableLengthTest.fromLayout;
import static dev.vlstm.VariableLengthTest.toLayout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * The forward of LSTMs with peephole connections (Graves 2012, ONNX's P), with PyTorch's projection
 * ({@code proj_size} = P: h = W_hr·(o*tanh c)), or both, against the double-precision reference of the same model:
 * vector and scalar kernels on odd shapes (H = 1 to 100, P = 1 to 33, B = 1..9), with and without initial states;
 * variable lengths in both layouts; the cell clip (which must change y); compressed W and U (against the reference on
 * the dequantised weights); projected stacks, also with lengths. Streaming equals the sequence bit for bit (P-wide h
 * in every layer), the scalar kernel gives the vector kernel's bits, all-zero peepholes give the bits of a model
 * without them, and peepholes cost one gate row of packed bytes.
 *
 * <p>Tolerance: max |error| &le; {@value ForwardVsReferenceTest#TOLERANCE} on y, hT and cT, as in
 * {@link ForwardVsReferenceTest}: the peephole terms add one float FMA per gate to each pre-activation, and the
 * projection one float sum over H &le; 100 terms of products below 1 per output, whose rounding is of the order of
 * 1e-7.
 */
class ProjectionPeepholeForwardTest {

    private static final int[] PEEPHOLE_HIDDEN_SIZES = {1, 3, 17, 33};
    private static final int[][] PROJECTIONS = {{2, 1}, {3, 1}, {3, 2}, {17, 5}, {17, 16}, {33, 1}, {33, 17},
        {33, 32}, {100, 33}};

    /** I, H, P, peepholes, T, B, initialState. */
    static Stream<Arguments> shapes() {
        List<Arguments> shapes = new ArrayList<>();
        for (int hiddenSize : PEEPHOLE_HIDDEN_SIZES) {
            for (int batch = 1; batch <= 9; batch++) {
                shapes.add(Arguments.of(1 + (hiddenSize + batch) % 7, hiddenSize, 0, true, 1 + batch % 5, batch,
                        true));
            }
        }
        shapes.add(Arguments.of(17, 33, 0, true, 30, 5, true));
        for (int[] size : PROJECTIONS) {
            shapes.add(Arguments.of(5, size[0], size[1], false, 4, 3, true));
            shapes.add(Arguments.of(1, size[0], size[1], false, 3, 1, false));
        }
        for (int batch = 1; batch <= 9; batch++) {
            shapes.add(Arguments.of(17, 33, 5, false, 6, batch, batch % 2 == 0));
        }
        shapes.add(Arguments.of(3, 64, 16, false, 40, 2, true));
        return Stream.of(Backend.PREFERRED, Backend.SCALAR).flatMap(backend -> shapes.stream().map(arguments -> {
            Object[] values = new Object[arguments.get().length + 1];
            values[0] = backend;
            System.arraycopy(arguments.get(), 0, values, 1, values.length - 1);
            return Arguments.of(values);
        }));
    }

    @ParameterizedTest(name = "{0} I={1} H={2} P={3} peepholes={4} T={5} B={6} initialState={7}")
    @MethodSource("shapes")
    void kernelMatchesReference(Backend backend, int inputSize, int hiddenSize, int projectionSize, boolean peepholes,
                                int steps, int batch, boolean initialState) {
        long seed = 31L * inputSize + 7L * hiddenSize + 5L * projectionSize + 13L * steps + batch;
        try (TestRnn rnn = new TestRnn(seed, layer(inputSize, hiddenSize, projectionSize, peepholes),
                Options.DEFAULT.withBackend(backend));
             Runner runner = rnn.model.runner(rnn.model.options().withMaxBatch(batch).withMaxSteps(steps)
                     .withChunkSteps(1 + steps / 3))) {
            ForwardVsReferenceTest.assertForwardMatchesReference(rnn, runner, rnn.input(steps, batch), steps, batch,
                    initialState ? rnn.hiddenStates(batch) : null, initialState ? rnn.cellStates(batch) : null);
        }
    }

    @ParameterizedTest(name = "I={0} H={1} P={2} peepholes={3} L={4} B={5}")
    @CsvSource({"6, 1, 0, true, 1, 1", "6, 3, 0, true, 1, 5", "6, 17, 0, true, 1, 9", "6, 33, 0, true, 1, 4",
        "6, 40, 0, true, 1, 7", "6, 2, 1, false, 1, 1", "6, 3, 2, false, 1, 5", "6, 17, 5, false, 1, 9",
        "6, 33, 16, false, 1, 4", "6, 40, 33, false, 1, 7", "4, 9, 4, false, 3, 3", "5, 7, 3, true, 3, 3"})
    void steppingEqualsTheSequenceForwardBitForBitAndTheScalarKernelGivesTheSameBits(int inputSize, int hiddenSize,
                                                                                    int projectionSize,
                                                                                    boolean peepholes, int layers,
                                                                                    int batch) {
        int steps = 7;
        RnnShape shape = layer(inputSize, hiddenSize, projectionSize, peepholes).withLayers(layers);
        try (TestRnn rnn = new TestRnn(3, shape, Options.DEFAULT);
             Model scalar = Model.pack(rnn.parameters, Options.DEFAULT.withBackend(Backend.SCALAR));
             Runner runner = rnn.runner(batch, steps);
             Runner scalarRunner = scalar.runner(rnn.model.options().withMaxBatch(batch).withMaxSteps(steps));
             State state = rnn.model.newState(batch)) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = rnn.hiddenStates(batch);
            float[] c0 = rnn.cellStates(batch);
            float[][] sequence = forward(runner, shape, x, steps, batch, h0, c0);
            state.setHidden(h0);
            state.setCell(c0);
            int frame = batch * inputSize;
            int outputFrame = batch * shape.hiddenStateSize();
            float[] h = new float[outputFrame];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * frame, (t + 1) * frame), state, h);
                assertArrayEquals(Arrays.copyOfRange(sequence[0], t * outputFrame, (t + 1) * outputFrame), h,
                        "step " + t);
            }
            assertArrayEquals(sequence[1], state.hidden(), "hT, [L][B][S]");
            assertArrayEquals(sequence[2], state.cell(), "cT, [L][B][H]");
            float[][] fromScalar = forward(scalarRunner, shape, x, steps, batch, h0, c0);
            assertArrayEquals(fromScalar[0], sequence[0], "the scalar kernel's y");
            assertArrayEquals(fromScalar[2], sequence[2], "the scalar kernel's cT");
        }
    }

    @ParameterizedTest(name = "{0} P={1} peepholes={2}")
    @CsvSource({"TIME_MAJOR, 0, true", "BATCH_FIRST, 0, true", "TIME_MAJOR, 5, false", "BATCH_FIRST, 5, false"})
    void variableLengthsMatchTheReference(SequenceLayout layout, int projectionSize, boolean peepholes) {
        int steps = 6;
        int batch = 7;
        int[] lengths = {6, 0, 3, 1, 6, 5, 2};
        RnnShape shape = layer(9, 33, projectionSize, peepholes);
        try (TestRnn rnn = new TestRnn(4, shape, Options.DEFAULT);
             Runner runner = rnn.model.runner(rnn.model.options().withMaxBatch(batch).withMaxSteps(steps)
                     .withChunkSteps(4))) {
            assertLengthsMatchTheReference(rnn, runner, layout, steps, batch, lengths);
        }
    }

    /** x U(-4, 4) and (without projection) c0 U(-3, 3) make the clip of 0.5 act. */
    @ParameterizedTest(name = "P={0} peepholes={1} {2}")
    @CsvSource({"0, true, PREFERRED", "0, true, SCALAR", "3, false, PREFERRED"})
    void theCellClipMatchesTheReference(int projectionSize, boolean peepholes, Backend backend) {
        int steps = 8;
        int batch = 3;
        Options options = Options.DEFAULT.withBackend(backend);
        try (TestRnn rnn = new TestRnn(5, layer(4, 17, projectionSize, peepholes), options.withCellClip(0.5f));
             Model unclipped = Model.pack(rnn.parameters, options);
             Runner runner = rnn.model.runner(rnn.model.options().withMaxBatch(batch).withMaxSteps(steps)
                     .withChunkSteps(3));
             Runner plain = unclipped.runner(options.withMaxBatch(batch).withMaxSteps(steps))) {
            float[] x = rnn.uniform(steps * batch * 4, 4f);
            float[] c0 = projectionSize == 0 ? rnn.uniform(batch * 17, 3f) : null;
            ForwardVsReferenceTest.assertForwardMatchesReference(rnn, runner, x, steps, batch, null, c0);
            float[] y = forward(plain, rnn.shape, x, steps, batch, null, c0)[0];
            assertTrue(TestRnn.maxAbsError(y, rnn.reference.forward(x, steps, batch, null, c0).y()) > 1e-3,
                    "the clip must change y here");
        }
    }

    @ParameterizedTest(name = "{0} {1} P={2} peepholes={3}")
    @CsvSource({"BFLOAT16, PREFERRED, 0, true", "INT8, PREFERRED, 0, true", "BFLOAT16, SCALAR, 0, true",
        "INT8, SCALAR, 0, true", "BFLOAT16, PREFERRED, 7, false", "INT8, PREFERRED, 7, false",
        "BFLOAT16, SCALAR, 7, false", "INT8, SCALAR, 7, false"})
    void compressedWeightsMatchTheReferenceOnDequantisedWeights(WeightPrecision precision, Backend backend,
                                                                int projectionSize, boolean peepholes) {
        int steps = 5;
        for (int batch : new int[] {1, 6}) {
            try (TestRnn rnn = new TestRnn(6, layer(13, 33, projectionSize, peepholes),
                    Options.DEFAULT.withBackend(backend).withPrecision(precision));
                 Runner runner = rnn.runner(batch, steps)) {
                ForwardVsReferenceTest.assertForwardMatchesReference(rnn, runner, rnn.input(steps, batch), steps,
                        batch, rnn.hiddenStates(batch), rnn.cellStates(batch));
            }
        }
    }

    @ParameterizedTest(name = "{0} {1} P={2}")
    @CsvSource({"PREFERRED, FLOAT32, 0", "SCALAR, FLOAT32, 0", "PREFERRED, BFLOAT16, 0", "PREFERRED, INT8, 0",
        "SCALAR, INT8, 0", "PREFERRED, FLOAT32, 4"})
    void zeroPeepholesGiveTheBitsOfNoPeepholes(Backend backend, WeightPrecision precision, int projectionSize) {
        int steps = 6;
        int batch = 6;
        Options options = Options.DEFAULT.withBackend(backend).withPrecision(precision);
        RnnShape shape = layer(5, 19, projectionSize, true);
        try (TestRnn rnn = new TestRnn(9, shape, options);
             Parameters zeroParameters = Parameters.fromPyTorch(shape, withPeepholes(rnn, new float[3 * 19]));
             Parameters plainParameters = Parameters.fromPyTorch(shape.withPeepholes(false), withPeepholes(rnn, null));
             Model zero = Model.pack(zeroParameters, options);
             Model plain = Model.pack(plainParameters, options);
             Runner zeroRunner = zero.runner(options.withMaxBatch(batch).withMaxSteps(steps).withChunkSteps(4));
             Runner plainRunner = plain.runner(options.withMaxBatch(batch).withMaxSteps(steps).withChunkSteps(4));
             Runner runner = rnn.runner(batch, steps)) {
            assertFalse(plain.shape().peepholes());
            assertTrue(zero.shape().peepholes());
            float[] x = rnn.input(steps, batch);
            float[] h0 = rnn.hiddenStates(batch);
            float[] c0 = rnn.cellStates(batch);
            float[][] expected = forward(plainRunner, shape, x, steps, batch, h0, c0);
            float[][] actual = forward(zeroRunner, shape, x, steps, batch, h0, c0);
            for (int n = 0; n < 3; n++) {
                assertArrayEquals(expected[n], actual[n], new String[] {"y", "hT", "cT"}[n]);
            }
            assertTrue(TestRnn.maxAbsError(forward(runner, shape, x, steps, batch, h0, c0)[0],
                    doubles(expected[0])) > 1e-3, "the random peepholes must change y");
        }
    }

    /** The three peephole vectors p_i, p_f, p_o take one padded gate row: G·(H rounded up to the lanes) floats. */
    @Test
    void peepholesCostOnlyOneGateRowOfPackedBytes() {
        RnnShape shape = layer(5, 19, 0, true);
        try (TestRnn rnn = new TestRnn(10, shape, Options.DEFAULT);
             Parameters plainParameters = Parameters.fromPyTorch(shape.withPeepholes(false), withPeepholes(rnn, null));
             Model plain = Model.pack(plainParameters, Options.DEFAULT)) {
            String kernel = plain.kernelName();
            int lanes = kernel.equals("scalar") ? 8 : Integer.parseInt(kernel.substring("vector-".length())) / 32;
            int paddedHidden = (19 + lanes - 1) / lanes * lanes;
            assertEquals((long) 4 * paddedHidden * Float.BYTES, rnn.model.packedBytes() - plain.packedBytes(),
                    kernel);
        }
    }

    @Test
    void warmUpRunsAProjectedRunner() {
        try (TestRnn rnn = new TestRnn(7, layer(3, 9, 2, false), Options.DEFAULT);
             Runner runner = rnn.runner(4, 3)) {
            runner.warmUp(Duration.ofMillis(200));
            ForwardVsReferenceTest.assertForwardMatchesReference(rnn, runner, rnn.input(3, 2), 3, 2, null, null);
        }
    }

    /**
     * Every layer's h has P features, so layer k &ge; 1 reads D·P, y is {@code [T][B][D·P]}, h_n
     * {@code [L·D][B][P]} and c_n {@code [L·D][B][H]}: full sequences, then lengths in both layouts.
     */
    @ParameterizedTest(name = "{7} I={0} H={1} P={2} L={3} bidirectional={4} T={5} B={6}")
    @CsvSource({"3, 5, 2, 2, true, 6, 4, PREFERRED", "17, 33, 16, 2, true, 5, 7, PREFERRED",
        "5, 20, 1, 3, false, 4, 3, PREFERRED", "7, 17, 5, 2, true, 5, 9, SCALAR"})
    void projectedStacksMatchTheReferenceAlsoWithLengthsInBothLayouts(int inputSize, int hiddenSize,
                                                                      int projectionSize, int layers,
                                                                      boolean bidirectional, int steps, int batch,
                                                                      Backend backend) {
        RnnShape shape = layer(inputSize, hiddenSize, projectionSize, false).withLayers(layers)
                .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        assertEquals(shape.direction().count() * projectionSize, shape.outputSize());
        assertEquals(shape.outputSize(), shape.layerInputSize(1));
        try (TestRnn rnn = new TestRnn(900 + 10L * hiddenSize + projectionSize, shape,
                Options.DEFAULT.withBackend(backend));
             Runner runner = rnn.runner(batch, steps)) {
            ForwardVsReferenceTest.assertForwardMatchesReference(rnn, runner, rnn.input(steps, batch), steps, batch,
                    rnn.hiddenStates(batch), rnn.cellStates(batch));
            int[] lengths = VariableLengthTest.lengths(batch * 7L + steps, steps, batch);
            for (SequenceLayout layout : SequenceLayout.values()) {
                assertLengthsMatchTheReference(rnn, runner, layout, steps, batch, lengths);
            }
        }
    }

    /** Runs sequences of {@code lengths} in {@code layout} from random states; y, hT and cT against the reference. */
    private static void assertLengthsMatchTheReference(TestRnn rnn, Runner runner, SequenceLayout layout, int steps,
                                                       int batch, int[] lengths) {
        RnnShape shape = rnn.shape;
        float[] x = rnn.input(steps, batch);
        float[] h0 = rnn.hiddenStates(batch);
        float[] c0 = rnn.cellStates(batch);
        float[] y = new float[steps * batch * shape.outputSize()];
        float[] hT = new float[h0.length];
        float[] cT = new float[c0.length];
        runner.forward(toLayout(x, layout, steps, batch, shape.inputSize()), layout, steps, batch, lengths, h0, c0,
                y, hT, cT);
        ReferenceStack.Result expected = rnn.reference.forward(doubles(x), steps, batch, lengths, doubles(h0),
                doubles(c0), null);
        ForwardVsReferenceTest.assertWithin(layout + " y", fromLayout(y, layout, steps, batch, shape.outputSize()),
                expected.y());
        ForwardVsReferenceTest.assertWithin(layout + " hT", hT, expected.hT());
        ForwardVsReferenceTest.assertWithin(layout + " cT", cT, expected.cT());
    }

    /** One forward LSTM layer with P = {@code projectionSize} (0: none), with or without peepholes. */
    private static RnnShape layer(int inputSize, int hiddenSize, int projectionSize, boolean peepholes) {
        return RnnShape.of(Cell.LSTM, inputSize, hiddenSize).withProjection(projectionSize).withPeepholes(peepholes);
    }

    /** The helper's flat weights of a one-layer model with its peephole array replaced, or dropped for null. */
    private static float[][] withPeepholes(TestRnn rnn, float[] peepholes) {
        float[][] flat = Arrays.copyOf(rnn.flatWeights, rnn.flatWeights.length - (peepholes == null ? 1 : 0));
        if (peepholes != null) {
            flat[flat.length - 1] = peepholes;
        }
        return flat;
    }

    /** y, hT and cT of a sequence forward. */
    private static float[][] forward(Runner runner, RnnShape shape, float[] x, int steps, int batch, float[] h0,
                                     float[] c0) {
        float[] y = new float[steps * batch * shape.outputSize()];
        float[] hT = new float[shape.stateCount() * batch * shape.hiddenStateSize()];
        float[] cT = new float[shape.stateCount() * batch * shape.hiddenSize()];
        runner.forward(x, steps, batch, h0, c0, y, hT, cT);
        return new float[][] {y, hT, cT};
    }
}
