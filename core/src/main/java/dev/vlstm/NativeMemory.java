package dev.vlstm;

/** How much off-heap memory vlstm holds: for a service's memory dashboard, and for leak checks. */
public final class NativeMemory {

    private NativeMemory() {
    }

    /**
     * Bytes of off-heap memory held by every open vlstm object in this JVM (weights, runners, states, trainers,
     * parameters, gradients, optimizer state); closing an object returns its bytes.
     *
     * @return bytes allocated and not yet freed, &ge; 0; a snapshot, as other threads may open or close objects
     */
    public static long liveBytes() {
        return OffHeap.liveBytes();
    }
}
