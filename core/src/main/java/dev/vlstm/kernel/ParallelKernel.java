package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Intra-op parallelism: a kernel that runs another kernel's GEMMs on several threads, each thread owning a
 * contiguous range of hidden-unit blocks (DESIGN.md, idea 7). A thread computes its blocks' gates for every row and
 * reads only its share of the packed weights, so at batch 1 each core streams its own part of U, and with the same
 * blocks every step that part stays in its own L2. Each output lane is still the wrapped kernel's one FMA chain in k
 * order, so the results are the same bits for any number of threads.
 *
 * <p>A call returns when every share has finished (the per-step barrier of {@link WorkerPool}): within a sequence
 * the next step reads the h that all threads wrote. Calls with a single block, and the pointwise
 * {@link #cellBackward}, run on the calling thread alone.
 *
 * <p>Unlike the stateless kernels it wraps, an instance owns threads and holds the arguments of the call in
 * progress: it belongs to one owner (a runner), which calls it from one thread at a time and closes it.
 */
public final class ParallelKernel implements LstmKernel, AutoCloseable {

    private static final int PROJECT_INPUT = 1;
    private static final int RECURRENT_STEP = 2;

    private final LstmKernel kernel;
    private final WorkerPool pool;

    // The call being split, written by the calling thread before WorkerPool.run publishes it.
    private int operation;
    private GateLayout layout;
    private MemorySegment packedWeights;
    private MemorySegment packedBias;
    private MemorySegment x;
    private long xOffset;
    private long xRowBytes;
    private long xColumnBytes;
    private int rows;
    private MemorySegment inputGates;
    private long inputGatesOffset;
    private MemorySegment gates;
    private long gatesOffset;
    /** Terms per output of the call in progress (its GEMM's depth, or the recurrent step's). */
    private int depth;
    private MemorySegment hPrev;
    private long hPrevRowBytes;
    private MemorySegment c;
    private MemorySegment hNext;
    private float clip;
    private MemorySegment peepholes;
    private int blockFrom;
    private int blockTo;

    /**
     * Wraps {@code kernel} and starts {@code threads - 1} daemon worker threads (named {@code vlstm-kernel-*}); the
     * calling thread runs one share of every call itself.
     *
     * @param kernel  the kernel whose GEMMs are split; stateless, as every kernel but this one
     * @param threads threads per call, &ge; 2
     * @throws IllegalArgumentException if {@code threads} is &lt; 2
     */
    public ParallelKernel(LstmKernel kernel, int threads) {
        if (threads < 2) {
            throw new IllegalArgumentException("a ParallelKernel needs threads >= 2, got " + threads);
        }
        this.kernel = kernel;
        this.pool = new WorkerPool(threads, this::runShare);
    }

    /** {@return the threads that run each call, the calling thread included} */
    public int threads() {
        return pool.shares();
    }

    /** {@return the worker threads (all but the calling thread), for tests} */
    public List<Thread> workerThreads() {
        return pool.threads();
    }

    /** {@return the wrapped kernel's name and the number of threads, e.g. {@code "vector-512 x2"}} */
    @Override
    public String name() {
        return kernel.name() + " x" + threads();
    }

    @Override
    public int lanes() {
        return kernel.lanes();
    }

    @Override
    public WeightFormat weightFormat() {
        return kernel.weightFormat();
    }

    /**
     * {@inheritDoc} This one for its own format; for another, the wrapped family's kernel, which runs on the
     * calling thread (threads belong to one owner).
     */
    @Override
    public LstmKernel withWeightFormat(WeightFormat format) {
        return format == weightFormat() ? this : kernel.withWeightFormat(format);
    }

    @Override
    public TensorKernel tensors() {
        return kernel.tensors();
    }

    @Override
    public void projectInput(GateLayout layout, int depth, MemorySegment packedInput, MemorySegment packedBias,
                             MemorySegment x, long xOffset, long xRowBytes, long xColumnBytes, int rows,
                             MemorySegment gates, long gatesOffset, int blockFrom, int blockTo) {
        if (blockTo - blockFrom < 2) {
            kernel.projectInput(layout, depth, packedInput, packedBias, x, xOffset, xRowBytes, xColumnBytes, rows,
                    gates, gatesOffset, blockFrom, blockTo);
            return;
        }
        this.operation = PROJECT_INPUT;
        this.layout = layout;
        this.depth = depth;
        this.packedWeights = packedInput;
        this.packedBias = packedBias;
        this.x = x;
        this.xOffset = xOffset;
        this.xRowBytes = xRowBytes;
        this.xColumnBytes = xColumnBytes;
        this.rows = rows;
        this.gates = gates;
        this.gatesOffset = gatesOffset;
        this.blockFrom = blockFrom;
        this.blockTo = blockTo;
        pool.run();
    }

    @Override
    public void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, int recurrentDepth,
                              MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset,
                              MemorySegment hPrev, long hPrevRowBytes, MemorySegment c, MemorySegment hNext, int batch,
                              float clip, MemorySegment peepholes, int blockFrom, int blockTo) {
        if (blockTo - blockFrom < 2) {
            kernel.recurrentStep(layout, packedRecurrent, recurrentDepth, inputGates, inputGatesOffset, gates,
                    gatesOffset, hPrev, hPrevRowBytes, c, hNext, batch, clip, peepholes, blockFrom, blockTo);
            return;
        }
        this.operation = RECURRENT_STEP;
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

    /** {@inheritDoc} Pointwise and cheap next to the GEMMs: runs on the calling thread. */
    @Override
    public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment cell,
                             long cellOffset, MemorySegment cellPrev, long cellPrevOffset, MemorySegment dh,
                             int dhRowFloats, MemorySegment dc, MemorySegment scratch, int batch, float clip) {
        kernel.cellBackward(layout, gates, gatesOffset, cell, cellOffset, cellPrev, cellPrevOffset, dh, dhRowFloats,
                dc, scratch, batch, clip);
    }

    /** {@inheritDoc} Pointwise and cheap next to the GEMMs: runs on the calling thread. */
    @Override
    public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment preActivations,
                             long preActivationsOffset, MemorySegment cell, long cellOffset, MemorySegment cellPrev,
                             long cellPrevOffset, MemorySegment dh, int dhRowFloats, MemorySegment dc,
                             MemorySegment scratch, int batch, float clip, MemorySegment peepholes,
                             MemorySegment peepholeGradients) {
        kernel.cellBackward(layout, gates, gatesOffset, preActivations, preActivationsOffset, cell, cellOffset,
                cellPrev, cellPrevOffset, dh, dhRowFloats, dc, scratch, batch, clip, peepholes, peepholeGradients);
    }

    /**
     * Runs share {@code share} of the call in progress: blocks {@code [from, to)} of an even split of
     * {@code blockFrom..blockTo-1}, always the same range for the same share (so a thread keeps its part of the
     * weights in its cache from step to step); nothing if the split leaves it no block. Share 0 is the calling
     * thread's.
     */
    private void runShare(int share) {
        int shares = pool.shares();
        int blocks = blockTo - blockFrom;
        int from = blockFrom + (int) ((long) blocks * share / shares);
        int to = blockFrom + (int) ((long) blocks * (share + 1) / shares);
        if (from == to) {
            return;
        }
        if (operation == PROJECT_INPUT) {
            kernel.projectInput(layout, depth, packedWeights, packedBias, x, xOffset, xRowBytes, xColumnBytes, rows,
                    gates, gatesOffset, from, to);
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
