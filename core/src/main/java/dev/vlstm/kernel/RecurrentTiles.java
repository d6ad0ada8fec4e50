package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorLstmKernel.GATE_GROUP_BYTES;
import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.broadcast;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jdk.incubator.vector.FloatVector;

/**
 * Register tiles of one recurrent step for one block of hidden units: the GEMM {@code hPrev · Uᵀ} accumulates
 * in registers and is stored to a small gates buffer ({@code [batch][gate row]}); {@link CellPointwise} then adds the inputGates
 * pre-activations and finishes each row's cell while both are still in L1.
 *
 * <p>Why the sums pass through L1 instead of going straight from the accumulators into the activations: a tile
 * this large exhausts C2's inlining node budget, so any further call with a vector argument may stay a real
 * call, and its vectors are then boxed (allocating on every step). Why the accumulators start at zero
 * rather than from the inputGates pre-activations: sixteen more loads made the 4-row tile too large for C1's
 * register allocator, the method never reached C2, and ran as allocating C1 code. Going through L1 costs 16
 * stores and 32 loads per tile against {@code 16 * H} FMAs, and no vector ever crosses a call. As in
 * {@link ProjectionTiles}, every vector operation is written out here.
 */
final class RecurrentTiles {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final long V1 = VECTOR_BYTES;
    private static final long V2 = 2 * VECTOR_BYTES;
    private static final long V3 = 3 * VECTOR_BYTES;

    private RecurrentTiles() {
    }

