package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * A {@link Runner}, {@link Trainer} or {@link State} used by two threads at once is reported, clearly and without
 * damage. To make the overlap certain rather than likely, a first thread runs a long forward (tens of milliseconds)
 * into a y filled with NaN, and the second thread calls in only once it has seen the first one write y's first
 * step, so from inside the call; the second call then fails within microseconds, long before the first one can end.
 * A state stepped or reset by two threads is tried until the two overlap. Confined-arena segments passed to another
 * thread are named. A model closed under a running forward is not detected by vlstm, but the JDK fails that forward
 * cleanly.
 */
class MisuseDetectionTest {

    private static final int INPUT = 8;
    private static final int HIDDEN = 64;
    private static final int LONG_STEPS = 20_000;
    private static final int ATTEMPTS = 20;
    /** A model whose every step reads 17 MB of weights: about a millisecond a step. */
    private static final int BIG_INPUT = 32;
    private static final int BIG_HIDDEN = 1024;
    private static final int BIG_STEPS = 2_000;

    private static TestRnn lstm(long seed, int inputSize, int hiddenSize, int layers) {
        return new TestRnn(seed, RnnShape.of(Cell.LSTM, inputSize, hiddenSize).withLayers(layers), Options.DEFAULT);
    }

    @Test
    void aSecondThreadCallingARunnerInUseIsToldWhoHoldsItAndChangesNothing() throws Exception {
        try (TestRnn rnn = lstm(990, INPUT, HIDDEN, 1);
             Runner runner = rnn.runner(1, LONG_STEPS);
             State ownState = rnn.model.newState(1);
             Output y = new Output(LONG_STEPS * HIDDEN)) {
            float[] x = rnn.input(LONG_STEPS, 1);
            float[] expected = new float[HIDDEN];
            try (Runner alone = rnn.runner(1, LONG_STEPS)) {
                alone.forward(x, LONG_STEPS, 1, null, null, null, expected, null);
            }
            float[] hT = new float[HIDDEN];
            IllegalStateException thrown = whileInside(y,
                    () -> runner.forward(MemorySegment.ofArray(x), LONG_STEPS, 1, null, null, y.segment,
                            MemorySegment.ofArray(hT), null),
                    () -> runner.step(new float[INPUT], ownState, null));
            assertMessage(thrown, "Runner@", ".step called by thread \"second\"", "while thread \"first\"",
                    "give each thread its own");
            assertArrayEquals(expected, hT, "the first thread's forward must be undisturbed");
            assertArrayEquals(new float[HIDDEN], ownState.hidden(), "the refused step must not touch its state");
        }
    }

    @Test
    void closingARunnerThatAnotherThreadIsUsingIsRefused() throws Exception {
        try (TestRnn rnn = lstm(991, INPUT, HIDDEN, 1);
             Runner runner = rnn.runner(1, LONG_STEPS);
             Output y = new Output(LONG_STEPS * HIDDEN)) {
            MemorySegment x = MemorySegment.ofArray(rnn.input(LONG_STEPS, 1));
            IllegalStateException thrown = whileInside(y,
                    () -> runner.forward(x, LONG_STEPS, 1, null, null, y.segment, null, null), runner::close);
            assertMessage(thrown, ".close called by thread \"second\"", "while thread \"first\"");
            runner.forward(new float[INPUT], 1, 1, null, null, null, null, null); // still open
        }
    }

