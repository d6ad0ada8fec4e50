package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Supplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * A runner or a state used by two threads at once is reported, clearly and without damage. To make the overlap
 * certain rather than likely, a first thread runs a long forward (tens of milliseconds) and the second thread
 * calls in only once it has seen the first one inside the runner's guard; the second call then fails within
 * microseconds, long before the first one can end. Confined-arena segments passed to another thread are named.
 * Weights closed under a running forward are not detected by vlstm, but the JDK fails that forward cleanly.
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

    @Test
    void aSecondThreadCallingARunnerInUseIsToldWhoHoldsItAndChangesNothing() throws Exception {
        try (TestModel model = new TestModel(990, INPUT, HIDDEN);
             LstmRunner runner = new LstmRunner(model.weights, 1);
             LstmState ownState = new LstmState(model.weights, 1)) {
            float[] x = model.input(LONG_STEPS, 1);
            float[] expected = new float[HIDDEN];
            try (LstmRunner alone = new LstmRunner(model.weights, 1)) {
                alone.forward(x, LONG_STEPS, 1, null, null, null, expected, null);
            }
            float[] hT = new float[HIDDEN];
            IllegalStateException thrown = whileInside(runner,
                    () -> runner.forward(x, LONG_STEPS, 1, null, null, null, hT, null),
                    () -> runner.step(new float[INPUT], ownState, null));
            assertMessage(thrown, "LstmRunner@", ".step called by thread \"second\"", "while thread \"first\"",
                    "give each thread its own");
            assertArrayEquals(expected, hT, "the first thread's forward must be undisturbed");
            assertArrayEquals(new float[HIDDEN], ownState.hidden(), "the refused step must not touch its state");
        }
    }

    @Test
    void closingARunnerThatAnotherThreadIsUsingIsRefused() throws Exception {
        try (TestModel model = new TestModel(991, INPUT, HIDDEN);
             LstmRunner runner = new LstmRunner(model.weights, 1)) {
            float[] x = model.input(LONG_STEPS, 1);
            IllegalStateException thrown = whileInside(runner,
                    () -> runner.forward(x, LONG_STEPS, 1, null, null, null, null, null), runner::close);
            assertMessage(thrown, ".close called by thread \"second\"", "while thread \"first\"");
            runner.forward(java.util.Arrays.copyOf(x, INPUT), 1, 1, null, null, null, null, null); // still open
        }
    }

    @Test
    void weightsClosedUnderARunningForwardFailThatForwardCleanly() throws Exception {
        TestModel model = new TestModel(994, INPUT, HIDDEN);
        try (LstmRunner runner = new LstmRunner(model.weights, 1)) {
            // Ten times the other tests' forward (a few hundred milliseconds): it cannot be tried again once the
            // weights are closed, so it must still be running when this thread gets to close them.
            int steps = 10 * LONG_STEPS;
            float[] x = model.input(steps, 1);
            CompletableFuture<Void> first = runAs("first", () -> runner.forward(x, steps, 1, null, null, null,
                    null, null));
            while (runner.inUse().owner() == null && !first.isDone()) {
                Thread.onSpinWait();
            }
            model.close();
            ExecutionException failed = assertThrows(ExecutionException.class, () -> first.get(60, TimeUnit.SECONDS));
            assertInstanceOf(IllegalStateException.class, failed.getCause(), "the JDK's closed-arena exception");
        }
    }

    @Test
    void aStateSteppedByTwoThreadsAtOnceIsReported() throws Exception {
        try (TestModel model = new TestModel(992, BIG_INPUT, BIG_HIDDEN);
             LstmRunner firstRunner = new LstmRunner(model.weights, 1);
             LstmRunner secondRunner = new LstmRunner(model.weights, 1);
             LstmState shared = new LstmState(model.weights, 1);
             Arena arena = Arena.ofShared()) {
            MemorySegment x = arena.allocate((long) BIG_INPUT * Float.BYTES);
            // Each step reads megabytes of weights, so it lasts long enough for the second thread, which waits
            // until it sees the first thread inside the state, to call in before it ends; should the second thread
            // be descheduled past that step, it waits for the next one.
            // The second thread may also slip in between two steps; then the first thread's next step is the one
            // refused, and that counts as well.
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
                while (!first.isDone()) {
                    Thread owner = shared.inUse().owner();
                    if (owner == null || !owner.getName().equals("first")) {
                        Thread.onSpinWait();
                        continue;
                    }
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
            assertMessage(refused, "LstmState@", ".step called by thread", "while thread", "\"first\"",
                    "\"second\"", "one stream's state");
        }
    }

    @Test
    void aSecondThreadCallingATrainerInUseIsRefusedAndTheFirstCallsResultStands() throws Exception {
        try (TestModel model = new TestModel(995, INPUT, HIDDEN);
             LstmTrainer trainer = new LstmTrainer(model.weights, 1, LONG_STEPS);
             LstmGradients gradients = new LstmGradients(INPUT, HIDDEN)) {
            float[] x = model.input(LONG_STEPS, 1);
            float[] expected = new float[HIDDEN];
            try (LstmRunner alone = new LstmRunner(model.weights, 1)) {
                alone.forward(x, LONG_STEPS, 1, null, null, null, expected, null);
            }
            float[] hT = new float[HIDDEN];
            MemorySegment dy = MemorySegment.ofArray(new float[LONG_STEPS * HIDDEN]);
            IllegalStateException thrown = whileInside(trainer.inUse(),
                    () -> trainer.forward(MemorySegment.ofArray(x), LONG_STEPS, 1, null, null, null,
                            MemorySegment.ofArray(hT), null),
                    () -> trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null));
            assertMessage(thrown, "LstmTrainer@", ".backward called by thread \"second\"", "while thread \"first\"",
                    "give each thread its own");
            assertArrayEquals(expected, hT, "the first thread's forward must be undisturbed");
            trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null); // still usable
        }
    }

    @Test
    void stackRunnersStatesAndTrainersInUseRefuseASecondThread() throws Exception {
        int layers = 2;
        try (TestStack model = new TestStack(996, INPUT, HIDDEN, layers, false);
             LstmStackRunner runner = new LstmStackRunner(model.weights, 1, LONG_STEPS);
             LstmStackState state = new LstmStackState(model.weights, 1);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights, 1, LONG_STEPS)) {
            float[] x = model.input(LONG_STEPS, 1);
            IllegalStateException byRunner = whileInside(runner.inUse(),
                    () -> runner.forward(x, LONG_STEPS, 1, null, null, null, null, null),
                    () -> runner.step(new float[INPUT], state, null));
            assertMessage(byRunner, "LstmStackRunner@", ".step called by thread \"second\"", "give each thread its own");
            assertArrayEquals(new float[layers * HIDDEN], state.hidden(), "the refused step must not touch its state");

            // A step is short, so the second thread tries reset() whenever it sees the first one inside the state,
            // until one attempt overlaps (a reset that comes between two steps is allowed and just zeroes the state).
            float[] frame = model.input(1, 1);
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
                while (!stepping.isDone()) {
                    Thread owner = state.inUse().owner();
                    if (owner == null || !owner.getName().equals("first")) {
                        Thread.onSpinWait();
                        continue;
                    }
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
            assertMessage(refused, "LstmStackState@", "called by thread", "while thread", "\"first\"", "\"second\"",
                    "one stream's state");

            IllegalStateException byTrainer = whileInside(trainer.inUse(),
                    () -> trainer.forward(MemorySegment.ofArray(x), LONG_STEPS, 1, null, null, null, null, null),
                    trainer::close);
            assertMessage(byTrainer, "LstmStackTrainer@", ".close called by thread \"second\"",
                    "give each thread its own");
        }
    }

    @Test
    void segmentsOfAnotherThreadsConfinedArenaAreNamedForEveryArgument() throws Exception {
        try (TestModel model = new TestModel(993, INPUT, HIDDEN);
             LstmRunner runner = new LstmRunner(model.weights, 1);
             LstmState state = new LstmState(model.weights, 1);
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
     * Starts {@code longCall} on a thread named "first", waits until that thread is inside {@code runner}, then
     * runs {@code intrusion} on a thread named "second" and returns what it threw; the first call must succeed.
     * On a loaded machine the second thread may not run at all before the first call ends: then the pair is tried
     * again, up to {@value #ATTEMPTS} times.
     */
    private static IllegalStateException whileInside(LstmRunner runner, Runnable longCall, Executable intrusion)
            throws Exception {
        return whileInside(runner.inUse(), longCall, intrusion);
    }

    /** As above, for any object guarded by {@code guard}. */
    private static IllegalStateException whileInside(ExclusiveUse guard, Runnable longCall, Executable intrusion)
            throws Exception {
        for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
            CompletableFuture<Void> first = runAs("first", longCall);
            IllegalStateException thrown = callAs("second", () -> {
                while (guard.owner() == null || !guard.owner().getName().equals("first")) {
                    if (first.isDone()) {
                        return null;
                    }
                    Thread.onSpinWait();
                }
                return assertThrows(IllegalStateException.class, intrusion);
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
