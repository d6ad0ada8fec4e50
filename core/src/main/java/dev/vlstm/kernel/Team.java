package dev.vlstm.kernel;

import java.util.List;

/**
 * The threads that run one owner's GEMMs and fused steps, and the call they are running: a {@link PackedGemm#multiply}
 * or {@link PackedGemm#step} of the team's {@link Family} on its call object, over all blocks of the call's layout,
 * split into a {@link WorkerPool}'s shares, each an even, fixed range of the blocks (docs/architecture.md,
 * "Threads"). A thread computes its blocks' outputs for every row and reads only its share of the packed weights,
 * so at batch 1 each core streams its own part of U, and with the same blocks every step that part stays in its
 * own L2. Each output is still one FMA chain in k order, so the results are the same bits for any number of
 * threads.
 *
 * <p>A call returns when every share has finished (the per-step barrier of {@link WorkerPool}): within a sequence
 * the next step reads the h that all threads wrote. A team of one thread, and any call with fewer than two blocks,
 * runs on the calling thread alone. A team belongs to one owner (a runner or trainer, or a stacked model whose
 * parts run one after another), which makes one call at a time and closes it once.
 */
public final class Team implements AutoCloseable {

    private final PackedGemm gemm;
    /** The worker threads; null for a team of one. */
    private final WorkerPool pool;
    /** Whether calls go to {@link #cold} instead (its {@link ColdStart#weights()}); null for never. */
    private final ColdStart coldStart;
    /** The cold kernel's scratch, made on the first cold call and dropped on the first call after the cold start. */
    private ColdGemm cold;
    /** Whether calls stay on the family's GEMM whatever {@link #coldStart} says: a warm-up's own calls. */
    private boolean warmingUp;
    /** Calls run on the cold kernel so far. */
    private long coldCalls;

    // The call being split, written by the calling thread before WorkerPool.run publishes it.
    private GemmCall gemmCall;
    private StepCall stepCall;
    private int blocks;

    /**
     * A team that runs {@code family}'s calls on {@code threads} threads: the calling thread and
     * {@code threads - 1} daemon worker threads (named {@code vlstm-kernel-*}).
     *
     * @param family  the kernel family whose GEMM runs the calls
     * @param threads threads per call, &ge; 1
     * @throws IllegalArgumentException if {@code threads} is &lt; 1
     */
    public Team(Family family, int threads) {
        this(family, threads, null);
    }

    /**
     * A team that runs {@code family}'s calls on {@code threads} threads, except while {@code coldStart} is active:
     * then each call runs on the calling thread alone, on {@link ColdGemm}, with the same bits.
     *
     * @param family    the kernel family whose GEMM runs the calls
     * @param threads   threads per call, &ge; 1
     * @param coldStart when to run calls on the cold kernel; null for never
     * @throws IllegalArgumentException if {@code threads} is &lt; 1
     */
    public Team(Family family, int threads, ColdStart coldStart) {
        if (threads < 1) {
            throw new IllegalArgumentException("a Team needs threads >= 1, got " + threads);
        }
        this.gemm = family.gemm();
        this.coldStart = coldStart;
        this.pool = threads == 1 ? null : new WorkerPool(threads, this::runShare);
    }

    /**
     * Keeps the calls on the family's GEMM while {@code warmingUp}, whatever the cold start says: a warm-up's calls
     * are there to compile that GEMM.
     */
    public void warmingUp(boolean warmingUp) {
        this.warmingUp = warmingUp;
    }

    /** {@return the threads that run each call, the calling thread included} */
    public int threads() {
        return pool == null ? 1 : pool.shares();
    }

    /** {@return the worker threads (all but the calling thread; none for a team of one), for tests} */
    public List<Thread> workerThreads() {
        return pool == null ? List.of() : pool.threads();
    }

    /** {@link PackedGemm#multiply} on {@code call}, over every block of its layout. */
    public void multiply(GemmCall call) {
        ColdWeights weights = coldWeights();
        if (weights != null) {
            cold().multiply(weights, call);
            return;
        }
        int blocks = call.layout.blocks();
        if (pool == null || blocks < 2) {
            gemm.multiply(call, 0, blocks);
            return;
        }
        this.gemmCall = call;
        this.stepCall = null;
        run(blocks);
    }

    /** {@link PackedGemm#step} on {@code call}, over every block of its layout. */
    public void step(StepCall call) {
        ColdWeights weights = coldWeights();
        if (weights != null) {
            cold().step(weights, call);
            return;
        }
        int blocks = call.layout.blocks();
        if (pool == null || blocks < 2) {
            gemm.step(call, 0, blocks);
            return;
        }
        this.stepCall = call;
        this.gemmCall = null;
        run(blocks);
    }

    /** {@return the weights this call runs on in the cold kernel, or null to run it on the family's GEMM} */
    private ColdWeights coldWeights() {
        ColdWeights weights = coldStart == null || warmingUp ? null : coldStart.weights();
        if (weights == null && cold != null && !warmingUp) {
            cold = null;
        }
        return weights;
    }

    private ColdGemm cold() {
        if (cold == null) {
            cold = new ColdGemm();
        }
        coldCalls++;
        return cold;
    }

    /** {@return the GEMM and step calls this team has run on the cold kernel, for tests} */
    public long coldCalls() {
        return coldCalls;
    }

    private void run(int blocks) {
        this.blocks = blocks;
        pool.run();
    }

    /**
     * Runs share {@code share} of the call in progress: blocks {@code [from, to)} of an even split of its
     * blocks, always the same range for the same share (so a thread keeps its part of the
     * weights in its cache from step to step); nothing if the split leaves it no block. Share 0 is the calling
     * thread's.
     */
    private void runShare(int share) {
        int from = pool.splitPoint(share, 0, blocks);
        int to = pool.splitPoint(share + 1, 0, blocks);
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
        if (pool != null) {
            pool.close();
        }
    }
}
