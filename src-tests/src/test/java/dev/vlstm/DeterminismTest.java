package dev.vlstm;

import static dev.vlstm.TrainerVsReferenceTest.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Bit-identical results run to run and whatever the chunking: every output value is computed by the same single
 * FMA chain in k order whichever tile, projection chunk or code path (runner or trainer) computes it.
 *
 * <p>Across vector widths, forward: the vector kernel's outputs equal the scalar kernel's bit for bit. The scalar
 * kernel is plain Java, the same bits on every JVM, and the suite runs this test at 512, 256 and 128 bits, so all
 * three widths and the scalar fallback give the same forward bits: a lane's arithmetic does not depend on the
 * block or tile that holds it (one FMA chain over k in order, then the scalar activations' operations lane-wise),
 * and padding lanes have zero weights and are never read back as inputs.
 *
 * <p>Backward: the gradients depend on the block width V in their last bits. dh = dz·U and dx = dz·W sum over the
 * 4H gate rows in the packed order {@code [block][gate][lane]}, which changes with V; everything downstream of dh
 * follows. Measured (H = 37): equal to the scalar kernel (8 lanes) at 256 bits, and up to 3 units in the last place
 * of each tensor's largest value apart at 512 and 128 bits. The test bounds that at 4.
 */
class DeterminismTest {

    @ParameterizedTest
    @EnumSource(Cell.class)
    void chunkSizeAndRunnerSizeDoNotChangeAnyBit(Cell cell) {
        try (TestRnn rnn = new TestRnn(950, RnnShape.of(cell, 19, 37), Options.DEFAULT)) {
            float[] x = rnn.input(23, 3);
            float[] h0 = rnn.hiddenStates(3);
            float[] expected = new float[23 * 3 * 37];
            try (Runner runner = runner(rnn, 3, 23, 1)) {
                runner.forward(x, 23, 3, h0, null, expected, null, null);
            }
            for (int[] sizes : new int[][] {{3, 5}, {7, 23}, {3, 1000}}) {
                float[] y = new float[expected.length];
                try (Runner runner = runner(rnn, sizes[0], 23, sizes[1])) {
                    runner.forward(x, 23, 3, h0, null, y, null, null);
                    float[] again = new float[y.length];
                    runner.forward(x, 23, 3, h0, null, again, null, null);
                    assertArrayEquals(y, again, "run to run");
                }
                assertArrayEquals(expected, y, "maxBatch " + sizes[0] + ", chunkSteps " + sizes[1]);
            }
        }
    }

    /** A runner whose input GEMM covers {@code chunkSteps} steps (all {@code maxSteps} when it is more). */
    private static Runner runner(TestRnn rnn, int maxBatch, int maxSteps, int chunkSteps) {
        return rnn.model.runner(rnn.model.options().withMaxBatch(maxBatch).withMaxSteps(maxSteps)
                .withChunkSteps(chunkSteps));
    }

    @Test
    void theVectorKernelEqualsTheScalarKernelBitForBit() {
        int input = 19, hidden = 37, steps = 23, batch = 5;
        float[][] vector = forwardAndBackward(Backend.PREFERRED, input, hidden, steps, batch);
        float[][] scalar = forwardAndBackward(Backend.SCALAR, input, hidden, steps, batch);
        String[] names = {"y", "hT", "cT", "streamed h", "dx", "dh0", "dc0", "dW_ih", "dW_hh", "db_ih", "db_hh"};
        int forwardResults = 4;
        String kernels = ": " + Backend.PREFERRED.kernelName() + " vs scalar";
        for (int n = 0; n < forwardResults; n++) {
            assertArrayEquals(scalar[n], vector[n], names[n] + kernels);
        }
        for (int n = forwardResults; n < names.length; n++) {
            float largest = 0;
            for (float value : scalar[n]) {
                largest = Math.max(largest, Math.abs(value));
            }
            assertArrayEquals(scalar[n], vector[n], 4 * Math.ulp(largest), names[n] + kernels);
        }
    }

    /** One seeded LSTM on one backend: forward outputs, a streamed final h, and every gradient of a backward. */
    private static float[][] forwardAndBackward(Backend backend, int input, int hidden, int steps, int batch) {
        RnnShape shape = RnnShape.of(Cell.LSTM, input, hidden);
        try (TestRnn rnn = new TestRnn(952, shape, Options.DEFAULT.withBackend(backend));
             Runner runner = rnn.runner(batch, steps);
             State state = rnn.model.newState(batch);
             Trainer trainer = rnn.trainer(batch, steps);
             Gradients gradients = new Gradients(shape)) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = rnn.hiddenStates(batch);
            float[] c0 = rnn.cellStates(batch);
            float[] dy = rnn.outputGradient(steps, batch);
            float[] y = new float[steps * batch * hidden];
            float[] hT = new float[batch * hidden];
            float[] cT = new float[batch * hidden];
            runner.forward(x, steps, batch, h0, c0, y, hT, cT);

            state.setHidden(h0);
            state.setCell(c0);
            float[] streamed = new float[batch * hidden];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * batch * input, (t + 1) * batch * input), state, streamed);
            }

            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * hidden];
            float[] dc0 = new float[batch * hidden];
            trainer.forward(x, steps, batch, h0, c0, null, null, null);
            trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
            return new float[][] {y, hT, cT, streamed, dx, dh0, dc0, floats(gradients.tensor("weight_ih_l0")),
                    floats(gradients.tensor("weight_hh_l0")), floats(gradients.tensor("bias_ih_l0")),
                    floats(gradients.tensor("bias_hh_l0"))};
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void theTrainersForwardEqualsTheRunnersBitForBit(Cell cell) {
        try (TestRnn rnn = new TestRnn(951, RnnShape.of(cell, 8, 45), Options.DEFAULT);
             Runner runner = runner(rnn, 5, 30, 2);
             Trainer trainer = rnn.trainer(5, 30)) {
            float[] x = rnn.input(30, 5);
            float[] fromRunner = new float[30 * 5 * 45];
            float[] fromTrainer = new float[fromRunner.length];
            runner.forward(x, 30, 5, null, null, fromRunner, null, null);
            trainer.forward(TrainerVsReferenceTest.segment(x), 30, 5, null, null,
                    TrainerVsReferenceTest.segment(fromTrainer), null, null);
            assertArrayEquals(fromRunner, fromTrainer);
        }
    }
}
