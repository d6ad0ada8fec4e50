package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.GROUP4_BYTES;
import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.broadcast;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;
import static jdk.incubator.vector.VectorOperators.LSHL;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register tiles of {@link ProjectionTiles} on {@link WeightFormat#BFLOAT16} panels: per k, two int vectors
 * hold the four gates' weights as pairs of bfloat16 (i and f, then g and o; the first of a pair in the low half of
 * each int). A left shift by 16 widens the low halves to floats, a mask of the low bits the high halves, exactly;
 * then the same FMA chain as the float tiles, so the results equal the float kernel's on the rounded weights, bit
 * for bit. Half the bytes of float weights per FMA, which is what a memory-bound step at batch 1 pays for.
 *
 * <p>Serves the recurrent GEMM too: without a bias ({@code bias == null}) the accumulators start at zero, as in
 * {@link ProjectionTiles}, and {@link CellPointwise} adds the input pre-activations afterwards. Every vector
 * operation is written out in the tile, for the reasons given in {@link ProjectionTiles}.
 */
final class Bfloat16Tiles {

    /** Ints of the same width as the float species: one holds a pair of gates of every lane. */
    private static final VectorSpecies<Integer> PAIRS = SPECIES.withLanes(int.class);
    /** Bytes of one (block, k) group: two int vectors. */
    static final long GROUP_BYTES = 2 * VECTOR_BYTES;
    private static final int HIGH_HALF = 0xFFFF0000;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final long V1 = VECTOR_BYTES;
    private static final long V2 = 2 * VECTOR_BYTES;
    private static final long V3 = 3 * VECTOR_BYTES;

    private Bfloat16Tiles() {
    }

    /**
     * Four rows: 16 accumulators, two int loads widened to 4 weight vectors and a broadcast per row and k. Arguments
     * as in {@link ProjectionTiles#rows4}; {@code bias} may be null (start from zero).
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
            long w = panelOffset + k * GROUP_BYTES;
            IntVector first = IntVector.fromMemorySegment(PAIRS, panel, w, ORDER);
            IntVector second = IntVector.fromMemorySegment(PAIRS, panel, w + V1, ORDER);
            FloatVector wi = first.lanewise(LSHL, Short.SIZE).reinterpretAsFloats();
            FloatVector wf = first.and(HIGH_HALF).reinterpretAsFloats();
            FloatVector wg = second.lanewise(LSHL, Short.SIZE).reinterpretAsFloats();
            FloatVector wo = second.and(HIGH_HALF).reinterpretAsFloats();
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
     * One row over one block, or over two adjacent blocks ({@code twoBlocks}, the second's panel
     * {@code panelBytes} after the first's) for eight FMA chains per broadcast; arguments as in
     * {@link ProjectionTiles#rows1}, {@code bias} may be null. One method for both cases so that C2 never inlines a
     * small tile into the driver, where its vectors were boxed.
     */
    static void rows1(MemorySegment panel, long panelOffset, long panelBytes, boolean twoBlocks, int depth,
                      MemorySegment x, long xOffset, long xColumnBytes,
                      MemorySegment bias, long biasOffset,
                      MemorySegment out, long outOffset) {
        FloatVector i0 = FloatVector.zero(SPECIES), f0 = i0, g0 = i0, o0 = i0;
        FloatVector i1 = i0, f1 = i0, g1 = i0, o1 = i0;
        if (bias != null) {
            long nextBias = biasOffset + GROUP4_BYTES;
            i0 = fromMemorySegment(SPECIES, bias, biasOffset, ORDER);
            f0 = fromMemorySegment(SPECIES, bias, biasOffset + V1, ORDER);
            g0 = fromMemorySegment(SPECIES, bias, biasOffset + V2, ORDER);
            o0 = fromMemorySegment(SPECIES, bias, biasOffset + V3, ORDER);
            if (twoBlocks) {
                i1 = fromMemorySegment(SPECIES, bias, nextBias, ORDER);
                f1 = fromMemorySegment(SPECIES, bias, nextBias + V1, ORDER);
                g1 = fromMemorySegment(SPECIES, bias, nextBias + V2, ORDER);
                o1 = fromMemorySegment(SPECIES, bias, nextBias + V3, ORDER);
            }
        }
        if (!twoBlocks) {
            for (int k = 0; k < depth; k++) {
                long w = panelOffset + k * GROUP_BYTES;
                FloatVector a = broadcast(SPECIES, x.get(FLOAT, xOffset + k * xColumnBytes));
                IntVector first = IntVector.fromMemorySegment(PAIRS, panel, w, ORDER);
                IntVector second = IntVector.fromMemorySegment(PAIRS, panel, w + V1, ORDER);
                i0 = first.lanewise(LSHL, Short.SIZE).reinterpretAsFloats().fma(a, i0);
                f0 = first.and(HIGH_HALF).reinterpretAsFloats().fma(a, f0);
                g0 = second.lanewise(LSHL, Short.SIZE).reinterpretAsFloats().fma(a, g0);
                o0 = second.and(HIGH_HALF).reinterpretAsFloats().fma(a, o0);
            }
            i0.intoMemorySegment(out, outOffset, ORDER);
            f0.intoMemorySegment(out, outOffset + V1, ORDER);
            g0.intoMemorySegment(out, outOffset + V2, ORDER);
            o0.intoMemorySegment(out, outOffset + V3, ORDER);
            return;
        }
        for (int k = 0; k < depth; k++) {
            long w = panelOffset + k * GROUP_BYTES;
            long u = w + panelBytes;
            FloatVector a = broadcast(SPECIES, x.get(FLOAT, xOffset + k * xColumnBytes));
            IntVector first = IntVector.fromMemorySegment(PAIRS, panel, w, ORDER);
            IntVector second = IntVector.fromMemorySegment(PAIRS, panel, w + V1, ORDER);
            IntVector third = IntVector.fromMemorySegment(PAIRS, panel, u, ORDER);
            IntVector fourth = IntVector.fromMemorySegment(PAIRS, panel, u + V1, ORDER);
            i0 = first.lanewise(LSHL, Short.SIZE).reinterpretAsFloats().fma(a, i0);
            f0 = first.and(HIGH_HALF).reinterpretAsFloats().fma(a, f0);
            g0 = second.lanewise(LSHL, Short.SIZE).reinterpretAsFloats().fma(a, g0);
            o0 = second.and(HIGH_HALF).reinterpretAsFloats().fma(a, o0);
            i1 = third.lanewise(LSHL, Short.SIZE).reinterpretAsFloats().fma(a, i1);
            f1 = third.and(HIGH_HALF).reinterpretAsFloats().fma(a, f1);
            g1 = fourth.lanewise(LSHL, Short.SIZE).reinterpretAsFloats().fma(a, g1);
            o1 = fourth.and(HIGH_HALF).reinterpretAsFloats().fma(a, o1);
        }
        long second = outOffset + GROUP4_BYTES;
        i0.intoMemorySegment(out, outOffset, ORDER); f0.intoMemorySegment(out, outOffset + V1, ORDER);
        g0.intoMemorySegment(out, outOffset + V2, ORDER); o0.intoMemorySegment(out, outOffset + V3, ORDER);
        i1.intoMemorySegment(out, second, ORDER); f1.intoMemorySegment(out, second + V1, ORDER);
        g1.intoMemorySegment(out, second + V2, ORDER); o1.intoMemorySegment(out, second + V3, ORDER);
    }
}
