package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.GROUP3_BYTES;
import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.broadcast;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jdk.incubator.vector.FloatVector;

/**
 * Register tiles of the GRU's GEMM {@code out = bias + x · Wᵀ} for one block of hidden units, for both the input
 * projection and the recurrent step: each k broadcasts one input value per row and does three FMAs per row against
 * the block's r, z, n vectors. Without a bias ({@code bias == null}) the accumulators start at +0.0: the recurrent
 * step stores its raw sums {@code hPrev · W_hhᵀ} (r, z and n kept apart, as linear-before-reset needs), and
 * {@link GruPointwise} finishes each row while both rows are still in L1. As in {@link ProjectionTiles} (whose
 * class comment says why), every vector operation is written out in the tile.
 */
final class GruProjectionTiles {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final long V1 = VECTOR_BYTES;
    private static final long V2 = 2 * VECTOR_BYTES;

    private GruProjectionTiles() {
    }

    /**
     * Four rows: 12 accumulators, 3 weight vectors and a broadcast per row and k. x's rows are {@code xRowBytes}
     * apart, its floats contiguous; {@code bias} is the gate row holding this block at {@code biasOffset}, or null
     * to start from +0.0.
     */
    static void rows4(MemorySegment panel, long panelOffset, int depth, MemorySegment x, long xOffset, long xRowBytes,
                      MemorySegment bias, long biasOffset, MemorySegment out, long outOffset, long outRowBytes) {
        FloatVector biasR = FloatVector.zero(SPECIES), biasZ = biasR, biasN = biasR;
        if (bias != null) {
            biasR = fromMemorySegment(SPECIES, bias, biasOffset, ORDER);
            biasZ = fromMemorySegment(SPECIES, bias, biasOffset + V1, ORDER);
            biasN = fromMemorySegment(SPECIES, bias, biasOffset + V2, ORDER);
        }
        FloatVector r0 = biasR, z0 = biasZ, n0 = biasN;
        FloatVector r1 = biasR, z1 = biasZ, n1 = biasN;
        FloatVector r2 = biasR, z2 = biasZ, n2 = biasN;
        FloatVector r3 = biasR, z3 = biasZ, n3 = biasN;
        for (int k = 0; k < depth; k++) {
            long w = panelOffset + k * GROUP3_BYTES;
            FloatVector wr = fromMemorySegment(SPECIES, panel, w, ORDER);
            FloatVector wz = fromMemorySegment(SPECIES, panel, w + V1, ORDER);
            FloatVector wn = fromMemorySegment(SPECIES, panel, w + V2, ORDER);
            long xk = xOffset + (long) k * Float.BYTES;
            FloatVector a0 = broadcast(SPECIES, x.get(FLOAT, xk));
            FloatVector a1 = broadcast(SPECIES, x.get(FLOAT, xk + xRowBytes));
            FloatVector a2 = broadcast(SPECIES, x.get(FLOAT, xk + 2 * xRowBytes));
            FloatVector a3 = broadcast(SPECIES, x.get(FLOAT, xk + 3 * xRowBytes));
            r0 = wr.fma(a0, r0); z0 = wz.fma(a0, z0); n0 = wn.fma(a0, n0);
            r1 = wr.fma(a1, r1); z1 = wz.fma(a1, z1); n1 = wn.fma(a1, n1);
            r2 = wr.fma(a2, r2); z2 = wz.fma(a2, z2); n2 = wn.fma(a2, n2);
            r3 = wr.fma(a3, r3); z3 = wz.fma(a3, z3); n3 = wn.fma(a3, n3);
        }
        long row1 = outOffset + outRowBytes;
        long row2 = outOffset + 2 * outRowBytes;
        long row3 = outOffset + 3 * outRowBytes;
        r0.intoMemorySegment(out, outOffset, ORDER); z0.intoMemorySegment(out, outOffset + V1, ORDER);
        n0.intoMemorySegment(out, outOffset + V2, ORDER);
        r1.intoMemorySegment(out, row1, ORDER); z1.intoMemorySegment(out, row1 + V1, ORDER);
        n1.intoMemorySegment(out, row1 + V2, ORDER);
        r2.intoMemorySegment(out, row2, ORDER); z2.intoMemorySegment(out, row2 + V1, ORDER);
        n2.intoMemorySegment(out, row2 + V2, ORDER);
        r3.intoMemorySegment(out, row3, ORDER); z3.intoMemorySegment(out, row3 + V1, ORDER);
        n3.intoMemorySegment(out, row3 + V2, ORDER);
    }

