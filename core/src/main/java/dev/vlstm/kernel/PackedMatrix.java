package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;

/**
 * A weight matrix packed once for the {@link PackedGemm}: {@code data} holds {@code [block][k < depth][gate][lane]}
 * in {@code format} (INT8's scales in front, {@link WeightFormat}), for the blocks and gates of {@code layout}.
 *
 * @param data   the packed values, native, at least {@code format.packedBytes(layout, depth)} bytes
 * @param format how the values are stored
 * @param layout the gates, blocks and lanes of the packing
 * @param depth  columns of the matrix (k), &ge; 1
 */
public record PackedMatrix(MemorySegment data, WeightFormat format, GateLayout layout, int depth) {

    /**
     * Checks that {@code data} holds the whole packing.
     *
     * @throws IllegalArgumentException if {@code depth} is &lt; 1 or {@code data} is too small
     */
    public PackedMatrix {
        if (depth < 1) {
            throw new IllegalArgumentException("depth must be >= 1, got " + depth);
        }
        if (data.byteSize() < format.packedBytes(layout, depth)) {
            throw new IllegalArgumentException("a " + format + " packing of " + layout + " at depth " + depth
                    + " needs " + format.packedBytes(layout, depth) + " bytes, got " + data.byteSize());
        }
    }
}
