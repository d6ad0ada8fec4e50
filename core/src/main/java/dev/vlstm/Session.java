package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.util.List;

import dev.vlstm.kernel.ColdStart;
import dev.vlstm.kernel.Team;

/**
 * What a runner's and a trainer's driver own besides their parts: the one-thread guard, the scratch memory and the
 * team of threads, opened together ({@link #open}) and closed together, and the checks every call makes first (both
 * open, no c for a cell without one). A driver brackets each call with {@code inUse().enter} and
 * {@code inUse().exit}, and frees everything with {@link #close}, or with {@link #release} if its own constructor
 * fails after this was opened.
 *
 * @param weights the model's packed weights, not owned
 * @param owner   the name of the driver's public class in messages, e.g. "Runner"
 * @param inUse   the one-thread guard of the driver's calls
 * @param memory  the driver's scratch memory
 * @param team    the threads each call runs on
 */
record Session(PackedModel weights, String owner, ExclusiveUse inUse, OffHeap memory, Team team) {

    /**
     * @param weights the model's packed weights, open
     * @param threads the team's threads, the calling thread included
     * @param owner   the name of the caller's class in messages, e.g. "Runner"
     * @param guarded the object the one-thread guard names in its message
     * @param advice  the sentence that ends the guard's message
     * @param coldStart when the team runs the cold kernel ({@link Team#Team(dev.vlstm.kernel.Family, int,
     *                ColdStart)}); null for never
     * @throws IllegalStateException    if the weights are closed
     * @throws IllegalArgumentException for threads outside 1 to {@link Options#MAX_THREADS}
     */
    static Session open(PackedModel weights, int threads, String owner, Object guarded, String advice,
                        ColdStart coldStart) {
        weights.checkOpen();
        Checks.threads(threads);
        OffHeap memory = OffHeap.open();
        try {
            return new Session(weights, owner, new ExclusiveUse(guarded, advice), memory,
                    new Team(weights.family(), threads, coldStart));
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
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
        if (!weights.shape().cell().hasCellState()) {
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
