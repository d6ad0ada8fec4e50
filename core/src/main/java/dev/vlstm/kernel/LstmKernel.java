package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;

/**
 * The two pieces of a forward LSTM step, split as in oneDNN: a GEMM that makes gate pre-activations from the
 * inputGates, and a recurrent GEMM fused with the pointwise cell update ("postgemm"). Implementations work on the
 * {@link GateLayout} of packed weights and on native, 64-byte aligned scratch that the caller owns; they never
 * allocate and keep no state, so one instance serves every thread.
 */
public interface LstmKernel {

    /** Short name for logs and benchmark tables, e.g. {@code "vector-512"} or {@code "scalar"}. */
    String name();

    /** Hidden units per packed block; weights must have been packed with this many lanes. */
    int lanes();

    /**
     * Input projection for {@code rows} rows: {@code gates[r] = bias + x[r] · Wᵀ}.
     *
     * @param packedInput W packed as {@code [block][k < I][gate][lane]}
     * @param packedBias  combined bias as one gate row
     * @param x           {@code [rows][I]} floats
     * @param gates       output, {@code [rows][gateRowFloats]} floats
     */
    void projectInput(GateLayout layout, MemorySegment packedInput, MemorySegment packedBias,
                      MemorySegment x, int rows, MemorySegment gates);

    /**
     * One recurrent step for {@code batch} rows: pre-activations {@code inputGates[r] + hPrev[r] · Uᵀ}, then
     * {@code c[r] = f*c[r] + i*g} in place and {@code hNext[r] = o*tanh(c[r])}.
     *
     * @param packedRecurrent U packed as {@code [block][k < H][gate][lane]}
     * @param inputGates           inputGates pre-activations, {@code [batch][gateRowFloats]} floats from {@code inputGatesOffset}
     *                        bytes (read only)
     * @param gates           scratch of {@code [batch][gateRowFloats]} floats; holds the gate activations
     *                        σ(i), σ(f), tanh(g), σ(o) of this step afterwards
     * @param hPrev           {@code [batch][paddedHidden]} floats, read only
     * @param c               {@code [batch][paddedHidden]} floats, updated in place
     * @param hNext           {@code [batch][paddedHidden]} floats, written; must not overlap {@code hPrev}
     */
    void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, MemorySegment inputGates, long inputGatesOffset,
                       MemorySegment gates, MemorySegment hPrev, MemorySegment c, MemorySegment hNext, int batch);
}
