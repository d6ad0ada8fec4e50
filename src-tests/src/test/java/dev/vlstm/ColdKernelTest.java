package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import dev.vlstm.kernel.Kernels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The cold kernel that serves a model's runners while a background warm-up compiles the vector kernels
 * ({@link CallsDuringWarmUp#COLD_KERNEL}): every call it runs gives the bits the runner's own kernel gives, for every
 * cell, weight precision, projection, peepholes, clip, stack, direction, batch, variable lengths, thread count and
 * kernel family (the scalar one's 8 lanes too), and a stream crosses from one kernel to the other with the same bits;
 * a trainer's update drops its heap copies so no stale weight serves a call; a background warm-up begins it before
 * returning and ends it before its future completes, also when cancelled; {@link CallsDuringWarmUp#WARMING_KERNEL}
 * leaves it off. Each test checks that the calls it compares did run on the cold kernel ({@code Runner.coldCalls()}).
 */
class ColdKernelTest {

    private static final int INPUT_SIZE = 11;
    /** Not a whole number of blocks at any vector width: the padding lanes are in every call. */
    private static final int HIDDEN_SIZE = 37;
    private static final int PROJECTION_SIZE = 13;
    private static final int STEPS = 6;
    private static final int BATCH = 5;
    private static final Duration LONG = Duration.ofMinutes(2);
    /** The shortest window in which {@code Settling} watches the calls: 0.2 s. */
    private static final long SETTLING_WINDOW_NANOS = 200_000_000L;

    static Stream<Arguments> models() {
        List<Arguments> cases = new ArrayList<>();
        for (Cell cell : Cell.values()) {
            for (WeightPrecision precision : WeightPrecision.values()) {
                RnnShape one = RnnShape.of(cell, INPUT_SIZE, HIDDEN_SIZE);
                cases.add(Arguments.of(one, precision, Float.POSITIVE_INFINITY, 1, Backend.PREFERRED));
                cases.add(Arguments.of(one.withLayers(2).withDirection(Direction.BIDIRECTIONAL), precision, 0.75f, 2,
                        Backend.PREFERRED));
                if (cell != Cell.GRU) {
                    cases.add(Arguments.of(one.withLayers(2).withProjection(PROJECTION_SIZE).withPeepholes(true),
                            precision, 0.75f, 1, Backend.PREFERRED));
                }
                cases.add(Arguments.of(one.withLayers(2), precision, 0.75f, 1, Backend.SCALAR));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest
    @MethodSource("models")
    void coldCallsGiveTheBitsOfTheRunnersOwnKernel(RnnShape shape, WeightPrecision precision, float clip,
                                                   int threads, Backend backend) {
        Options options = Options.DEFAULT.withPrecision(precision).withCellClip(clip).withThreads(threads)
                .withBackend(backend);
        try (TestRnn rnn = new TestRnn(71, shape, options);
             Runner runner = rnn.model.runner(options.withMaxBatch(BATCH).withMaxSteps(STEPS))) {
            float[] x = rnn.input(STEPS, BATCH);
            float[] h0 = rnn.hiddenStates(BATCH);
            float[] c0 = rnn.cellStates(BATCH);
            int[] lengths = {STEPS, 0, 3, STEPS - 1, 1};
            List<float[]> own = outputs(rnn, runner, x, h0, c0, lengths);
            assertTrue(rnn.model.beginColdStart(Long.MAX_VALUE));
            List<float[]> cold;
            try {
                cold = outputs(rnn, runner, x, h0, c0, lengths);
            } finally {
                rnn.model.endColdStart();
            }
            assertTrue(runner.coldCalls() > 0, "the calls ran on the cold kernel");
            for (int n = 0; n < own.size(); n++) {
                assertArrayEquals(own.get(n), cold.get(n), "output " + n);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void aStreamCrossesFromTheColdKernelWithTheSameBits(Cell cell) {
        RnnShape shape = RnnShape.of(cell, INPUT_SIZE, HIDDEN_SIZE).withLayers(2);
        int frame = 3 * INPUT_SIZE;
        try (TestRnn rnn = new TestRnn(72, shape, Options.DEFAULT);
             Runner runner = rnn.runner(3, STEPS);
             State own = rnn.model.newState(3);
             State crossing = rnn.model.newState(3)) {
            float[] x = rnn.input(2 * STEPS, 3);
            float[][] expected = new float[2 * STEPS][3 * HIDDEN_SIZE];
            for (int t = 0; t < 2 * STEPS; t++) {
                runner.step(slice(x, t * frame, frame), own, expected[t]);
            }
            assertEquals(0, runner.coldCalls());
            assertTrue(rnn.model.beginColdStart(Long.MAX_VALUE));
            float[] h = new float[3 * HIDDEN_SIZE];
            for (int t = 0; t < 2 * STEPS; t++) {
                if (t == STEPS) {
                    rnn.model.endColdStart();
                }
                long before = runner.coldCalls();
                runner.step(slice(x, t * frame, frame), crossing, h);
                // Per layer: the input GEMM and the fused step.
                assertEquals(t < STEPS ? 2 * shape.layers() : 0, runner.coldCalls() - before, "cold calls, step " + t);
                assertArrayEquals(expected[t], h, "h after step " + t);
            }
            assertFalse(rnn.model.coldStartActive());
        }
    }

    @Test
    void aTrainersUpdateDropsTheHeapCopies() {
        RnnShape shape = RnnShape.of(Cell.LSTM, INPUT_SIZE, HIDDEN_SIZE);
        try (TestRnn rnn = new TestRnn(73, shape, Options.DEFAULT);
             Runner runner = rnn.runner(BATCH, STEPS);
             Trainer trainer = rnn.trainer(BATCH, STEPS);
             Parameters updated = Parameters.initialize(shape, 730)) {
            float[] x = rnn.input(STEPS, BATCH);
            assertTrue(rnn.model.beginColdStart(Long.MAX_VALUE));
            try {
                float[] before = forward(runner, x);
                assertTrue(runner.coldCalls() > 0);
                trainer.updateWeights(updated);
                assertFalse(rnn.model.coldStartActive(), "the update ended the cold calls");
                long cold = runner.coldCalls();
                float[] after = forward(runner, x);
                assertEquals(cold, runner.coldCalls(), "no call ran on the copies of the old weights");
                assertFalse(Arrays.equals(before, after), "the update changed the outputs");
            } finally {
                rnn.model.endColdStart();
            }
            assertTrue(rnn.model.beginColdStart(Long.MAX_VALUE), "a later begin copies the new weights");
            float[] cold;
            try {
                cold = forward(runner, x);
            } finally {
                rnn.model.endColdStart();
            }
            assertArrayEquals(forward(runner, x), cold, "copies of the updated weights");
        }
    }

    /**
     * A runner's own warm-up runs its own kernel while a cold start sends every other call to the cold one, and says
     * when its calls run compiled code at least a whole settling window (0.2 s) before it has settled: the moment a
     * background warm-up ends the cold start.
     */
    @Test
    void aRunnersOwnWarmUpRunsItsOwnKernelAndSaysWhenItIsCompiled() {
        try (TestRnn rnn = new TestRnn(78, RnnShape.of(Cell.LSTM, INPUT_SIZE, HIDDEN_SIZE), Options.DEFAULT);
             Runner runner = rnn.runner(BATCH, STEPS)) {
            assertTrue(rnn.model.beginColdStart(Long.MAX_VALUE));
            try {
                long[] compiledAt = {0};
                WarmUp report = runner.warmUp(LONG, () -> false, () -> compiledAt[0] = System.nanoTime());
                long returnedAt = System.nanoTime();
                assertTrue(report.settled(), "settled: " + report);
                assertEquals(0, runner.coldCalls(), "the warm-up's calls ran on the runner's own kernel");
                assertTrue(compiledAt[0] != 0, "the warm-up said when its calls ran compiled");
                assertTrue(returnedAt - compiledAt[0] >= SETTLING_WINDOW_NANOS,
                        "said " + (returnedAt - compiledAt[0]) + " ns before it returned");
                forward(runner, rnn.input(STEPS, BATCH));
                assertTrue(runner.coldCalls() > 0, "after its warm-up, the runner's calls go to the cold kernel");
            } finally {
                rnn.model.endColdStart();
            }
        }
    }

    @Test
    void aColdStartEndedMoreOftenThanItBeganIsRefused() {
        try (TestRnn rnn = new TestRnn(79, RnnShape.of(Cell.GRU, 3, 5), Options.DEFAULT)) {
            assertThrows(IllegalStateException.class, rnn.model::endColdStart);
            assertTrue(rnn.model.beginColdStart(Long.MAX_VALUE));
            rnn.model.endColdStart();
            assertThrows(IllegalStateException.class, rnn.model::endColdStart);
        }
    }

    @Test
    void copiesThatWouldPassTheHeapLimitAreNotMade() {
        try (TestRnn rnn = new TestRnn(74, RnnShape.of(Cell.GRU, INPUT_SIZE, HIDDEN_SIZE), Options.DEFAULT);
             Runner runner = rnn.runner(1, STEPS)) {
            assertFalse(rnn.model.beginColdStart(1));
            try {
                forward(runner, rnn.input(STEPS, 1));
                assertEquals(0, runner.coldCalls());
            } finally {
                rnn.model.endColdStart();
            }
            assertTrue(rnn.model.beginColdStart(Long.MAX_VALUE), "the copies are made for a begin after the end");
            rnn.model.endColdStart();
        }
    }

    @ParameterizedTest
    @EnumSource(CallsDuringWarmUp.class)
    void aBackgroundWarmUpServesCallsColdUntilItsFutureCompletes(CallsDuringWarmUp calls) throws Exception {
        RnnShape shape = RnnShape.of(Cell.LSTM, INPUT_SIZE, HIDDEN_SIZE);
        try (TestRnn rnn = new TestRnn(75, shape, Options.DEFAULT);
             Runner runner = rnn.runner(1, STEPS)) {
            CompletableFuture<WarmUp> future = rnn.model.warmUpInBackground(Options.DEFAULT.withMaxSteps(STEPS),
                    LONG, calls);
            boolean cold = calls == CallsDuringWarmUp.COLD_KERNEL;
            assertEquals(cold, rnn.model.coldStartActive(), "as the warm-up starts");
            forward(runner, rnn.input(STEPS, 1));
            assertEquals(cold, runner.coldCalls() > 0, "calls right after the start");
            future.get(LONG.toSeconds(), TimeUnit.SECONDS);
            assertFalse(rnn.model.coldStartActive(), "once the future has completed");
            long before = runner.coldCalls();
            forward(runner, rnn.input(STEPS, 1));
            assertEquals(before, runner.coldCalls(), "calls after the warm-up");
        }
    }

    /**
     * The cold start of a background warm-up ends once the warm-up's calls run compiled code, at least a settling
     * window before its future completes, not when it ends.
     */
    @Test
    void aBackgroundWarmUpEndsTheColdCallsBeforeItSettles() throws Exception {
        assumeTrue(Kernels.preferred() != Kernels.scalar(), "only vector kernels say by allocating nothing");
        try (TestRnn rnn = new TestRnn(80, RnnShape.of(Cell.LSTM, INPUT_SIZE, HIDDEN_SIZE), Options.DEFAULT)) {
            CompletableFuture<WarmUp> future = rnn.model.warmUpInBackground(Options.DEFAULT, LONG,
                    CallsDuringWarmUp.COLD_KERNEL);
            boolean endedFirst = false;
            while (!future.isDone()) {
                if (!rnn.model.coldStartActive()) {
                    endedFirst = !future.isDone();
                    break;
                }
                Thread.sleep(1);
            }
            assertTrue(future.get(LONG.toSeconds(), TimeUnit.SECONDS).settled());
            assertTrue(endedFirst, "the cold calls ended while the warm-up went on");
        }
    }

    /**
     * With the scalar kernel, which never boxes, calls that allocate nothing say nothing of the JIT: the cold start
     * lasts until the warm-up's calls have ended (its calls' thread is gone when the cold start ends).
     */
    @Test
    void withTheScalarKernelTheColdCallsLastAsLongAsTheWarmUpsCalls() throws Exception {
        Options scalar = Options.DEFAULT.withBackend(Backend.SCALAR);
        try (TestRnn rnn = new TestRnn(81, RnnShape.of(Cell.LSTM, INPUT_SIZE, HIDDEN_SIZE), scalar)) {
            CompletableFuture<WarmUp> future = rnn.model.warmUpInBackground(scalar, LONG,
                    CallsDuringWarmUp.COLD_KERNEL);
            assertTrue(rnn.model.coldStartActive());
            while (rnn.model.coldStartActive()) {
                Thread.sleep(1);
            }
            boolean callsRunning = Thread.getAllStackTraces().keySet().stream()
                    .anyMatch(thread -> thread.getName().equals(BackgroundWarmUps.CALLS_THREAD_NAME));
            assertFalse(callsRunning, "the cold start ended while the warm-up's calls went on");
            assertTrue(future.get(LONG.toSeconds(), TimeUnit.SECONDS).calls() > 0);
        }
    }

    @Test
    void aCancelledWarmUpEndsTheColdCalls() throws Exception {
        try (TestRnn rnn = new TestRnn(76, RnnShape.of(Cell.CIFG, INPUT_SIZE, HIDDEN_SIZE), Options.DEFAULT)) {
            CompletableFuture<WarmUp> future = rnn.model.warmUpInBackground(Options.DEFAULT, LONG,
                    CallsDuringWarmUp.COLD_KERNEL);
            assertTrue(rnn.model.coldStartActive());
            future.cancel(false);
            assertThrows(CancellationException.class, future::join);
            for (Thread thread : rnn.model.warmUpThreads()) {
                thread.join();
            }
            assertFalse(rnn.model.coldStartActive());
        }
    }

    @Test
    void aNullChoiceIsRefusedByName() {
        try (TestRnn rnn = new TestRnn(77, RnnShape.of(Cell.LSTM, 3, 5), Options.DEFAULT)) {
            assertTrue(assertThrows(NullPointerException.class,
                    () -> rnn.model.warmUpInBackground(Options.DEFAULT, LONG, null)).getMessage().contains("calls"));
            assertEquals(List.of(), rnn.model.warmUpThreads());
            assertFalse(rnn.model.coldStartActive());
        }
    }

    /**
     * y, hT and cT of a forward of B sequences from h0 and c0, of one of variable lengths (batch-first) and, for a
     * unidirectional model, h after every step of a stream of B rows.
     */
    private static List<float[]> outputs(TestRnn rnn, Runner runner, float[] x, float[] h0, float[] c0,
                                         int[] lengths) {
        RnnShape shape = rnn.model.shape();
        List<float[]> outputs = new ArrayList<>();
        float[] y = new float[STEPS * BATCH * shape.outputSize()];
        float[] hT = new float[h0.length];
        float[] cT = c0 == null ? null : new float[c0.length];
        runner.forward(x, STEPS, BATCH, h0, c0, y, hT, cT);
        outputs.add(y);
        outputs.add(hT);
        if (cT != null) {
            outputs.add(cT);
        }
        float[] yVariable = new float[y.length];
        runner.forward(x, SequenceLayout.BATCH_FIRST, STEPS, BATCH, lengths, h0, c0, yVariable, null, null);
        outputs.add(yVariable);
        if (shape.direction() == Direction.FORWARD) {
            int frame = BATCH * shape.inputSize();
            try (State state = rnn.model.newState(BATCH)) {
                for (int t = 0; t < STEPS; t++) {
                    float[] h = new float[BATCH * shape.hiddenStateSize()];
                    runner.step(slice(x, t * frame, frame), state, h);
                    outputs.add(h);
                }
            }
        }
        return outputs;
    }

    /** y of a forward of the batch of sequences x from zero states. */
    private static float[] forward(Runner runner, float[] x) {
        RnnShape shape = runner.model().shape();
        int batch = x.length / STEPS / shape.inputSize();
        float[] y = new float[STEPS * batch * shape.outputSize()];
        runner.forward(x, STEPS, batch, null, null, y, null, null);
        return y;
    }

    private static float[] slice(float[] values, int from, int length) {
        float[] slice = new float[length];
        System.arraycopy(values, from, slice, 0, length);
        return slice;
    }
}
