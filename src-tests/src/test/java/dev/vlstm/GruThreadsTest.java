package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
import static dev.vlstm.TrainerVsReferenceTest.assertClose;
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
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import dev.vlstm.reference.ReferenceGru;

/**
 * A GRU runner or trainer with several threads gives the one-thread results bit for bit, as {@link ThreadsTest}
 * checks for LSTMs: each thread computes whole blocks of hidden units (and, in the backward, whole blocks of the
 * GEMMs' outputs) with the same FMA chain in k order. Checked for 2 and 3 threads on H = 1, 3 (one block at 512
 * bits: nothing to split), 17, 33 (fewer blocks than threads, or blocks that do not divide evenly), 100 and 257, on
 * batches that fill the 4-row tiles or leave rows over, for sequences, streams, variable lengths in both layouts,
 * both kernels, and the trainer's forward and every gradient.
 *
 * <p>The threaded results are also held to the reference within the existing GRU tests' tolerances: outputs to
 * max |error| &le; {@value ForwardVsReferenceTest#TOLERANCE} ({@link ForwardVsReferenceTest}), gradients to
 * {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} times the largest expected value
 * ({@link TrainerVsReferenceTest}).
 */
class GruThreadsTest {

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

    /**
     * Every kind of runner call on one thread and on {@code threads}, the second round after a pause longer than the
     * workers' idle spell (so they have parked and must be woken), for both kernels.
     */
    @ParameterizedTest(name = "I={0} H={1} T={2} B={3} threads={4}")
    @MethodSource("shapes")
    void sequenceStreamAndVariableLengthsEqualOneThreadBitForBit(int inputSize, int hiddenSize, int steps,
                                                                 int batch, int threads) throws InterruptedException {
        for (Backend backend : Backend.values()) {
            try (TestGru model = new TestGru(900 + hiddenSize + threads, inputSize, hiddenSize, backend)) {
                float[] x = model.input(steps, batch);
                float[] h0 = model.state(batch);
                int[] lengths = VariableLengthTest.lengths(steps * 31L + batch, steps, batch);
                float[][] expected;
                try (GruRunner single = new GruRunner(model.weights, batch, 3)) {
                    assertEquals(1, single.threads());
                    expected = allOutputs(single, model, x, steps, batch, h0, lengths);
                }
                try (GruRunner runner = new GruRunner(model.weights, batch, 3, threads)) {
                    assertEquals(threads, runner.threads());
                    for (int round = 0; round < 2; round++) {
                        float[][] actual = allOutputs(runner, model, x, steps, batch, h0, lengths);
                        String[] names = {"y", "hT", "streamed h", "variable-length y", "variable-length hT",
                                "batch-first variable-length y", "batch-first variable-length hT"};
                        for (int n = 0; n < names.length; n++) {
                            assertArrayEquals(expected[n], actual[n], names[n] + ", " + backend + ", " + threads
                                    + " threads, round " + round);
                        }
                        Thread.sleep(5);
                    }
                }
                ReferenceGru.Result reference = model.reference.forward(x, steps, batch, h0);
                assertWithinTolerance("y", expected[0], reference.y());
                assertWithinTolerance("hT", expected[1], reference.hT());
                ReferenceGru.Result variable = model.reference.forward(x, steps, batch, lengths, h0);
                assertWithinTolerance("variable-length y", expected[3], variable.y());
                assertWithinTolerance("variable-length hT", expected[4], variable.hT());
            }
        }
    }

    private static void assertWithinTolerance(String name, float[] actual, double[] expected) {
        double error = TestModel.maxAbsError(actual, expected);
        assertTrue(error <= ForwardVsReferenceTest.TOLERANCE, name + " error " + error);
    }

