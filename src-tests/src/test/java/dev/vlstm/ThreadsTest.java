package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import dev.vlstm.reference.ReferenceLstm;

/**
 * A runner with several threads (intra-op parallelism) gives the one-thread runner's results bit for bit: each
 * thread computes whole blocks of hidden units with the same FMA chain in k order. Checked for 2 and 3 threads
 * (more than this machine's cores still has to be right), on odd sizes where the blocks are fewer than the threads
 * (H = 1, 3, 17 at 512 bits: one or two blocks) or do not divide evenly among them, on batches that fill the
 * 4-row tiles or leave rows over, for sequences, streams, variable lengths, both kernels and compressed weights,
 * and for the trainer's forward and backward.
 * The one-thread runner is itself checked against the double reference elsewhere; here the threaded results are
 * also held to that test's tolerance ({@link ForwardVsReferenceTest#TOLERANCE}) against the reference.
 */
class ThreadsTest {

    static Stream<Arguments> shapes() {
        List<Arguments> shapes = new ArrayList<>();
        int[][] sizes = {{5, 1}, {4, 3}, {9, 17}, {17, 33}, {33, 100}, {19, 257}};
        int[] batches = {1, 3, 4, 9};
        for (int n = 0; n < sizes.length; n++) {
            for (int threads = 2; threads <= 3; threads++) {
                shapes.add(Arguments.of(sizes[n][0], sizes[n][1], 7, batches[(n + threads) % batches.length],
                        threads));
            }
        }
        return shapes.stream();
    }

