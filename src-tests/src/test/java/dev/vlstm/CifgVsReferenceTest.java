package dev.vlstm;

import static dev.vlstm.TestRnn.doubles;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * The coupled input-forget gate cell ({@link Cell#CIFG}) with every option it has, against the double-precision
 * {@link ReferenceStack} of {@code ReferenceLstm.coupledInputForget} cells (whose own backward is checked by central
 * differences in ReferenceCifgBackwardTest and whose forward by ONNX Runtime in ReferenceCifgOnnxRuntimeTest):
 * peepholes, projection and a cell clip, alone and together, in one layer, stacks and both directions, with variable
 * lengths, for both kernels; streaming, threads and the scalar kernel against the plain sequence forward bit for
 * bit; the trainer's every gradient; the engine's own gradients against central differences of its float forward;
 * and what it refuses. The plain CIFG also runs in every cell-generic test (TestRnn's cells include it).
 *
 * <p>Tolerances: as ForwardVsReferenceTest (max |error| &le; {@value ForwardVsReferenceTest#TOLERANCE} on y, hT and
 * cT) and TrainerVsReferenceTest (each gradient within {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} of its
 * tensor's largest value); the central differences' bound is stated at {@link #engineGradientsMatchCentralDifferences}.
 */
class CifgVsReferenceTest {

    /** I, H, P, L, bidirectional, peepholes, clip, backend. */
    static Stream<Arguments> models() {
        return Stream.of(
                Arguments.of(3, 5, 0, 1, false, true, Float.POSITIVE_INFINITY, Backend.PREFERRED),
                Arguments.of(17, 33, 0, 1, false, true, 0.5f, Backend.PREFERRED),
                Arguments.of(7, 9, 4, 1, false, false, Float.POSITIVE_INFINITY, Backend.PREFERRED),
                Arguments.of(5, 9, 4, 2, true, true, 0.8f, Backend.PREFERRED),
                Arguments.of(4, 17, 0, 3, false, false, 0.6f, Backend.PREFERRED),
                Arguments.of(6, 20, 7, 2, false, true, Float.POSITIVE_INFINITY, Backend.PREFERRED),
                Arguments.of(33, 3, 0, 2, true, true, Float.POSITIVE_INFINITY, Backend.PREFERRED),
                Arguments.of(3, 5, 0, 1, false, true, Float.POSITIVE_INFINITY, Backend.SCALAR),
                Arguments.of(7, 9, 4, 2, true, true, 0.5f, Backend.SCALAR),
                Arguments.of(5, 17, 0, 2, false, false, 0.7f, Backend.SCALAR));
    }

    private static RnnShape shape(int inputSize, int hiddenSize, int projectionSize, int layers,
                                  boolean bidirectional, boolean peepholes) {
        return RnnShape.of(Cell.CIFG, inputSize, hiddenSize).withLayers(layers).withProjection(projectionSize)
                .withPeepholes(peepholes).withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
    }

    /** Whole sequences and variable lengths (time-major and batch-first) against the reference. */
    @ParameterizedTest(name = "{7} I={0} H={1} P={2} L={3} bidirectional={4} peepholes={5} clip={6}")
    @MethodSource("models")
    void forwardMatchesTheReference(int inputSize, int hiddenSize, int projectionSize, int layers,
                                    boolean bidirectional, boolean peepholes, float clip, Backend backend) {
        RnnShape shape = shape(inputSize, hiddenSize, projectionSize, layers, bidirectional, peepholes);
        int steps = 7;
        int batch = 5;
        int[] lengths = {7, 2, 5, 0, 3};
        try (TestRnn rnn = new TestRnn(1500 + hiddenSize, shape, Options.DEFAULT.withBackend(backend)
                .withCellClip(clip));
             Runner runner = rnn.runner(batch, steps)) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = rnn.hiddenStates(batch);
            float[] c0 = rnn.cellStates(batch);
            ForwardVsReferenceTest.assertForwardMatchesReference(rnn, runner, x, steps, batch, h0, c0);
            ForwardVsReferenceTest.assertForwardMatchesReference(rnn, runner, x, steps, batch, null, null);
            ReferenceStack.Result expected = rnn.reference.forward(doubles(x), steps, batch, lengths, doubles(h0),
                    doubles(c0), null);
            for (SequenceLayout layout : SequenceLayout.values()) {
                float[] input = VariableLengthTest.toLayout(x, layout, steps, batch, inputSize);
                float[] y = new float[steps * batch * shape.outputSize()];
                float[] hT = new float[h0.length];
                float[] cT = new float[c0.length];
                runner.forward(input, layout, steps, batch, lengths, h0, c0, y, hT, cT);
                ForwardVsReferenceTest.assertWithin(layout + " y",
                        VariableLengthTest.fromLayout(y, layout, steps, batch, shape.outputSize()), expected.y());
                ForwardVsReferenceTest.assertWithin(layout + " hT", hT, expected.hT());
                ForwardVsReferenceTest.assertWithin(layout + " cT", cT, expected.cT());
            }
        }
    }

    /**
     * Streaming step by step gives the sequence forward's bits (h after each step, h and c at the end); three threads
     * give one thread's bits; the scalar kernel gives the vector kernel's bits.
     */
    @ParameterizedTest(name = "I={0} H={1} P={2} L={3} peepholes={4} clip={5}")
    @CsvSource({"3, 5, 0, 1, true, Infinity", "17, 33, 0, 2, true, 0.5", "7, 40, 6, 3, true, Infinity",
        "9, 19, 0, 1, false, 0.6", "5, 70, 9, 2, false, Infinity"})
    void streamingThreadsAndTheScalarKernelGiveTheSequenceBits(int inputSize, int hiddenSize, int projectionSize,
                                                               int layers, boolean peepholes, float clip) {
        RnnShape shape = shape(inputSize, hiddenSize, projectionSize, layers, false, peepholes);
        int steps = 6;
        int batch = 7;
        int outputs = shape.hiddenStateSize();
        try (TestRnn rnn = new TestRnn(1600 + hiddenSize, shape, Options.DEFAULT.withCellClip(clip));
             Runner runner = rnn.runner(batch, steps);
             Runner threaded = rnn.model.runner(rnn.model.options().withMaxBatch(batch).withMaxSteps(steps)
                     .withThreads(3));
             Model scalar = Model.pack(rnn.parameters, rnn.model.options().withBackend(Backend.SCALAR));
             Runner scalarRunner = scalar.runner(rnn.model.options().withMaxBatch(batch).withMaxSteps(steps));
             State state = rnn.model.newState(batch)) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = rnn.hiddenStates(batch);
            float[] c0 = rnn.cellStates(batch);
            float[][] sequence = forward(runner, shape, x, steps, batch, h0, c0);
            assertArrayEquals(sequence[0], forward(threaded, shape, x, steps, batch, h0, c0)[0], "3 threads: y");
            float[][] fromScalar = forward(scalarRunner, shape, x, steps, batch, h0, c0);
            for (int n = 0; n < sequence.length; n++) {
                assertArrayEquals(sequence[n], fromScalar[n], "scalar kernel: output " + n);
            }
            state.setHidden(h0);
            state.setCell(c0);
            int frame = batch * inputSize;
            float[] h = new float[batch * outputs];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * frame, (t + 1) * frame), state, h);
                assertArrayEquals(Arrays.copyOfRange(sequence[0], t * h.length, (t + 1) * h.length), h,
                        "h after step " + t);
            }
            assertArrayEquals(sequence[1], state.hidden(), "h_n");
            assertArrayEquals(sequence[2], state.cell(), "c_n");
        }
    }

    /** x, h0, c0 and the gradients dy, dhT, dcT of one training call, drawn in that order. */
    private record Inputs(float[] x, float[] h0, float[] c0, float[] dy, float[] dhT, float[] dcT) {

        static Inputs draw(TestRnn rnn, int steps, int batch) {
            return new Inputs(rnn.input(steps, batch), rnn.hiddenStates(batch), rnn.cellStates(batch),
                    rnn.outputGradient(steps, batch), rnn.hiddenStates(batch), rnn.cellStates(batch));
        }
    }

    /** y, hT and cT of one sequence forward. */
    private static float[][] forward(Runner runner, RnnShape shape, float[] x, int steps, int batch, float[] h0,
                                     float[] c0) {
        float[][] out = {new float[steps * batch * shape.outputSize()],
            new float[shape.stateCount() * batch * shape.hiddenStateSize()],
            new float[shape.stateCount() * batch * shape.hiddenSize()]};
        runner.forward(x, steps, batch, h0, c0, out[0], out[1], out[2]);
        return out;
    }

    /**
     * Every gradient (dW_ih, dW_hh, both biases, dW_hr and dp_i, dp_o where the model has them, dx, dh0, dc0) with
     * initial states and final-state gradients, with and without dropout between layers (the reference given the
     * trainer's masks), and with variable lengths.
     */
    @ParameterizedTest(name = "{7} I={0} H={1} P={2} L={3} bidirectional={4} peepholes={5} clip={6}")
    @MethodSource("models")
    void everyGradientMatchesTheReference(int inputSize, int hiddenSize, int projectionSize, int layers,
                                          boolean bidirectional, boolean peepholes, float clip, Backend backend) {
        RnnShape shape = shape(inputSize, hiddenSize, projectionSize, layers, bidirectional, peepholes);
        int steps = 5;
        int batch = 3;
        double dropout = layers > 1 ? 0.3 : 0;
        try (TestRnn rnn = new TestRnn(1700 + hiddenSize, shape, Options.DEFAULT.withBackend(backend)
                .withCellClip(clip));
             Trainer trainer = rnn.model.trainer(rnn.model.options().withMaxBatch(batch).withMaxSteps(steps)
                     .withDropout(dropout, 11));
             Gradients gradients = new Gradients(shape)) {
            Inputs in = Inputs.draw(rnn, steps, batch);
            for (int[] lengths : new int[][] {{5, 5, 5}, {5, 1, 3}}) {
                float[] y = new float[in.dy().length];
                float[] dx = new float[in.x().length];
                float[] dh0 = new float[in.h0().length];
                float[] dc0 = new float[in.c0().length];
                trainer.forward(in.x(), SequenceLayout.TIME_MAJOR, steps, batch, lengths, in.h0(), in.c0(), y, null,
                        null);
                trainer.backward(in.dy(), in.dhT(), in.dcT(), gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
                double[][] masks = null;
                if (dropout > 0) {
                    masks = new double[layers - 1][];
                    for (int layer = 0; layer < layers - 1; layer++) {
                        masks[layer] = doubles(trainer.dropoutMask(layer));
                    }
                }
                ForwardVsReferenceTest.assertWithin("y", y, rnn.reference.forward(doubles(in.x()), steps, batch,
                        lengths, doubles(in.h0()), doubles(in.c0()), masks).y());
                StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, rnn.reference.backward(
                        doubles(in.x()), steps, batch, lengths, doubles(in.h0()), doubles(in.c0()), masks,
                        doubles(in.dy()), doubles(in.dhT()), doubles(in.dcT())));
            }
        }
    }

    /**
     * The engine's own gradients (the trainer's backward, in float) against central differences of the engine's own
     * forward, for a tiny CIFG with peepholes and projection, every parameter and dx, dh0, dc0: the loss is
     * {@code L = Σ dy·y + Σ dhT·hT + Σ dcT·cT}, summed in double from the float outputs of a model packed afresh
     * with each value moved by ±ε, ε = {@value #FLOAT_EPSILON}.
     *
     * <p>Bound: |d - a| &le; {@value #FLOAT_ABSOLUTE} + {@value #FLOAT_RELATIVE}·|a|. The difference's rounding error
     * is the float rounding of the outputs (about 6e-8 relative on values below 1, times the 32 terms of L whose
     * weights are below 1) over 2ε, below 1e-4; its truncation error ε²|L'''|/6 is below 1e-5 for these weights.
     * A wrong or missing term moves a gradient by that term's size, tenths here.
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(Backend.class)
    void engineGradientsMatchCentralDifferences(Backend backend) {
        RnnShape shape = shape(2, 3, 2, 2, false, true);
        int steps = 3;
        int batch = 2;
        try (TestRnn rnn = new TestRnn(1800, shape, Options.DEFAULT.withBackend(backend).withMaxBatch(batch)
                .withMaxSteps(steps));
             Trainer trainer = rnn.model.trainer();
             Gradients gradients = new Gradients(shape)) {
            Inputs in = Inputs.draw(rnn, steps, batch);
            float[] dx = new float[in.x().length];
            float[] dh0 = new float[in.h0().length];
            float[] dc0 = new float[in.c0().length];
            trainer.forward(in.x(), steps, batch, in.h0(), in.c0(), null, null, null);
            trainer.backward(in.dy(), in.dhT(), in.dcT(), gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
            Loss loss = () -> {
                try (Model model = Model.pack(rnn.parameters, rnn.model.options());
                     Runner runner = model.runner()) {
                    float[][] out = forward(runner, shape, in.x(), steps, batch, in.h0(), in.c0());
                    return dot(in.dy(), out[0]) + dot(in.dhT(), out[1]) + dot(in.dcT(), out[2]);
                }
            };
            double largest = 0;
            for (String name : rnn.parameters.names()) {
                float[] analytic = TrainerVsReferenceTest.floats(gradients.tensor(name));
                largest = Math.max(largest, checkFloat(name, rnn.parameters.tensor(name), analytic, loss));
            }
            largest = Math.max(largest, checkFloat("x", MemorySegment.ofArray(in.x()), dx, loss));
            largest = Math.max(largest, checkFloat("h0", MemorySegment.ofArray(in.h0()), dh0, loss));
            largest = Math.max(largest, checkFloat("c0", MemorySegment.ofArray(in.c0()), dc0, loss));
            assertTrue(largest > 0.05, "largest gradient " + largest + " is too small to check");
        }
    }

    static final float FLOAT_EPSILON = 1e-2f;
    static final double FLOAT_ABSOLUTE = 5e-4;
    static final double FLOAT_RELATIVE = 1e-2;

    /** The loss of the engine's forward at the current values. */
    private interface Loss {
        double get();
    }

    /** Checks each float of {@code values} (moved by ±ε and restored) and returns the largest |difference|. */
    private static double checkFloat(String name, MemorySegment values, float[] analytic, Loss loss) {
        ValueLayout.OfFloat layout = ValueLayout.JAVA_FLOAT;
        assertEquals(values.byteSize() / Float.BYTES, analytic.length, name + " gradient length");
        double largest = 0;
        for (int n = 0; n < analytic.length; n++) {
            float value = values.getAtIndex(layout, n);
            float above = value + FLOAT_EPSILON;
            float below = value - FLOAT_EPSILON;
            values.setAtIndex(layout, n, above);
            double lossAbove = loss.get();
            values.setAtIndex(layout, n, below);
            double lossBelow = loss.get();
            values.setAtIndex(layout, n, value);
            double numeric = (lossAbove - lossBelow) / ((double) above - below);
            double error = Math.abs(numeric - analytic[n]);
            assertTrue(error <= FLOAT_ABSOLUTE + FLOAT_RELATIVE * Math.abs(analytic[n]), name + "[" + n
                    + "]: engine " + analytic[n] + ", central difference " + numeric);
            largest = Math.max(largest, Math.abs(numeric));
        }
        return largest;
    }

    private static double dot(float[] a, float[] b) {
        double sum = 0;
        for (int n = 0; n < a.length; n++) {
            sum += (double) a[n] * b[n];
        }
        return sum;
    }

    /** Peepholes are p_i and p_o, {@code [2][H]}: an LSTM's three vectors are refused, naming the tensor. */
    @Test
    void parametersOfTheWrongSizeAreRefused() {
        RnnShape shape = RnnShape.of(Cell.CIFG, 3, 5).withPeepholes(true);
        SplittableRandom random = new SplittableRandom(3);
        float[] weightIh = TestRnn.uniform(random, 15 * 3, 1f);
        float[] weightHh = TestRnn.uniform(random, 15 * 5, 1f);
        IllegalArgumentException peepholes = assertThrows(IllegalArgumentException.class,
                () -> Parameters.fromPyTorch(shape, weightIh, weightHh, null, null, new float[15]));
        assertTrue(peepholes.getMessage().startsWith("layer 0 direction 0: peepholes must hold [2=2][H=5] = 10 floats"),
                peepholes.getMessage());
        IllegalArgumentException lstmRows = assertThrows(IllegalArgumentException.class,
                () -> Parameters.fromPyTorch(shape, new float[20 * 3], weightHh, null, null, new float[10]));
        assertTrue(lstmRows.getMessage().startsWith("layer 0 direction 0: weightIh must hold [3H=15][I=3] = 45"),
                lstmRows.getMessage());
        try (Parameters parameters = Parameters.fromPyTorch(shape, weightIh, weightHh, null, null, new float[10])) {
            assertEquals(10, parameters.tensor("peephole_l0").byteSize() / Float.BYTES);
            assertEquals(45, parameters.tensor("weight_ih_l0").byteSize() / Float.BYTES);
        }
    }

    /** Parameters.save refuses a CIFG by name and writes nothing: a state_dict's 3H rows would load as a GRU. */
    @Test
    void saveRefusesACifgModel(@TempDir Path directory) {
        Path file = directory.resolve("cifg.safetensors");
        try (Parameters parameters = Parameters.initialize(RnnShape.of(Cell.CIFG, 3, 4), 5)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> parameters.save(file, "", Map.of()));
            assertTrue(e.getMessage().startsWith("a CIFG model cannot be saved as a state_dict"), e.getMessage());
        }
        assertFalse(Files.exists(file), "nothing written");
    }

    /** Parameters.initialize has no forget-gate bias to set: every bias of a CIFG is drawn like the weights. */
    @Test
    void initialisationSetsNoForgetBias() {
        try (Parameters parameters = Parameters.initialize(RnnShape.of(Cell.CIFG, 3, 4), 5)) {
            double bound = 1 / Math.sqrt(4);
            for (String bias : new String[] {"bias_ih_l0", "bias_hh_l0"}) {
                float[] values = TrainerVsReferenceTest.floats(parameters.tensor(bias));
                assertEquals(12, values.length);
                for (float value : values) {
                    assertTrue(Math.abs(value) <= bound, bias + ": " + value);
                }
            }
        }
    }
}
