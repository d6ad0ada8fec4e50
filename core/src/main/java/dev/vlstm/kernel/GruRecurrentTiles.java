package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorGruKernel.GATE_GROUP_BYTES;
import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.broadcast;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jdk.incubator.vector.FloatVector;

/**
 * Register tiles of one GRU recurrent step for one block of hidden units: the GEMM {@code hPrev · W_hhᵀ} accumulates
 * in registers (r, z and n sums kept apart, as linear-before-reset needs), is stored to the small gates buffer, and
 * {@link GruPointwise} finishes each row while both rows are still in L1. The accumulators start at zero and pass
 * through L1 for the reasons {@link RecurrentTiles} gives; every vector operation is written out here.
 */
final class GruRecurrentTiles {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final long V1 = VECTOR_BYTES;
    private static final long V2 = 2 * VECTOR_BYTES;

    private GruRecurrentTiles() {
    }

    /**
     * Four batch rows: 12 accumulators. Offsets locate the block in row 0: {@code inputGatesOffset} in the input
     * pre-activations, {@code gatesOffset} in {@code gates} (same row layout), {@code biasOffset} in b_hn,
     * {@code stateOffset} in hPrev and hNext (whose rows start at {@code hOffset}, {@code stateRowBytes} apart).
     */
    static void rows4(MemorySegment panel, long panelOffset, int depth, MemorySegment hPrev, long hOffset,
                      long stateRowBytes, MemorySegment inputGates, long inputGatesOffset, MemorySegment gates,
                      long gatesOffset, long gateRowBytes, MemorySegment recurrentBias, long biasOffset,
                      MemorySegment hNext, long stateOffset) {
        long row0 = gatesOffset;
        long row1 = gatesOffset + gateRowBytes;
        long row2 = gatesOffset + 2 * gateRowBytes;
        long row3 = gatesOffset + 3 * gateRowBytes;
        FloatVector zero = FloatVector.zero(SPECIES);
        FloatVector r0 = zero, z0 = zero, n0 = zero;
        FloatVector r1 = zero, z1 = zero, n1 = zero;
        FloatVector r2 = zero, z2 = zero, n2 = zero;
        FloatVector r3 = zero, z3 = zero, n3 = zero;
        for (int k = 0; k < depth; k++) {
            long w = panelOffset + k * GATE_GROUP_BYTES;
            FloatVector wr = fromMemorySegment(SPECIES, panel, w, ORDER);
            FloatVector wz = fromMemorySegment(SPECIES, panel, w + V1, ORDER);
            FloatVector wn = fromMemorySegment(SPECIES, panel, w + V2, ORDER);
            long hk = hOffset + (long) k * Float.BYTES;
            FloatVector a0 = broadcast(SPECIES, hPrev.get(FLOAT, hk));
            FloatVector a1 = broadcast(SPECIES, hPrev.get(FLOAT, hk + stateRowBytes));
            FloatVector a2 = broadcast(SPECIES, hPrev.get(FLOAT, hk + 2 * stateRowBytes));
            FloatVector a3 = broadcast(SPECIES, hPrev.get(FLOAT, hk + 3 * stateRowBytes));
            r0 = wr.fma(a0, r0); z0 = wz.fma(a0, z0); n0 = wn.fma(a0, n0);
            r1 = wr.fma(a1, r1); z1 = wz.fma(a1, z1); n1 = wn.fma(a1, n1);
            r2 = wr.fma(a2, r2); z2 = wz.fma(a2, z2); n2 = wn.fma(a2, n2);
            r3 = wr.fma(a3, r3); z3 = wz.fma(a3, z3); n3 = wn.fma(a3, n3);
        }
        r0.intoMemorySegment(gates, row0, ORDER); z0.intoMemorySegment(gates, row0 + V1, ORDER);
        n0.intoMemorySegment(gates, row0 + V2, ORDER);
        r1.intoMemorySegment(gates, row1, ORDER); z1.intoMemorySegment(gates, row1 + V1, ORDER);
        n1.intoMemorySegment(gates, row1 + V2, ORDER);
        r2.intoMemorySegment(gates, row2, ORDER); z2.intoMemorySegment(gates, row2 + V1, ORDER);
        n2.intoMemorySegment(gates, row2 + V2, ORDER);
        r3.intoMemorySegment(gates, row3, ORDER); z3.intoMemorySegment(gates, row3 + V1, ORDER);
        n3.intoMemorySegment(gates, row3 + V2, ORDER);
        GruPointwise.update(inputGates, inputGatesOffset, gates, row0, recurrentBias, biasOffset, hPrev, hNext,
                stateOffset);
        GruPointwise.update(inputGates, inputGatesOffset + gateRowBytes, gates, row1, recurrentBias, biasOffset,
                hPrev, hNext, stateOffset + stateRowBytes);
        GruPointwise.update(inputGates, inputGatesOffset + 2 * gateRowBytes, gates, row2, recurrentBias, biasOffset,
                hPrev, hNext, stateOffset + 2 * stateRowBytes);
        GruPointwise.update(inputGates, inputGatesOffset + 3 * gateRowBytes, gates, row3, recurrentBias, biasOffset,
                hPrev, hNext, stateOffset + 3 * stateRowBytes);
    }

