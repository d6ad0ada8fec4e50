package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The copies that join the directions of a layer (time-major rows throughout): time reversal of whole steps, for the
 * reverse direction, which runs over the time-reversed sequence; and a direction's {@code [T][B][H]} rows into its H
 * columns of the layer's {@code [T][B][D·H]} rows and back, in time order or reversed.
 */
final class DirectionRows {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private DirectionRows() {
    }

    /** {@code target[t] = source[T-1-t]} for steps of {@code stepBytes}. */
    static void reverseSteps(MemorySegment source, MemorySegment target, int steps, long stepBytes) {
        for (int t = 0; t < steps; t++) {
            MemorySegment.copy(source, (long) (steps - 1 - t) * stepBytes, target, t * stepBytes, stepBytes);
        }
    }

    /** {@code target[t] += source[T-1-t]}, element by element, for steps of {@code stepFloats}. */
    static void addReversedSteps(MemorySegment source, MemorySegment target, int steps, long stepFloats) {
        for (int t = 0; t < steps; t++) {
            long from = (long) (steps - 1 - t) * stepFloats;
            long to = t * stepFloats;
            for (long n = 0; n < stepFloats; n++) {
                target.setAtIndex(FLOAT, to + n, target.getAtIndex(FLOAT, to + n) + source.getAtIndex(FLOAT, from + n));
            }
        }
    }

    /**
     * Copies a direction's rows {@code [T][B][H]} into columns {@code [column·H, (column+1)·H)} of the layer's
     * {@code [T][B][D·H]} rows; from step T-1-t into step t if {@code reversed}.
     */
    static void intoLayer(MemorySegment direction, MemorySegment layer, int steps, int batch, int hidden,
                          int directions, int column, boolean reversed) {
        long rowBytes = (long) hidden * Float.BYTES;
        for (int t = 0; t < steps; t++) {
            int source = reversed ? steps - 1 - t : t;
            for (int b = 0; b < batch; b++) {
                MemorySegment.copy(direction, ((long) source * batch + b) * rowBytes, layer,
                        (((long) t * batch + b) * directions + column) * rowBytes, rowBytes);
            }
        }
    }

    /** The inverse of {@link #intoLayer}: a direction's columns of the layer's rows into {@code [T][B][H]}. */
    static void fromLayer(MemorySegment layer, MemorySegment direction, int steps, int batch, int hidden,
                          int directions, int column, boolean reversed) {
        long rowBytes = (long) hidden * Float.BYTES;
        for (int t = 0; t < steps; t++) {
            int target = reversed ? steps - 1 - t : t;
            for (int b = 0; b < batch; b++) {
                MemorySegment.copy(layer, (((long) t * batch + b) * directions + column) * rowBytes, direction,
                        ((long) target * batch + b) * rowBytes, rowBytes);
            }
        }
    }
}
