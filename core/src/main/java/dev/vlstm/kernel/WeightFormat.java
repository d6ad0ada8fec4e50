package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * How a packed weight matrix stores its values, within the blocked layout of {@link GateLayout}
 * ({@code [block][k][gate][lane]}). Each (block, k) group holds the G gates' weights of the block's
 * {@code lanes} hidden units ({@link Packing#gates} writes them):
 * <ul>
 *   <li>{@link #FLOAT32}: {@code [gate][lane]} floats;</li>
 *   <li>{@link #BFLOAT16}: {@code [gate pair][lane]} ints, each holding two bfloat16 values: the first gate of
 *       the pair in the low 16 bits, the second in the high 16 bits. For the LSTM the pairs are (i,f), (g,o); for
 *       an odd G the last pair's high half is zero. A vector load of ints then widens to the two gates' float
 *       vectors with one shift and one mask, no cross-lane shuffle;</li>
 *   <li>{@link #INT8}: {@code [gate][lane]} signed bytes, so that one gate's bytes load as one byte vector and
 *       widen in one conversion to the gate's float vector. The whole matrix is preceded by one gate row of float
 *       scales ({@code [block][gate][lane]}, as a bias), one per gate row of the PyTorch matrix:
 *       {@code w ≈ q * scale}.</li>
 * </ul>
 * BFLOAT16's ints are written and read in the platform's byte order, so the bit positions above hold on any
 * platform.
 * Every kernel multiplies its input by the <em>operand</em> ({@link #operand}): the weight itself for
 * {@code FLOAT32}, the weight widened exactly to float for {@code BFLOAT16}, the integer q as a float for
 * {@code INT8}, whose sums are multiplied by the row's scale once at the end ({@link #scaled()}).
 */
public enum WeightFormat {
    /** Four bytes a weight, as given. */
    FLOAT32,
    /** Two bytes a weight: rounded to bfloat16 (nearest, ties to even), widened back to float exactly. */
    BFLOAT16,
    /** One byte a weight: symmetric per-row int8 with a float scale per gate row. */
    INT8;

    /** Largest |q| of {@link #INT8}: the scale of a row is its largest |w| divided by this. */
    public static final int INT8_LEVELS = 127;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfByte BYTE = ValueLayout.JAVA_BYTE;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    /** True if sums of operands must be multiplied by the row's scale ({@link #INT8}). */
    public boolean scaled() {
        return this == INT8;
    }

    /** Bytes of one (block, k) group: the G gates of {@code layout.lanes()} hidden units. */
    public long groupBytes(GateLayout layout) {
        long lanes = layout.lanes();
        return switch (this) {
            case FLOAT32 -> layout.gates() * lanes * Float.BYTES;
            case BFLOAT16 -> gatePairs(layout) * lanes * Integer.BYTES;
            case INT8 -> layout.gates() * lanes;
        };
    }

    /** Bytes before the first panel: the gate row of scales for {@link #INT8}, nothing otherwise. */
    public long scaleBytes(GateLayout layout) {
        return scaled() ? (long) layout.gateRowFloats() * Float.BYTES : 0;
    }

    /** Bytes of one block's panel for a matrix with {@code depth} columns. */
    public long panelBytes(GateLayout layout, int depth) {
        return depth * groupBytes(layout);
    }

    /**
     * Bytes of a whole packed matrix with {@code depth} columns, scales included; a multiple of 4 unless INT8's
     * {@code G * lanes} is not.
     */
    public long packedBytes(GateLayout layout, int depth) {
        return scaleBytes(layout) + layout.blocks() * panelBytes(layout, depth);
    }

    /**
     * The value a kernel multiplies by input k for gate {@code gate} of lane {@code lane} of block {@code block}:
     * the weight (FLOAT32), the bfloat16 weight widened to float (BFLOAT16), or q (INT8).
     */
    public float operand(MemorySegment packed, GateLayout layout, int depth, int block, int k, int gate, int lane) {
        return switch (this) {
            case FLOAT32 -> packed.getAtIndex(FLOAT,
                    block * layout.panelFloats(depth) + ((long) k * layout.gates() + gate) * layout.lanes() + lane);
            case BFLOAT16 -> {
                int pair = packed.getAtIndex(INT, intIndex(layout, depth, block, k, gate / 2, lane));
                yield fromBfloat16(gate % 2 == 0 ? pair & 0xFFFF : pair >>> Short.SIZE);
            }
            case INT8 -> packed.get(BYTE, int8Offset(layout, depth, block, k, gate, lane));
        };
    }

    /** The INT8 scale of the gate row at {@code gateIndex} ({@link GateLayout#gateIndex}) of a packed matrix. */
    public float scale(MemorySegment packed, long gateIndex) {
        return packed.getAtIndex(FLOAT, gateIndex);
    }

    /** Index, in ints, of BFLOAT16's int for gate pair {@code pair} of lane {@code lane}. */
    long intIndex(GateLayout layout, int depth, int block, int k, int pair, int lane) {
        return block * panelBytes(layout, depth) / Integer.BYTES
                + ((long) k * gatePairs(layout) + pair) * layout.lanes() + lane;
    }

    /** Offset, in bytes, of INT8's q for gate {@code gate} of lane {@code lane}. */
    long int8Offset(GateLayout layout, int depth, int block, int k, int gate, int lane) {
        return scaleBytes(layout) + block * panelBytes(layout, depth) + k * groupBytes(layout)
                + (long) gate * layout.lanes() + lane;
    }

    /** BFLOAT16's ints per lane of a (block, k) group: ceil(G / 2). */
    private static int gatePairs(GateLayout layout) {
        return (layout.gates() + 1) / 2;
    }

    /**
     * The 16 bits of the bfloat16 nearest to {@code value} (ties to even), a finite float. Values beyond the
     * largest finite bfloat16 (3.3895314e38) round to infinity, as in IEEE arithmetic; callers refuse them.
     * Relative error at most 2^-8 / (1 + 2^-8) for normal floats (bfloat16 keeps 8 significant bits); absolute error at most 2^-134 for subnormal ones.
     */
    public static int toBfloat16(float value) {
        int bits = Float.floatToRawIntBits(value);
        int lowestKept = (bits >>> Short.SIZE) & 1;
        return (bits + 0x7FFF + lowestKept) >>> Short.SIZE;
    }

    /** The float whose high 16 bits are {@code bits} and low 16 bits zero: exact. */
    public static float fromBfloat16(int bits) {
        return Float.intBitsToFloat(bits << Short.SIZE);
    }

    /**
     * The INT8 scale of a row whose largest |w| is {@code largest}: the least float s with
     * {@code 127 * s >= largest}, so that every q fits in [-127, 127]; 0 for an all-zero row, whose q are all 0.
     */
    public static float int8Scale(float largest) {
        float scale = largest / INT8_LEVELS;
        while ((double) scale * INT8_LEVELS < largest) {
            scale = Math.nextUp(scale);
        }
        return scale;
    }

    /**
     * The integer q in [-127, 127] nearest to {@code value / scale} (ties to even), so that
     * {@code |value - q * scale| <= scale / 2} exactly; 0 if scale is 0.
     */
    public static int quantise(float value, float scale) {
        if (scale == 0) {
            return 0;
        }
        int q = (int) Math.rint(value / (double) scale);
        // The division rounds, so q may be off by one at a near-tie; the residual is exact in double.
        double residual = value - q * (double) scale;
        if (residual > scale / 2.0) {
            q++;
        } else if (residual < -scale / 2.0) {
            q--;
        }
        return q;
    }
}
