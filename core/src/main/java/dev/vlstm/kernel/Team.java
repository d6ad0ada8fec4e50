package dev.vlstm.kernel;

import java.util.List;

/**
 * The threads that share a call, and the call they are running: a {@link PackedGemm#multiply} or
 * {@link PackedGemm#step} and its call object, split into a {@link WorkerPool}'s shares, each an even, fixed range
 * of the call's blocks (docs/architecture.md, "Threads"). A thread computes its blocks' outputs for every row and
 * reads only its share of the packed weights, so at batch 1 each core streams its own part of U, and with the same
 * blocks every step that part stays in its own L2. Each output is still one FMA chain in k order, so the results
 * are the same bits for any number of threads.
 *
 * <p>A call returns when every share has finished (the per-step barrier of {@link WorkerPool}): within a sequence
 * the next step reads the h that all threads wrote. Calls with fewer than two blocks run on the calling thread
 * alone. A team belongs to one owner (a runner or trainer, or a stacked model whose parts run one after another),
 * which makes one call at a time and closes it once.
 */
final class Team implements AutoCloseable {

    private final WorkerPool pool;

    // The call being split, written by the calling thread before WorkerPool.run publishes it.
    private PackedGemm gemm;
    private GemmCall gemmCall;
    private StepCall stepCall;
    private int blockFrom;
    private int blockTo;

    /** Starts {@code threads - 1} daemon worker threads (named {@code vlstm-kernel-*}); {@code threads} &ge; 2. */
    Team(int threads) {
        this.pool = new WorkerPool(threads, this::runShare);
    }

    int threads() {
        return pool.shares();
    }

    List<Thread> workerThreads() {
        return pool.threads();
    }

    /** {@link PackedGemm#multiply} of {@code gemm} on {@code call}, split over blocks {@code [blockFrom, blockTo)}. */
    void multiply(PackedGemm gemm, GemmCall call, int blockFrom, int blockTo) {
        if (blockTo - blockFrom < 2) {
            gemm.multiply(call, blockFrom, blockTo);
            return;
        }
        this.gemm = gemm;
        this.gemmCall = call;
        this.stepCall = null;
        run(blockFrom, blockTo);
    }

    /** {@link PackedGemm#step} of {@code gemm} on {@code call}, split over blocks {@code [blockFrom, blockTo)}. */
    void step(PackedGemm gemm, StepCall call, int blockFrom, int blockTo) {
        if (blockTo - blockFrom < 2) {
            gemm.step(call, blockFrom, blockTo);
            return;
        }
        this.gemm = gemm;
        this.stepCall = call;
        this.gemmCall = null;
        run(blockFrom, blockTo);
    }

    private void run(int blockFrom, int blockTo) {
        this.blockFrom = blockFrom;
        this.blockTo = blockTo;
        pool.run();
    }

    /**
     * Runs share {@code share} of the call in progress: blocks {@code [from, to)} of an even split of
     * {@code blockFrom..blockTo-1}, always the same range for the same share (so a thread keeps its part of the
     * weights in its cache from step to step); nothing if the split leaves it no block. Share 0 is the calling
     * thread's.
     */
    private void runShare(int share) {
        int from = pool.splitPoint(share, blockFrom, blockTo);
        int to = pool.splitPoint(share + 1, blockFrom, blockTo);
        if (from == to) {
            return;
        }
        if (stepCall == null) {
            gemm.multiply(gemmCall, from, to);
        } else {
            gemm.step(stepCall, from, to);
        }
    }

    /** Stops the worker threads and waits until they have ended; closing twice is harmless. */
    @Override
    public void close() {
        pool.close();
    }
}
