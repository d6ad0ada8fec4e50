package dev.vlstm.kernel;

import java.util.List;
import java.util.function.Supplier;

/**
 * Whether the teams of one model's runners send their calls to {@link ColdGemm} rather than to their family's GEMM:
 * from {@link #begin} to the matching {@link #end} (a background warm-up compiling the vector kernels meanwhile),
 * with the heap copies of the model's matrices ({@link ColdWeights}) made by the first begin and dropped by the
 * last end. A team reads {@link #weights()} once per call, so each call runs on one kernel or the other, and both
 * give the same bits. Thread-safe. Its monitor also guards changes to the packed weights: whoever changes them
 * holds it ({@code synchronized (coldStart)}) and calls {@link #invalidate()} first, so that no begin copies them
 * half-changed.
 */
public final class ColdStart {

    private int begun;
    /** The copies while cold calls are wanted and the weights unchanged since; null otherwise. */
    private volatile ColdWeights weights;

    /**
     * Starts sending calls to the cold kernel, copying the matrices unless an earlier begin, not yet ended, did;
     * nothing is copied (and calls stay on the family's GEMM) if the copies would take more than
     * {@code maxHeapBytes}.
     *
     * @param matrices     the model's packed matrices, asked for on the first begin only
     * @param maxHeapBytes the most heap the copies may take
     * @return whether calls now go to the cold kernel
     */
    public synchronized boolean begin(Supplier<List<PackedMatrix>> matrices, long maxHeapBytes) {
        if (begun++ == 0) {
            List<PackedMatrix> list = matrices.get();
            if (ColdWeights.bytes(list) <= maxHeapBytes) {
                weights = ColdWeights.of(list);
            }
        }
        return weights != null;
    }

    /**
     * Ends one {@link #begin}: the last end sends calls back to the family's GEMM and drops the copies.
     *
     * @throws IllegalStateException if every begin has already ended
     */
    public synchronized void end() {
        if (begun == 0) {
            throw new IllegalStateException("a cold start ended more often than it began");
        }
        if (--begun == 0) {
            weights = null;
        }
    }

    /**
     * Drops the copies at once, for good until every begin has ended: the packed weights are about to change, and
     * a copy of the old ones must not serve a call after that.
     */
    public synchronized void invalidate() {
        weights = null;
    }

    /** {@return whether calls go to the cold kernel now, for tests} */
    public boolean active() {
        return weights != null;
    }

    /** {@return the copies calls should run on now, or null to run on the family's GEMM} */
    ColdWeights weights() {
        return weights;
    }
}
