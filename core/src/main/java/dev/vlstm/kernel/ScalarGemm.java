package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The plain-Java {@link PackedGemm} and fused step, on the same packed layout with blocks of {@link #LANES} lanes, used when the
 * Vector API is absent or its preferred vector is narrower than 128 bits. One loop serves every format and gate
 * count: each output is the bias (or +0.0), then one FMA chain over k in order on the matrix's operands
 * ({@link WeightFormat#operand}, widened exactly as the vector tiles widen them); INT8 chains start at +0.0 and
 * their sum is multiplied by the row's scale before the bias is added. So the vector GEMM's bits, lane for lane.
 */
final class ScalarGemm implements PackedGemm {

    /** Hidden units per block of the scalar kernels. */
    static final int LANES = 8;
    static final ScalarGemm INSTANCE = new ScalarGemm();
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private ScalarGemm() {
    }

    /** {@link #multiply(GemmCall, int, int)} with the call's arguments passed one by one, which the step reuses. */
    private static void multiply(WeightFormat format, GateLayout layout, MemorySegment b, int depth, MemorySegment bias,
                         MemorySegment a, long aOffset, long aRowBytes, int rows, MemorySegment out,
                         long outOffset, int blockFrom, int blockTo) {
        int gateRow = layout.gateRowFloats();
        long outBase = outOffset / Float.BYTES;
        for (int row = 0; row < rows; row++) {
            long aRow = aOffset + row * aRowBytes;
            for (int block = blockFrom; block < blockTo; block++) {
                for (int gate = 0; gate < layout.gates(); gate++) {
                    for (int lane = 0; lane < layout.lanes(); lane++) {
                        long column = layout.gateIndex(gate, block * layout.lanes() + lane);
                        float start = bias == null ? 0f : bias.getAtIndex(FLOAT, column);
                        float sum = format.scaled() ? 0f : start;
                        for (int k = 0; k < depth; k++) {
                            float weight = format.operand(b, layout, depth, block, k, gate, lane);
                            sum = Math.fma(a.get(FLOAT, aRow + (long) k * Float.BYTES), weight, sum);
                        }
                        if (format.scaled()) {
                            sum = sum * format.scale(b, column);
                            if (bias != null) {
                                sum += start;
                            }
                        }
                        out.setAtIndex(FLOAT, outBase + (long) row * gateRow + column, sum);
                    }
                }
            }
        }
    }

    @Override
    public int lanes() {
        return LANES;
    }

    @Override
    public void multiply(GemmCall c, int blockFrom, int blockTo) {
        multiply(c.format, c.layout, c.b, c.depth, c.bias, c.a, c.aOffset, c.aRowBytes, c.rows, c.out,
                c.outOffset, blockFrom, blockTo);
    }

    /** {@inheritDoc} The sums of the blocks' units by {@link #multiply} without a bias, then {@link ScalarPostgemm}. */
    @Override
    public void step(StepCall c, int blockFrom, int blockTo) {
        multiply(c.format, c.layout, c.u, c.depth, null, c.hPrev, 0, c.hPrevRowBytes, c.rows, c.sums,
                c.sumsOffset, blockFrom, blockTo);
        ScalarPostgemm.forward(c.cell, c.layout, c.inputs, c.inputsOffset, c.sums, c.sumsOffset, c.hPrev,
                c.hPrevRowBytes, c.c, c.hNext, c.clip, c.cellRow, c.rows, blockFrom, blockTo);
    }
}