    /**
     * One batch row over one block, or over two adjacent blocks ({@code twoBlocks}) for six independent FMA chains
     * from one broadcast per k; each lane's arithmetic is the same as in {@link #rows4}. Offsets locate the first
     * block; the second block's panel starts {@code panelBytes} later. One method for both cases (see
     * {@link ProjectionTiles#rows1}).
     */
    static void rows1(MemorySegment panel, long panelOffset, long panelBytes, boolean twoBlocks, int depth,
                      MemorySegment hPrev, long hOffset, MemorySegment inputGates, long inputGatesOffset,
                      MemorySegment gates, long gatesOffset, MemorySegment recurrentBias, long biasOffset,
                      MemorySegment hNext, long stateOffset) {
        if (!twoBlocks) {
            FloatVector r0 = FloatVector.zero(SPECIES), z0 = r0, n0 = r0;
            for (int k = 0; k < depth; k++) {
                long w = panelOffset + k * GATE_GROUP_BYTES;
                FloatVector a0 = broadcast(SPECIES, hPrev.get(FLOAT, hOffset + (long) k * Float.BYTES));
                r0 = fromMemorySegment(SPECIES, panel, w, ORDER).fma(a0, r0);
                z0 = fromMemorySegment(SPECIES, panel, w + V1, ORDER).fma(a0, z0);
                n0 = fromMemorySegment(SPECIES, panel, w + V2, ORDER).fma(a0, n0);
            }
            r0.intoMemorySegment(gates, gatesOffset, ORDER);
            z0.intoMemorySegment(gates, gatesOffset + V1, ORDER);
            n0.intoMemorySegment(gates, gatesOffset + V2, ORDER);
            GruPointwise.update(inputGates, inputGatesOffset, gates, gatesOffset, recurrentBias, biasOffset, hPrev,
                    hNext, stateOffset);
            return;
        }
        FloatVector r0 = FloatVector.zero(SPECIES), z0 = r0, n0 = r0;
        FloatVector r1 = r0, z1 = r0, n1 = r0;
        for (int k = 0; k < depth; k++) {
            long w = panelOffset + k * GATE_GROUP_BYTES;
            long u = w + panelBytes;
            FloatVector a = broadcast(SPECIES, hPrev.get(FLOAT, hOffset + (long) k * Float.BYTES));
            r0 = fromMemorySegment(SPECIES, panel, w, ORDER).fma(a, r0);
            z0 = fromMemorySegment(SPECIES, panel, w + V1, ORDER).fma(a, z0);
            n0 = fromMemorySegment(SPECIES, panel, w + V2, ORDER).fma(a, n0);
            r1 = fromMemorySegment(SPECIES, panel, u, ORDER).fma(a, r1);
            z1 = fromMemorySegment(SPECIES, panel, u + V1, ORDER).fma(a, z1);
            n1 = fromMemorySegment(SPECIES, panel, u + V2, ORDER).fma(a, n1);
        }
        long second = gatesOffset + GATE_GROUP_BYTES;
        r0.intoMemorySegment(gates, gatesOffset, ORDER); z0.intoMemorySegment(gates, gatesOffset + V1, ORDER);
        n0.intoMemorySegment(gates, gatesOffset + V2, ORDER);
        r1.intoMemorySegment(gates, second, ORDER); z1.intoMemorySegment(gates, second + V1, ORDER);
        n1.intoMemorySegment(gates, second + V2, ORDER);
        GruPointwise.update(inputGates, inputGatesOffset, gates, gatesOffset, recurrentBias, biasOffset, hPrev,
                hNext, stateOffset);
        GruPointwise.update(inputGates, inputGatesOffset + GATE_GROUP_BYTES, gates, second, recurrentBias,
                biasOffset + VECTOR_BYTES, hPrev, hNext, stateOffset + VECTOR_BYTES);
    }
}
