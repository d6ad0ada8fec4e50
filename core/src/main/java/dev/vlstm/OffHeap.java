package dev.vlstm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Allocation of the library's own off-heap buffers: zeroed, cache-line aligned floats. */
final class OffHeap {

    /** A cache line, and the width of an AVX-512 vector: aligned vector loads never split a line. */
    static final long ALIGNMENT = 64;

    private OffHeap() {
    }

    /** A zeroed buffer of {@code floats} floats from {@code arena}, 64-byte aligned. */
    static MemorySegment floats(Arena arena, long floats) {
        return arena.allocate(Math.multiplyExact(floats, (long) Float.BYTES), ALIGNMENT);
    }
}
