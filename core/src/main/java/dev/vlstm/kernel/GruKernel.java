package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;

/**
 * The two pieces of a forward GRU step, split as {@link LstmKernel}'s are: a GEMM that makes the input
 * pre-activations of many rows at once, and a recurrent GEMM fused with the pointwise GRU update. Implementations
 * work on the three-gate {@link GateLayout} ({@link GateLayout#gru}) of packed weights and on native, 64-byte
 * aligned scratch that the caller owns; they never allocate and keep no state, so one instance serves every thread
 * (all but {@link ParallelGruKernel}, which owns threads and belongs to one runner or trainer).
 */
public interface GruKernel {

    /** {@return a short name for logs, e.g. {@code "vector-512"} or {@code "scalar"}} */
    String name();

    /** {@return hidden units per packed block; weights must have been packed with this many lanes} */
    int lanes();

    /**
     * Input projection for {@code rows} rows: {@code gates[r] = inputBias + x[r] · W_ihᵀ}, x read as dense
     * {@code [rows][I]} floats from {@code xOffset} bytes, one FMA chain over k in order for every output.
     *
     * @param layout      the packing of the weights
     * @param packedInput W_ih packed as {@code [block][k < I][gate][lane]}
     * @param inputBias   one gate row added to every output row ({@link Packing#linearBeforeResetBias})
     * @param x           input rows, read only
     * @param xOffset     byte offset of row 0 in x
     * @param rows        rows to project, &ge; 0
     * @param gates       output, {@code [rows][gateRowFloats]} floats from {@code gatesOffset} bytes
     * @param gatesOffset byte offset of row 0 in gates
     */
    default void projectInput(GateLayout layout, MemorySegment packedInput, MemorySegment inputBias, MemorySegment x,
                              long xOffset, int rows, MemorySegment gates, long gatesOffset) {
        projectInput(layout, packedInput, inputBias, x, xOffset, rows, gates, gatesOffset, 0, layout.blocks());
    }

    /**
     * The input projection of the hidden-unit blocks {@code [blockFrom, blockTo)} only: their gate columns of every
     * row, reading only their panels of W_ih; the other columns of gates are left as they are. Each output is the
     * same FMA chain as in the whole projection, so splitting the blocks among threads changes no bit.
     *
     * @param layout      the packing of the weights
     * @param packedInput W_ih packed as {@code [block][k < I][gate][lane]}
     * @param inputBias   one gate row added to every output row ({@link Packing#linearBeforeResetBias})
     * @param x           input rows, read only
     * @param xOffset     byte offset of row 0 in x
     * @param rows        rows to project, &ge; 0
     * @param gates       output, {@code [rows][gateRowFloats]} floats from {@code gatesOffset} bytes
     * @param gatesOffset byte offset of row 0 in gates
     * @param blockFrom   first block to compute, 0 &le; blockFrom &le; blockTo
     * @param blockTo     one past the last block, &le; {@link GateLayout#blocks()}
     */
    void projectInput(GateLayout layout, MemorySegment packedInput, MemorySegment inputBias, MemorySegment x,
                      long xOffset, int rows, MemorySegment gates, long gatesOffset, int blockFrom, int blockTo);

