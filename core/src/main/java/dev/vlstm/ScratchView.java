package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * A scratch buffer allocated up front, seen through a view of exactly the size a call needs (the API's size checks
 * want exact sizes). The view is re-sliced only when that size changes, so that calls of one shape allocate nothing.
 */
final class ScratchView {

    private final MemorySegment buffer;
    private MemorySegment view;

    ScratchView(MemorySegment buffer) {
        this.buffer = buffer;
        this.view = buffer.asSlice(0, 0);
    }

    /** The first {@code count} floats of the buffer. */
    MemorySegment floats(long count) {
        long bytes = count * Float.BYTES;
        if (view.byteSize() != bytes) {
            view = buffer.asSlice(0, bytes);
        }
        return view;
    }
}
