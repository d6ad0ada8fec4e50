package dev.vlstm.kernel;

import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed team of threads that runs one piece of work in {@code shares} parts and returns when all are done: the
 * calling thread runs share 0, one daemon worker thread each of shares 1 to {@code shares - 1}. It is the
 * per-step barrier of {@link Team}, built for calls of a few microseconds that come back to back (the
 * steps of a sequence), where waking a parked thread would cost about as much as the step.
 *
 * <p>A call publishes itself by incrementing a volatile generation counter (the work's arguments, plain fields
 * written before it, travel with that write); each worker spins on the counter, claims its share, runs it, and
 * publishes the generation it finished in its own volatile field, on which the caller spins. A share is claimed
 * with a compare-and-set, by its worker or, once the caller has run its own share, by the caller: on a busy
 * machine a worker that is not running (descheduled, or still waking up) costs the call nothing but its share,
 * which the caller runs itself, instead of a wait for the scheduler. Every share runs the same block range
 * whichever thread runs it, so results do not depend on who did. Workers spin only while work keeps coming:
 * after {@value #IDLE_SPIN_NANOS} ns without a call they park, and the next call unparks them. Nothing is
 * allocated per call. A worker's exception is caught and rethrown by the caller once every share has finished,
 * so a failing share never hangs the call and never leaves a worker writing after it returns.
 *
 * <p>For one calling thread at a time (its owner serializes the calls).
 */
final class WorkerPool implements AutoCloseable {

    /** One share of the pool's work; implemented by the work's owner, not by a capturing lambda. */
    interface Work {
        /**
         * Runs share {@code share} of the current call.
         *
         * @param share 0 (the calling thread) to {@code shares - 1}
         */
        void runShare(int share);
    }

    /** How long a worker spins without work before it parks: longer than any gap between the steps of a call. */
    static final long IDLE_SPIN_NANOS = 200_000;
    /** Spins between looks at the clock (and a yield, so that a busy machine can run a descheduled peer). */
    private static final int SPINS_PER_CHECK = 64;
    private static final AtomicInteger POOLS = new AtomicInteger();

    private final Work work;
    private final Worker[] workers;
    /** The number of the last call; written only by the calling thread. */
    private volatile long generation;
    private volatile boolean closed;

    /**
     * Starts {@code shares - 1} worker threads.
     *
     * @param shares the parts every call runs in, &ge; 2
     * @param work   what a call runs
     */
    WorkerPool(int shares, Work work) {
        if (shares < 2) {
            throw new IllegalArgumentException("a worker pool needs at least 2 shares, got " + shares);
        }
        this.work = work;
        this.workers = new Worker[shares - 1];
        int pool = POOLS.incrementAndGet();
        for (int n = 0; n < workers.length; n++) {
            workers[n] = new Worker(n + 1, "vlstm-kernel-" + pool + "-" + (n + 1));
        }
        for (Worker worker : workers) {
            worker.thread.start();
        }
    }

    /** {@return the parts every call runs in: the worker threads and the calling thread} */
    int shares() {
        return workers.length + 1;
    }

    /**
     * The first item of share {@code share} in the even, fixed split of {@code [from, to)} among {@link #shares()}:
     * share s runs {@code [splitPoint(s), splitPoint(s + 1))}, always the same range for the same share (so a
     * thread keeps its part of the weights in its cache from call to call), empty where there are fewer items than
     * shares.
     *
     * @param share 0 to {@code shares()}; {@code shares()} gives {@code to}
     */
    int splitPoint(int share, int from, int to) {
        return from + (int) ((long) (to - from) * share / shares());
    }

    /**
     * Runs every share of the work and returns when all have finished.
     *
     * @throws IllegalStateException if the pool is closed
     * @throws RuntimeException      or {@link Error}: the first share's failure (the caller's own first), with the
     *                               failures of other shares added as suppressed exceptions
     */
    void run() {
        if (closed) {
            throw new IllegalStateException("this worker pool is closed");
        }
        long call = generation + 1;
        generation = call;
        for (Worker worker : workers) {
            if (worker.parked) {
                LockSupport.unpark(worker.thread);
            }
        }
        Throwable failure = runShare(0, null);
        for (Worker worker : workers) {
            if (worker.claimed.compareAndSet(call - 1, call)) {
                failure = runShare(worker.share, failure);
                worker.completed = call;
            }
        }
        for (Worker worker : workers) {
            awaitCompleted(worker, call);
            Throwable workerFailure = worker.failure;
            if (workerFailure != null) {
                worker.failure = null;
                failure = firstOf(failure, workerFailure);
            }
        }
        if (failure instanceof RuntimeException runtime) {
            throw runtime;
        }
        if (failure != null) {
            throw (Error) failure;
        }
    }

    /** Runs a share on the calling thread; returns {@code failure}, or the share's failure if it is the first. */
    private Throwable runShare(int share, Throwable failure) {
        try {
            work.runShare(share);
            return failure;
        } catch (RuntimeException | Error e) {
            return firstOf(failure, e);
        }
    }

    /**
     * {@code first}, with {@code next} added to it as suppressed, or {@code next} if there is no first. Two shares
     * may throw the same object (the JVM's preallocated OutOfMemoryError), which cannot suppress itself.
     */
    private static Throwable firstOf(Throwable first, Throwable next) {
        if (first == null) {
            return next;
        }
        if (next != first) {
            first.addSuppressed(next);
        }
        return first;
    }

    private static void awaitCompleted(Worker worker, long call) {
        int spins = 0;
        while (worker.completed != call) {
            if (++spins % SPINS_PER_CHECK == 0) {
                Thread.yield();
            } else {
                Thread.onSpinWait();
            }
        }
    }

    /** The worker threads, for tests (to check they end and allocate nothing). */
    List<Thread> threads() {
        Thread[] threads = new Thread[workers.length];
        for (int n = 0; n < workers.length; n++) {
            threads[n] = workers[n].thread;
        }
        return List.of(threads);
    }

    /**
     * Stops the worker threads and waits until they have ended. Closing twice is harmless; must not be called
     * during {@link #run()}.
     */
    @Override
    public void close() {
        closed = true;
        boolean interrupted = false;
        for (Worker worker : workers) {
            LockSupport.unpark(worker.thread);
            while (worker.thread.isAlive()) {
                try {
                    worker.thread.join();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** One worker thread and what it shares with the caller. */
    private final class Worker implements Runnable {
        private final int share;
        private final Thread thread;
        /** The last call whose share has been claimed, by this worker or by the caller. */
        private final AtomicLong claimed = new AtomicLong();
        /** The last call whose share has finished; written by whoever claimed it. */
        private volatile long completed;
        /** Set while the worker is parked or about to park: the caller then unparks it. */
        private volatile boolean parked;
        /** The worker's failure in its last call; written before {@link #completed}, cleared by the caller. */
        private Throwable failure;

        Worker(int share, String name) {
            this.share = share;
            this.thread = Thread.ofPlatform().name(name).daemon().unstarted(this);
        }

        @Override
        public void run() {
            long seen = 0;
            while (true) {
                long call = awaitCall(seen);
                if (call < 0) {
                    return;
                }
                seen = call;
                // Each call's share is claimed once, so claimed is call - 1 until someone claims this one.
                if (claimed.compareAndSet(call - 1, call)) {
                    try {
                        work.runShare(share);
                    } catch (Throwable e) {
                        failure = e;
                    }
                    completed = call;
                }
            }
        }

        /** Spins, then parks, until a call after {@code seen} is published; -1 once the pool is closed. */
        private long awaitCall(long seen) {
            int spins = 0;
            long idleSince = System.nanoTime();
            while (true) {
                if (closed) {
                    return -1;
                }
                long call = generation;
                if (call != seen) {
                    return call;
                }
                if (++spins % SPINS_PER_CHECK != 0) {
                    Thread.onSpinWait();
                } else if (System.nanoTime() - idleSince < IDLE_SPIN_NANOS) {
                    Thread.yield();
                } else {
                    // Dekker with run(): it writes generation, then reads parked; this writes parked, then reads
                    // generation. One of the two sees the other's write, so a call never waits on a parked worker.
                    parked = true;
                    if (generation == seen && !closed) {
                        LockSupport.park(this);
                    }
                    parked = false;
                }
            }
        }
    }
}
