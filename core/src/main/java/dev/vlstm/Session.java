package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.util.List;

import dev.vlstm.kernel.Team;

/**
 * What a runner's and a trainer's driver own besides their parts: the one-thread guard, the scratch memory and the
 * team of threads, opened together and closed together, and the checks every call makes first (both open, no c for a
 * cell without one). A driver brackets each call with {@link #enter} and {@link #exit}, and frees everything with
 * {@link #close}, or with {@link #release} if its own constructor fails after this was made.
 */
final class Session {

    private final PackedModel weights;
    private final String owner;
    private final boolean cellState;
    private final ExclusiveUse inUse;
    private final OffHeap memory;
    private final Team team;

    /**
     * @param weights the model's packed weights, open
     * @param threads the team's threads, the calling thread included
     * @param owner   the name of the caller's class in messages, e.g. "Runner"
     * @param guarded the object the one-thread guard names in its message
     * @param advice  the sentence that ends the guard's message
     * @throws IllegalStateException    if the weights are closed
     * @throws IllegalArgumentException for threads outside 1 to {@link Options#MAX_THREADS}
     */
    Session(PackedModel weights, int threads, String owner, Object guarded, String advice) {
        weights.checkOpen();
        Checks.threads(threads);
        this.weights = weights;
        this.owner = owner;
        this.cellState = weights.shape().cell().hasCellState();
        this.inUse = new ExclusiveUse(guarded, advice);
        this.memory = OffHeap.open();
        try {
            this.team = new Team(weights.family(), threads);
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    OffHeap memory() {
        return memory;
    }

    Team team() {
        return team;
    }

    String owner() {
        return owner;
    }

    /** Marks the calling thread as inside {@code method}; refuses a second thread, as {@link ExclusiveUse#enter}. */
    void enter(String method) {
        inUse.enter(method);
    }

    void exit() {
        inUse.exit();
    }

    /** @throws IllegalStateException if this session or its model is closed */
    void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("this " + owner + " is closed");
        }
        weights.checkOpen();
    }

    /** A cell without c refuses the two c segments of a call, by name; a cell with c takes any. */
    void refuseCellState(String firstName, MemorySegment first, String secondName, MemorySegment second) {
        if (!cellState) {
            Checks.refuseCellState(firstName, first);
            Checks.refuseCellState(secondName, second);
        }
    }

    int threads() {
        return team.threads();
    }

    List<Thread> workerThreads() {
        return team.workerThreads();
    }

    /** Frees the scratch memory and stops the worker threads, inside the guard. Closing twice is harmless. */
    void close() {
        inUse.enter("close");
        try {
            release();
        } finally {
            inUse.exit();
        }
    }

    /** Frees the scratch memory and stops the worker threads, for a driver whose constructor failed. */
    void release() {
        team.close();
        memory.close();
    }
}
