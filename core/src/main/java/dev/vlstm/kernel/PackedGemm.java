package dev.vlstm.kernel;

/**
 * The one GEMM of every packed matrix product: the input projection, the LSTM projection, the backward's dh,
 * dx and weight-gradient products, and the recurrent step's sums, which {@link #step} fuses with the cell. An
 * implementation chooses its loop once per call from the matrix's format and gates; every output is {@code bias}
 * (or +0.0) and then one FMA chain over k in order (INT8: the chain's sum times its row's scale, then the bias), so
 * the result does not depend on the tiles, the block split or the thread count. Stateless: one instance serves
 * every thread.
 */
public interface PackedGemm {

    /** {@return hidden units per packed block; matrices must have been packed with this many lanes} */
    int lanes();

    /**
     * The call {@code c} for the output blocks {@code [blockFrom, blockTo)} of its layout only: every row's outputs
     * of those blocks, reading only those blocks' panels of B; nothing else of the output is written. Shares that
     * own disjoint block ranges may run it at once on the same call.
     *
     * @param c         the call's arguments, read only
     * @param blockFrom first block, {@code 0 <= blockFrom <= blockTo}
     * @param blockTo   one past the last block, {@code <= c}'s {@code layout.blocks()}
     */
    void multiply(GemmCall c, int blockFrom, int blockTo);

    /**
     * The fused recurrent step {@code c} for the hidden units of the blocks {@code [blockFrom, blockTo)} only: each
     * block's sums {@code hPrev · Uᵀ} (one FMA chain from +0.0 over k in order, as {@link #multiply} without a
     * bias), then the cell's pointwise forward on that block, so the step's bits depend neither on the tiles nor
     * on the block split. Reads all of {@code hPrev}, but only those blocks' panels of U; writes only those
     * blocks' units of the sums, inputs, c and hNext. Shares that own disjoint block ranges may run it at once.
     *
     * @param c         the call's arguments, read only
     * @param blockFrom first block, {@code 0 <= blockFrom <= blockTo}
     * @param blockTo   one past the last block, {@code <= c}'s {@code layout.blocks()}
     */
    void step(StepCall c, int blockFrom, int blockTo);
}