    @ParameterizedTest(name = "I={0} H={1} T={2} B={3} threads={4}")
    @MethodSource("shapes")
    void sequenceStreamAndVariableLengthsEqualOneThreadBitForBit(int inputSize, int hiddenSize, int steps,
                                                                 int batch, int threads) throws InterruptedException {
        for (Backend backend : Backend.values()) {
            try (TestModel model = new TestModel(400 + hiddenSize + threads, inputSize, hiddenSize, backend)) {
                assertSameBits(model, model.weights, steps, batch, threads, true);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"BFLOAT16", "INT8"})
    void compressedWeightsEqualOneThreadBitForBit(WeightPrecision precision) throws InterruptedException {
        try (TestModel model = new TestModel(431, 17, 100);
             LstmWeights weights = CompressedWeightsTest.pack(model, Backend.PREFERRED, precision)) {
            assertSameBits(model, weights, 6, 5, 2, false);
        }
    }

    /**
     * With projection (proj_size = P) the threads also split the projection GEMM h = m·W_hrᵀ (float32 weights), and
     * each recurrent step reads h of width P: outputs equal one thread's bit for bit, for float and compressed W, U.
     */
    @ParameterizedTest(name = "{0} threads={1}")
    @CsvSource({"FLOAT32, 2", "FLOAT32, 3", "BFLOAT16, 2"})
    void projectedModelsEqualOneThreadBitForBit(WeightPrecision precision, int threads) {
        int steps = 6;
        int batch = 5;
        try (ProjectedTestModel model = new ProjectedTestModel(460, 17, 100, 33, Backend.PREFERRED, precision)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.hidden(batch);
            float[][] expected = forwardOutputs(model.weights, 1, x, steps, batch, h0);
            float[][] actual = forwardOutputs(model.weights, threads, x, steps, batch, h0);
            String[] names = {"y", "hT", "cT"};
            for (int n = 0; n < names.length; n++) {
                assertArrayEquals(expected[n], actual[n], names[n] + ", " + threads + " threads, " + precision);
            }
        }
    }

    /** With peepholes the split steps add each block's own peephole terms: outputs equal one thread's bit for bit. */
    @ParameterizedTest(name = "{0} threads={1}")
    @CsvSource({"FLOAT32, 2", "FLOAT32, 3", "INT8, 2"})
    void peepholeModelsEqualOneThreadBitForBit(WeightPrecision precision, int threads) {
        int steps = 6;
        int batch = 5;
        int inputSize = 17;
        int hiddenSize = 100;
        java.util.SplittableRandom random = new java.util.SplittableRandom(470);
        float bound = (float) (1 / Math.sqrt(hiddenSize));
        try (LstmWeights weights = LstmWeights.fromPyTorch(Backend.PREFERRED, precision, inputSize, hiddenSize, 0,
                TestModel.uniform(random, 4 * hiddenSize * inputSize, bound),
                TestModel.uniform(random, 4 * hiddenSize * hiddenSize, bound),
                TestModel.uniform(random, 4 * hiddenSize, bound), TestModel.uniform(random, 4 * hiddenSize, bound),
                null, TestModel.uniform(random, 3 * hiddenSize, 1f))) {
            float[] x = TestModel.uniform(random, steps * batch * inputSize, 1f);
            float[] h0 = TestModel.uniform(random, batch * hiddenSize, 1f);
            float[][] expected = forwardOutputs(weights, 1, x, steps, batch, h0);
            float[][] actual = forwardOutputs(weights, threads, x, steps, batch, h0);
            String[] names = {"y", "hT", "cT"};
            for (int n = 0; n < names.length; n++) {
                assertArrayEquals(expected[n], actual[n], names[n] + ", " + threads + " threads, " + precision);
            }
        }
    }

    private static float[][] forwardOutputs(LstmWeights weights, int threads, float[] x, int steps, int batch,
                                       float[] h0) {
        int output = weights.outputSize();
        try (LstmRunner runner = new LstmRunner(weights, batch, 4, NonFiniteInputs.PROPAGATE,
                LstmRunner.NO_CELL_CLIP, threads)) {
            float[] y = new float[steps * batch * output];
            float[] hT = new float[batch * output];
            float[] cT = new float[batch * weights.hiddenSize()];
            runner.forward(x, steps, batch, h0, null, y, hT, cT);
            return new float[][] {y, hT, cT};
        }
    }

    /**
     * Runs every kind of call on a one-thread runner and on one with {@code threads}, the second time after a
     * pause longer than the workers' idle spell (so they have parked and must be woken), and compares every output.
     */
    private static void assertSameBits(TestModel model, LstmWeights weights, int steps, int batch, int threads,
                                       boolean againstReference) throws InterruptedException {
        int hidden = model.hiddenSize;
        float[] x = model.input(steps, batch);
        float[] h0 = model.state(batch);
        float[] c0 = model.state(batch);
        int[] lengths = VariableLengthTest.lengths(steps * 31L + batch, steps, batch);
        float[][] expected = allOutputs(weights, 1, x, steps, batch, h0, c0, lengths, hidden);
        try (LstmRunner runner = new LstmRunner(weights, batch, 3, NonFiniteInputs.PROPAGATE,
                LstmRunner.NO_CELL_CLIP, threads)) {
            assertEquals(threads, runner.threads());
            for (int round = 0; round < 2; round++) {
                float[][] actual = allOutputs(runner, x, steps, batch, h0, c0, lengths, hidden, weights);
                String[] names = {"y", "hT", "cT", "streamed h", "variable-length y", "variable-length hT"};
                for (int n = 0; n < names.length; n++) {
                    assertArrayEquals(expected[n], actual[n], names[n] + ", " + threads + " threads, round " + round);
                }
                Thread.sleep(5);
            }
        }
        if (againstReference) {
            ReferenceLstm.Result reference = model.reference.forward(x, steps, batch, h0, c0);
            assertTrue(TestModel.maxAbsError(expected[0], reference.y()) <= ForwardVsReferenceTest.TOLERANCE);
            assertTrue(TestModel.maxAbsError(expected[2], reference.cT()) <= ForwardVsReferenceTest.TOLERANCE);
        }
    }

    private static float[][] allOutputs(LstmWeights weights, int threads, float[] x, int steps, int batch,
                                        float[] h0, float[] c0, int[] lengths, int hidden) {
        try (LstmRunner runner = new LstmRunner(weights, batch, 3, NonFiniteInputs.PROPAGATE,
                LstmRunner.NO_CELL_CLIP, threads)) {
            return allOutputs(runner, x, steps, batch, h0, c0, lengths, hidden, weights);
        }
    }

    /** y, hT, cT of a sequence; h after streaming it; y and hT with variable lengths, batch-first. */
    private static float[][] allOutputs(LstmRunner runner, float[] x, int steps, int batch, float[] h0, float[] c0,
                                        int[] lengths, int hidden, LstmWeights weights) {
        float[] y = new float[steps * batch * hidden];
        float[] hT = new float[batch * hidden];
        float[] cT = new float[batch * hidden];
        runner.forward(x, steps, batch, h0, c0, y, hT, cT);
        float[] streamed = new float[batch * hidden];
        try (LstmState state = new LstmState(weights, batch)) {
            int frame = batch * weights.inputSize();
            for (int t = 0; t < steps; t++) {
                float[] input = Arrays.copyOfRange(x, t * frame, (t + 1) * frame);
                runner.step(input, state, streamed);
            }
        }
        float[] variableY = new float[y.length];
        float[] variableHT = new float[hT.length];
        runner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, h0, c0, variableY, variableHT, null);
        return new float[][] {y, hT, cT, streamed, variableY, variableHT};
    }

