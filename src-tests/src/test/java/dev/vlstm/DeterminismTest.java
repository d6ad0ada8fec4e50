package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;

/**
 * Bit-identical results run to run and whatever the chunking: every output value is computed by the same single
 * FMA chain in k order whichever tile, projection chunk or code path (runner or trainer) computes it. Each
 * execution of the suite checks this at its own vector width; comparing widths with each other is not done here.
 */
class DeterminismTest {

    @Test
    void projectionChunkSizeAndRunnerSizeDoNotChangeAnyBit() {
        try (TestModel model = new TestModel(950, 19, 37)) {
            float[] x = model.input(23, 3);
            float[] h0 = model.state(3);
            float[] expected = new float[23 * 3 * 37];
            try (LstmRunner runner = new LstmRunner(model.weights, 3, 1)) {
                runner.forward(x, 23, 3, h0, null, expected, null, null);
            }
            for (int[] shape : new int[][]{{3, 5}, {7, 23}, {3, 1000}}) {
                float[] y = new float[expected.length];
                try (LstmRunner runner = new LstmRunner(model.weights, shape[0], shape[1])) {
                    runner.forward(x, 23, 3, h0, null, y, null, null);
                    float[] again = new float[y.length];
                    runner.forward(x, 23, 3, h0, null, again, null, null);
                    assertArrayEquals(y, again, "run to run");
                }
                assertArrayEquals(expected, y, "maxBatch " + shape[0] + ", projectionSteps " + shape[1]);
            }
        }
    }

    @Test
    void theTrainersForwardEqualsTheRunnersBitForBit() {
        try (TestModel model = new TestModel(951, 8, 45);
             LstmRunner runner = new LstmRunner(model.weights, 5, 2);
             LstmTrainer trainer = new LstmTrainer(model.weights, 5, 30)) {
            float[] x = model.input(30, 5);
            float[] fromRunner = new float[30 * 5 * 45];
            float[] fromTrainer = new float[fromRunner.length];
            runner.forward(x, 30, 5, null, null, fromRunner, null, null);
            trainer.forward(MemorySegment.ofArray(x), 30, 5, null, null, MemorySegment.ofArray(fromTrainer), null, null);
            assertArrayEquals(fromRunner, fromTrainer);
        }
    }
}