    /**
     * Four batch rows: 16 accumulators. Offsets locate the block in row 0: {@code inputGatesOffset} in the inputGates
     * pre-activations {@code inputGates}, {@code gatesOffset} in {@code gates} (same row layout), {@code stateOffset}
     * in c and hNext. Rows of hPrev are {@code hRowBytes} apart (narrower than c's {@code stateRowBytes} with a
     * projection). {@code clip} is the cell clip ({@code +∞} for none), see {@link CellPointwise}. {@code peepholes}
     * is null without peephole connections, else their gate row, with this block at {@code peepholeOffset}: the
     * choice of epilogue is made once per tile, after the k loop.
     */
    static void rows4(MemorySegment panel, long panelOffset, int depth,
                      MemorySegment hPrev, long hOffset, long hRowBytes, long stateRowBytes,
                      MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset, long gateRowBytes,
                      MemorySegment c, MemorySegment hNext, long stateOffset, float clip, MemorySegment peepholes,
                      long peepholeOffset) {
        long row0 = gatesOffset;
        long row1 = gatesOffset + gateRowBytes;
        long row2 = gatesOffset + 2 * gateRowBytes;
        long row3 = gatesOffset + 3 * gateRowBytes;
        FloatVector zero = FloatVector.zero(SPECIES);
        FloatVector i0 = zero, f0 = zero, g0 = zero, o0 = zero;
        FloatVector i1 = zero, f1 = zero, g1 = zero, o1 = zero;
        FloatVector i2 = zero, f2 = zero, g2 = zero, o2 = zero;
        FloatVector i3 = zero, f3 = zero, g3 = zero, o3 = zero;
        for (int k = 0; k < depth; k++) {
            long w = panelOffset + k * GATE_GROUP_BYTES;
            FloatVector wi = fromMemorySegment(SPECIES, panel, w, ORDER);
            FloatVector wf = fromMemorySegment(SPECIES, panel, w + V1, ORDER);
            FloatVector wg = fromMemorySegment(SPECIES, panel, w + V2, ORDER);
            FloatVector wo = fromMemorySegment(SPECIES, panel, w + V3, ORDER);
            long hk = hOffset + (long) k * Float.BYTES;
            FloatVector a0 = broadcast(SPECIES, hPrev.get(FLOAT, hk));
            FloatVector a1 = broadcast(SPECIES, hPrev.get(FLOAT, hk + hRowBytes));
            FloatVector a2 = broadcast(SPECIES, hPrev.get(FLOAT, hk + 2 * hRowBytes));
            FloatVector a3 = broadcast(SPECIES, hPrev.get(FLOAT, hk + 3 * hRowBytes));
            i0 = wi.fma(a0, i0); f0 = wf.fma(a0, f0); g0 = wg.fma(a0, g0); o0 = wo.fma(a0, o0);
            i1 = wi.fma(a1, i1); f1 = wf.fma(a1, f1); g1 = wg.fma(a1, g1); o1 = wo.fma(a1, o1);
            i2 = wi.fma(a2, i2); f2 = wf.fma(a2, f2); g2 = wg.fma(a2, g2); o2 = wo.fma(a2, o2);
            i3 = wi.fma(a3, i3); f3 = wf.fma(a3, f3); g3 = wg.fma(a3, g3); o3 = wo.fma(a3, o3);
        }
        i0.intoMemorySegment(gates, row0, ORDER); f0.intoMemorySegment(gates, row0 + V1, ORDER);
        g0.intoMemorySegment(gates, row0 + V2, ORDER); o0.intoMemorySegment(gates, row0 + V3, ORDER);
        i1.intoMemorySegment(gates, row1, ORDER); f1.intoMemorySegment(gates, row1 + V1, ORDER);
        g1.intoMemorySegment(gates, row1 + V2, ORDER); o1.intoMemorySegment(gates, row1 + V3, ORDER);
        i2.intoMemorySegment(gates, row2, ORDER); f2.intoMemorySegment(gates, row2 + V1, ORDER);
        g2.intoMemorySegment(gates, row2 + V2, ORDER); o2.intoMemorySegment(gates, row2 + V3, ORDER);
        i3.intoMemorySegment(gates, row3, ORDER); f3.intoMemorySegment(gates, row3 + V1, ORDER);
        g3.intoMemorySegment(gates, row3 + V2, ORDER); o3.intoMemorySegment(gates, row3 + V3, ORDER);
        if (peepholes == null) {
            CellPointwise.update(inputGates, inputGatesOffset, gates, row0, c, hNext, stateOffset, clip);
            CellPointwise.update(inputGates, inputGatesOffset + gateRowBytes, gates, row1, c, hNext, stateOffset + stateRowBytes, clip);
            CellPointwise.update(inputGates, inputGatesOffset + 2 * gateRowBytes, gates, row2, c, hNext,
                    stateOffset + 2 * stateRowBytes, clip);
            CellPointwise.update(inputGates, inputGatesOffset + 3 * gateRowBytes, gates, row3, c, hNext,
                    stateOffset + 3 * stateRowBytes, clip);
            return;
        }
        CellPointwise.updateWithPeepholes(inputGates, inputGatesOffset, gates, row0, c, hNext, stateOffset, clip,
                peepholes, peepholeOffset);
        CellPointwise.updateWithPeepholes(inputGates, inputGatesOffset + gateRowBytes, gates, row1, c, hNext,
                stateOffset + stateRowBytes, clip, peepholes, peepholeOffset);
        CellPointwise.updateWithPeepholes(inputGates, inputGatesOffset + 2 * gateRowBytes, gates, row2, c, hNext,
                stateOffset + 2 * stateRowBytes, clip, peepholes, peepholeOffset);
        CellPointwise.updateWithPeepholes(inputGates, inputGatesOffset + 3 * gateRowBytes, gates, row3, c, hNext,
                stateOffset + 3 * stateRowBytes, clip, peepholes, peepholeOffset);
    }