    /**
     * One row over one block, or over two adjacent blocks ({@code twoBlocks}) for six independent FMA chains from
     * one broadcast per k; each lane's arithmetic is the same as in {@link #rows4}. The second block's panel starts
     * {@code panelBytes} after the first, its bias and output {@code GROUP3_BYTES} after the first's;
     * {@code bias} may be null as in {@link #rows4}. One method for both cases, as in
     * {@link ProjectionTiles#rows1}, so that C2 never inlines a small tile into the driver.
     */
    static void rows1(MemorySegment panel, long panelOffset, long panelBytes, boolean twoBlocks, int depth,
                      MemorySegment x, long xOffset, MemorySegment bias, long biasOffset, MemorySegment out,
                      long outOffset) {
        if (!twoBlocks) {
            FloatVector r0 = FloatVector.zero(SPECIES), z0 = r0, n0 = r0;
            if (bias != null) {
                r0 = fromMemorySegment(SPECIES, bias, biasOffset, ORDER);
                z0 = fromMemorySegment(SPECIES, bias, biasOffset + V1, ORDER);
                n0 = fromMemorySegment(SPECIES, bias, biasOffset + V2, ORDER);
            }
            for (int k = 0; k < depth; k++) {
                long w = panelOffset + k * GROUP3_BYTES;
                FloatVector a0 = broadcast(SPECIES, x.get(FLOAT, xOffset + (long) k * Float.BYTES));
                r0 = fromMemorySegment(SPECIES, panel, w, ORDER).fma(a0, r0);
                z0 = fromMemorySegment(SPECIES, panel, w + V1, ORDER).fma(a0, z0);
                n0 = fromMemorySegment(SPECIES, panel, w + V2, ORDER).fma(a0, n0);
            }
            r0.intoMemorySegment(out, outOffset, ORDER);
            z0.intoMemorySegment(out, outOffset + V1, ORDER);
            n0.intoMemorySegment(out, outOffset + V2, ORDER);
            return;
        }
        FloatVector r0 = FloatVector.zero(SPECIES), z0 = r0, n0 = r0;
        FloatVector r1 = r0, z1 = r0, n1 = r0;
        if (bias != null) {
            long nextBias = biasOffset + GROUP3_BYTES;
            r0 = fromMemorySegment(SPECIES, bias, biasOffset, ORDER);
            z0 = fromMemorySegment(SPECIES, bias, biasOffset + V1, ORDER);
            n0 = fromMemorySegment(SPECIES, bias, biasOffset + V2, ORDER);
            r1 = fromMemorySegment(SPECIES, bias, nextBias, ORDER);
            z1 = fromMemorySegment(SPECIES, bias, nextBias + V1, ORDER);
            n1 = fromMemorySegment(SPECIES, bias, nextBias + V2, ORDER);
        }
        for (int k = 0; k < depth; k++) {
            long w = panelOffset + k * GROUP3_BYTES;
            long u = w + panelBytes;
            FloatVector a = broadcast(SPECIES, x.get(FLOAT, xOffset + (long) k * Float.BYTES));
            r0 = fromMemorySegment(SPECIES, panel, w, ORDER).fma(a, r0);
            z0 = fromMemorySegment(SPECIES, panel, w + V1, ORDER).fma(a, z0);
            n0 = fromMemorySegment(SPECIES, panel, w + V2, ORDER).fma(a, n0);
            r1 = fromMemorySegment(SPECIES, panel, u, ORDER).fma(a, r1);
            z1 = fromMemorySegment(SPECIES, panel, u + V1, ORDER).fma(a, z1);
            n1 = fromMemorySegment(SPECIES, panel, u + V2, ORDER).fma(a, n1);
        }
        long second = outOffset + GROUP3_BYTES;
        r0.intoMemorySegment(out, outOffset, ORDER); z0.intoMemorySegment(out, outOffset + V1, ORDER);
        n0.intoMemorySegment(out, outOffset + V2, ORDER);
        r1.intoMemorySegment(out, second, ORDER); z1.intoMemorySegment(out, second + V1, ORDER);
        n1.intoMemorySegment(out, second + V2, ORDER);
    }
}
