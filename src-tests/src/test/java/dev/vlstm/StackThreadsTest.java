package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A stack whose layers are packed at different precisions (their kernels differ) shares one set of worker threads
 * and gives the one-thread results bit for bit. On the old API because {@link Options#precision()} is one precision
 * for a whole {@link Model}; every other threads case is in {@link ThreadsTest}.
 */
class StackThreadsTest {

    @ParameterizedTest(name = "threads={0}")
    @ValueSource(ints = {2, 3})
    void layersOfDifferentPrecisionsShareTheThreads(int threads) {
        LstmStackShape shape = new LstmStackShape(11, 70, 3, true);
        try (TestStack model = new TestStack(961, shape, Backend.PREFERRED, true)) {
            WeightPrecision[] precisions = {WeightPrecision.INT8, WeightPrecision.BFLOAT16, WeightPrecision.FLOAT32};
            LstmWeights[] parts = new LstmWeights[shape.stateCount()];
            for (int n = 0; n < parts.length; n++) {
                parts[n] = LstmWeights.fromPyTorch(Backend.PREFERRED, precisions[n % precisions.length],
                        shape.layerInputSize(n / shape.directions()), shape.hiddenSize(), model.weightIh[n],
                        model.weightHh[n], model.biasIh[n], model.biasHh[n]);
            }
            try (LstmStackWeights mixed = LstmStackWeights.of(true, parts)) {
                assertRunnersAgree(model, mixed, 5, 3, threads);
            }
        }
    }

    private static void assertRunnersAgree(TestStack model, LstmStackWeights weights, int steps, int batch,
                                           int threads) {
        LstmStackShape shape = model.shape;
        float[] x = model.input(steps, batch);
        float[] h0 = model.states(batch);
        float[] c0 = model.states(batch);
        int[] lengths = new SplittableRandom(batch + steps).ints(batch, 0, steps + 1).toArray();
        try (LstmStackRunner single = new LstmStackRunner(weights, batch, steps);
             LstmStackRunner threaded = new LstmStackRunner(weights, batch, steps, LstmRunner.NO_CELL_CLIP,
                     threads)) {
            assertEquals(threads, threaded.threads());
            assertEquals(threads - 1, threaded.workerThreads().size(), "one set of workers for every part");
            Outputs expected = Outputs.of(shape, steps, batch);
            Outputs actual = Outputs.of(shape, steps, batch);
            single.forward(x, steps, batch, h0, c0, expected.y, expected.hT, expected.cT);
            threaded.forward(x, steps, batch, h0, c0, actual.y, actual.hT, actual.cT);
            actual.assertEquals(expected, "sequence");
            for (SequenceLayout layout : SequenceLayout.values()) {
                single.forward(x, layout, steps, batch, lengths, h0, c0, expected.y, expected.hT, expected.cT);
                threaded.forward(x, layout, steps, batch, lengths, h0, c0, actual.y, actual.hT, actual.cT);
                actual.assertEquals(expected, layout + " lengths " + Arrays.toString(lengths));
            }
        }
    }

    /** y, hT and cT of one runner call. */
    private record Outputs(float[] y, float[] hT, float[] cT) {
        static Outputs of(LstmStackShape shape, int steps, int batch) {
            return new Outputs(new float[steps * batch * shape.outputSize()],
                    new float[shape.stateCount() * batch * shape.hiddenStateSize()],
                    new float[shape.stateCount() * batch * shape.hiddenSize()]);
        }

        void assertEquals(Outputs expected, String what) {
            assertArrayEquals(expected.y, y, what + ": y");
            assertArrayEquals(expected.hT, hT, what + ": hT");
            assertArrayEquals(expected.cT, cT, what + ": cT");
        }
    }
}