    /**
     * One recurrent step for {@code batch} rows. With {@code (a_r, a_z, a_n)} the input pre-activations and
     * {@code (s_r, s_z, s_n) = hPrev[r] · W_hhᵀ}: {@code r = σ(a_r + s_r)}, {@code z = σ(a_z + s_z)},
     * {@code m = s_n + b_hn}, {@code n = tanh(a_n + r*m)}, {@code hNext = n + z*(hPrev - n)}.
     *
     * @param layout           the packing of the weights
     * @param packedRecurrent  W_hh packed as {@code [block][k < H][gate][lane]}
     * @param recurrentBias    {@code b_hn}, {@code [paddedHidden]} floats
     * @param inputGates       input pre-activations, {@code [batch][gateRowFloats]} floats from
     *                         {@code inputGatesOffset} bytes; the n slot of each block is replaced by m (kept for
     *                         the backward)
     * @param inputGatesOffset byte offset of row 0 in inputGates
     * @param gates            {@code [batch][gateRowFloats]} floats from {@code gatesOffset} bytes; receives the
     *                         activations r, z, n of this step
     * @param gatesOffset      byte offset of row 0 in gates
     * @param hPrev            {@code [batch][paddedHidden]} floats, read only
     * @param hNext            {@code [batch][paddedHidden]} floats, written; must not overlap {@code hPrev}
     * @param batch            rows, &ge; 1
     */
    default void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, MemorySegment recurrentBias,
                               MemorySegment inputGates, long inputGatesOffset, MemorySegment gates,
                               long gatesOffset, MemorySegment hPrev, MemorySegment hNext, int batch) {
        recurrentStep(layout, packedRecurrent, recurrentBias, inputGates, inputGatesOffset, gates, gatesOffset, hPrev,
                hNext, batch, 0, layout.blocks());
    }

    /**
     * The recurrent step of the hidden-unit blocks {@code [blockFrom, blockTo)} only: their gates, m and h of every
     * row, reading all of hPrev but only those blocks' panels of W_hh; nothing outside those blocks is written. Each
     * output is the same FMA chain as in the whole step, so splitting the blocks among threads changes no bit.
     *
     * @param layout           the packing of the weights
     * @param packedRecurrent  W_hh packed as {@code [block][k < H][gate][lane]}
     * @param recurrentBias    {@code b_hn}, {@code [paddedHidden]} floats
     * @param inputGates       input pre-activations, {@code [batch][gateRowFloats]} floats from
     *                         {@code inputGatesOffset} bytes; the n slot of each computed block is replaced by m
     * @param inputGatesOffset byte offset of row 0 in inputGates
     * @param gates            {@code [batch][gateRowFloats]} floats from {@code gatesOffset} bytes; receives the
     *                         activations r, z, n of the computed blocks
     * @param gatesOffset      byte offset of row 0 in gates
     * @param hPrev            {@code [batch][paddedHidden]} floats, read only
     * @param hNext            {@code [batch][paddedHidden]} floats, written in the computed blocks' units; must not
     *                         overlap {@code hPrev}
     * @param batch            rows, &ge; 1
     * @param blockFrom        first block to compute, 0 &le; blockFrom &le; blockTo
     * @param blockTo          one past the last block, &le; {@link GateLayout#blocks()}
     */
    void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, MemorySegment recurrentBias,
                       MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset,
                       MemorySegment hPrev, MemorySegment hNext, int batch, int blockFrom, int blockTo);

    /**
     * {@return the LSTM kernel of the same family and lanes, whose GEMM ({@link LstmKernel#projectInput} on a
     * {@link GateLayout#transposed} layout or with strides) computes the GRU's backward GEMMs}
     */
    LstmKernel gemm();

    /**
     * The pointwise part of one backward step for {@code batch} rows, from the saved activations r, z, n, the saved
     * m = U_n h + b_hn, h before the step, and dh = dL/dh after the step:
     * {@code da_n = dh(1-z)(1-n²)}, {@code da_r = da_n m r(1-r)}, {@code da_z = dh(hPrev-n) z(1-z)},
     * {@code dm = da_n r}, and the part of dL/dhPrev that bypasses the GEMMs, {@code dh z}.
     *
     * @param layout           the packing of the weights
     * @param gates            r, z, n, {@code [batch][gateRowFloats]} from {@code gatesOffset} bytes; replaced by
     *                         the input-side gradients {@code (da_r, da_z, da_n)}
     * @param gatesOffset      byte offset of row 0 in gates
     * @param inputGates       rows whose n slot holds m, same layout, from {@code inputGatesOffset} bytes; replaced
     *                         by the recurrent-side gradients {@code (da_r, da_z, dm)}
     * @param inputGatesOffset byte offset of row 0 in inputGates
     * @param hPrev            h before the step, {@code [batch][paddedHidden]} from byte 0
     * @param dh               dL/dh after the step, {@code [batch][dhRowFloats]} floats (read only)
     * @param dhRowFloats      floats between rows of dh, &ge; paddedHidden
     * @param direct           receives {@code dh z}, {@code [batch][paddedHidden]}
     * @param batch            rows, &ge; 1
     */
    void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment inputGates,
                      long inputGatesOffset, MemorySegment hPrev, MemorySegment dh, int dhRowFloats,
                      MemorySegment direct, int batch);
}
