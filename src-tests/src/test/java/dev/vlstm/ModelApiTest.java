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

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.io.SafeTensors;

/**
 * {@link Vlstm#load} and the new API ({@link Model}, {@link Runner}, {@link State}) against the old stack API built
 * from the same file in the same run: PyTorch's golden models (src-tests/golden) give bit-identical y, hT and cT
 * through whole sequences, sequences of different lengths and streaming steps, with the options they take.
 */
class ModelApiTest {

    private static final Path GOLDEN = Path.of("src/test/resources/golden");

    /** The old API's model and runner, built from the file as before {@link Vlstm} (LSTM or GRU). */
    private interface OldApi extends AutoCloseable {

        void forward(float[] x, int steps, int batch, float[] h0, float[] c0, float[] y, float[] hT, float[] cT);

        void forward(float[] x, SequenceLayout layout, int steps, int batch, int[] lengths, float[] h0, float[] c0,
                     float[] y, float[] hT, float[] cT);

        /** Steps a fresh state through x's T steps; returns y, then the final h and (LSTM) c, concatenated. */
        float[] stream(float[] x, int steps, int batch);

        @Override
        void close();
    }

    private static OldApi oldApi(Path file, int maxBatch, int maxSteps, float cellClip, int threads)
            throws IOException {
        try (SafeTensors tensors = SafeTensors.open(file)) {
            if (OldStackFiles.holdsGru(tensors)) {
                GruStackWeights weights = OldStackFiles.gru(tensors);
                GruStackRunner runner = new GruStackRunner(weights, maxBatch, maxSteps, threads);
                return new OldApi() {
                    @Override
                    public void forward(float[] x, int steps, int batch, float[] h0, float[] c0, float[] y,
                                        float[] hT, float[] cT) {
                        runner.forward(x, steps, batch, h0, y, hT);
                    }

                    @Override
                    public void forward(float[] x, SequenceLayout layout, int steps, int batch, int[] lengths,
                                        float[] h0, float[] c0, float[] y, float[] hT, float[] cT) {
                        runner.forward(x, layout, steps, batch, lengths, h0, y, hT);
                    }

                    @Override
                    public float[] stream(float[] x, int steps, int batch) {
                        LstmStackShape shape = weights.shape();
                        int inputRow = batch * shape.inputSize();
                        int outputRow = batch * shape.hiddenSize();
                        float[] out = new float[steps * outputRow];
                        try (GruStackState state = new GruStackState(weights, batch)) {
                            for (int t = 0; t < steps; t++) {
                                float[] h = new float[outputRow];
                                runner.step(slice(x, t * inputRow, inputRow), state, h);
                                System.arraycopy(h, 0, out, t * outputRow, outputRow);
                            }
                            return concat(out, state.hidden(), new float[0]);
                        }
                    }

                    @Override
                    public void close() {
                        runner.close();
                        weights.close();
                    }
                };
            }
            LstmStackWeights weights;
            try (LstmStackParameters parameters = OldStackFiles.lstm(tensors)) {
                weights = parameters.pack(Backend.PREFERRED);
            }
            LstmStackRunner runner = new LstmStackRunner(weights, maxBatch, maxSteps, cellClip, threads);
            return new OldApi() {
                @Override
                public void forward(float[] x, int steps, int batch, float[] h0, float[] c0, float[] y, float[] hT,
                                    float[] cT) {
                    runner.forward(x, steps, batch, h0, c0, y, hT, cT);
                }

                @Override
                public void forward(float[] x, SequenceLayout layout, int steps, int batch, int[] lengths,
                                    float[] h0, float[] c0, float[] y, float[] hT, float[] cT) {
                    runner.forward(x, layout, steps, batch, lengths, h0, c0, y, hT, cT);
                }

                @Override
                public float[] stream(float[] x, int steps, int batch) {
                    LstmStackShape shape = weights.shape();
                    int inputRow = batch * shape.inputSize();
                    int outputRow = batch * shape.hiddenStateSize();
                    float[] out = new float[steps * outputRow];
                    try (LstmStackState state = new LstmStackState(weights, batch)) {
                        for (int t = 0; t < steps; t++) {
                            float[] h = new float[outputRow];
                            runner.step(slice(x, t * inputRow, inputRow), state, h);
                            System.arraycopy(h, 0, out, t * outputRow, outputRow);
                        }
                        return concat(out, state.hidden(), state.cell());
                    }
                }

                @Override
                public void close() {
                    runner.close();
                    weights.close();
                }
            };
        }
    }

