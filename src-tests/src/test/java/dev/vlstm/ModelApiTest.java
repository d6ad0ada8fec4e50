package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.Function;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.io.SafeTensors;
import dev.vlstm.io.StateDict;
import dev.vlstm.reference.ReferenceCell;
import dev.vlstm.reference.ReferenceGru;
import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/**
 * {@link Vlstm#load}, {@link Model#pack} and the runner ({@link Model}, {@link Runner}, {@link State}) on PyTorch's
 * golden models (src-tests/golden) and seeded parameters: y, hT and cT through whole sequences and batch-first
 * sequences of different lengths are the double-precision reference's of the same tensors within
 * ForwardVsReferenceTest's {@value ForwardVsReferenceTest#TOLERANCE}, with the options the model takes (threads, cell
 * clip); more threads give one thread's bits, streaming steps the sequence forward's bits, and a compressed precision
 * the bits of {@link Model#pack} at that precision.
 */
class ModelApiTest {

    private static final Path GOLDEN = Path.of("src/test/resources/golden");

    @ParameterizedTest(name = "{0}/{1} threads={2}")
    @CsvSource({"golden, i3_h5_t4_b2, 1", "golden, i4_h6_p3_l2_t5_b3_bidirectional_proj, 1",
            "golden, i4_h6_p3_l2_t5_b3_bidirectional_proj, 2", "golden, i3_h5_l2_t4_b2, 2",
            "golden-gru, i3_h5_t4_b2, 1", "golden-gru, i4_h3_l2_t5_b5_bidirectional_batch_first_lengths, 1",
            "golden-gru, i4_h3_l2_t5_b5_bidirectional_batch_first_lengths, 2", "golden-gru, i3_h5_l2_t4_b2, 1"})
    void loadRunsTheFilesTensorsLikeTheReference(String directory, String golden, int threads) throws IOException {
        Path file = Path.of("src/test/resources", directory, golden, "model.safetensors");
        int steps = 7;
        int batch = 5;
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps).withThreads(threads);
        try (Model model = Vlstm.load(file, options);
             Runner runner = model.runner();
             Runner oneThread = model.runner(options.withThreads(1))) {
            RnnShape shape = model.shape();
            assertEquals(Vlstm.inspect(file, null), shape);
            assertEquals(directory.equals("golden") ? Cell.LSTM : Cell.GRU, shape.cell());
            assertEquals(threads, runner.threads());
            assertEquals(threads - 1, runner.workerThreads().size());
            ReferenceStack reference = reference(file, Float.POSITIVE_INFINITY);
            boolean lstm = shape.cell().hasCellState();
            SplittableRandom random = new SplittableRandom(golden.hashCode());
            float[] x = uniform(random, steps * batch * shape.inputSize());
            float[] h0 = uniform(random, shape.stateCount() * batch * shape.hiddenStateSize());
            float[] c0 = lstm ? uniform(random, shape.stateCount() * batch * shape.hiddenSize()) : null;

            float[][] actual = outputs(shape, steps, batch);
            runner.forward(x, steps, batch, h0, c0, actual[0], actual[1], actual[2]);
            assertOutputsWithin(reference.forward(x, steps, batch, h0, c0), actual);
            float[][] single = outputs(shape, steps, batch);
            oneThread.forward(x, steps, batch, h0, c0, single[0], single[1], single[2]);
            assertOutputsEqual(single, actual);

            int[] lengths = {steps, 0, 3, steps - 1, 1};
            float[] batchFirst = VariableLengthTest.toLayout(x, SequenceLayout.BATCH_FIRST, steps, batch,
                    shape.inputSize());
            actual = outputs(shape, steps, batch);
            runner.forward(batchFirst, SequenceLayout.BATCH_FIRST, steps, batch, lengths, h0, c0, actual[0],
                    actual[1], actual[2]);
            single = outputs(shape, steps, batch);
            oneThread.forward(batchFirst, SequenceLayout.BATCH_FIRST, steps, batch, lengths, h0, c0, single[0],
                    single[1], single[2]);
            assertOutputsEqual(single, actual);
            actual[0] = VariableLengthTest.fromLayout(actual[0], SequenceLayout.BATCH_FIRST, steps, batch,
                    shape.outputSize());
            assertOutputsWithin(reference.forward(TestRnn.doubles(x), steps, batch, lengths, TestRnn.doubles(h0),
                    TestRnn.doubles(c0), null), actual);

            if (shape.direction() == Direction.FORWARD) {
                float[][] sequence = outputs(shape, steps, batch);
                runner.forward(x, steps, batch, null, null, sequence[0], sequence[1], sequence[2]);
                assertArrayEquals(concat(sequence[0], sequence[1], lstm ? sequence[2] : new float[0]),
                        stream(model, runner, x, steps, batch), "steps from zero states give the forward's bits");
            }
        }
    }

    /**
     * {@link Vlstm#load} at a compressed precision packs the bits of {@link Model#pack} of the file's parameters at
     * that precision, in fewer bytes than float32 (the compressed kernels' error is CompressedWeightsTest's).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"BFLOAT16", "INT8"})
    void loadPacksAtTheOptionsPrecision(WeightPrecision precision) throws IOException {
        Path file = GOLDEN.resolve("i4_h6_p3_l2_t5_b3_bidirectional_proj/model.safetensors");
        int steps = 5;
        int batch = 3;
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps);
        try (Model compressed = Vlstm.load(file, options.withPrecision(precision));
             Model full = Vlstm.load(file, options);
             Runner runner = compressed.runner();
             Parameters parameters = Parameters.load(file, null);
             Model packed = Model.pack(parameters, options.withPrecision(precision));
             Runner packedRunner = packed.runner()) {
            assertEquals(precision, compressed.options().precision());
            assertEquals(packed.packedBytes(), compressed.packedBytes());
            assertTrue(compressed.packedBytes() < full.packedBytes(),
                    compressed.packedBytes() + " bytes, float32 " + full.packedBytes());
            RnnShape shape = compressed.shape();
            float[] x = uniform(new SplittableRandom(3), steps * batch * shape.inputSize());
            float[][] expected = outputs(shape, steps, batch);
            float[][] actual = outputs(shape, steps, batch);
            packedRunner.forward(x, steps, batch, null, null, expected[0], expected[1], expected[2]);
            runner.forward(x, steps, batch, null, null, actual[0], actual[1], actual[2]);
            assertOutputsEqual(expected, actual);
        }
    }

    @ParameterizedTest(name = "clip={0}")
    @CsvSource({"0.05", "1.5"})
    void anLstmRunsTheOptionsCellClip(float cellClip) throws IOException {
        Path file = GOLDEN.resolve("i3_h5_l2_t4_b2/model.safetensors");
        int steps = 4;
        int batch = 2;
        try (Model model = Vlstm.load(file, Options.DEFAULT.withCellClip(cellClip).withMaxBatch(batch));
             Runner runner = model.runner(Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps));
             Model unclipped = Vlstm.load(file, Options.DEFAULT.withMaxBatch(batch));
             Runner unclippedRunner = unclipped.runner()) {
            RnnShape shape = model.shape();
            float[] x = uniform(new SplittableRandom(4), steps * batch * shape.inputSize());
            float[][] actual = outputs(shape, steps, batch);
            float[][] plain = outputs(shape, steps, batch);
            runner.forward(x, steps, batch, null, null, actual[0], actual[1], actual[2]);
            unclippedRunner.forward(x, steps, batch, null, null, plain[0], plain[1], plain[2]);
            assertOutputsWithin(reference(file, cellClip).forward(x, steps, batch, null, null), actual);
            if (cellClip < 0.1f) {
                assertFalse(Arrays.equals(plain[0], actual[0]), "a clip of 0.05 changes y");
            }
        }
    }

    /** {@link Model#pack} runs the parameters' tensors as the reference does. */
    @ParameterizedTest(name = "{0} L={1} bidirectional={2}")
    @CsvSource({"LSTM, 1, false", "LSTM, 2, true", "GRU, 1, false", "GRU, 2, true"})
    void packRunsTheParametersLikeTheReference(Cell cell, int layers, boolean bidirectional) {
        int steps = 6;
        int batch = 4;
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps);
        RnnShape shape = RnnShape.of(cell, 6, 9).withLayers(layers)
                .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        float[] x = uniform(new SplittableRandom(5), steps * batch * shape.inputSize());
        float[][] actual = outputs(shape, steps, batch);
        try (Parameters parameters = Parameters.initialize(shape, 7);
             Model model = Model.pack(parameters, options);
             Runner runner = model.runner()) {
            assertEquals(shape, model.shape());
            runner.forward(x, steps, batch, null, null, actual[0], actual[1], actual[2]);
            ReferenceStack reference = reference(shape, name -> TrainerVsReferenceTest.floats(
                    parameters.tensor(name)), Float.POSITIVE_INFINITY);
            assertOutputsWithin(reference.forward(x, steps, batch, null, null), actual);
        }
    }

    /** A warm-up of an LSTM or GRU stack returns, and changes no output of the runner. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"golden/i4_h6_p3_l2_t5_b3_bidirectional_proj", "golden-gru/i3_h5_l2_t4_b2"})
    void warmUpRunsBothCellsAndStacks(String golden) throws IOException {
        Path file = Path.of("src/test/resources", golden, "model.safetensors");
        int steps = 3;
        int batch = 4;
        try (Model model = Vlstm.load(file, Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps));
             Runner runner = model.runner()) {
            RnnShape shape = model.shape();
            float[] x = uniform(new SplittableRandom(6), steps * batch * shape.inputSize());
            float[][] before = outputs(shape, steps, batch);
            runner.forward(x, steps, batch, null, null, before[0], before[1], before[2]);
            WarmUp warmUp = runner.warmUp(Duration.ofMillis(300));
            assertTrue(warmUp.calls() > 0, warmUp.toString());
            float[][] after = outputs(shape, steps, batch);
            runner.forward(x, steps, batch, null, null, after[0], after[1], after[2]);
            assertOutputsEqual(before, after);
            assertEquals("limit must be positive, got PT0S",
                    assertThrows(IllegalArgumentException.class, () -> runner.warmUp(Duration.ZERO))
                            .getMessage());
        }
    }

    private static float[] stream(Model model, Runner runner, float[] x, int steps, int batch) {
        RnnShape shape = model.shape();
        int inputRow = batch * shape.inputSize();
        int outputRow = batch * shape.hiddenStateSize();
        float[] out = new float[steps * outputRow];
        try (State state = model.newState(batch)) {
            for (int t = 0; t < steps; t++) {
                float[] h = new float[outputRow];
                runner.step(slice(x, t * inputRow, inputRow), state, h);
                System.arraycopy(h, 0, out, t * outputRow, outputRow);
            }
            return concat(out, state.hidden(), shape.cell().hasCellState() ? state.cell() : new float[0]);
        }
    }

    /**
     * The reference of the nn.LSTM or nn.GRU in {@code file}: its tensors as float32 read them (a model without biases
     * has null biases), with {@code cellClip}.
     */
    private static ReferenceStack reference(Path file, float cellClip) throws IOException {
        try (SafeTensors tensors = SafeTensors.open(file)) {
            StateDict stateDict = StateDict.inspect(tensors, null);
            return reference(stateDict.shape(), name -> tensors.names().contains(stateDict.prefix() + name)
                    ? tensors.tensor(stateDict.prefix() + name).toFloats() : null, cellClip);
        }
    }

    /**
     * The reference of a model of {@code shape} (without peepholes) whose tensors by state_dict name (e.g.
     * {@code "weight_ih_l0_reverse"}) {@code tensors} gives, null for an absent bias; with {@code cellClip}.
     */
    static ReferenceStack reference(RnnShape shape, Function<String, float[]> tensors, float cellClip) {
        ReferenceCell[] cells = new ReferenceCell[shape.stateCount()];
        int directions = shape.direction().count();
        for (int n = 0; n < cells.length; n++) {
            int layer = n / directions;
            int direction = n % directions;
            int inputSize = shape.layerInputSize(layer);
            float[] weightIh = tensors.apply(shape.tensorName("weight_ih", layer, direction));
            float[] weightHh = tensors.apply(shape.tensorName("weight_hh", layer, direction));
            float[] biasIh = tensors.apply(shape.tensorName("bias_ih", layer, direction));
            float[] biasHh = tensors.apply(shape.tensorName("bias_hh", layer, direction));
            if (shape.cell() == Cell.GRU) {
                cells[n] = new ReferenceGru(inputSize, shape.hiddenSize(), weightIh, weightHh, biasIh, biasHh);
            } else if (shape.projectionSize() > 0) {
                cells[n] = ReferenceLstm.projected(inputSize, shape.hiddenSize(), shape.projectionSize(), weightIh,
                        weightHh, biasIh, biasHh, tensors.apply(shape.tensorName("weight_hr", layer, direction)))
                        .withCellClip(cellClip);
            } else {
                cells[n] = new ReferenceLstm(inputSize, shape.hiddenSize(), weightIh, weightHh, biasIh, biasHh)
                        .withCellClip(cellClip);
            }
        }
        return new ReferenceStack(shape.direction() == Direction.BIDIRECTIONAL, cells);
    }

    /** y, hT and (LSTM) cT, or null for cT of a GRU. */
    static float[][] outputs(RnnShape shape, int steps, int batch) {
        return new float[][] {new float[steps * batch * shape.outputSize()],
                new float[shape.stateCount() * batch * shape.hiddenStateSize()],
                shape.cell().hasCellState() ? new float[shape.stateCount() * batch * shape.hiddenSize()] : null};
    }

    /** y, hT and (LSTM) cT within ForwardVsReferenceTest's tolerance of the reference's. */
    private static void assertOutputsWithin(ReferenceStack.Result expected, float[][] actual) {
        ForwardVsReferenceTest.assertWithin("y", actual[0], expected.y());
        ForwardVsReferenceTest.assertWithin("hT", actual[1], expected.hT());
        if (actual[2] != null) {
            ForwardVsReferenceTest.assertWithin("cT", actual[2], expected.cT());
        }
    }

    private static void assertOutputsEqual(float[][] expected, float[][] actual) {
        assertArrayEquals(expected[0], actual[0], "y");
        assertArrayEquals(expected[1], actual[1], "hT");
        assertArrayEquals(expected[2], actual[2], "cT");
    }

    static float[] uniform(SplittableRandom random, int length) {
        return TestRnn.uniform(random, length, 1f);
    }

    private static float[] slice(float[] values, int from, int length) {
        float[] slice = new float[length];
        System.arraycopy(values, from, slice, 0, length);
        return slice;
    }

    private static float[] concat(float[] first, float[] second, float[] third) {
        float[] all = new float[first.length + second.length + third.length];
        System.arraycopy(first, 0, all, 0, first.length);
        System.arraycopy(second, 0, all, first.length, second.length);
        System.arraycopy(third, 0, all, first.length + second.length, third.length);
        return all;
    }
}