    /**
     * One batch row over one block, or over two adjacent blocks ({@code twoBlocks}) for eight independent FMA
     * chains from one broadcast per k; each lane's arithmetic is the same as in {@link #rows4}. Offsets locate the
     * first block; the second block's panel starts {@code panelBytes} later. One method for both cases so that C2
     * never inlines a small tile into the driver, where its vectors were boxed (see {@link ProjectionTiles#rows1}).
     * Peepholes as in {@link #rows4}; the second block's are {@code GATE_GROUP_BYTES} after the first's.
     */
    static void rows1(MemorySegment panel, long panelOffset, long panelBytes, boolean twoBlocks, int depth,
                      MemorySegment hPrev, long hOffset,
                      MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset,
                      MemorySegment c, MemorySegment hNext, long stateOffset, float clip, MemorySegment peepholes,
                      long peepholeOffset) {
        if (!twoBlocks) {
            FloatVector i0 = FloatVector.zero(SPECIES), f0 = i0, g0 = i0, o0 = i0;
            for (int k = 0; k < depth; k++) {
                long w = panelOffset + k * GATE_GROUP_BYTES;
                FloatVector a0 = broadcast(SPECIES, hPrev.get(FLOAT, hOffset + (long) k * Float.BYTES));
                i0 = fromMemorySegment(SPECIES, panel, w, ORDER).fma(a0, i0);
                f0 = fromMemorySegment(SPECIES, panel, w + V1, ORDER).fma(a0, f0);
                g0 = fromMemorySegment(SPECIES, panel, w + V2, ORDER).fma(a0, g0);
                o0 = fromMemorySegment(SPECIES, panel, w + V3, ORDER).fma(a0, o0);
            }
            i0.intoMemorySegment(gates, gatesOffset, ORDER);
            f0.intoMemorySegment(gates, gatesOffset + V1, ORDER);
            g0.intoMemorySegment(gates, gatesOffset + V2, ORDER);
            o0.intoMemorySegment(gates, gatesOffset + V3, ORDER);
            if (peepholes == null) {
                CellPointwise.update(inputGates, inputGatesOffset, gates, gatesOffset, c, hNext, stateOffset, clip);
            } else {
                CellPointwise.updateWithPeepholes(inputGates, inputGatesOffset, gates, gatesOffset, c, hNext,
                        stateOffset, clip, peepholes, peepholeOffset);
            }
            return;
        }
        FloatVector i0 = FloatVector.zero(SPECIES), f0 = i0, g0 = i0, o0 = i0;
        FloatVector i1 = i0, f1 = i0, g1 = i0, o1 = i0;
        for (int k = 0; k < depth; k++) {
            long w = panelOffset + k * GATE_GROUP_BYTES;
            long u = w + panelBytes;
            FloatVector a = broadcast(SPECIES, hPrev.get(FLOAT, hOffset + (long) k * Float.BYTES));
            i0 = fromMemorySegment(SPECIES, panel, w, ORDER).fma(a, i0);
            f0 = fromMemorySegment(SPECIES, panel, w + V1, ORDER).fma(a, f0);
            g0 = fromMemorySegment(SPECIES, panel, w + V2, ORDER).fma(a, g0);
            o0 = fromMemorySegment(SPECIES, panel, w + V3, ORDER).fma(a, o0);
            i1 = fromMemorySegment(SPECIES, panel, u, ORDER).fma(a, i1);
            f1 = fromMemorySegment(SPECIES, panel, u + V1, ORDER).fma(a, f1);
            g1 = fromMemorySegment(SPECIES, panel, u + V2, ORDER).fma(a, g1);
            o1 = fromMemorySegment(SPECIES, panel, u + V3, ORDER).fma(a, o1);
        }
        long second = gatesOffset + GATE_GROUP_BYTES;
        i0.intoMemorySegment(gates, gatesOffset, ORDER); f0.intoMemorySegment(gates, gatesOffset + V1, ORDER);
        g0.intoMemorySegment(gates, gatesOffset + V2, ORDER); o0.intoMemorySegment(gates, gatesOffset + V3, ORDER);
        i1.intoMemorySegment(gates, second, ORDER); f1.intoMemorySegment(gates, second + V1, ORDER);
        g1.intoMemorySegment(gates, second + V2, ORDER); o1.intoMemorySegment(gates, second + V3, ORDER);
        if (peepholes == null) {
            CellPointwise.update(inputGates, inputGatesOffset, gates, gatesOffset, c, hNext, stateOffset, clip);
            CellPointwise.update(inputGates, inputGatesOffset + GATE_GROUP_BYTES, gates, second, c, hNext,
                    stateOffset + VECTOR_BYTES, clip);
            return;
        }
        CellPointwise.updateWithPeepholes(inputGates, inputGatesOffset, gates, gatesOffset, c, hNext, stateOffset,
                clip, peepholes, peepholeOffset);
        CellPointwise.updateWithPeepholes(inputGates, inputGatesOffset + GATE_GROUP_BYTES, gates, second, c, hNext,
                stateOffset + VECTOR_BYTES, clip, peepholes, peepholeOffset + GATE_GROUP_BYTES);
    }
}
