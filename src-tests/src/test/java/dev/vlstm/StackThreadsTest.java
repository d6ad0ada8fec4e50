package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Whole models on several threads: {@link LstmStackRunner} and {@link LstmStackTrainer} with a thread count give the
 * one-thread results bit for bit (each thread computes whole blocks of hidden units with the same FMA chain in k
 * order), every layer and direction running on the same {@code threads - 1} worker threads. Checked for 2 and 3
 * threads on odd sizes (one block, blocks fewer than threads, blocks that do not divide evenly), for sequences,
 * both layouts of variable lengths, streams, a model whose layers are packed at different precisions (its parts'
 * kernels differ but share the threads), and the trainer's outputs and every gradient, with dropout and a cell
 * clip. The one-thread stack is itself checked against the double reference elsewhere.
 */
class StackThreadsTest {

    @ParameterizedTest(name = "I={0} H={1} L={2} bidirectional={3} T={4} B={5} threads={6}")
    @CsvSource({
            "5, 1, 2, true, 4, 3, 2",
            "9, 17, 2, false, 5, 4, 3",
            "17, 33, 3, true, 6, 5, 2",
            "33, 100, 2, true, 4, 9, 3",
            "19, 57, 2, false, 7, 1, 2"})
    void runnerEqualsOneThreadBitForBit(int inputSize, int hiddenSize, int layers, boolean bidirectional, int steps,
                                        int batch, int threads) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, bidirectional);
        try (TestStack model = new TestStack(950 + hiddenSize, shape, Backend.PREFERRED, true)) {
            assertRunnersAgree(model, model.weights, steps, batch, threads);
        }
    }

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
            assertEquals(1, single.threads());
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
            if (!shape.bidirectional()) {
                try (LstmStackState expectedState = new LstmStackState(weights, batch);
                     LstmStackState actualState = new LstmStackState(weights, batch)) {
                    int frame = batch * shape.inputSize();
                    float[] expectedH = new float[batch * shape.outputSize()];
                    float[] actualH = new float[expectedH.length];
                    for (int t = 0; t < steps; t++) {
                        float[] xt = Arrays.copyOfRange(x, t * frame, (t + 1) * frame);
                        single.step(xt, expectedState, expectedH);
                        threaded.step(xt, actualState, actualH);
                        assertArrayEquals(expectedH, actualH, "h after step " + t);
                    }
                    assertArrayEquals(expectedState.cell(), actualState.cell(), "streamed c");
                }
            }
        }
    }

    @ParameterizedTest(name = "I={0} H={1} L={2} bidirectional={3} T={4} B={5} threads={6}")
    @CsvSource({
            "5, 3, 2, true, 4, 3, 2",
            "9, 33, 2, false, 5, 4, 3",
            "17, 50, 2, true, 3, 5, 3"})
    void trainerEqualsOneThreadBitForBit(int inputSize, int hiddenSize, int layers, boolean bidirectional, int steps,
                                         int batch, int threads) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, bidirectional);
        double dropout = 0.25;
        float clip = 0.9f;
        try (TestStack model = new TestStack(970 + hiddenSize, shape, Backend.PREFERRED, true);
             Arena arena = Arena.ofConfined();
             LstmStackTrainer single = new LstmStackTrainer(model.weights, batch, steps, dropout, 5, clip, 1);
             LstmStackTrainer threaded = new LstmStackTrainer(model.weights, batch, steps, dropout, 5, clip, threads);
             LstmStackGradients expected = new LstmStackGradients(model.weights);
             LstmStackGradients actual = new LstmStackGradients(model.weights)) {
            assertEquals(threads, threaded.threads());
            assertEquals(threads - 1, threaded.workerThreads().size(), "one set of workers for every part");
            MemorySegment x = segment(arena, model.input(steps, batch));
            MemorySegment h0 = segment(arena, model.states(batch));
            MemorySegment c0 = segment(arena, model.states(batch));
            MemorySegment dy = segment(arena, model.outputGradient(steps, batch));
            MemorySegment dhT = segment(arena, model.states(batch));
            MemorySegment dcT = segment(arena, model.states(batch));
            Results one = Results.of(arena, shape, steps, batch);
            Results many = Results.of(arena, shape, steps, batch);
            single.forward(x, steps, batch, h0, c0, one.y, one.hT, one.cT);
            threaded.forward(x, steps, batch, h0, c0, many.y, many.hT, many.cT);
            single.backward(dy, dhT, dcT, expected, GradientMode.OVERWRITE, one.dx, one.dh0, one.dc0);
            threaded.backward(dy, dhT, dcT, actual, GradientMode.OVERWRITE, many.dx, many.dh0, many.dc0);
            many.assertEquals(one);
            for (int layer = 0; layer < shape.layers(); layer++) {
                for (int direction = 0; direction < shape.directions(); direction++) {
                    LstmGradients want = expected.layer(layer, direction);
                    LstmGradients got = actual.layer(layer, direction);
                    String part = "layer " + layer + " direction " + direction + ": ";
                    assertArrayEquals(floats(want.weightIh()), floats(got.weightIh()), part + "dW_ih");
                    assertArrayEquals(floats(want.weightHh()), floats(got.weightHh()), part + "dW_hh");
                    assertArrayEquals(floats(want.biasIh()), floats(got.biasIh()), part + "db_ih");
                    assertArrayEquals(floats(want.biasHh()), floats(got.biasHh()), part + "db_hh");
                }
            }
        }
    }

    @Test
    void closeEndsTheSharedWorkersAndOneThreadStartsNone() {
        try (TestStack model = new TestStack(980, 6, 40, 2, true)) {
            LstmStackRunner runner = new LstmStackRunner(model.weights, 2, 3, LstmRunner.NO_CELL_CLIP, 3);
            LstmStackTrainer trainer = new LstmStackTrainer(model.weights, 2, 3, LstmRunner.NO_CELL_CLIP, 2);
            List<Thread> workers = new ArrayList<>(runner.workerThreads());
            workers.addAll(trainer.workerThreads());
            assertEquals(3, workers.size());
            for (Thread worker : workers) {
                assertTrue(worker.isAlive(), worker.getName());
                assertTrue(worker.isDaemon(), worker.getName());
            }
            runner.forward(model.input(3, 2), 3, 2, null, null, new float[3 * 2 * 80], null, null);
            runner.close();
            trainer.close();
            for (Thread worker : workers) {
                assertFalse(worker.isAlive(), worker.getName() + " still runs after close()");
            }
            try (LstmStackRunner single = new LstmStackRunner(model.weights, 2, 3);
                 LstmStackTrainer singleTrainer = new LstmStackTrainer(model.weights, 2, 3)) {
                assertEquals(List.of(), single.workerThreads());
                assertEquals(List.of(), singleTrainer.workerThreads());
                assertEquals(1, singleTrainer.threads());
            }
        }
    }

    @ParameterizedTest(name = "threads={0}")
    @ValueSource(ints = {0, -1, LstmRunner.MAX_THREADS + 1})
    void badThreadCountsAreRefusedByName(int threads) {
        try (TestStack model = new TestStack(981, 3, 5, 2, false)) {
            IllegalArgumentException runner = assertThrows(IllegalArgumentException.class,
                    () -> new LstmStackRunner(model.weights, 1, 2, LstmRunner.NO_CELL_CLIP, threads));
            IllegalArgumentException trainer = assertThrows(IllegalArgumentException.class,
                    () -> new LstmStackTrainer(model.weights, 1, 2, LstmRunner.NO_CELL_CLIP, threads));
            IllegalArgumentException withDropout = assertThrows(IllegalArgumentException.class,
                    () -> new LstmStackTrainer(model.weights, 1, 2, 0.5, 1, LstmRunner.NO_CELL_CLIP, threads));
            for (IllegalArgumentException e : List.of(runner, trainer, withDropout)) {
                assertTrue(e.getMessage().startsWith("threads must be"), e.getMessage());
                assertTrue(e.getMessage().endsWith("got " + threads), e.getMessage());
            }
        }
    }

    private static MemorySegment segment(Arena arena, float[] values) {
        return arena.allocateFrom(ValueLayout.JAVA_FLOAT, values);
    }

    private static float[] floats(MemorySegment segment) {
        return segment.toArray(ValueLayout.JAVA_FLOAT);
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

    /** Every output of a trainer's forward and backward. */
    private record Results(MemorySegment y, MemorySegment hT, MemorySegment cT, MemorySegment dx, MemorySegment dh0,
                           MemorySegment dc0) {
        static Results of(Arena arena, LstmStackShape shape, int steps, int batch) {
            long states = (long) shape.stateCount() * batch * shape.hiddenSize();
            return new Results(arena.allocate((long) steps * batch * shape.outputSize() * Float.BYTES),
                    arena.allocate(states * Float.BYTES), arena.allocate(states * Float.BYTES),
                    arena.allocate((long) steps * batch * shape.inputSize() * Float.BYTES),
                    arena.allocate(states * Float.BYTES), arena.allocate(states * Float.BYTES));
        }

        void assertEquals(Results expected) {
            assertArrayEquals(floats(expected.y), floats(y), "y");
            assertArrayEquals(floats(expected.hT), floats(hT), "hT");
            assertArrayEquals(floats(expected.cT), floats(cT), "cT");
            assertArrayEquals(floats(expected.dx), floats(dx), "dx");
            assertArrayEquals(floats(expected.dh0), floats(dh0), "dh0");
            assertArrayEquals(floats(expected.dc0), floats(dc0), "dc0");
        }
    }
}
