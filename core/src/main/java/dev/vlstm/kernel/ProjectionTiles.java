package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.GROUP4_BYTES;
import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.broadcast;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jdk.incubator.vector.FloatVector;

/**
 * Register tiles of {@code out = bias + x · Wᵀ} for one block of hidden units, the GEMM of both the input
 * projection and the recurrent step: each k broadcasts one input value per row and does four FMAs per row against
 * the block's four gate vectors. Without a bias ({@code bias == null}) the accumulators start at +0.0; the
 * recurrent step uses that for its sums {@code hPrev · Uᵀ}, and {@link CellPointwise} then adds the input
 * pre-activations and finishes each row's cell while both rows are still in L1.
 * x is read through strides ({@code x(r, k)} at {@code xOffset + r * xRowBytes + k * xColumnBytes}): a broadcast
 * costs the same wherever its float lies as long as its cache line is at hand, so the backward GEMMs read their
 * operands through strides too (dzᵀ for the weight gradients, transposed once: down dz's columns every broadcast
 * missed L1).
 *
 * <p>Every vector operation is written out in the tile itself rather than in helpers: these methods are large
 * enough that C2 may refuse to inline further calls (NodeCountInliningCutoff), and a vector passed to or
 * returned from a call that was not inlined is boxed. The JDK's vector operations are force-inlined.
 *
 * <p>Why the recurrent sums pass through L1 instead of going straight from the accumulators into the activations:
 * for the same reason, a call with a vector argument from a tile this large may stay a real call, and its vectors
 * are then boxed (allocating on every step). Why they start at zero rather than from the input pre-activations:
 * sixteen more loads made the 4-row tile too large for C1's register allocator, the method never reached C2, and
 * ran as allocating C1 code. Going through L1 costs 16 stores and 32 loads per tile against {@code 16 * H} FMAs,
 * and no vector ever crosses a call.
 */
final class ProjectionTiles {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final long V1 = VECTOR_BYTES;
    private static final long V2 = 2 * VECTOR_BYTES;
    private static final long V3 = 3 * VECTOR_BYTES;

    private ProjectionTiles() {
    }

