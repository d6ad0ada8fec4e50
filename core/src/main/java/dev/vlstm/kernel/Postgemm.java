package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.GROUP3_BYTES;
import static dev.vlstm.kernel.VectorShape.GROUP4_BYTES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;

import java.lang.foreign.MemorySegment;

/**
 * The cells' pointwise forward ("postgemm") of the Vector API family, run on one row and one block right after a
 * recurrent tile has stored that block's sums (L1-hot). The cell is an int code and the choice a {@code switch}:
 * an interface call per tile would turn megamorphic once several cells run in one JVM, and C2 would then inline
 * none of them. The codes are compile-time constants, so the scalar family names them without loading this class.
 */
public final class Postgemm {

    /** No pointwise part: the plain GEMM of {@link PackedGemm#multiply}. */
    public static final int NONE = 0;
    /** {@link CellPointwise#update}. */
    public static final int LSTM = 1;
    /** {@link CellPointwise#updateWithPeepholes}, the peepholes in the call's cell row. */
    public static final int LSTM_PEEPHOLES = 2;
    /** {@link GruPointwise#update}, b_hn in the call's cell row, its n pre-activations kept in c unless null. */
    public static final int GRU = 3;
    /** {@link CifgPointwise#update} without peepholes. */
    public static final int CIFG = 4;
    /** {@link CifgPointwise#update}, p_i and p_o in the call's cell row. */
    public static final int CIFG_PEEPHOLES = 5;

    private Postgemm() {
    }

    /**
     * The cell {@code cell} on one block of one row.
     *
     * @param inputsOffset byte offset of this row's block in {@code inputs}
     * @param sumsOffset   byte offset of this row's block in {@code sums}
     * @param hPrevOffset  byte offset of this row's block in {@code hPrev} (read by the GRU only)
     * @param stateOffset  byte offset of this row's block in {@code c} and {@code hNext}
     * @param c            an LSTM's or CIFG's cell state; a GRU's n pre-activations to keep, or null
     * @param block        the block, which locates it in {@code cellRow}
     */
    static void forward(int cell, MemorySegment inputs, long inputsOffset, MemorySegment sums, long sumsOffset,
                        MemorySegment hPrev, long hPrevOffset, MemorySegment c, MemorySegment hNext, long stateOffset,
                        float clip, MemorySegment cellRow, int block) {
        switch (cell) {
            case LSTM -> CellPointwise.update(inputs, inputsOffset, sums, sumsOffset, c, hNext, stateOffset, clip);
            case LSTM_PEEPHOLES -> CellPointwise.updateWithPeepholes(inputs, inputsOffset, sums, sumsOffset, c, hNext,
                    stateOffset, clip, cellRow, block * GROUP4_BYTES);
            case GRU -> GruPointwise.update(inputs, inputsOffset, sums, sumsOffset, cellRow, block * VECTOR_BYTES,
                    hPrev, hPrevOffset, c, hNext, stateOffset, clip);
            case CIFG -> CifgPointwise.update(inputs, inputsOffset, sums, sumsOffset, c, hNext, stateOffset, clip,
                    null, 0);
            case CIFG_PEEPHOLES -> CifgPointwise.update(inputs, inputsOffset, sums, sumsOffset, c, hNext,
                    stateOffset, clip, cellRow, block * GROUP3_BYTES);
            default -> throw new IllegalArgumentException("no pointwise forward for cell code " + cell);
        }
    }
}
