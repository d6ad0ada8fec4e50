package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Intra-op parallelism for GRUs, as {@link ParallelKernel} gives it to LSTMs: a kernel that runs another GRU
 * kernel's GEMMs on several threads, each thread owning a contiguous range of hidden-unit blocks
 * (docs/architecture.md, "Threads").
 * A thread computes its blocks' gates for every row and reads only its share of the packed weights, so at
 * batch 1 each core streams its own part of W_hh, the same part every step. Each output lane is still the wrapped
 * kernel's one FMA chain in k order, so the results are the same bits for any number of threads.
 *
 * <p>The backward's GEMMs (dh = g·W_hh per step, dx, dW_ih, dW_hh) run on the wrapped kernel's {@link #gemm()} LSTM
 * kernel; this kernel's {@link #gemm()} splits their {@code projectInput} over output blocks on the same threads,
 * so a trainer has one team of threads for its forward and its backward.
 *
 * <p>A call returns when every share has finished (the per-step barrier of {@link WorkerPool}): within a sequence
 * the next step reads the h that all threads wrote. Calls with a single block, and the pointwise
 * {@link #cellBackward}, run on the calling thread alone.
 *
 * <p>Unlike the stateless kernels it wraps, an instance owns threads and holds the arguments of the call in
 * progress: it belongs to one owner (a runner or a trainer), which calls it from one thread at a time and closes
 * it.
 */
public final class ParallelGruKernel implements GruKernel, AutoCloseable {

    private static final int MULTIPLY = 1;
    private static final int RECURRENT_STEP = 2;

    private final GruKernel kernel;
    private final LstmKernel wrappedGemm;
    private final PackedGemm packedGemm;
    private final SplitGemm splitGemm;
    private final WorkerPool pool;
    /** The arguments of the GEMM being split (the input projection's or a backward product's), set per call. */
    private final GemmCall gemmCall = new GemmCall();

    // The call being split, written by the calling thread before WorkerPool.run publishes it.
    private int operation;
    private GateLayout layout;
    private MemorySegment packedWeights;
    private MemorySegment bias;
    private int rows;
    private MemorySegment gates;
    private long gatesOffset;
    private MemorySegment inputGates;
    private long inputGatesOffset;
    private MemorySegment hPrev;
    private MemorySegment hNext;
    private int blockFrom;
    private int blockTo;

    /**
     * Wraps {@code kernel} and starts {@code threads - 1} daemon worker threads (named {@code vlstm-kernel-*}); the
     * calling thread runs one share of every call itself.
     *
     * @param kernel  the GRU kernel whose GEMMs are split; stateless, as every kernel but the parallel ones
     * @param threads threads per call, &ge; 2
     * @throws IllegalArgumentException if {@code threads} is &lt; 2
     */
    public ParallelGruKernel(GruKernel kernel, int threads) {
        if (threads < 2) {
            throw new IllegalArgumentException("a ParallelGruKernel needs threads >= 2, got " + threads);
        }
        this.kernel = kernel;
        this.wrappedGemm = kernel.gemm();
        this.packedGemm = wrappedGemm.packedGemm();
        this.splitGemm = new SplitGemm();
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
    public void projectInput(GateLayout layout, MemorySegment packedInput, MemorySegment inputBias, MemorySegment x,
                             long xOffset, int rows, MemorySegment gates, long gatesOffset, int blockFrom,
                             int blockTo) {
        if (blockTo - blockFrom < 2) {
            kernel.projectInput(layout, packedInput, inputBias, x, xOffset, rows, gates, gatesOffset, blockFrom,
                    blockTo);
            return;
        }
        gemmCall.set(WeightFormat.FLOAT32, layout, packedInput, layout.inputSize(), inputBias, x, xOffset,
                (long) layout.inputSize() * Float.BYTES, Float.BYTES, rows, gates, gatesOffset);
        multiply(blockFrom, blockTo);
    }

    @Override
    public void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, MemorySegment recurrentBias,
                              MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset,
                              MemorySegment hPrev, MemorySegment hNext, int batch, int blockFrom, int blockTo) {
        if (blockTo - blockFrom < 2) {
            kernel.recurrentStep(layout, packedRecurrent, recurrentBias, inputGates, inputGatesOffset, gates,
                    gatesOffset, hPrev, hNext, batch, blockFrom, blockTo);
            return;
        }
        this.operation = RECURRENT_STEP;
        this.layout = layout;
        this.packedWeights = packedRecurrent;
        this.bias = recurrentBias;
        this.inputGates = inputGates;
        this.inputGatesOffset = inputGatesOffset;
        this.gates = gates;
        this.gatesOffset = gatesOffset;
        this.hPrev = hPrev;
        this.hNext = hNext;
        this.rows = batch;
        this.blockFrom = blockFrom;
        this.blockTo = blockTo;
        pool.run();
    }

    /**
     * {@inheritDoc} Here the wrapped kernel's, with its {@code projectInput} split over output blocks on this
     * kernel's threads; its other methods run on the calling thread.
     */
    @Override
    public LstmKernel gemm() {
        return splitGemm;
    }

    /** {@inheritDoc} Pointwise and cheap next to the GEMMs: runs on the calling thread. */
    @Override
    public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment inputGates,
                             long inputGatesOffset, MemorySegment hPrev, MemorySegment dh, int dhRowFloats,
                             MemorySegment direct, int batch) {
        kernel.cellBackward(layout, gates, gatesOffset, inputGates, inputGatesOffset, hPrev, dh, dhRowFloats, direct,
                batch);
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
            packedGemm.multiply(gemmCall, from, to);
        } else {
            kernel.recurrentStep(layout, packedWeights, bias, inputGates, inputGatesOffset, gates, gatesOffset, hPrev,
                    hNext, rows, from, to);
        }
    }

    /** Runs {@link #gemmCall}, as set, split over blocks {@code [blockFrom, blockTo)}. */
    private void multiply(int blockFrom, int blockTo) {
        this.operation = MULTIPLY;
        this.blockFrom = blockFrom;
        this.blockTo = blockTo;
        pool.run();
    }

    /** Stops the worker threads and waits until they have ended; closing twice is harmless. */
    @Override
    public void close() {
        pool.close();
    }

    /**
     * The wrapped kernel's GEMM kernel with its {@code projectInput} split over output blocks on the enclosing
     * kernel's threads (the backward's GEMMs); recurrent steps and the LSTM cell backward, which a GRU never asks
     * of it, run on the calling thread. One instance per {@link ParallelGruKernel}, made once.
     */
    private final class SplitGemm implements LstmKernel {

        @Override
        public String name() {
            return wrappedGemm.name() + " x" + threads();
        }

        @Override
        public int lanes() {
            return wrappedGemm.lanes();
        }

        @Override
        public WeightFormat weightFormat() {
            return wrappedGemm.weightFormat();
        }

        @Override
        public LstmKernel withWeightFormat(WeightFormat format) {
            return format == weightFormat() ? this : wrappedGemm.withWeightFormat(format);
        }

        @Override
        public TensorKernel tensors() {
            return wrappedGemm.tensors();
        }

        /** {@inheritDoc} The wrapped kernel's, unsplit. */
        @Override
        public PackedGemm packedGemm() {
            return packedGemm;
        }

        @Override
        public void projectInput(GateLayout layout, int depth, MemorySegment packedInput, MemorySegment packedBias,
                                 MemorySegment x, long xOffset, long xRowBytes, long xColumnBytes, int rows,
                                 MemorySegment gates, long gatesOffset, int blockFrom, int blockTo) {
            if (blockTo - blockFrom < 2) {
                wrappedGemm.projectInput(layout, depth, packedInput, packedBias, x, xOffset, xRowBytes, xColumnBytes,
                        rows, gates, gatesOffset, blockFrom, blockTo);
                return;
            }
            gemmCall.set(weightFormat(), layout, packedInput, depth, packedBias, x, xOffset, xRowBytes, xColumnBytes,
                    rows, gates, gatesOffset);
            multiply(blockFrom, blockTo);
        }

        @Override
        public void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, int recurrentDepth,
                                  MemorySegment inputGates, long inputGatesOffset, MemorySegment gates,
                                  long gatesOffset, MemorySegment hPrev, long hPrevRowBytes, MemorySegment c,
                                  MemorySegment cellOutput, int batch, float clip, MemorySegment peepholes,
                                  int blockFrom, int blockTo) {
            wrappedGemm.recurrentStep(layout, packedRecurrent, recurrentDepth, inputGates, inputGatesOffset, gates,
                    gatesOffset, hPrev, hPrevRowBytes, c, cellOutput, batch, clip, peepholes, blockFrom, blockTo);
        }

        @Override
        public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment cell,
                                 long cellOffset, MemorySegment cellPrev, long cellPrevOffset, MemorySegment dh,
                                 int dhRowFloats, MemorySegment dc, MemorySegment scratch, int batch, float clip) {
            wrappedGemm.cellBackward(layout, gates, gatesOffset, cell, cellOffset, cellPrev, cellPrevOffset, dh,
                    dhRowFloats, dc, scratch, batch, clip);
        }

        @Override
        public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset,
                                 MemorySegment preActivations, long preActivationsOffset, MemorySegment cell,
                                 long cellOffset, MemorySegment cellPrev, long cellPrevOffset, MemorySegment dh,
                                 int dhRowFloats, MemorySegment dc, MemorySegment scratch, int batch, float clip,
                                 MemorySegment peepholes, MemorySegment peepholeGradients) {
            wrappedGemm.cellBackward(layout, gates, gatesOffset, preActivations, preActivationsOffset, cell,
                    cellOffset, cellPrev, cellPrevOffset, dh, dhRowFloats, dc, scratch, batch, clip, peepholes,
                    peepholeGradients);
        }
    }
}