    /**
     * Four rows: 16 accumulators, 4 weight vectors and a broadcast per row and k. {@code bias} is the gate row
     * holding this block at {@code biasOffset}, or null to start from +0.0.
     */
    static void rows4(MemorySegment panel, long panelOffset, int depth,
                      MemorySegment x, long xOffset, long xRowBytes, long xColumnBytes,
                      MemorySegment bias, long biasOffset,
                      MemorySegment out, long outOffset, long outRowBytes) {
        FloatVector biasI = FloatVector.zero(SPECIES), biasF = biasI, biasG = biasI, biasO = biasI;
        if (bias != null) {
            biasI = fromMemorySegment(SPECIES, bias, biasOffset, ORDER);
            biasF = fromMemorySegment(SPECIES, bias, biasOffset + V1, ORDER);
            biasG = fromMemorySegment(SPECIES, bias, biasOffset + V2, ORDER);
            biasO = fromMemorySegment(SPECIES, bias, biasOffset + V3, ORDER);
        }
        FloatVector i0 = biasI, f0 = biasF, g0 = biasG, o0 = biasO;
        FloatVector i1 = biasI, f1 = biasF, g1 = biasG, o1 = biasO;
        FloatVector i2 = biasI, f2 = biasF, g2 = biasG, o2 = biasO;
        FloatVector i3 = biasI, f3 = biasF, g3 = biasG, o3 = biasO;
        for (int k = 0; k < depth; k++) {
            long w = panelOffset + k * GROUP4_BYTES;
            FloatVector wi = fromMemorySegment(SPECIES, panel, w, ORDER);
            FloatVector wf = fromMemorySegment(SPECIES, panel, w + V1, ORDER);
            FloatVector wg = fromMemorySegment(SPECIES, panel, w + V2, ORDER);
            FloatVector wo = fromMemorySegment(SPECIES, panel, w + V3, ORDER);
            long xk = xOffset + k * xColumnBytes;
            FloatVector a0 = broadcast(SPECIES, x.get(FLOAT, xk));
            FloatVector a1 = broadcast(SPECIES, x.get(FLOAT, xk + xRowBytes));
            FloatVector a2 = broadcast(SPECIES, x.get(FLOAT, xk + 2 * xRowBytes));
            FloatVector a3 = broadcast(SPECIES, x.get(FLOAT, xk + 3 * xRowBytes));
            i0 = wi.fma(a0, i0); f0 = wf.fma(a0, f0); g0 = wg.fma(a0, g0); o0 = wo.fma(a0, o0);
            i1 = wi.fma(a1, i1); f1 = wf.fma(a1, f1); g1 = wg.fma(a1, g1); o1 = wo.fma(a1, o1);
            i2 = wi.fma(a2, i2); f2 = wf.fma(a2, f2); g2 = wg.fma(a2, g2); o2 = wo.fma(a2, o2);
            i3 = wi.fma(a3, i3); f3 = wf.fma(a3, f3); g3 = wg.fma(a3, g3); o3 = wo.fma(a3, o3);
        }
        long row1 = outOffset + outRowBytes;
        long row2 = outOffset + 2 * outRowBytes;
        long row3 = outOffset + 3 * outRowBytes;
        i0.intoMemorySegment(out, outOffset, ORDER); f0.intoMemorySegment(out, outOffset + V1, ORDER);
        g0.intoMemorySegment(out, outOffset + V2, ORDER); o0.intoMemorySegment(out, outOffset + V3, ORDER);
        i1.intoMemorySegment(out, row1, ORDER); f1.intoMemorySegment(out, row1 + V1, ORDER);
        g1.intoMemorySegment(out, row1 + V2, ORDER); o1.intoMemorySegment(out, row1 + V3, ORDER);
        i2.intoMemorySegment(out, row2, ORDER); f2.intoMemorySegment(out, row2 + V1, ORDER);
        g2.intoMemorySegment(out, row2 + V2, ORDER); o2.intoMemorySegment(out, row2 + V3, ORDER);
        i3.intoMemorySegment(out, row3, ORDER); f3.intoMemorySegment(out, row3 + V1, ORDER);
        g3.intoMemorySegment(out, row3 + V2, ORDER); o3.intoMemorySegment(out, row3 + V3, ORDER);
    }

