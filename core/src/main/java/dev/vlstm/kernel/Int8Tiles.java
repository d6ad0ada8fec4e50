package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.GROUP4_BYTES;
import static dev.vlstm.kernel.VectorShape.LANES;
import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.broadcast;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;
import static jdk.incubator.vector.VectorOperators.B2F;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The register tiles of {@link ProjectionTiles} on {@link WeightFormat#INT8} panels: per k and gate, one byte
 * vector holds the gate's signed bytes of every lane, and one conversion (a sign extension and an int-to-float
 * conversion in AVX-512) widens it to q as floats, exactly; the FMA chain then sums
 * {@code x_k * q_k} in k order and the row's scale multiplies the sum once, before the bias is added:
 * {@code out = (Σ x_k q_k) * scale + bias}, as the scalar kernel computes it. A quarter of the bytes of float
 * weights per FMA.
 *
 * <p>Without a bias ({@code bias == null}, the recurrent GEMM) the output is the scaled sum alone and
 * {@link CellPointwise} adds the input pre-activations. The scales of block j lie at
 * {@code scaleOffset + j * GROUP4_BYTES} in the same segment as the panels (read outside the loop, so the loop
 * reads two tensors). Every vector operation is written out in the tile, for the reasons given in
 * {@link ProjectionTiles}.
 */
final class Int8Tiles {

