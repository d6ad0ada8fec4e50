package dev.vlstm.kernel;

import static dev.vlstm.kernel.ProjectionTiles.broadcast;
import static dev.vlstm.kernel.ProjectionTiles.load;
import static dev.vlstm.kernel.VectorLstmKernel.GATE_GROUP_BYTES;
import static dev.vlstm.kernel.VectorLstmKernel.SPECIES;
import static dev.vlstm.kernel.VectorLstmKernel.VECTOR_BYTES;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;

/**
 * Register tiles of one recurrent step for one block of hidden units: the GEMM {@code gates + hPrev · Uᵀ}
 * accumulates in registers, then {@link CellPointwise} finishes the cell while the four gates are still there.
 */
final class RecurrentTiles {

    private RecurrentTiles() {
    }

    /** Four batch rows: 16 accumulators. {@code stateOffset} locates the block in row 0 of c and hNext. */
    static void rows4(MemorySegment panel, long panelOffset, int depth,
                      MemorySegment hPrev, long hOffset, long stateRowBytes,
                      MemorySegment gates, long gatesOffset, long gateRowBytes,
                      MemorySegment c, MemorySegment hNext, long stateOffset) {
        long gateRow1 = gatesOffset + gateRowBytes;
        long gateRow2 = gatesOffset + 2 * gateRowBytes;
        long gateRow3 = gatesOffset + 3 * gateRowBytes;
        FloatVector i0 = load(gates, gatesOffset), f0 = load(gates, gatesOffset + VECTOR_BYTES);
        FloatVector g0 = load(gates, gatesOffset + 2 * VECTOR_BYTES), o0 = load(gates, gatesOffset + 3 * VECTOR_BYTES);
        FloatVector i1 = load(gates, gateRow1), f1 = load(gates, gateRow1 + VECTOR_BYTES);
        FloatVector g1 = load(gates, gateRow1 + 2 * VECTOR_BYTES), o1 = load(gates, gateRow1 + 3 * VECTOR_BYTES);
        FloatVector i2 = load(gates, gateRow2), f2 = load(gates, gateRow2 + VECTOR_BYTES);
        FloatVector g2 = load(gates, gateRow2 + 2 * VECTOR_BYTES), o2 = load(gates, gateRow2 + 3 * VECTOR_BYTES);
        FloatVector i3 = load(gates, gateRow3), f3 = load(gates, gateRow3 + VECTOR_BYTES);
        FloatVector g3 = load(gates, gateRow3 + 2 * VECTOR_BYTES), o3 = load(gates, gateRow3 + 3 * VECTOR_BYTES);
        for (int k = 0; k < depth; k++) {
            long w = panelOffset + k * GATE_GROUP_BYTES;
            FloatVector wi = load(panel, w);
            FloatVector wf = load(panel, w + VECTOR_BYTES);
            FloatVector wg = load(panel, w + 2 * VECTOR_BYTES);
            FloatVector wo = load(panel, w + 3 * VECTOR_BYTES);
            long hk = hOffset + (long) k * Float.BYTES;
            FloatVector a0 = broadcast(hPrev, hk);
            FloatVector a1 = broadcast(hPrev, hk + stateRowBytes);
            FloatVector a2 = broadcast(hPrev, hk + 2 * stateRowBytes);
            FloatVector a3 = broadcast(hPrev, hk + 3 * stateRowBytes);
            i0 = wi.fma(a0, i0); f0 = wf.fma(a0, f0); g0 = wg.fma(a0, g0); o0 = wo.fma(a0, o0);
            i1 = wi.fma(a1, i1); f1 = wf.fma(a1, f1); g1 = wg.fma(a1, g1); o1 = wo.fma(a1, o1);
            i2 = wi.fma(a2, i2); f2 = wf.fma(a2, f2); g2 = wg.fma(a2, g2); o2 = wo.fma(a2, o2);
            i3 = wi.fma(a3, i3); f3 = wf.fma(a3, f3); g3 = wg.fma(a3, g3); o3 = wo.fma(a3, o3);
        }
        CellPointwise.update(i0, f0, g0, o0, c, hNext, stateOffset);
        CellPointwise.update(i1, f1, g1, o1, c, hNext, stateOffset + stateRowBytes);
        CellPointwise.update(i2, f2, g2, o2, c, hNext, stateOffset + 2 * stateRowBytes);
        CellPointwise.update(i3, f3, g3, o3, c, hNext, stateOffset + 3 * stateRowBytes);
    }

    /** One batch row: k split into even and odd halves for eight independent FMA chains. */
    static void rows1(MemorySegment panel, long panelOffset, int depth,
                      MemorySegment hPrev, long hOffset,
                      MemorySegment gates, long gatesOffset,
                      MemorySegment c, MemorySegment hNext, long stateOffset) {
        FloatVector i0 = load(gates, gatesOffset);
        FloatVector f0 = load(gates, gatesOffset + VECTOR_BYTES);
        FloatVector g0 = load(gates, gatesOffset + 2 * VECTOR_BYTES);
        FloatVector o0 = load(gates, gatesOffset + 3 * VECTOR_BYTES);
        FloatVector zero = FloatVector.zero(SPECIES);
        FloatVector i1 = zero, f1 = zero, g1 = zero, o1 = zero;
        int k = 0;
        for (; k + 2 <= depth; k += 2) {
            long w = panelOffset + k * GATE_GROUP_BYTES;
            long hk = hOffset + (long) k * Float.BYTES;
            FloatVector a0 = broadcast(hPrev, hk);
            FloatVector a1 = broadcast(hPrev, hk + Float.BYTES);
            i0 = load(panel, w).fma(a0, i0);
            f0 = load(panel, w + VECTOR_BYTES).fma(a0, f0);
            g0 = load(panel, w + 2 * VECTOR_BYTES).fma(a0, g0);
            o0 = load(panel, w + 3 * VECTOR_BYTES).fma(a0, o0);
            i1 = load(panel, w + GATE_GROUP_BYTES).fma(a1, i1);
            f1 = load(panel, w + GATE_GROUP_BYTES + VECTOR_BYTES).fma(a1, f1);
            g1 = load(panel, w + GATE_GROUP_BYTES + 2 * VECTOR_BYTES).fma(a1, g1);
            o1 = load(panel, w + GATE_GROUP_BYTES + 3 * VECTOR_BYTES).fma(a1, o1);
        }
        if (k < depth) {
            long w = panelOffset + k * GATE_GROUP_BYTES;
            FloatVector a0 = broadcast(hPrev, hOffset + (long) k * Float.BYTES);
            i0 = load(panel, w).fma(a0, i0);
            f0 = load(panel, w + VECTOR_BYTES).fma(a0, f0);
            g0 = load(panel, w + 2 * VECTOR_BYTES).fma(a0, g0);
            o0 = load(panel, w + 3 * VECTOR_BYTES).fma(a0, o0);
        }
        CellPointwise.update(i0.add(i1), f0.add(f1), g0.add(g1), o0.add(o1), c, hNext, stateOffset);
    }
}
