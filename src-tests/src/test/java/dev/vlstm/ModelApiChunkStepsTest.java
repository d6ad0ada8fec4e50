package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link Options#chunkSteps()} reaches every layer and direction of LSTM and GRU stacks, and does not change a bit:
 * y, hT and cT of a whole sequence and of sequences of different lengths are the same at chunks of 1 and 7 steps as
 * at the default chunk, in one run.
 */
class ModelApiChunkStepsTest {

    private static final int I = 6;
    private static final int H = 9;
    private static final int B = 3;
    private static final int T = 17;

    /** y, hT and cT (empty for a GRU) of a time-major forward, then of a batch-first forward with lengths. */
    private static float[][] run(Model model, int chunkSteps, int expectedChunk, float[] x, float[] h0, float[] c0,
                                 int[] lengths) {
        try (Runner runner = model.runner(model.options().withChunkSteps(chunkSteps))) {
            assertEquals(expectedChunk, runner.chunkSteps(), "the chunk the runner's layers use");
            RnnShape shape = model.shape();
            int states = shape.stateCount() * B * H;
            boolean lstm = shape.cell().hasCellState();
            float[][] out = {new float[T * B * shape.outputSize()], new float[states], new float[lstm ? states : 0],
                    new float[T * B * shape.outputSize()], new float[states], new float[lstm ? states : 0]};
            runner.forward(x, T, B, h0, c0, out[0], out[1], lstm ? out[2] : null);
            runner.forward(x, SequenceLayout.BATCH_FIRST, T, B, lengths, h0, c0, out[3], out[4], lstm ? out[5] : null);
            return out;
        }
    }

    @ParameterizedTest(name = "{0} L={1} {2}")
    @CsvSource({"LSTM, 1, FORWARD", "LSTM, 2, BIDIRECTIONAL", "GRU, 1, FORWARD", "GRU, 2, BIDIRECTIONAL"})
    void theChunkChangesNoBit(Cell cell, int layers, Direction direction) {
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(layers).withDirection(direction);
        Options options = Options.DEFAULT.withMaxBatch(B).withMaxSteps(T);
        try (Model model = ZeroAllocationTest.packed(shape, 52, options)) {
            SplittableRandom random = new SplittableRandom(51);
            float[] x = ModelApiTest.uniform(random, T * B * I);
            float[] h0 = ModelApiTest.uniform(random, shape.stateCount() * B * H);
            float[] c0 = cell.hasCellState() ? ModelApiTest.uniform(random, shape.stateCount() * B * H) : null;
            int[] lengths = {T, 5, 11};
            float[][] byDefault = run(model, 0, T, x, h0, c0, lengths);
            float[][] one = run(model, 1, 1, x, h0, c0, lengths);
            float[][] seven = run(model, 7, 7, x, h0, c0, lengths);
            float[][] beyondMaxSteps = run(model, 2 * T, T, x, h0, c0, lengths);
            for (int n = 0; n < byDefault.length; n++) {
                assertArrayEquals(byDefault[n], one[n], "output " + n + " at chunkSteps 1");
                assertArrayEquals(byDefault[n], seven[n], "output " + n + " at chunkSteps 7");
                assertArrayEquals(byDefault[n], beyondMaxSteps[n], "output " + n + " at chunkSteps 2T");
            }
        }
    }
}