    /**
     * One gate's bytes, or two gates' where a gate's are fewer than the narrowest byte vector (8 bytes, at 4 float
     * lanes): a pair's second gate is then the conversion's part 1.
     */
    private static final VectorSpecies<Byte> GATE_BYTES =
            VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(LANES, 8) * Byte.SIZE));
    private static final boolean PAIRED = LANES < 8;
    private static final long F_OFFSET = PAIRED ? 0 : LANES;
    private static final long G_OFFSET = 2L * LANES;
    private static final long O_OFFSET = PAIRED ? 2L * LANES : 3L * LANES;
    private static final int SECOND_PART = PAIRED ? 1 : 0;
    /** Bytes of one (block, k) group: a quarter of a float group. */
    static final long GROUP_BYTES = 4L * LANES;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final long V1 = VECTOR_BYTES;
    private static final long V2 = 2 * VECTOR_BYTES;
    private static final long V3 = 3 * VECTOR_BYTES;

    private Int8Tiles() {
    }

    /**
     * Four rows: 16 accumulators, four byte loads widened to 4 weight vectors and a broadcast per row and k. Arguments
     * as in {@link ProjectionTiles#rows4}, plus the block's scales at {@code scaleOffset} of {@code panel};
     * {@code bias} may be null.
     */
    static void rows4(MemorySegment panel, long panelOffset, long scaleOffset, int depth,
                      MemorySegment x, long xOffset, long xRowBytes, long xColumnBytes,
                      MemorySegment bias, long biasOffset,
                      MemorySegment out, long outOffset, long outRowBytes) {
        FloatVector i0 = FloatVector.zero(SPECIES), f0 = i0, g0 = i0, o0 = i0;
        FloatVector i1 = i0, f1 = i0, g1 = i0, o1 = i0;
        FloatVector i2 = i0, f2 = i0, g2 = i0, o2 = i0;
        FloatVector i3 = i0, f3 = i0, g3 = i0, o3 = i0;
        for (int k = 0; k < depth; k++) {
            long w = panelOffset + k * GROUP_BYTES;
            FloatVector wi = (FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, w, ORDER)
                    .convertShape(B2F, SPECIES, 0);
            FloatVector wf = (FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, w + F_OFFSET, ORDER)
                    .convertShape(B2F, SPECIES, SECOND_PART);
            FloatVector wg = (FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, w + G_OFFSET, ORDER)
                    .convertShape(B2F, SPECIES, 0);
            FloatVector wo = (FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, w + O_OFFSET, ORDER)
                    .convertShape(B2F, SPECIES, SECOND_PART);
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
        FloatVector si = fromMemorySegment(SPECIES, panel, scaleOffset, ORDER);
        FloatVector sf = fromMemorySegment(SPECIES, panel, scaleOffset + V1, ORDER);
        FloatVector sg = fromMemorySegment(SPECIES, panel, scaleOffset + V2, ORDER);
        FloatVector so = fromMemorySegment(SPECIES, panel, scaleOffset + V3, ORDER);
        i0 = i0.mul(si); f0 = f0.mul(sf); g0 = g0.mul(sg); o0 = o0.mul(so);
        i1 = i1.mul(si); f1 = f1.mul(sf); g1 = g1.mul(sg); o1 = o1.mul(so);
        i2 = i2.mul(si); f2 = f2.mul(sf); g2 = g2.mul(sg); o2 = o2.mul(so);
        i3 = i3.mul(si); f3 = f3.mul(sf); g3 = g3.mul(sg); o3 = o3.mul(so);
        if (bias != null) {
            FloatVector bi = fromMemorySegment(SPECIES, bias, biasOffset, ORDER);
            FloatVector bf = fromMemorySegment(SPECIES, bias, biasOffset + V1, ORDER);
            FloatVector bg = fromMemorySegment(SPECIES, bias, biasOffset + V2, ORDER);
            FloatVector bo = fromMemorySegment(SPECIES, bias, biasOffset + V3, ORDER);
            i0 = i0.add(bi); f0 = f0.add(bf); g0 = g0.add(bg); o0 = o0.add(bo);
            i1 = i1.add(bi); f1 = f1.add(bf); g1 = g1.add(bg); o1 = o1.add(bo);
            i2 = i2.add(bi); f2 = f2.add(bf); g2 = g2.add(bg); o2 = o2.add(bo);
            i3 = i3.add(bi); f3 = f3.add(bf); g3 = g3.add(bg); o3 = o3.add(bo);
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
     * {@code panelBytes} after the first's and its scales {@code GROUP4_BYTES} after the first's); arguments as
     * in {@link #rows4} and {@link ProjectionTiles#rows1}. One method for both cases so that C2 never inlines a
     * small tile into the driver, where its vectors were boxed.
     */
    static void rows1(MemorySegment panel, long panelOffset, long panelBytes, long scaleOffset, boolean twoBlocks,
                      int depth, MemorySegment x, long xOffset, long xColumnBytes,
                      MemorySegment bias, long biasOffset,
                      MemorySegment out, long outOffset) {
        FloatVector i0 = FloatVector.zero(SPECIES), f0 = i0, g0 = i0, o0 = i0;
        FloatVector i1 = i0, f1 = i0, g1 = i0, o1 = i0;
        if (!twoBlocks) {
            for (int k = 0; k < depth; k++) {
                long w = panelOffset + k * GROUP_BYTES;
                FloatVector a = broadcast(SPECIES, x.get(FLOAT, xOffset + k * xColumnBytes));
                i0 = ((FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, w, ORDER)
                        .convertShape(B2F, SPECIES, 0)).fma(a, i0);
                f0 = ((FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, w + F_OFFSET, ORDER)
                        .convertShape(B2F, SPECIES, SECOND_PART)).fma(a, f0);
                g0 = ((FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, w + G_OFFSET, ORDER)
                        .convertShape(B2F, SPECIES, 0)).fma(a, g0);
                o0 = ((FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, w + O_OFFSET, ORDER)
                        .convertShape(B2F, SPECIES, SECOND_PART)).fma(a, o0);
            }
        } else {
            for (int k = 0; k < depth; k++) {
                long w = panelOffset + k * GROUP_BYTES;
                long v = w + panelBytes;
                FloatVector a = broadcast(SPECIES, x.get(FLOAT, xOffset + k * xColumnBytes));
                i0 = ((FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, w, ORDER)
                        .convertShape(B2F, SPECIES, 0)).fma(a, i0);
                f0 = ((FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, w + F_OFFSET, ORDER)
                        .convertShape(B2F, SPECIES, SECOND_PART)).fma(a, f0);
                g0 = ((FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, w + G_OFFSET, ORDER)
                        .convertShape(B2F, SPECIES, 0)).fma(a, g0);
                o0 = ((FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, w + O_OFFSET, ORDER)
                        .convertShape(B2F, SPECIES, SECOND_PART)).fma(a, o0);
                i1 = ((FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, v, ORDER)
                        .convertShape(B2F, SPECIES, 0)).fma(a, i1);
                f1 = ((FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, v + F_OFFSET, ORDER)
                        .convertShape(B2F, SPECIES, SECOND_PART)).fma(a, f1);
                g1 = ((FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, v + G_OFFSET, ORDER)
                        .convertShape(B2F, SPECIES, 0)).fma(a, g1);
                o1 = ((FloatVector) ByteVector.fromMemorySegment(GATE_BYTES, panel, v + O_OFFSET, ORDER)
                        .convertShape(B2F, SPECIES, SECOND_PART)).fma(a, o1);
            }
        }
        i0 = i0.mul(fromMemorySegment(SPECIES, panel, scaleOffset, ORDER));
        f0 = f0.mul(fromMemorySegment(SPECIES, panel, scaleOffset + V1, ORDER));
        g0 = g0.mul(fromMemorySegment(SPECIES, panel, scaleOffset + V2, ORDER));
        o0 = o0.mul(fromMemorySegment(SPECIES, panel, scaleOffset + V3, ORDER));
        if (bias != null) {
            i0 = i0.add(fromMemorySegment(SPECIES, bias, biasOffset, ORDER));
            f0 = f0.add(fromMemorySegment(SPECIES, bias, biasOffset + V1, ORDER));
            g0 = g0.add(fromMemorySegment(SPECIES, bias, biasOffset + V2, ORDER));
            o0 = o0.add(fromMemorySegment(SPECIES, bias, biasOffset + V3, ORDER));
        }
        i0.intoMemorySegment(out, outOffset, ORDER); f0.intoMemorySegment(out, outOffset + V1, ORDER);
        g0.intoMemorySegment(out, outOffset + V2, ORDER); o0.intoMemorySegment(out, outOffset + V3, ORDER);
        if (!twoBlocks) {
            return;
        }
        long scale1 = scaleOffset + GROUP4_BYTES;
        i1 = i1.mul(fromMemorySegment(SPECIES, panel, scale1, ORDER));
        f1 = f1.mul(fromMemorySegment(SPECIES, panel, scale1 + V1, ORDER));
        g1 = g1.mul(fromMemorySegment(SPECIES, panel, scale1 + V2, ORDER));
        o1 = o1.mul(fromMemorySegment(SPECIES, panel, scale1 + V3, ORDER));
        if (bias != null) {
            long bias1 = biasOffset + GROUP4_BYTES;
            i1 = i1.add(fromMemorySegment(SPECIES, bias, bias1, ORDER));
            f1 = f1.add(fromMemorySegment(SPECIES, bias, bias1 + V1, ORDER));
            g1 = g1.add(fromMemorySegment(SPECIES, bias, bias1 + V2, ORDER));
            o1 = o1.add(fromMemorySegment(SPECIES, bias, bias1 + V3, ORDER));
        }
        long second = outOffset + GROUP4_BYTES;
        i1.intoMemorySegment(out, second, ORDER); f1.intoMemorySegment(out, second + V1, ORDER);
        g1.intoMemorySegment(out, second + V2, ORDER); o1.intoMemorySegment(out, second + V3, ORDER);
    }
}