    /**
     * y and hT of a sequence; h after streaming it; y and hT with variable lengths, time-major and batch-first (the
     * latter's x the same values read as {@code [B][T][I]}).
     */
    private static float[][] allOutputs(GruRunner runner, TestGru model, float[] x, int steps, int batch, float[] h0,
                                        int[] lengths) {
        int hidden = model.hiddenSize;
        float[] y = new float[steps * batch * hidden];
        float[] hT = new float[batch * hidden];
        runner.forward(x, steps, batch, h0, y, hT);
        float[] streamed = new float[batch * hidden];
        try (GruState state = new GruState(model.weights, batch)) {
            state.setHidden(h0);
            int frame = batch * model.inputSize;
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * frame, (t + 1) * frame), state, streamed);
            }
        }
        float[] variableY = new float[y.length];
        float[] variableHT = new float[hT.length];
        runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, variableY, variableHT);
        float[] batchFirstY = new float[y.length];
        float[] batchFirstHT = new float[hT.length];
        runner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, h0, batchFirstY, batchFirstHT);
        return new float[][] {y, hT, streamed, variableY, variableHT, batchFirstY, batchFirstHT};
    }

    /**
     * The trainer splits every GEMM of forward and backward (projection, recurrent steps, dh = g·W_hh per step, dx,
     * dW_ih, dW_hh) by output blocks: every output and gradient is the one-thread trainer's, bit for bit, without
     * and with variable lengths (time-major and batch-first); the time-major ones also match the reference.
     */
    @ParameterizedTest(name = "I={0} H={1} T={2} B={3} threads={4}")
    @MethodSource("shapes")
    void trainerForwardAndBackwardEqualOneThreadBitForBit(int inputSize, int hiddenSize, int steps, int batch,
                                                          int threads) {
        Backend backend = hiddenSize == 33 ? Backend.SCALAR : Backend.PREFERRED;
        try (TestGru model = new TestGru(950 + hiddenSize, inputSize, hiddenSize, backend)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.state(batch);
            float[] dy = TestModel.uniform(new SplittableRandom(steps + batch), steps * batch * hiddenSize, 1f);
            float[] dhT = model.state(batch);
            int[] lengths = VariableLengthTest.lengths(steps * 17L + batch, steps, batch);
            String[] names = {"y", "hT", "dx", "dh0", "dW_ih", "dW_hh", "db_ih", "db_hh"};
            for (int[] callLengths : new int[][] {null, lengths}) {
                for (SequenceLayout order : SequenceLayout.values()) {
                    float[][] expected = training(model, 1, x, order, callLengths, steps, batch, h0, dy, dhT);
                    float[][] actual = training(model, threads, x, order, callLengths, steps, batch, h0, dy, dhT);
                    for (int n = 0; n < names.length; n++) {
                        assertArrayEquals(expected[n], actual[n], names[n] + ", " + threads + " threads, " + order
                                + ", lengths " + Arrays.toString(callLengths));
                    }
                    if (order == SequenceLayout.TIME_MAJOR) {
                        assertTrainingMatchesReference(model, actual, x, steps, batch, callLengths, h0, dy, dhT);
                    }
                }
            }
        }
    }

    private static void assertTrainingMatchesReference(TestGru model, float[][] actual, float[] x, int steps,
                                                       int batch, int[] lengths, float[] h0, float[] dy,
                                                       float[] dhT) {
        ReferenceGru.Result forward = model.reference.forward(x, steps, batch, lengths, h0);
        assertWithinTolerance("y", actual[0], forward.y());
        assertWithinTolerance("hT", actual[1], forward.hT());
        ReferenceGru.Gradients expected = model.reference.backward(doubles(x), steps, batch, lengths, doubles(h0),
                doubles(dy), doubles(dhT));
        assertClose("x", actual[2], expected.x());
        assertClose("h0", actual[3], expected.h0());
        assertClose("weightIh", actual[4], expected.weightIh());
        assertClose("weightHh", actual[5], expected.weightHh());
        assertClose("biasIh", actual[6], expected.biasIh());
        assertClose("biasHh", actual[7], expected.biasHh());
    }

    /**
     * A training forward (the plain time-major call when {@code lengths} is null and the order is time-major, else
     * the lengths call, all T for null) and backward: outputs and every gradient.
     */
    private static float[][] training(TestGru model, int threads, float[] x, SequenceLayout order, int[] lengths,
                                      int steps, int batch, float[] h0, float[] dy, float[] dhT) {
        int hidden = model.hiddenSize;
        try (GruTrainer trainer = new GruTrainer(model.weights, batch, steps, threads);
             GruGradients gradients = new GruGradients(model.weights)) {
            assertEquals(threads, trainer.threads());
            float[] y = new float[steps * batch * hidden];
            float[] hT = new float[batch * hidden];
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * hidden];
            if (lengths == null && order == SequenceLayout.TIME_MAJOR) {
                trainer.forward(x, steps, batch, h0, y, hT);
            } else {
                int[] callLengths = lengths == null ? full(steps, batch) : lengths;
                trainer.forward(MemorySegment.ofArray(x), order, steps, batch, callLengths, MemorySegment.ofArray(h0),
                        MemorySegment.ofArray(y), MemorySegment.ofArray(hT));
            }
            trainer.backward(dy, dhT, gradients, GradientMode.OVERWRITE, dx, dh0);
            return new float[][] {y, hT, dx, dh0, floats(gradients.weightIh()), floats(gradients.weightHh()),
                    floats(gradients.biasIh()), floats(gradients.biasHh())};
        }
    }

    private static int[] full(int steps, int batch) {
        int[] lengths = new int[batch];
        Arrays.fill(lengths, steps);
        return lengths;
    }

    private static float[] floats(MemorySegment segment) {
        return segment.toArray(ValueLayout.JAVA_FLOAT);
    }

    @Test
    void theStaticFactoryUsesTheDefaultChunkAndTheGivenThreads() {
        try (TestGru model = new TestGru(960, 8, 40, Backend.PREFERRED);
             GruRunner runner = GruRunner.withThreads(model.weights, 2, 2);
             GruRunner plain = new GruRunner(model.weights, 2)) {
            assertEquals(2, runner.threads());
            assertEquals(1, plain.threads());
            assertEquals(plain.projectionSteps(), runner.projectionSteps());
        }
    }

    @ParameterizedTest(name = "threads={0}")
    @ValueSource(ints = {0, -1, Integer.MIN_VALUE, LstmRunner.MAX_THREADS + 1})
    void badThreadCountsAreRefusedByName(int threads) {
        try (TestGru model = new TestGru(961, 3, 5, Backend.PREFERRED)) {
            List<IllegalArgumentException> refusals = List.of(
                    assertThrows(IllegalArgumentException.class,
                            () -> GruRunner.withThreads(model.weights, 1, threads)),
                    assertThrows(IllegalArgumentException.class,
                            () -> new GruRunner(model.weights, 1, 1, threads)),
                    assertThrows(IllegalArgumentException.class,
                            () -> new GruTrainer(model.weights, 1, 1, threads)));
            for (IllegalArgumentException e : refusals) {
                assertTrue(e.getMessage().startsWith("threads must be"), e.getMessage());
                assertTrue(e.getMessage().endsWith("got " + threads), e.getMessage());
            }
        }
    }

    @Test
    void closeEndsTheWorkerThreadsAndOneThreadStartsNone() {
        try (TestGru model = new TestGru(962, 6, 50, Backend.PREFERRED)) {
            GruRunner runner = GruRunner.withThreads(model.weights, 2, 3);
            List<Thread> workers = runner.workerThreads();
            assertEquals(2, workers.size());
            for (Thread worker : workers) {
                assertTrue(worker.isAlive(), worker.getName());
                assertTrue(worker.isDaemon(), worker.getName());
                assertTrue(worker.getName().startsWith("vlstm-kernel-"), worker.getName());
            }
            runner.forward(model.input(4, 2), 4, 2, null, null, new float[2 * 50]);
            runner.close();
            for (Thread worker : workers) {
                assertFalse(worker.isAlive(), worker.getName() + " still runs after close()");
            }
            runner.close();
            assertThrows(IllegalStateException.class,
                    () -> runner.forward(model.input(4, 2), 4, 2, null, null, null));
            try (GruRunner single = new GruRunner(model.weights, 2)) {
                assertEquals(List.of(), single.workerThreads());
            }
        }
    }

    @Test
    void trainerCloseEndsItsWorkerThreadsAndOneThreadStartsNone() {
        try (TestGru model = new TestGru(963, 6, 50, Backend.PREFERRED)) {
            GruTrainer trainer = new GruTrainer(model.weights, 2, 4, 2);
            List<Thread> workers = trainer.workerThreads();
            assertEquals(1, workers.size());
            assertTrue(workers.get(0).isAlive());
            trainer.close();
            assertFalse(workers.get(0).isAlive(), "the trainer's worker still runs after close()");
            trainer.close();
            try (GruTrainer single = new GruTrainer(model.weights, 2, 4)) {
                assertEquals(1, single.threads());
                assertEquals(List.of(), single.workerThreads());
            }
        }
    }
}