    @Test
    void aModelClosedUnderARunningForwardFailsThatForwardCleanly() throws Exception {
        // Ten times the other tests' forward (a few hundred milliseconds): it cannot be tried again once the
        // model is closed, so it must still be running when this thread gets to close it.
        int steps = 10 * LONG_STEPS;
        try (TestRnn rnn = lstm(994, INPUT, HIDDEN, 1);
             Runner runner = rnn.runner(1, steps);
             Output y = new Output((long) steps * HIDDEN)) {
            MemorySegment x = MemorySegment.ofArray(rnn.input(steps, 1));
            CompletableFuture<Void> first = runAs("first", () -> runner.forward(x, steps, 1, null, null, y.segment,
                    null, null));
            while (!y.written() && !first.isDone()) {
                Thread.onSpinWait();
            }
            rnn.model.close();
            ExecutionException failed = assertThrows(ExecutionException.class, () -> first.get(60, TimeUnit.SECONDS));
            assertInstanceOf(IllegalStateException.class, failed.getCause(), "the JDK's closed-arena exception");
        }
    }

    @Test
    void aStateSteppedByTwoThreadsAtOnceIsReported() throws Exception {
        try (TestRnn rnn = lstm(992, BIG_INPUT, BIG_HIDDEN, 1);
             Runner firstRunner = rnn.runner(1, 1);
             Runner secondRunner = rnn.runner(1, 1);
             State shared = rnn.model.newState(1);
             Arena arena = Arena.ofShared()) {
            MemorySegment x = arena.allocate((long) BIG_INPUT * Float.BYTES);
            // Each step reads megabytes of weights, so it lasts long enough for the second thread, which steps the
            // same state again and again, to call in while the first thread is inside it. The second thread may
            // also be inside when the first one calls; then the first thread's step is the one refused, and that
            // counts as well.
            AtomicBoolean caught = new AtomicBoolean();
            AtomicReference<IllegalStateException> refusedFirst = new AtomicReference<>();
            CompletableFuture<Void> first = runAs("first", () -> {
                for (int t = 0; t < BIG_STEPS && !caught.get(); t++) {
                    try {
                        firstRunner.step(x, shared, null);
                    } catch (IllegalStateException e) {
                        refusedFirst.set(e);
                        caught.set(true);
                    }
                }
            });
            IllegalStateException thrown = callAs("second", () -> {
                while (!first.isDone() && !caught.get()) {
                    try {
                        secondRunner.step(x, shared, null);
                    } catch (IllegalStateException e) {
                        caught.set(true);
                        return e;
                    }
                }
                return null;
            });
            first.get(60, TimeUnit.SECONDS);
            IllegalStateException refused = thrown != null ? thrown : refusedFirst.get();
            assertTrue(refused != null, "the second thread never overlapped the first one's " + BIG_STEPS + " steps");
            assertMessage(refused, "State@", ".step called by thread", "while thread", "\"first\"", "\"second\"",
                    "one stream's state");
        }
    }

