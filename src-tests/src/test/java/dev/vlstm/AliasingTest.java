package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/**
 * The runners promise that h0 and c0 are read before any output is written, so that a caller may pass the same
 * memory as hT and cT (a stream carried in one buffer): the aliased call must give the bits of the call with
 * separate buffers, on the paths that copy states row by row (projection, variable lengths, stacks, GRU).
 */
class AliasingTest {

    @Test
    void projectedRunnerWithLengthsMayOverwriteItsInitialStates() {
        int inputSize = 5;
        int hiddenSize = 17;
        int projection = 6;
        int steps = 7;
        int batch = 5;
        SplittableRandom random = new SplittableRandom(61);
        float bound = (float) (1 / Math.sqrt(hiddenSize));
        try (LstmWeights weights = LstmWeights.fromPyTorch(Backend.PREFERRED, WeightPrecision.FLOAT32, inputSize,
                hiddenSize, projection, TestModel.uniform(random, 4 * hiddenSize * inputSize, bound),
                TestModel.uniform(random, 4 * hiddenSize * projection, bound),
                TestModel.uniform(random, 4 * hiddenSize, bound), TestModel.uniform(random, 4 * hiddenSize, bound),
                TestModel.uniform(random, projection * hiddenSize, bound));
             LstmRunner runner = new LstmRunner(weights, batch)) {
            float[] x = TestModel.uniform(random, steps * batch * inputSize, 1f);
            float[] h0 = TestModel.uniform(random, batch * projection, 1f);
            float[] c0 = TestModel.uniform(random, batch * hiddenSize, 1f);
            int[] lengths = {7, 0, 3, 7, 1};
            float[] y = new float[steps * batch * projection];
            float[] hT = new float[h0.length];
            float[] cT = new float[c0.length];
            runner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, h0, c0, y, hT, cT);
            float[] h = h0.clone();
            float[] c = c0.clone();
            float[] aliasedY = new float[y.length];
            runner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, h, c, aliasedY, h, c);
            assertArrayEquals(y, aliasedY, "y");
            assertArrayEquals(hT, h, "hT written over h0");
            assertArrayEquals(cT, c, "cT written over c0");
        }
    }

    @Test
    void stackWithLengthsMayOverwriteItsInitialStates() {
        int steps = 6;
        int batch = 4;
        LstmStackShape shape = new LstmStackShape(3, 9, 2, true);
        try (TestStack model = new TestStack(62, shape, Backend.PREFERRED, true);
             LstmStackRunner runner = new LstmStackRunner(model.weights, batch, steps)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.states(batch);
            float[] c0 = model.states(batch);
            int[] lengths = {2, 6, 0, 5};
            float[] y = new float[steps * batch * shape.outputSize()];
            float[] hT = new float[h0.length];
            float[] cT = new float[c0.length];
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, c0, y, hT, cT);
            float[] h = h0.clone();
            float[] c = c0.clone();
            float[] aliasedY = new float[y.length];
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h, c, aliasedY, h, c);
            assertArrayEquals(y, aliasedY, "y");
            assertArrayEquals(hT, h, "h_n written over h0");
            assertArrayEquals(cT, c, "c_n written over c0");
        }
    }

    @Test
    void gruRunnerMayOverwriteItsInitialState() {
        int steps = 5;
        int batch = 6;
        try (TestGru model = new TestGru(63, 7, 33, Backend.PREFERRED);
             GruRunner runner = new GruRunner(model.weights, batch)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.state(batch);
            float[] y = new float[steps * batch * 33];
            float[] hT = new float[h0.length];
            runner.forward(x, steps, batch, h0, y, hT);
            float[] h = h0.clone();
            float[] aliasedY = new float[y.length];
            runner.forward(x, steps, batch, h, aliasedY, h);
            assertArrayEquals(y, aliasedY, "y");
            assertArrayEquals(hT, h, "hT written over h0");
        }
    }
}