    /**
     * The trainer splits every GEMM of forward and backward (projection, recurrent steps, dh = dz·U per step, dx,
     * dW_ih, dW_hh) by output blocks: every output and gradient is the one-thread trainer's, bit for bit, with and
     * without variable lengths and cell clip.
     */
    @ParameterizedTest(name = "I={0} H={1} T={2} B={3} threads={4}")
    @MethodSource("shapes")
    void trainerForwardAndBackwardEqualOneThreadBitForBit(int inputSize, int hiddenSize, int steps, int batch,
                                                          int threads) {
        try (TestModel model = new TestModel(450 + hiddenSize, inputSize, hiddenSize)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.state(batch);
            float[] c0 = model.state(batch);
            float[] dy = model.uniform(steps * batch * hiddenSize, 1f);
            float[] dhT = model.state(batch);
            int[] lengths = VariableLengthTest.lengths(steps * 17L + batch, steps, batch);
            for (int[] callLengths : new int[][] {null, lengths}) {
                for (float clip : new float[] {LstmRunner.NO_CELL_CLIP, 0.6f}) {
                    float[][] expected = training(model, 1, clip, x, callLengths, steps, batch, h0, c0, dy, dhT);
                    float[][] actual = training(model, threads, clip, x, callLengths, steps, batch, h0, c0, dy, dhT);
                    String[] names = {"y", "hT", "cT", "dx", "dh0", "dc0", "dW_ih", "dW_hh", "db_ih", "db_hh"};
                    for (int n = 0; n < names.length; n++) {
                        assertArrayEquals(expected[n], actual[n], names[n] + ", " + threads + " threads, lengths "
                                + Arrays.toString(callLengths) + ", clip " + clip);
                    }
                }
            }
        }
    }

