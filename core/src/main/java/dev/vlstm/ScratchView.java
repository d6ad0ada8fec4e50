package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * A scratch buffer allocated up front, seen through a view of exactly the size a call needs, for callees whose size
 * checks want exact sizes. The view is re-sliced only when that size changes, so that calls of one shape allocate
 * nothing. A view that need not be exact, for callees that use only the sizes they are given, is the whole buffer,
 * and no call allocates.
 */
final class ScratchView {

    private final MemorySegment buffer;
    private final boolean exact;
    private MemorySegment view;

    ScratchView(MemorySegment buffer) {
        this(buffer, true);
    }

    /** @param exact whether {@link #floats} gives exactly the size asked for, or else the whole buffer */
    ScratchView(MemorySegment buffer, boolean exact) {
        this.buffer = buffer;
        this.exact = exact;
        this.view = exact ? buffer.asSlice(0, 0) : buffer;
    }

    /** The first {@code count} floats of the buffer, or the whole buffer if this view need not be exact. */
    MemorySegment floats(long count) {
        long bytes = count * Float.BYTES;
        if (exact && view.byteSize() != bytes) {
            view = buffer.asSlice(0, bytes);
        }
        return view;
    }
}
