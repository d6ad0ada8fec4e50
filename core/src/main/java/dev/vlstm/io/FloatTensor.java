package dev.vlstm.io;

import java.util.Arrays;

/**
 * A float tensor in memory: its shape and its values in row-major order; a 0-d tensor has one value.
 *
 * @param shape the dimensions, outermost first, each &ge; 0; empty for a 0-d tensor; held, not copied
 * @param data  the values, row-major, as many as the product of {@code shape}; held, not copied
 */
public record FloatTensor(long[] shape, float[] data) {

    /**
     * Checks that {@code data} fills {@code shape} exactly.
     *
     * @throws IllegalArgumentException if a dimension is negative or the data do not fill the shape exactly
     */
    public FloatTensor {
        if (shape == null || data == null) {
            throw new NullPointerException("shape and data must not be null");
        }
        long count = 1;
        for (long dimension : shape) {
            if (dimension < 0) {
                throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(shape));
            }
            count = Math.multiplyExact(count, dimension);
        }
        if (count != data.length) {
            throw new IllegalArgumentException("shape " + Arrays.toString(shape) + " holds " + count
                    + " values, the data " + data.length);
        }
    }
}