    @ParameterizedTest(name = "{0}/{1} threads={2}")
    @CsvSource({"golden, i3_h5_t4_b2, 1", "golden, i4_h6_p3_l2_t5_b3_bidirectional_proj, 1",
            "golden, i4_h6_p3_l2_t5_b3_bidirectional_proj, 2", "golden, i3_h5_l2_t4_b2, 2",
            "golden-gru, i3_h5_t4_b2, 1", "golden-gru, i4_h3_l2_t5_b5_bidirectional_batch_first_lengths, 1",
            "golden-gru, i4_h3_l2_t5_b5_bidirectional_batch_first_lengths, 2", "golden-gru, i3_h5_l2_t4_b2, 1"})
    void loadGivesTheOldApisBits(String directory, String golden, int threads) throws IOException {
        Path file = Path.of("src/test/resources", directory, golden, "model.safetensors");
        int steps = 7;
        int batch = 5;
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps).withThreads(threads);
        try (Model model = Vlstm.load(file, options);
             Runner runner = model.runner();
             OldApi old = oldApi(file, batch, steps, LstmRunner.NO_CELL_CLIP, threads)) {
            RnnShape shape = model.shape();
            assertEquals(Vlstm.inspect(file, null), shape);
            assertEquals(directory.equals("golden") ? Cell.LSTM : Cell.GRU, shape.cell());
            assertEquals(threads, runner.threads());
            assertEquals(threads - 1, runner.workerThreads().size());
            boolean lstm = shape.cell() == Cell.LSTM;
            SplittableRandom random = new SplittableRandom(golden.hashCode());
            float[] x = uniform(random, steps * batch * shape.inputSize());
            float[] h0 = uniform(random, shape.stateCount() * batch * shape.hiddenStateSize());
            float[] c0 = lstm ? uniform(random, shape.stateCount() * batch * shape.hiddenSize()) : null;

            float[][] expected = outputs(shape, steps, batch);
            float[][] actual = outputs(shape, steps, batch);
            old.forward(x, steps, batch, h0, c0, expected[0], expected[1], expected[2]);
            runner.forward(x, steps, batch, h0, c0, actual[0], actual[1], actual[2]);
            assertOutputsEqual(expected, actual);

            int[] lengths = {steps, 0, 3, steps - 1, 1};
            expected = outputs(shape, steps, batch);
            actual = outputs(shape, steps, batch);
            old.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, h0, c0, expected[0], expected[1],
                    expected[2]);
            runner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, h0, c0, actual[0], actual[1],
                    actual[2]);
            assertOutputsEqual(expected, actual);

            if (shape.direction() == Direction.FORWARD) {
                assertArrayEquals(old.stream(x, steps, batch), stream(model, runner, x, steps, batch));
            }
        }
    }

    /** BFLOAT16 weights through {@link Vlstm#load} are those of the old per-layer packing at that precision. */
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
             SafeTensors tensors = SafeTensors.open(file);
             LstmStackParameters parameters = OldStackFiles.lstm(tensors);
             LstmStackWeights old = pack(parameters, precision);
             LstmStackRunner oldRunner = new LstmStackRunner(old, batch, steps)) {
            assertEquals(precision, compressed.options().precision());
            assertEquals(old.packedBytes(), compressed.packedBytes());
            assertTrue(compressed.packedBytes() < full.packedBytes(),
                    compressed.packedBytes() + " bytes, float32 " + full.packedBytes());
            RnnShape shape = compressed.shape();
            float[] x = uniform(new SplittableRandom(3), steps * batch * shape.inputSize());
            float[][] expected = outputs(shape, steps, batch);
            float[][] actual = outputs(shape, steps, batch);
            oldRunner.forward(x, steps, batch, null, null, expected[0], expected[1], expected[2]);
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
             Runner unclippedRunner = unclipped.runner();
             OldApi old = oldApi(file, batch, steps, cellClip, 1)) {
            RnnShape shape = model.shape();
            float[] x = uniform(new SplittableRandom(4), steps * batch * shape.inputSize());
            float[][] expected = outputs(shape, steps, batch);
            float[][] actual = outputs(shape, steps, batch);
            float[][] plain = outputs(shape, steps, batch);
            old.forward(x, steps, batch, null, null, expected[0], expected[1], expected[2]);
            runner.forward(x, steps, batch, null, null, actual[0], actual[1], actual[2]);
            unclippedRunner.forward(x, steps, batch, null, null, plain[0], plain[1], plain[2]);
            assertOutputsEqual(expected, actual);
            if (cellClip < 0.1f) {
                assertFalse(Arrays.equals(plain[0], actual[0]), "a clip of 0.05 changes y");
            }
        }
    }

    /** {@link Model#pack} from parameters gives the bits of the old stack packed from the same parameters. */
    @ParameterizedTest(name = "{0} L={1} bidirectional={2}")
    @CsvSource({"LSTM, 1, false", "LSTM, 2, true", "GRU, 1, false", "GRU, 2, true"})
    void packGivesTheOldApisBits(Cell cell, int layers, boolean bidirectional) {
        LstmStackShape stack = new LstmStackShape(6, 9, layers, bidirectional);
        int steps = 6;
        int batch = 4;
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps);
        RnnShape shape = RnnShape.of(cell, 6, 9).withLayers(layers)
                .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        float[] x = uniform(new SplittableRandom(5), steps * batch * shape.inputSize());
        float[][] expected = outputs(shape, steps, batch);
        float[][] actual = outputs(shape, steps, batch);
        if (cell == Cell.LSTM) {
            try (LstmStackParameters parameters = LstmStackParameters.initialize(stack, 7);
                 Model model = Model.pack(parameters, options);
                 Runner runner = model.runner();
                 LstmStackWeights old = parameters.pack();
                 LstmStackRunner oldRunner = new LstmStackRunner(old, batch, steps)) {
                assertEquals(shape, model.shape());
                oldRunner.forward(x, steps, batch, null, null, expected[0], expected[1], expected[2]);
                runner.forward(x, steps, batch, null, null, actual[0], actual[1], actual[2]);
            }
        } else {
            try (GruStackParameters parameters = GruStackParameters.initialize(stack, 7);
                 Model model = Model.pack(parameters, options);
                 Runner runner = model.runner();
                 GruStackWeights old = parameters.pack();
                 GruStackRunner oldRunner = new GruStackRunner(old, batch, steps)) {
                assertEquals(shape, model.shape());
                oldRunner.forward(x, steps, batch, null, expected[0], expected[1]);
                runner.forward(x, steps, batch, null, null, actual[0], actual[1], null);
            }
        }
        assertOutputsEqual(expected, actual);
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
            return concat(out, state.hidden(), shape.cell() == Cell.LSTM ? state.cell() : new float[0]);
        }
    }

    static LstmStackWeights pack(LstmStackParameters parameters, WeightPrecision precision) {
        LstmStackShape shape = parameters.shape();
        LstmWeights[] parts = new LstmWeights[shape.stateCount()];
        for (int n = 0; n < parts.length; n++) {
            LstmParameters part = parameters.layer(n / shape.directions(), n % shape.directions());
            parts[n] = LstmWeights.fromPyTorch(Backend.PREFERRED, precision, part.inputSize(), part.hiddenSize(),
                    part.projectionSize(), part.weightIh(), part.weightHh(), part.biasIh(), part.biasHh(),
                    part.weightHr());
        }
        return LstmStackWeights.of(shape.bidirectional(), parts);
    }

    /** y, hT and (LSTM) cT, or null for cT of a GRU. */
    static float[][] outputs(RnnShape shape, int steps, int batch) {
        return new float[][] {new float[steps * batch * shape.outputSize()],
                new float[shape.stateCount() * batch * shape.hiddenStateSize()],
                shape.cell() == Cell.LSTM ? new float[shape.stateCount() * batch * shape.hiddenSize()] : null};
    }

    private static void assertOutputsEqual(float[][] expected, float[][] actual) {
        assertArrayEquals(expected[0], actual[0], "y");
        assertArrayEquals(expected[1], actual[1], "hT");
        assertArrayEquals(expected[2], actual[2], "cT");
    }

    static float[] uniform(SplittableRandom random, int length) {
        return TestModel.uniform(random, length, 1f);
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
