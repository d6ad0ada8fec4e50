package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Argument checks shared by the public API, each failing with a message that names the argument. */
final class Checks {

    private Checks() {
    }

    static int positive(String name, int value) {
        if (value < 1) {
            throw new IllegalArgumentException(name + " must be >= 1, got " + value);
        }
        return value;
    }

    /**
     * Checks that {@code segment} is open and holds exactly {@code floats} floats; {@code shape} describes the
     * expected layout for the message, e.g. {@code "[T=3][B=2][I=5]"}.
     */
    static MemorySegment floats(String name, MemorySegment segment, long floats, String shape) {
        if (segment == null) {
            throw new NullPointerException(name + " must not be null (expected " + shape + " floats)");
        }
        if (!segment.scope().isAlive()) {
            throw new IllegalStateException(name + ": the arena of this segment is already closed");
        }
        long expectedBytes = floats * Float.BYTES;
        if (segment.byteSize() != expectedBytes) {
            throw new IllegalArgumentException(name + " must hold " + shape + " = " + floats + " floats ("
                    + expectedBytes + " bytes), but it holds " + describeSize(segment.byteSize()));
        }
        return segment;
    }

    /** As {@link #floats} but {@code null} is allowed and returned as is. */
    static MemorySegment optionalFloats(String name, MemorySegment segment, long floats, String shape) {
        return segment == null ? null : floats(name, segment, floats, shape);
    }

    /** Throws if any element is NaN or infinite, naming the tensor and the element as {@code name[row][column]}. */
    static void finite(String name, MemorySegment segment, int columns) {
        long count = segment.byteSize() / Float.BYTES;
        for (long index = 0; index < count; index++) {
            float value = segment.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, index);
            if (!Float.isFinite(value)) {
                String where = columns > 0 ? "[" + index / columns + "][" + index % columns + "]" : "[" + index + "]";
                throw new IllegalArgumentException(name + where + " is " + value
                        + ": weights must be finite (flat index " + index + ")");
            }
        }
    }

    private static String describeSize(long bytes) {
        return bytes % Float.BYTES == 0 ? bytes / Float.BYTES + " floats (" + bytes + " bytes)"
                : bytes + " bytes, not a whole number of floats";
    }
}