    /**
     * One row over one block, or over two adjacent blocks ({@code twoBlocks}) for eight independent FMA chains
     * from one broadcast per k; either way each lane has the same arithmetic as in {@link #rows4} (one FMA chain,
     * k in order), so a row's result does not depend on the tile that computed it. The second block's panel starts
     * {@code panelBytes} after the first, its bias and output {@code GROUP4_BYTES} after the first's;
     * {@code bias} may be null as in {@link #rows4}.
     *
     * <p>Both cases live in one method on purpose: a one-block tile alone is small enough for C2 to inline into the
     * driver, and inlined there its vectors were boxed (a training step allocated megabytes); this method is too
     * large to be inlined, so it is always compiled on its own.
     */
    static void rows1(MemorySegment panel, long panelOffset, long panelBytes, boolean twoBlocks, int depth,
                      MemorySegment x, long xOffset, long xColumnBytes,
                      MemorySegment bias, long biasOffset,
                      MemorySegment out, long outOffset) {
        if (!twoBlocks) {
            FloatVector i0 = FloatVector.zero(SPECIES), f0 = i0, g0 = i0, o0 = i0;
            if (bias != null) {
                i0 = fromMemorySegment(SPECIES, bias, biasOffset, ORDER);
                f0 = fromMemorySegment(SPECIES, bias, biasOffset + V1, ORDER);
                g0 = fromMemorySegment(SPECIES, bias, biasOffset + V2, ORDER);
                o0 = fromMemorySegment(SPECIES, bias, biasOffset + V3, ORDER);
            }
            for (int k = 0; k < depth; k++) {
                long w = panelOffset + k * GROUP4_BYTES;
                FloatVector a0 = broadcast(SPECIES, x.get(FLOAT, xOffset + k * xColumnBytes));
                i0 = fromMemorySegment(SPECIES, panel, w, ORDER).fma(a0, i0);
                f0 = fromMemorySegment(SPECIES, panel, w + V1, ORDER).fma(a0, f0);
                g0 = fromMemorySegment(SPECIES, panel, w + V2, ORDER).fma(a0, g0);
                o0 = fromMemorySegment(SPECIES, panel, w + V3, ORDER).fma(a0, o0);
            }
            i0.intoMemorySegment(out, outOffset, ORDER);
            f0.intoMemorySegment(out, outOffset + V1, ORDER);
            g0.intoMemorySegment(out, outOffset + V2, ORDER);
            o0.intoMemorySegment(out, outOffset + V3, ORDER);
            return;
        }
        FloatVector i0 = FloatVector.zero(SPECIES), f0 = i0, g0 = i0, o0 = i0;
        FloatVector i1 = i0, f1 = i0, g1 = i0, o1 = i0;
        if (bias != null) {
            long nextBias = biasOffset + GROUP4_BYTES;
            i0 = fromMemorySegment(SPECIES, bias, biasOffset, ORDER);
            f0 = fromMemorySegment(SPECIES, bias, biasOffset + V1, ORDER);
            g0 = fromMemorySegment(SPECIES, bias, biasOffset + V2, ORDER);
            o0 = fromMemorySegment(SPECIES, bias, biasOffset + V3, ORDER);
            i1 = fromMemorySegment(SPECIES, bias, nextBias, ORDER);
            f1 = fromMemorySegment(SPECIES, bias, nextBias + V1, ORDER);
            g1 = fromMemorySegment(SPECIES, bias, nextBias + V2, ORDER);
            o1 = fromMemorySegment(SPECIES, bias, nextBias + V3, ORDER);
        }
        for (int k = 0; k < depth; k++) {
            long w = panelOffset + k * GROUP4_BYTES;
            long u = w + panelBytes;
            FloatVector a = broadcast(SPECIES, x.get(FLOAT, xOffset + k * xColumnBytes));
            i0 = fromMemorySegment(SPECIES, panel, w, ORDER).fma(a, i0);
            f0 = fromMemorySegment(SPECIES, panel, w + V1, ORDER).fma(a, f0);
            g0 = fromMemorySegment(SPECIES, panel, w + V2, ORDER).fma(a, g0);
            o0 = fromMemorySegment(SPECIES, panel, w + V3, ORDER).fma(a, o0);
            i1 = fromMemorySegment(SPECIES, panel, u, ORDER).fma(a, i1);
            f1 = fromMemorySegment(SPECIES, panel, u + V1, ORDER).fma(a, f1);
            g1 = fromMemorySegment(SPECIES, panel, u + V2, ORDER).fma(a, g1);
            o1 = fromMemorySegment(SPECIES, panel, u + V3, ORDER).fma(a, o1);
        }
        long second = outOffset + GROUP4_BYTES;
        i0.intoMemorySegment(out, outOffset, ORDER); f0.intoMemorySegment(out, outOffset + V1, ORDER);
        g0.intoMemorySegment(out, outOffset + V2, ORDER); o0.intoMemorySegment(out, outOffset + V3, ORDER);
        i1.intoMemorySegment(out, second, ORDER); f1.intoMemorySegment(out, second + V1, ORDER);
        g1.intoMemorySegment(out, second + V2, ORDER); o1.intoMemorySegment(out, second + V3, ORDER);
    }
}
