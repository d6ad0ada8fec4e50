package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorLstmKernel.GATE_GROUP_BYTES;
import static dev.vlstm.kernel.VectorLstmKernel.SPECIES;
import static dev.vlstm.kernel.VectorLstmKernel.VECTOR_BYTES;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;

/**
 * Register tiles of the input projection {@code gates = bias + x · Wᵀ} for one block of hidden units:
 * each k broadcasts one input value per row and does four FMAs per row against the block's four gate vectors.
 */
final class ProjectionTiles {

    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private ProjectionTiles() {
    }

    /** Four rows: 16 accumulators, 4 weight vectors and a broadcast per k. */
    static void rows4(MemorySegment panel, long panelOffset, int depth,
                      MemorySegment x, long xOffset, long xRowBytes,
                      MemorySegment bias, long biasOffset,
                      MemorySegment out, long outOffset, long outRowBytes) {
        FloatVector biasI = load(bias, biasOffset);
        FloatVector biasF = load(bias, biasOffset + VECTOR_BYTES);
        FloatVector biasG = load(bias, biasOffset + 2 * VECTOR_BYTES);
        FloatVector biasO = load(bias, biasOffset + 3 * VECTOR_BYTES);
        FloatVector i0 = biasI, f0 = biasF, g0 = biasG, o0 = biasO;
        FloatVector i1 = biasI, f1 = biasF, g1 = biasG, o1 = biasO;
        FloatVector i2 = biasI, f2 = biasF, g2 = biasG, o2 = biasO;
        FloatVector i3 = biasI, f3 = biasF, g3 = biasG, o3 = biasO;
        for (int k = 0; k < depth; k++) {
            long w = panelOffset + k * GATE_GROUP_BYTES;
            FloatVector wi = load(panel, w);
            FloatVector wf = load(panel, w + VECTOR_BYTES);
            FloatVector wg = load(panel, w + 2 * VECTOR_BYTES);
            FloatVector wo = load(panel, w + 3 * VECTOR_BYTES);
            long xk = xOffset + (long) k * Float.BYTES;
            FloatVector a0 = broadcast(x, xk);
            FloatVector a1 = broadcast(x, xk + xRowBytes);
            FloatVector a2 = broadcast(x, xk + 2 * xRowBytes);
            FloatVector a3 = broadcast(x, xk + 3 * xRowBytes);
            i0 = wi.fma(a0, i0); f0 = wf.fma(a0, f0); g0 = wg.fma(a0, g0); o0 = wo.fma(a0, o0);
            i1 = wi.fma(a1, i1); f1 = wf.fma(a1, f1); g1 = wg.fma(a1, g1); o1 = wo.fma(a1, o1);
            i2 = wi.fma(a2, i2); f2 = wf.fma(a2, f2); g2 = wg.fma(a2, g2); o2 = wo.fma(a2, o2);
            i3 = wi.fma(a3, i3); f3 = wf.fma(a3, f3); g3 = wg.fma(a3, g3); o3 = wo.fma(a3, o3);
        }
        storeGates(out, outOffset, i0, f0, g0, o0);
        storeGates(out, outOffset + outRowBytes, i1, f1, g1, o1);
        storeGates(out, outOffset + 2 * outRowBytes, i2, f2, g2, o2);
        storeGates(out, outOffset + 3 * outRowBytes, i3, f3, g3, o3);
    }

    /**
     * One row, with the same arithmetic per row as {@link #rows4} (one FMA chain per gate, k in order), so that
     * a row's pre-activations do not depend on which tile computed it: streaming steps equal sequences bit for bit.
     */
    static void rows1(MemorySegment panel, long panelOffset, int depth,
                      MemorySegment x, long xOffset,
                      MemorySegment bias, long biasOffset,
                      MemorySegment out, long outOffset) {
        FloatVector i0 = load(bias, biasOffset);
        FloatVector f0 = load(bias, biasOffset + VECTOR_BYTES);
        FloatVector g0 = load(bias, biasOffset + 2 * VECTOR_BYTES);
        FloatVector o0 = load(bias, biasOffset + 3 * VECTOR_BYTES);
        for (int k = 0; k < depth; k++) {
            long w = panelOffset + k * GATE_GROUP_BYTES;
            FloatVector a0 = broadcast(x, xOffset + (long) k * Float.BYTES);
            i0 = load(panel, w).fma(a0, i0);
            f0 = load(panel, w + VECTOR_BYTES).fma(a0, f0);
            g0 = load(panel, w + 2 * VECTOR_BYTES).fma(a0, g0);
            o0 = load(panel, w + 3 * VECTOR_BYTES).fma(a0, o0);
        }
        storeGates(out, outOffset, i0, f0, g0, o0);
    }

    private static void storeGates(MemorySegment out, long offset,
                                   FloatVector i, FloatVector f, FloatVector g, FloatVector o) {
        i.intoMemorySegment(out, offset, ORDER);
        f.intoMemorySegment(out, offset + VECTOR_BYTES, ORDER);
        g.intoMemorySegment(out, offset + 2 * VECTOR_BYTES, ORDER);
        o.intoMemorySegment(out, offset + 3 * VECTOR_BYTES, ORDER);
    }

    static FloatVector load(MemorySegment segment, long offset) {
        return FloatVector.fromMemorySegment(SPECIES, segment, offset, ORDER);
    }

    static FloatVector broadcast(MemorySegment segment, long offset) {
        return FloatVector.broadcast(SPECIES, segment.get(ValueLayout.JAVA_FLOAT, offset));
    }
}
