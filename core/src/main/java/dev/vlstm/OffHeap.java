package dev.vlstm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The library's own off-heap memory, one per owner (weights, runner, state, trainer, tensors): a shared arena whose
 * zeroed, cache-line aligned float buffers are counted in {@link NativeMemory#liveBytes()} until it is closed.
 */
final class OffHeap implements AutoCloseable {

    /** A cache line, and the width of an AVX-512 vector: aligned vector loads never split a line. */
    static final long ALIGNMENT = 64;
    private static final AtomicLong LIVE_BYTES = new AtomicLong();

    private final Arena arena = Arena.ofShared();
    private long bytes;

    private OffHeap() {
    }

    static OffHeap open() {
        return new OffHeap();
    }

    /** A zeroed buffer of {@code floats} floats, 64-byte aligned; for the owner's constructor. */
    MemorySegment floats(long floats) {
        long size = Math.multiplyExact(floats, (long) Float.BYTES);
        MemorySegment segment = arena.allocate(size, ALIGNMENT);
        bytes += size;
        LIVE_BYTES.addAndGet(size);
        return segment;
    }

    boolean isOpen() {
        return arena.scope().isAlive();
    }

    /** Frees every buffer. Closing twice is harmless. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
            LIVE_BYTES.addAndGet(-bytes);
        }
    }

    static long liveBytes() {
        return LIVE_BYTES.get();
    }
}
