package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * How a packed weight matrix stores its values, within the blocked layout of {@link GateLayout}
 * ({@code [block][k][gate][lane]}). Each (block, k) group holds the four gates' weights of the block's
 * {@code lanes} hidden units:
 * <ul>
 *   <li>{@link #FLOAT32}: {@code [gate][lane]} floats, as {@link GateLayout#packWeights} writes them;</li>
 *   <li>{@link #BFLOAT16}: {@code [gate pair (i,f), (g,o)][lane]} ints, each holding two bfloat16 values: the
 *       first gate of the pair in the low 16 bits, the second in the high 16 bits. A vector load of ints then
 *       widens to the two gates' float vectors with one shift and one mask, no cross-lane shuffle;</li>
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

    /** Bytes of one (block, k) group: the four gates of {@code lanes} hidden units. */
    public long groupBytes(int lanes) {
        return switch (this) {
            case FLOAT32 -> (long) GateLayout.GATES * lanes * Float.BYTES;
            case BFLOAT16 -> (long) GateLayout.GATES * lanes * Short.BYTES;
            case INT8 -> (long) GateLayout.GATES * lanes;
        };
    }

    /** Bytes before the first panel: the gate row of scales for {@link #INT8}, nothing otherwise. */
    public long scaleBytes(GateLayout layout) {
        return scaled() ? (long) layout.gateRowFloats() * Float.BYTES : 0;
    }

    /** Bytes of one block's panel for a matrix with {@code depth} columns. */
    public long panelBytes(GateLayout layout, int depth) {
        return depth * groupBytes(layout.lanes());
    }

    /** Bytes of a whole packed matrix with {@code depth} columns, scales included; a multiple of 4. */
    public long packedBytes(GateLayout layout, int depth) {
        return scaleBytes(layout) + layout.blocks() * panelBytes(layout, depth);
    }

    /**
     * Repacks a PyTorch-layout gate matrix {@code [4H][depth]} (row-major floats, gate order i,f,g,o, all finite)
     * into {@code packed}, which must hold {@link #packedBytes} bytes (zero-filled for {@link #FLOAT32}).
     *
     * @param name tensor name for error messages
     * @throws IllegalArgumentException for {@link #BFLOAT16}, if a weight is beyond bfloat16's largest finite value
     */
    public void pack(GateLayout layout, String name, MemorySegment source, int depth, MemorySegment packed) {
        switch (this) {
            case FLOAT32 -> layout.packWeights(source, depth, packed);
            case BFLOAT16 -> {
                packed.fill((byte) 0);
                packBfloat16(layout, name, source, depth, packed);
            }
            case INT8 -> {
                packed.fill((byte) 0);
                packInt8(layout, source, depth, packed);
            }
        }
    }

    private void packBfloat16(GateLayout layout, String name, MemorySegment source, int depth, MemorySegment packed) {
        int lanes = layout.lanes();
        int hidden = layout.hiddenSize();
        for (int gate = 0; gate < GateLayout.GATES; gate++) {
            for (int unit = 0; unit < hidden; unit++) {
                long row = (long) (gate * hidden + unit) * depth;
                for (int k = 0; k < depth; k++) {
                    float value = source.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, row + k);
                    int bits = toBfloat16(value);
                    if (Float.isInfinite(fromBfloat16(bits))) {
                        throw new IllegalArgumentException(name + "[" + (gate * hidden + unit) + "][" + k + "] is "
                                + value + ", beyond bfloat16's largest finite value " + fromBfloat16(0x7F7F));
                    }
                    long at = intIndex(layout, depth, unit / lanes, k, gate / 2, unit % lanes);
                    int shift = gate % 2 == 0 ? 0 : Short.SIZE;
                    packed.setAtIndex(INT, at, packed.getAtIndex(INT, at) | bits << shift);
                }
            }
        }
    }

    private void packInt8(GateLayout layout, MemorySegment source, int depth, MemorySegment packed) {
        int lanes = layout.lanes();
        int hidden = layout.hiddenSize();
        for (int gate = 0; gate < GateLayout.GATES; gate++) {
            for (int unit = 0; unit < hidden; unit++) {
                long row = (long) (gate * hidden + unit) * depth;
                float largest = 0;
                for (int k = 0; k < depth; k++) {
                    largest = Math.max(largest, Math.abs(source.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, row + k)));
                }
                float scale = int8Scale(largest);
                packed.setAtIndex(FLOAT, layout.gateIndex(gate, unit), scale);
                for (int k = 0; k < depth; k++) {
                    int q = quantise(source.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, row + k), scale);
                    packed.set(BYTE, int8Offset(layout, depth, unit / lanes, k, gate, unit % lanes),
                            (byte) q);
                }
            }
        }
    }

    /**
     * The value a kernel multiplies by input k for gate {@code gate} of lane {@code lane} of block {@code block}:
     * the weight (FLOAT32), the bfloat16 weight widened to float (BFLOAT16), or q (INT8).
     */
    public float operand(MemorySegment packed, GateLayout layout, int depth, int block, int k, int gate, int lane) {
        return switch (this) {
            case FLOAT32 -> packed.getAtIndex(FLOAT,
                    block * layout.panelFloats(depth) + ((long) k * GateLayout.GATES + gate) * layout.lanes() + lane);
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
    private long intIndex(GateLayout layout, int depth, int block, int k, int pair, int lane) {
        long pairs = GateLayout.GATES / 2;
        return block * panelBytes(layout, depth) / Integer.BYTES + ((long) k * pairs + pair) * layout.lanes() + lane;
    }

    /** Offset, in bytes, of INT8's q for gate {@code gate} of lane {@code lane}. */
    private long int8Offset(GateLayout layout, int depth, int block, int k, int gate, int lane) {
        return scaleBytes(layout) + block * panelBytes(layout, depth) + k * groupBytes(layout.lanes())
                + (long) gate * layout.lanes() + lane;
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
