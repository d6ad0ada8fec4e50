package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Intra-op parallelism for GRUs, as {@link ParallelKernel} gives it to LSTMs: a kernel that runs another GRU
 * kernel's input GEMM and recurrent steps on the threads of a {@link Team}, each thread owning a contiguous range
 * of hidden-unit blocks, with the same bits for any number of threads. The backward's GEMMs (dh = g·W_hh per step,
 * dx, dW_ih, dW_hh) run on {@link #gemm()}, a {@link ParallelKernel} over the wrapped kernel's GEMM kernel on the
 * same team, so a trainer has one team of threads for its forward and its backward. The pointwise
 * {@link #cellBackward} runs on the calling thread alone.
 *
 * <p>Unlike the stateless kernels it wraps, an instance owns threads and holds the arguments of the call in
 * progress: it belongs to one owner (a runner or a trainer), which calls it from one thread at a time and closes
 * it.
 */
public final class ParallelGruKernel implements GruKernel, AutoCloseable {

    private final GruKernel kernel;
    private final ParallelKernel gemm;
    private final PackedGemm packedGemm;
    /** The arguments of this kernel's split calls, set per call. */
    private final GemmCall gemmCall = new GemmCall();
    private final StepCall stepCall = new StepCall();

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
        this.gemm = new ParallelKernel(kernel.gemm(), threads);
        this.packedGemm = gemm.packedGemm();
    }

    /** {@return the threads that run each call, the calling thread included} */
    public int threads() {
        return gemm.threads();
    }

    /** {@return the worker threads (all but the calling thread), for tests} */
    public List<Thread> workerThreads() {
        return gemm.workerThreads();
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
        gemm.team().multiply(packedGemm, gemmCall.set(WeightFormat.FLOAT32, layout, packedInput, layout.inputSize(),
                inputBias, x, xOffset, (long) layout.inputSize() * Float.BYTES, Float.BYTES, rows, gates,
                gatesOffset), blockFrom, blockTo);
    }

    @Override
    public void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, MemorySegment recurrentBias,
                              MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset,
                              MemorySegment hPrev, MemorySegment hNext, int batch, int blockFrom, int blockTo) {
        gemm.team().step(packedGemm, stepCall.set(WeightFormat.FLOAT32, layout, packedRecurrent, layout.hiddenSize(),
                Postgemm.GRU, Float.POSITIVE_INFINITY, recurrentBias, inputGates, inputGatesOffset, gates, gatesOffset,
                hPrev, (long) layout.paddedHidden() * Float.BYTES, null, hNext, batch), blockFrom, blockTo);
    }

    /** {@inheritDoc} Here a {@link ParallelKernel} over the wrapped kernel's, on this kernel's threads. */
    @Override
    public LstmKernel gemm() {
        return gemm;
    }

    /** {@inheritDoc} Pointwise and cheap next to the GEMMs: runs on the calling thread. */
    @Override
    public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment inputGates,
                             long inputGatesOffset, MemorySegment hPrev, MemorySegment dh, int dhRowFloats,
                             MemorySegment direct, int batch) {
        kernel.cellBackward(layout, gates, gatesOffset, inputGates, inputGatesOffset, hPrev, dh, dhRowFloats, direct,
                batch);
    }

    /** Stops the worker threads and waits until they have ended; closing twice is harmless. */
    @Override
    public void close() {
        gemm.close();
    }
}
