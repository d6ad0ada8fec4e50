package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Intra-op parallelism: a kernel that runs another kernel's GEMMs and recurrent steps on the threads of a
 * {@link Team}, each thread owning a contiguous range of hidden-unit blocks, with the same bits for any number of
 * threads. The pointwise {@link #cellBackward} runs on the calling thread alone.
 *
 * <p>Unlike the stateless kernels it wraps, a family of these owns threads and holds the arguments of the call in
 * progress: the kernels of one family, one per weight format ({@link #withWeightFormat}), share one team. A family
 * belongs to one owner (a runner or trainer, or a stacked model whose parts run one after another), which calls it
 * from one thread at a time and closes it once.
 */
public final class ParallelKernel implements LstmKernel, AutoCloseable {

    private final LstmKernel kernel;
    private final Team team;
    /** The arguments of this kernel's split calls, set per call. */
    private final GemmCall gemmCall = new GemmCall();
    private final StepCall stepCall = new StepCall();
    /** The family, by {@link WeightFormat#ordinal()}: this kernel and its siblings for the other formats. */
    private final ParallelKernel[] family;

    /**
     * Wraps {@code kernel} and starts {@code threads - 1} daemon worker threads (named {@code vlstm-kernel-*}); the
     * calling thread runs one share of every call itself. The siblings for the other weight formats of the
     * kernel's family ({@link #withWeightFormat}) are made with it and share its threads.
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
        this.team = new Team(threads);
        this.family = new ParallelKernel[WeightFormat.values().length];
        for (WeightFormat format : WeightFormat.values()) {
            family[format.ordinal()] = format == kernel.weightFormat() ? this
                    : new ParallelKernel(kernel.withWeightFormat(format), team, family);
        }
    }

    private ParallelKernel(LstmKernel kernel, Team team, ParallelKernel[] family) {
        this.kernel = kernel;
        this.team = team;
        this.family = family;
    }

    /** {@return the threads that run each call, the calling thread included} */
    public int threads() {
        return team.threads();
    }

    /** {@return the worker threads (all but the calling thread), for tests} */
    public List<Thread> workerThreads() {
        return team.workerThreads();
    }

    /** {@return the family's team, which its kernels' calls run on} */
    Team team() {
        return team;
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
     * {@inheritDoc} This one for its own format; for another, the sibling that wraps the wrapped family's kernel
     * for that format and runs on the same threads.
     */
    @Override
    public ParallelKernel withWeightFormat(WeightFormat format) {
        return family[format.ordinal()];
    }

    @Override
    public TensorKernel tensors() {
        return kernel.tensors();
    }

    /** {@inheritDoc} The wrapped kernel's, unsplit. */
    @Override
    public PackedGemm packedGemm() {
        return kernel.packedGemm();
    }

    @Override
    public void projectInput(GateLayout layout, int depth, MemorySegment packedInput, MemorySegment packedBias,
                             MemorySegment x, long xOffset, long xRowBytes, long xColumnBytes, int rows,
                             MemorySegment gates, long gatesOffset, int blockFrom, int blockTo) {
        team.multiply(kernel.packedGemm(), gemmCall.set(kernel.weightFormat(), layout, packedInput, depth, packedBias,
                x, xOffset, xRowBytes, xColumnBytes, rows, gates, gatesOffset), blockFrom, blockTo);
    }

    @Override
    public void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, int recurrentDepth,
                              MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset,
                              MemorySegment hPrev, long hPrevRowBytes, MemorySegment c, MemorySegment hNext, int batch,
                              float clip, MemorySegment peepholes, int blockFrom, int blockTo) {
        team.step(kernel.packedGemm(), stepCall.set(kernel.weightFormat(), layout, packedRecurrent, recurrentDepth,
                peepholes == null ? Postgemm.LSTM : Postgemm.LSTM_PEEPHOLES, clip, peepholes, inputGates,
                inputGatesOffset, gates, gatesOffset, hPrev, hPrevRowBytes, c, hNext, batch), blockFrom, blockTo);
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
     * Stops the family's worker threads (those of every sibling) and waits until they have ended; closing twice is
     * harmless.
     */
    @Override
    public void close() {
        team.close();
    }
}
