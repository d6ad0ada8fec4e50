package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The threads of a {@link ParallelKernel} family and the call they are running: a GEMM and its {@link GemmCall}, or
 * a recurrent step of a wrapped kernel with its arguments, and the {@link WorkerPool} whose shares each run an even,
 * fixed range of its blocks. One per family, shared by the family's kernels (one per weight format), so that every
 * format's GEMMs, and every part of a stacked model, run on the same few threads; the family's owner makes one call
 * at a time.
 */
final class BlockSplit implements AutoCloseable {

    private static final int MULTIPLY = 1;
    private static final int RECURRENT_STEP = 2;

    private final WorkerPool pool;

    // The call being split, written by the calling thread before WorkerPool.run publishes it.
    private int operation;
    private PackedGemm gemm;
    private GemmCall gemmCall;
    private LstmKernel kernel;
    private GateLayout layout;
    private MemorySegment packedWeights;
    private int rows;
    private MemorySegment inputGates;
    private long inputGatesOffset;
    private MemorySegment gates;
    private long gatesOffset;
    /** Terms per output of the recurrent step in progress. */
    private int depth;
    private MemorySegment hPrev;
    private long hPrevRowBytes;
    private MemorySegment c;
    private MemorySegment hNext;
    private float clip;
    private MemorySegment peepholes;
    private int blockFrom;
    private int blockTo;

    /** Starts {@code threads - 1} daemon worker threads; {@code threads} &ge; 2. */
    BlockSplit(int threads) {
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
        this.operation = MULTIPLY;
        this.gemm = gemm;
        this.gemmCall = call;
        this.blockFrom = blockFrom;
        this.blockTo = blockTo;
        pool.run();
    }

    /** {@link LstmKernel#recurrentStep} of {@code kernel}, split over blocks {@code [blockFrom, blockTo)}. */
    void recurrentStep(LstmKernel kernel, GateLayout layout, MemorySegment packedRecurrent, int recurrentDepth,
                       MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset,
                       MemorySegment hPrev, long hPrevRowBytes, MemorySegment c, MemorySegment hNext, int batch,
                       float clip, MemorySegment peepholes, int blockFrom, int blockTo) {
        this.operation = RECURRENT_STEP;
        this.kernel = kernel;
        this.layout = layout;
        this.packedWeights = packedRecurrent;
        this.depth = recurrentDepth;
        this.inputGates = inputGates;
        this.inputGatesOffset = inputGatesOffset;
        this.gates = gates;
        this.gatesOffset = gatesOffset;
        this.hPrev = hPrev;
        this.hPrevRowBytes = hPrevRowBytes;
        this.c = c;
        this.hNext = hNext;
        this.rows = batch;
        this.clip = clip;
        this.peepholes = peepholes;
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
        if (operation == MULTIPLY) {
            gemm.multiply(gemmCall, from, to);
        } else {
            kernel.recurrentStep(layout, packedWeights, depth, inputGates, inputGatesOffset, gates,
                    gatesOffset, hPrev, hPrevRowBytes, c, hNext, rows, clip, peepholes, from, to);
        }
    }

    /** Stops the worker threads and waits until they have ended; closing twice is harmless. */
    @Override
    public void close() {
        pool.close();
    }
}