    /** A training forward (batch-first when {@code lengths} is given) and backward: outputs and every gradient. */
    private static float[][] training(TestModel model, int threads, float clip, float[] x, int[] lengths, int steps,
                                      int batch, float[] h0, float[] c0, float[] dy, float[] dhT) {
        int hidden = model.hiddenSize;
        try (LstmTrainer trainer = new LstmTrainer(model.weights, batch, steps, clip, threads);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            assertEquals(threads, trainer.threads());
            float[] y = new float[steps * batch * hidden];
            float[] hT = new float[batch * hidden];
            float[] cT = new float[batch * hidden];
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * hidden];
            float[] dc0 = new float[batch * hidden];
            if (lengths == null) {
                trainer.forward(wrap(x), steps, batch, wrap(h0), wrap(c0), wrap(y), wrap(hT), wrap(cT));
            } else {
                trainer.forward(wrap(x), SequenceLayout.BATCH_FIRST, steps, batch, lengths, wrap(h0), wrap(c0),
                        wrap(y), wrap(hT), wrap(cT));
            }
            trainer.backward(wrap(dy), wrap(dhT), null, gradients, GradientMode.OVERWRITE, wrap(dx), wrap(dh0),
                    wrap(dc0));
            return new float[][] {y, hT, cT, dx, dh0, dc0, floats(gradients.weightIh()),
                    floats(gradients.weightHh()), floats(gradients.biasIh()), floats(gradients.biasHh())};
        }
    }

    private static MemorySegment wrap(float[] values) {
        return MemorySegment.ofArray(values);
    }

    private static float[] floats(MemorySegment segment) {
        return segment.toArray(ValueLayout.JAVA_FLOAT);
    }

    @Test
    void trainerCloseEndsItsWorkerThreads() {
        try (TestModel model = new TestModel(443, 6, 50)) {
            LstmTrainer trainer = new LstmTrainer(model.weights, 2, 4, LstmRunner.NO_CELL_CLIP, 2);
            List<Thread> workers = trainer.workerThreads();
            assertEquals(1, workers.size());
            assertTrue(workers.get(0).isAlive());
            trainer.close();
            assertFalse(workers.get(0).isAlive(), "the trainer's worker still runs after close()");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new LstmTrainer(model.weights, 2, 4, LstmRunner.NO_CELL_CLIP, 0));
            assertEquals("threads must be >= 1, got 0", e.getMessage());
        }
    }

    @Test
    void theStaticFactoryUsesTheDefaultChunkAndTheGivenThreads() {
        try (TestModel model = new TestModel(440, 8, 40);
             LstmRunner runner = LstmRunner.withThreads(model.weights, 2, 2);
             LstmRunner plain = new LstmRunner(model.weights, 2)) {
            assertEquals(2, runner.threads());
            assertEquals(1, plain.threads());
            assertEquals(plain.projectionSteps(), runner.projectionSteps());
        }
    }

    @ParameterizedTest(name = "threads={0}")
    @ValueSource(ints = {0, -1, Integer.MIN_VALUE, LstmRunner.MAX_THREADS + 1})
    void badThreadCountsAreRefusedByName(int threads) {
        try (TestModel model = new TestModel(441, 3, 5)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> LstmRunner.withThreads(model.weights, 1, threads));
            assertTrue(e.getMessage().startsWith("threads must be"), e.getMessage());
            assertTrue(e.getMessage().endsWith("got " + threads), e.getMessage());
        }
    }

    @Test
    void closeEndsTheWorkerThreadsAndOneThreadStartsNone() {
        try (TestModel model = new TestModel(442, 6, 50)) {
            LstmRunner runner = LstmRunner.withThreads(model.weights, 2, 3);
            List<Thread> workers = runner.workerThreads();
            assertEquals(2, workers.size());
            for (Thread worker : workers) {
                assertTrue(worker.isAlive(), worker.getName());
                assertTrue(worker.isDaemon(), worker.getName());
                assertTrue(worker.getName().startsWith("vlstm-kernel-"), worker.getName());
            }
            runner.forward(model.input(4, 2), 4, 2, null, null, null, new float[2 * 50], null);
            runner.close();
            for (Thread worker : workers) {
                assertFalse(worker.isAlive(), worker.getName() + " still runs after close()");
            }
            runner.close();
            assertThrows(IllegalStateException.class,
                    () -> runner.forward(model.input(4, 2), 4, 2, null, null, null, null, null));
            try (LstmRunner single = new LstmRunner(model.weights, 2)) {
                assertEquals(List.of(), single.workerThreads());
            }
        }
    }
}
