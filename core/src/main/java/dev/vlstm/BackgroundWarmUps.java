package dev.vlstm;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A model's warm-ups on daemon threads of their own ({@link Model#warmUpInBackground(Options, Duration)}), each
 * running its calls on a second thread at the lowest priority ({@link LowPriority}), so that they take what CPU time
 * the requests leave. Each warm-up makes a runner of its own, so that no runner or state a caller holds is ever used
 * by it, runs {@link Runner#warmUp(Duration, java.util.function.BooleanSupplier, Runnable)} until it settles, its
 * limit passes or its future is completed by anyone else (a caller's {@code cancel}, or {@link #close()}), frees the
 * runner, then completes the future. {@link #close()} waits for every thread to have stopped reading the model's
 * weights, so the model may free them right after.
 */
final class BackgroundWarmUps {

    /** The name of every warm-up thread, for thread dumps. */
    static final String THREAD_NAME = "vlstm-warm-up";
    /** The name of the thread each warm-up thread runs its calls on, at the lowest priority. */
    static final String CALLS_THREAD_NAME = "vlstm-warming";

    /** The copies of a cold start may take at most the heap's maximum divided by this: a quarter of it. */
    private static final long COLD_HEAP_DIVISOR = 4;

    /** A warm-up thread and the future it completes. */
    private record Running(Thread thread, CompletableFuture<WarmUp> future) {
    }

    /** The warm-ups started and not yet ended; guarded by this. */
    private final List<Running> running = new ArrayList<>();
    /** True once {@link #close()} began: no warm-up starts after; guarded by this. */
    private boolean closed;

    /**
     * Starts warming a runner of {@code model} with {@code options} on a new daemon thread; with
     * {@link CallsDuringWarmUp#COLD_KERNEL}, the model's runners run the cold kernel from now until it ends.
     *
     * @return the future of its report; completed exceptionally with what the warm-up threw, or cancelled
     * @throws IllegalStateException if the model is closed or closing
     */
    synchronized CompletableFuture<WarmUp> start(Model model, Options options, Duration limit,
                                                 CallsDuringWarmUp calls) {
        if (closed) {
            throw new IllegalStateException("this Model is closed");
        }
        boolean cold = calls == CallsDuringWarmUp.COLD_KERNEL && beginColdStart(model, options);
        try {
            CompletableFuture<WarmUp> future = new CompletableFuture<>();
            Runnable endColdStart = cold ? new Once(model::endColdStart) : () -> { };
            Thread thread = Thread.ofPlatform().daemon().name(THREAD_NAME)
                    .unstarted(() -> warmUp(model, options, limit, endColdStart, future));
            running.add(new Running(thread, future));
            thread.start();
            return future;
        } catch (RuntimeException | Error e) {
            if (cold) {
                model.endColdStart();
            }
            throw e;
        }
    }

    /**
     * Begins the model's cold start and primes the cold kernel. If either fails (the heap copies' memory, the
     * primer's model or runner), it ends the cold start again and logs why: the warm-up goes on, and the requests
     * meanwhile run the warming kernels.
     *
     * @return whether a cold start was begun, which the warm-up's thread ends
     */
    private static boolean beginColdStart(Model model, Options options) {
        try {
            if (model.beginColdStart(Runtime.getRuntime().maxMemory() / COLD_HEAP_DIVISOR)) {
                model.primeColdKernel(options);
            }
            return true;
        } catch (RuntimeException | OutOfMemoryError e) {
            model.endColdStart();
            System.getLogger(BackgroundWarmUps.class.getName()).log(System.Logger.Level.WARNING,
                    "The cold kernel could not be prepared; requests run the warming kernels until the warm-up ends.",
                    e);
            return false;
        }
    }

    /**
     * The warm-up thread's body: it runs the calls on a thread of its own at the lowest priority, waits for it, then
     * completes the future. The future is completed after the runner is closed and this warm-up is no longer listed,
     * on this thread, whose priority is the caller's: actions a caller chained to it without an executor run here
     * (and threads they start inherit this thread's priority, not the lowered one), and may close the model.
     */
    private void warmUp(Model model, Options options, Duration limit, Runnable endColdStart,
                        CompletableFuture<WarmUp> future) {
        Calls calls = null;
        Throwable failure = null;
        try {
            calls = new Calls(model, options, limit, future, endColdStart);
            Thread thread = Thread.ofPlatform().daemon().name(CALLS_THREAD_NAME).unstarted(calls);
            thread.start();
            joinUninterruptibly(thread);
            failure = calls.failure;
        } catch (Throwable e) {
            failure = e;
        } finally {
            endColdStart.run();
            synchronized (this) {
                running.removeIf(warmUp -> warmUp.thread() == Thread.currentThread());
            }
        }
        if (failure == null) {
            future.complete(calls.report);
        } else {
            future.completeExceptionally(failure);
        }
    }

    /**
     * The warm-up's calls, on a thread that first lowers its own priority ({@link LowPriority}). Its cold start ends
     * once the calls run compiled where the kernels box vectors until then; where they never box (the scalar family),
     * an allocation-free call says nothing of the JIT, and the cold start ends with the warm-up. Its fields are read
     * after the thread has been joined.
     */
    private static final class Calls implements Runnable {

        private final Model model;
        private final Options options;
        private final Duration limit;
        private final CompletableFuture<WarmUp> future;
        private final Runnable endColdStart;
        private WarmUp report;
        private Throwable failure;

        Calls(Model model, Options options, Duration limit, CompletableFuture<WarmUp> future, Runnable endColdStart) {
            this.model = model;
            this.options = options;
            this.limit = limit;
            this.future = future;
            this.endColdStart = endColdStart;
        }

        @Override
        public void run() {
            try {
                LowPriority.lowerCurrentThread();
                Runnable compiled = model.kernelsBoxUntilCompiled() ? endColdStart : () -> { };
                try (Runner runner = model.runner(options)) {
                    report = runner.warmUp(limit, future::isDone, compiled);
                }
            } catch (Throwable e) {
                failure = e;
            }
        }
    }

    /** Waits for {@code thread} to end, through interrupts, keeping the interrupt status. */
    private static void joinUninterruptibly(Thread thread) {
        boolean interrupted = false;
        while (true) {
            try {
                thread.join();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Cancels every running warm-up and waits until their threads have stopped using the model (each finishes the
     * call it is in: one forward or step on made-up data). Starting one afterwards is refused. If interrupted, it
     * still waits, and keeps the thread's interrupt status.
     */
    void close() {
        List<Running> stopping;
        synchronized (this) {
            closed = true;
            stopping = List.copyOf(running);
        }
        for (Running warmUp : stopping) {
            warmUp.future().cancel(false);
        }
        for (Running warmUp : stopping) {
            joinUninterruptibly(warmUp.thread());
        }
    }

    /** Runs an action the first time it is run, and never again; by one thread at a time, each run after the last. */
    private static final class Once implements Runnable {

        private Runnable action;

        Once(Runnable action) {
            this.action = action;
        }

        @Override
        public void run() {
            Runnable first = action;
            action = null;
            if (first != null) {
                first.run();
            }
        }
    }

    /** The threads of the warm-ups not yet ended, for tests. */
    synchronized List<Thread> threads() {
        return running.stream().map(Running::thread).toList();
    }
}
