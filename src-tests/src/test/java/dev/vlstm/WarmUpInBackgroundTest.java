package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import dev.vlstm.reference.ReferenceStack;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * {@link Model#warmUpInBackground(Options, Duration)}: its future completes with the report, or with the warm-up's
 * failure; cancelling it or closing the model stops the warm-up's thread before the weights are freed, leaking no
 * memory; requests on the caller's own runners during the warm-up are refused nothing and match the double-precision
 * reference. That the calls after it run compiled code is {@link WarmUpTest}'s check in a new JVM.
 */
class WarmUpInBackgroundTest {

    private static final int INPUT_SIZE = 11;
    private static final int HIDDEN_SIZE = 37;
    /** Wide enough at every vector width for the warm-up to begin on a miniature of the model (its memory too). */
    private static final int WIDE_HIDDEN_SIZE = 300;
    private static final int STEPS = 5;
    private static final int BATCH = 4;
    /** Far longer than any wait here: a warm-up that must be stopped would otherwise run past the test. */
    private static final Duration LONG = Duration.ofMinutes(2);
    private static final boolean LINUX = "Linux".equals(System.getProperty("os.name"));

    @ParameterizedTest
    @EnumSource(Cell.class)
    void theFutureCompletesWithTheReportAndTheThreadEnds(Cell cell) throws Exception {
        try (TestRnn rnn = new TestRnn(31, RnnShape.of(cell, INPUT_SIZE, HIDDEN_SIZE), Options.DEFAULT)) {
            CompletableFuture<WarmUp> future = rnn.model.warmUpInBackground(options(), Duration.ofSeconds(1));
            List<Thread> threads = rnn.model.warmUpThreads();
            WarmUp report = future.get(1, TimeUnit.MINUTES);
            assertTrue(report.calls() >= 4, "a forward and a step at batches 1 and 4: " + report);
            assertTrue(report.elapsed().compareTo(Duration.ZERO) > 0, "elapsed: " + report);
            assertEquals(List.of(), rnn.model.warmUpThreads());
            for (Thread thread : threads) {
                assertEquals(BackgroundWarmUps.THREAD_NAME, thread.getName());
                assertTrue(thread.isDaemon(), "a warm-up must not keep the JVM alive");
                thread.join(Duration.ofSeconds(30));
                assertFalse(thread.isAlive(), "the warm-up's thread should end with it");
            }
        }
    }

    /**
     * Closing the model at once (the thread may not have made its runner yet) or while the warm-up calls: close waits
     * for the thread, the future is cancelled, and every byte of the warm-up's runner and states is freed, and of its
     * miniature model for a wide one.
     */
    @ParameterizedTest
    @CsvSource({"0, " + HIDDEN_SIZE, "200, " + HIDDEN_SIZE, "0, " + WIDE_HIDDEN_SIZE, "200, " + WIDE_HIDDEN_SIZE})
    void closingTheModelDuringTheWarmUpStopsItAndFreesEverything(int delayMillis, int hiddenSize) throws Exception {
        long liveBefore = NativeMemory.liveBytes();
        TestRnn rnn = new TestRnn(32, RnnShape.of(Cell.LSTM, INPUT_SIZE, hiddenSize).withLayers(2),
                Options.DEFAULT);
        if (hiddenSize == WIDE_HIDDEN_SIZE) {
            try (Model miniature = WarmUpLoop.miniatureOf(rnn.model)) {
                assertNotNull(miniature, "a miniature of " + rnn.model.shape());
            }
        }
        CompletableFuture<WarmUp> future = rnn.model.warmUpInBackground(options().withThreads(2), LONG);
        List<Thread> threads = rnn.model.warmUpThreads();
        Thread.sleep(delayMillis);
        rnn.close();
        assertTrue(future.isCancelled(), "closing the model cancels its warm-up: " + future);
        assertThrows(CancellationException.class, future::join);
        for (Thread thread : threads) {
            assertFalse(thread.isAlive(), "close returned while the warm-up's thread ran");
        }
        assertEquals(List.of(), rnn.model.warmUpThreads());
        assertEquals(liveBefore, NativeMemory.liveBytes(), "off-heap bytes left after closing");
        assertTrue(assertThrows(IllegalStateException.class, () -> rnn.model.warmUpInBackground())
                .getMessage().contains("closed"));
    }

    @Test
    void cancellingTheFutureStopsTheWarmUpAndLeavesTheModelUsable() throws Exception {
        try (TestRnn rnn = new TestRnn(33, RnnShape.of(Cell.GRU, INPUT_SIZE, HIDDEN_SIZE), Options.DEFAULT);
             Runner runner = rnn.runner(BATCH, STEPS)) {
            long liveBefore = NativeMemory.liveBytes();
            CompletableFuture<WarmUp> future = rnn.model.warmUpInBackground(options(), LONG);
            List<Thread> threads = rnn.model.warmUpThreads();
            assertTrue(future.cancel(false));
            for (Thread thread : threads) {
                thread.join(Duration.ofSeconds(30));
                assertFalse(thread.isAlive(), "a cancelled warm-up should stop before its next call");
            }
            assertEquals(liveBefore, NativeMemory.liveBytes(), "off-heap bytes left after the cancelled warm-up");
            float[] x = rnn.input(STEPS, BATCH);
            float[] y = new float[STEPS * BATCH * HIDDEN_SIZE];
            runner.forward(x, STEPS, BATCH, null, null, y, null, null);
            ForwardVsReferenceTest.assertWithin("y", y, rnn.reference.forward(x, STEPS, BATCH, null, null).y());
        }
    }

    /** Options whose runner cannot be made: the failure on the warm-up's thread is the one a caller would get. */
    @Test
    void aFailureSurfacesThroughTheFuture() {
        try (TestRnn rnn = new TestRnn(34, RnnShape.of(Cell.LSTM, INPUT_SIZE, HIDDEN_SIZE), Options.DEFAULT)) {
            Options impossible = Options.DEFAULT.withMaxBatch(Integer.MAX_VALUE).withMaxSteps(Integer.MAX_VALUE);
            Throwable direct = assertThrows(Throwable.class, () -> rnn.model.runner(impossible).close());
            CompletableFuture<WarmUp> future = rnn.model.warmUpInBackground(impossible, LONG);
            ExecutionException failure = assertThrows(ExecutionException.class,
                    () -> future.get(1, TimeUnit.MINUTES));
            assertSame(direct.getClass(), failure.getCause().getClass());
            assertEquals(direct.getMessage(), failure.getCause().getMessage());
            assertTrue(future.isCompletedExceptionally());
        }
    }

    /**
     * The caller's runner and state serve while the warm-up's thread warms runners of its own: no exclusive-use
     * refusal, and every forward and step matches the reference within {@link ForwardVsReferenceTest#TOLERANCE}.
     */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void requestsDuringTheWarmUpMatchTheReference(Cell cell) throws Exception {
        RnnShape shape = RnnShape.of(cell, INPUT_SIZE, HIDDEN_SIZE).withLayers(2);
        try (TestRnn rnn = new TestRnn(35, shape, Options.DEFAULT);
             Runner runner = rnn.runner(BATCH, STEPS)) {
            float[] x = rnn.input(STEPS, BATCH);
            float[] h0 = rnn.hiddenStates(BATCH);
            float[] c0 = rnn.cellStates(BATCH);
            ReferenceStack.Result expected = rnn.reference.forward(x, STEPS, BATCH, h0, c0);
            ReferenceStack.Result fromZero = rnn.reference.forward(x, STEPS, BATCH, null, null);
            int frame = BATCH * INPUT_SIZE;
            int outputs = BATCH * HIDDEN_SIZE;
            CompletableFuture<WarmUp> future = rnn.model.warmUpInBackground(options(), Duration.ofSeconds(3));
            int rounds = 0;
            while (rounds < 3 || !future.isDone()) {
                float[] y = new float[STEPS * outputs];
                float[] hT = new float[h0.length];
                float[] cT = c0 == null ? null : new float[c0.length];
                runner.forward(x, STEPS, BATCH, h0, c0, y, hT, cT);
                ForwardVsReferenceTest.assertWithin("y, round " + rounds, y, expected.y());
                ForwardVsReferenceTest.assertWithin("hT, round " + rounds, hT, expected.hT());
                if (cT != null) {
                    ForwardVsReferenceTest.assertWithin("cT, round " + rounds, cT, expected.cT());
                }
                try (State state = rnn.model.newState(BATCH)) {
                    float[] h = new float[outputs];
                    float[] stepped = new float[STEPS * outputs];
                    for (int t = 0; t < STEPS; t++) {
                        float[] input = new float[frame];
                        System.arraycopy(x, t * frame, input, 0, frame);
                        runner.step(input, state, h);
                        System.arraycopy(h, 0, stepped, t * outputs, outputs);
                    }
                    ForwardVsReferenceTest.assertWithin("stepped y, round " + rounds, stepped, fromZero.y());
                }
                rounds++;
            }
            assertTrue(future.get().calls() > 0, "the warm-up ran: " + future.get());
        }
    }

    /**
     * {@link LowPriority#lowerCurrentThread()} lowers the thread that calls it, and only that one: on Linux (this
     * suite enables native access) its nice value becomes {@link LowPriority#NICENESS}, the caller's stays.
     */
    @Test
    void lowPriorityLowersTheCallingThreadAlone() throws Exception {
        assumeTrue(LINUX, "nice values are read from Linux's /proc");
        assertTrue(LowPriority.class.getModule().isNativeAccessEnabled(),
                "run with --enable-native-access=ALL-UNNAMED, as the build does");
        int callerNice = niceness(Path.of("/proc/thread-self/stat"));
        assumeTrue(callerNice < LowPriority.NICENESS, "the JVM already runs at nice " + callerNice);
        boolean[] lowered = {false};
        int[] niceAfter = {callerNice};
        int[] priorityAfter = {Thread.NORM_PRIORITY};
        Thread thread = new Thread(() -> {
            lowered[0] = LowPriority.lowerCurrentThread();
            priorityAfter[0] = Thread.currentThread().getPriority();
            try {
                niceAfter[0] = niceness(Path.of("/proc/thread-self/stat"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        thread.start();
        thread.join();
        assertTrue(lowered[0], "the nice value was set");
        assertEquals(LowPriority.NICENESS, niceAfter[0], "the lowered thread's nice value");
        assertEquals(Thread.MIN_PRIORITY, priorityAfter[0], "the lowered thread's Java priority");
        assertEquals(callerNice, niceness(Path.of("/proc/thread-self/stat")), "the caller's nice value");
    }

    /**
     * A background warm-up runs its calls on a thread at nice {@link LowPriority#NICENESS} and the lowest Java
     * priority, while the thread that completes its future (where actions chained to it run) keeps the caller's.
     */
    @Test
    void theWarmUpsCallsRunAtTheLowestPriorityAndItsFutureIsCompletedAtTheCallers() throws Exception {
        assumeTrue(LINUX, "nice values are read from Linux's /proc");
        int callerNice = niceness(Path.of("/proc/thread-self/stat"));
        assumeTrue(callerNice < LowPriority.NICENESS, "the JVM already runs at nice " + callerNice);
        try (TestRnn rnn = new TestRnn(37, RnnShape.of(Cell.LSTM, INPUT_SIZE, WIDE_HIDDEN_SIZE), Options.DEFAULT)) {
            CompletableFuture<WarmUp> future = rnn.model.warmUpInBackground(options(), LONG);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            List<Integer> calls = niceness(BackgroundWarmUps.CALLS_THREAD_NAME);
            while (!calls.contains(LowPriority.NICENESS)) {
                assertTrue(System.nanoTime() < deadline && !future.isDone(), "the calls' thread at nice " + calls);
                Thread.sleep(1);
                calls = niceness(BackgroundWarmUps.CALLS_THREAD_NAME);
            }
            Thread callsThread = Thread.getAllStackTraces().keySet().stream()
                    .filter(thread -> thread.getName().equals(BackgroundWarmUps.CALLS_THREAD_NAME)).findFirst()
                    .orElseThrow();
            assertEquals(Thread.MIN_PRIORITY, callsThread.getPriority(), "the calls' thread's Java priority");
            Thread waiting = rnn.model.warmUpThreads().getFirst();
            assertEquals(Thread.currentThread().getPriority(), waiting.getPriority(), "the future's thread");
            assertEquals(List.of(callerNice), niceness(BackgroundWarmUps.THREAD_NAME), "the future's thread");
            future.cancel(false);
        }
    }

    /** The nice values of this process's threads named {@code name}, from Linux's /proc. */
    private static List<Integer> niceness(String name) throws IOException {
        List<Integer> niceness = new ArrayList<>();
        try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
            for (Path task : tasks) {
                try {
                    if (Files.readString(task.resolve("comm")).strip().equals(name)) {
                        niceness.add(niceness(task.resolve("stat")));
                    }
                } catch (IOException ended) {
                    // the thread ended between listing and reading: there is nothing of it to check
                }
            }
        }
        return niceness;
    }

    /** Field 19 of a /proc stat line, the nice value, counted after the command name in parentheses. */
    private static int niceness(Path stat) throws IOException {
        String line = Files.readString(stat);
        String[] fields = line.substring(line.lastIndexOf(')') + 2).split(" ");
        return Integer.parseInt(fields[19 - 3]);
    }

    @Test
    void badArgumentsAreRefusedAtOnce() {
        try (TestRnn rnn = new TestRnn(36, RnnShape.of(Cell.LSTM, 3, 5), Options.DEFAULT)) {
            assertTrue(assertThrows(NullPointerException.class, () -> rnn.model.warmUpInBackground(null, LONG))
                    .getMessage().contains("options"));
            assertTrue(assertThrows(NullPointerException.class,
                    () -> rnn.model.warmUpInBackground(options(), null)).getMessage().contains("limit"));
            assertTrue(assertThrows(IllegalArgumentException.class,
                    () -> rnn.model.warmUpInBackground(options(), Duration.ZERO)).getMessage().contains("limit"));
            assertEquals(List.of(), rnn.model.warmUpThreads());
        }
    }

    /** The runners the tests warm: batches up to {@link #BATCH}, so that the four-row tiles are warmed too. */
    private static Options options() {
        return Options.DEFAULT.withMaxBatch(BATCH).withMaxSteps(STEPS);
    }
}
