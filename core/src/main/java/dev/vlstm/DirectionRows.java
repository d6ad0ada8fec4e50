package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The copies that join the directions of a layer, in the call's layout ({@link VariableLengths}): each sequence
 * reversed in time within its own length, for the reverse direction (as PyTorch reverses each packed sequence, so
 * that the reverse direction starts at the sequence's last valid step, not in the padding); and a direction's rows
 * of H floats into its H columns of the layer's rows of D·H floats and back, in time order or reversed. Rows past a
 * sequence's end are zero in the layer's output and never read elsewhere.
 */
final class DirectionRows {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;

    private DirectionRows() {
    }

    /** {@code target(t, b) = source(L_b-1-t, b)} for t &lt; L_b, rows of {@code rowBytes}; padding rows untouched. */
    static void reverseSequences(MemorySegment source, MemorySegment target, VariableLengths call, long rowBytes) {
        for (int b = 0; b < call.batch(); b++) {
            int length = call.length(b);
            for (int t = 0; t < length; t++) {
                MemorySegment.copy(source, call.row(length - 1 - t, b) * rowBytes, target, call.row(t, b) * rowBytes,
                        rowBytes);
            }
        }
    }

    /** {@code target(t, b) += source(L_b-1-t, b)} for t &lt; L_b, element by element, rows of {@code rowFloats}. */
    static void addReversedSequences(MemorySegment source, MemorySegment target, VariableLengths call, long rowFloats) {
        for (int b = 0; b < call.batch(); b++) {
            int length = call.length(b);
            for (int t = 0; t < length; t++) {
                long from = call.row(length - 1 - t, b) * rowFloats;
                long to = call.row(t, b) * rowFloats;
                for (long n = 0; n < rowFloats; n++) {
                    target.setAtIndex(FLOAT, to + n,
                            target.getAtIndex(FLOAT, to + n) + source.getAtIndex(FLOAT, from + n));
                }
            }
        }
    }

    /**
     * Copies a direction's rows of H floats into columns {@code [column·H, (column+1)·H)} of the layer's rows of
     * D·H floats, each sequence reversed within its length if {@code reversed}; zeros past each sequence's end.
     */
    static void intoLayer(MemorySegment direction, MemorySegment layer, VariableLengths call, int hidden,
                          int directions, int column, boolean reversed) {
        long rowBytes = (long) hidden * Float.BYTES;
        for (int b = 0; b < call.batch(); b++) {
            int length = call.length(b);
            for (int t = 0; t < call.steps(); t++) {
                long target = (call.row(t, b) * directions + column) * hidden;
                if (t < length) {
                    long source = call.row(reversed ? length - 1 - t : t, b) * rowBytes;
                    MemorySegment.copy(direction, source, layer, target * Float.BYTES, rowBytes);
                } else {
                    for (int n = 0; n < hidden; n++) {
                        layer.setAtIndex(FLOAT, target + n, 0f);
                    }
                }
            }
        }
    }

    /**
     * The inverse of {@link #intoLayer} within each sequence's length: a direction's columns of the layer's rows
     * into rows of H floats. Rows past a sequence's end are not written.
     */
    static void fromLayer(MemorySegment layer, MemorySegment direction, VariableLengths call, int hidden,
                          int directions, int column, boolean reversed) {
        long rowBytes = (long) hidden * Float.BYTES;
        for (int b = 0; b < call.batch(); b++) {
            int length = call.length(b);
            for (int t = 0; t < length; t++) {
                long target = call.row(reversed ? length - 1 - t : t, b) * rowBytes;
                MemorySegment.copy(layer, (call.row(t, b) * directions + column) * rowBytes, direction, target,
                        rowBytes);
            }
        }
    }
}