    @Test
    void aSecondThreadCallingATrainerInUseIsRefusedAndTheFirstCallsResultStands() throws Exception {
        try (TestRnn rnn = lstm(995, INPUT, HIDDEN, 1);
             Trainer trainer = rnn.trainer(1, LONG_STEPS);
             Gradients gradients = new Gradients(rnn.shape);
             Output y = new Output(LONG_STEPS * HIDDEN)) {
            float[] x = rnn.input(LONG_STEPS, 1);
            float[] expected = new float[HIDDEN];
            try (Runner alone = rnn.runner(1, LONG_STEPS)) {
                alone.forward(x, LONG_STEPS, 1, null, null, null, expected, null);
            }
            float[] hT = new float[HIDDEN];
            MemorySegment dy = MemorySegment.ofArray(new float[LONG_STEPS * HIDDEN]);
            IllegalStateException thrown = whileInside(y,
                    () -> trainer.forward(MemorySegment.ofArray(x), LONG_STEPS, 1, null, null, y.segment,
                            MemorySegment.ofArray(hT), null),
                    () -> trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null));
            assertMessage(thrown, "Trainer@", ".backward called by thread \"second\"", "while thread \"first\"",
                    "give each thread its own");
            assertArrayEquals(expected, hT, "the first thread's forward must be undisturbed");
            trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null); // still usable
        }
    }

    @Test
    void stackRunnersStatesAndTrainersInUseRefuseASecondThread() throws Exception {
        int layers = 2;
        try (TestRnn rnn = lstm(996, INPUT, HIDDEN, layers);
             Runner runner = rnn.runner(1, LONG_STEPS);
             State state = rnn.model.newState(1);
             Trainer trainer = rnn.trainer(1, LONG_STEPS);
             Output y = new Output(LONG_STEPS * HIDDEN)) {
            MemorySegment x = MemorySegment.ofArray(rnn.input(LONG_STEPS, 1));
            // The top layer writes y, so the forward that y shows to be inside still has a whole layer to run.
            IllegalStateException byRunner = whileInside(y,
                    () -> runner.forward(x, LONG_STEPS, 1, null, null, y.segment, null, null),
                    () -> runner.step(new float[INPUT], state, null));
            assertMessage(byRunner, "Runner@", ".step called by thread \"second\"", "give each thread its own");
            assertArrayEquals(new float[layers * HIDDEN], state.hidden(), "the refused step must not touch its state");

            // A step is short, so the second thread tries reset() again and again until one attempt overlaps a step
            // (a reset that comes between two steps is allowed and just zeroes the state).
            float[] frame = rnn.input(1, 1);
            AtomicBoolean caught = new AtomicBoolean();
            AtomicReference<IllegalStateException> refusedStep = new AtomicReference<>();
            CompletableFuture<Void> stepping = runAs("first", () -> {
                for (int t = 0; t < 100 * LONG_STEPS && !caught.get(); t++) {
                    try {
                        runner.step(frame, state, null);
                    } catch (IllegalStateException e) {   // the reset came first: the step is the one refused
                        refusedStep.set(e);
                        caught.set(true);
                    }
                }
            });
            IllegalStateException byState = callAs("second", () -> {
                while (!stepping.isDone() && !caught.get()) {
                    try {
                        state.reset();
                    } catch (IllegalStateException e) {
                        caught.set(true);
                        return e;
                    }
                }
                return null;
            });
            stepping.get(60, TimeUnit.SECONDS);
            IllegalStateException refused = byState != null ? byState : refusedStep.get();
            assertTrue(refused != null, "the second thread never overlapped one of the first one's steps");
            assertMessage(refused, "State@", "called by thread", "while thread", "\"first\"", "\"second\"",
                    "one stream's state");

            IllegalStateException byTrainer = whileInside(y,
                    () -> trainer.forward(x, LONG_STEPS, 1, null, null, y.segment, null, null), trainer::close);
            assertMessage(byTrainer, "Trainer@", ".close called by thread \"second\"", "give each thread its own");
        }
    }

    @Test
    void segmentsOfAnotherThreadsConfinedArenaAreNamedForEveryArgument() throws Exception {
        try (TestRnn rnn = lstm(993, INPUT, HIDDEN, 1);
             Runner runner = rnn.runner(1, 1);
             State state = rnn.model.newState(1);
             Arena confined = Arena.ofConfined()) {
            MemorySegment x = confined.allocate((long) INPUT * Float.BYTES);
            MemorySegment h = confined.allocate((long) HIDDEN * Float.BYTES);
            MemorySegment free = MemorySegment.ofArray(new float[HIDDEN]);
            MemorySegment input = MemorySegment.ofArray(new float[INPUT]);
            String[][] expectations = {{"x"}, {"y"}, {"h0"}, {"h"}, {"h", "setHidden"}, {"out", "copyCellTo"}};
            Executable[] calls = {
                () -> runner.forward(x, 1, 1, null, null, null, null, null),
                () -> runner.forward(input, 1, 1, null, null, h, null, null),
                () -> runner.forward(input, 1, 1, h, null, null, null, null),
                () -> runner.step(input, state, h),
                () -> state.setHidden(h),
                () -> state.copyCellTo(h)};
            for (int n = 0; n < calls.length; n++) {
                Executable call = calls[n];
                IllegalStateException thrown = callAs("other", () -> {
                    try {
                        call.execute();
                        return null;
                    } catch (IllegalStateException e) {
                        return e;
                    } catch (Throwable e) {
                        throw new AssertionError("expected IllegalStateException, got " + e, e);
                    }
                });
                assertTrue(thrown != null, "no exception for " + String.join(" ", expectations[n]));
                assertMessage(thrown, expectations[n][0] + ": this segment belongs to a confined arena of another"
                        + " thread, so thread \"other\"", "Arena.ofShared");
            }
            runner.step(input, state, free);
        }
    }

    /**
     * A forward's y in a shared arena, filled with NaN, so that another thread can see when the forward has written
     * its first step (no step of finite inputs gives NaN).
     */
    private static final class Output implements AutoCloseable {

        private final Arena arena = Arena.ofShared();
        final MemorySegment segment;

        Output(long floats) {
            segment = arena.allocate(floats * Float.BYTES);
            rearm();
        }

        void rearm() {
            segment.fill((byte) 0xFF);
        }

        boolean written() {
            return !Float.isNaN(segment.getAtIndex(ValueLayout.JAVA_FLOAT, 0));
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    /**
     * Starts {@code longCall}, which writes {@code y}, on a thread named "first", waits until that thread has written
     * y's first step, then runs {@code intrusion} on a thread named "second" and returns what it threw; the first
     * call must succeed. On a loaded machine the second thread may not run at all before the first call ends, or may
     * be descheduled between seeing it running and calling: an intrusion that started after the first call had
     * returned proves nothing, and the pair is tried again, up to {@value #ATTEMPTS} times. An intrusion that started
     * before and was not refused fails the test.
     */
    private static IllegalStateException whileInside(Output y, Runnable longCall, Executable intrusion)
            throws Exception {
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            y.rearm();
            AtomicLong firstReturned = new AtomicLong(Long.MAX_VALUE);
            CompletableFuture<Void> first = runAs("first", () -> {
                longCall.run();
                firstReturned.set(System.nanoTime());
            });
            IllegalStateException thrown = callAs("second", () -> {
                while (!y.written()) {
                    if (first.isDone()) {
                        return null;
                    }
                    Thread.onSpinWait();
                }
                long started = System.nanoTime();
                try {
                    intrusion.execute();
                } catch (IllegalStateException refused) {
                    return refused;
                } catch (Throwable other) {
                    throw new AssertionError("expected IllegalStateException, got " + other, other);
                }
                if (started - firstReturned.get() >= 0) {
                    return null;
                }
                throw new AssertionError("a second thread's call was not refused while the first call was running");
            });
            first.get(60, TimeUnit.SECONDS);
            if (thrown != null) {
                return thrown;
            }
        }
        throw new AssertionError("in " + ATTEMPTS + " attempts, the second thread never saw the first call running");
    }

    private static CompletableFuture<Void> runAs(String name, Runnable body) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread thread = new Thread(() -> {
            try {
                body.run();
                done.complete(null);
            } catch (Throwable e) {
                done.completeExceptionally(e);
            }
        }, name);
        thread.start();
        return done;
    }

    private static <T> T callAs(String name, Supplier<T> body) throws Exception {
        CompletableFuture<T> result = new CompletableFuture<>();
        Thread thread = new Thread(() -> {
            try {
                result.complete(body.get());
            } catch (Throwable e) {
                result.completeExceptionally(e);
            }
        }, name);
        thread.start();
        thread.join(TimeUnit.SECONDS.toMillis(60));
        assertEquals(false, thread.isAlive(), "thread " + name + " did not finish");
        return result.get();
    }

    private static void assertMessage(Throwable thrown, String... fragments) {
        for (String fragment : fragments) {
            assertTrue(thrown.getMessage().contains(fragment),
                    "message '" + thrown.getMessage() + "' should contain '" + fragment + "'");
        }
    }
}
