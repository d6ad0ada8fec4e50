package dev.vlstm;

import java.lang.foreign.MemorySegment;

import dev.vlstm.kernel.GateLayout;

/**
 * The recurrent state (h, {@code [B][H]}) that a GRU stream carries from one {@link GruRunner#step} to the next,
 * off-heap and padded to the kernel's block width. Starts at zero.
 *
 * <p>Belongs to one stream; not thread-safe. Two threads inside its methods at once (including
 * {@link GruRunner#step} with this state) are detected: the second call throws an {@link IllegalStateException}
 * naming the state and both threads, and changes nothing. Owns its memory: {@link #close()} frees it.
 */
public final class GruState implements AutoCloseable {

    private final OffHeap memory;
    private final GateLayout layout;
    private final int batch;
    private final MemorySegment[] hidden = new MemorySegment[2];
    private int current;
    private final ExclusiveUse inUse = new ExclusiveUse(this,
            "a GruState is one stream's state, used by one thread at a time");

    /**
     * Creates a zero state for {@code batch} sequences of a model with {@code weights}' shapes.
     *
     * @param weights open weights; the state fits their H and their kernel's padding (it keeps no reference to them)
     * @param batch   B, sequences stepped together, &ge; 1
     * @throws IllegalArgumentException if {@code batch} is &lt; 1
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public GruState(GruWeights weights, int batch) {
        Checks.notNull("weights", weights).checkOpen();
        this.layout = weights.layout();
        this.batch = Checks.positive("batch", batch);
        this.memory = OffHeap.open();
        try {
            long floats = (long) batch * layout.paddedHidden();
            this.hidden[0] = memory.floats(floats);
            this.hidden[1] = memory.floats(floats);
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    /** {@return B: sequences in this state, &ge; 1} */
    public int batch() {
        return batch;
    }

    /** {@return H: hidden units per sequence} */
    public int hiddenSize() {
        return layout.hiddenSize();
    }

    /** Sets h back to zero. */
    public void reset() {
        inUse.enter("reset");
        try {
            checkOpen();
            hidden[current].fill((byte) 0);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Sets h from {@code h}, {@code [B][H]} floats (heap or native segment).
     *
     * @param h exactly B·H floats, one row per sequence; only read during this call
     * @throws IllegalArgumentException if {@code h} holds another number of bytes
     */
    public void setHidden(MemorySegment h) {
        inUse.enter("setHidden");
        try {
            checkOpen();
            Checks.floats("h", h, "B", batch, "H", hiddenSize());
            PaddedRows.copyIn(h, 0, hiddenSize(), hidden[current], 0, layout.paddedHidden(), batch);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Sets h from a {@code [B][H]} float array.
     *
     * @param h exactly B·H floats, one row per sequence; copied
     * @throws IllegalArgumentException if {@code h} holds another number of floats
     */
    public void setHidden(float[] h) {
        setHidden(MemorySegment.ofArray(Checks.notNull("h", h)));
    }

    /**
     * Copies h into {@code out}, {@code [B][H]} floats.
     *
     * @param out writable, exactly B·H floats (heap or native segment)
     * @throws IllegalArgumentException if {@code out} has another size or is read-only
     */
    public void copyHiddenTo(MemorySegment out) {
        inUse.enter("copyHiddenTo");
        try {
            checkOpen();
            copyOut(Checks.output("out", out, "B", batch, "H", hiddenSize()), 0);
        } finally {
            inUse.exit();
        }
    }

    /** {@return h as a new {@code [B][H]} array, a copy that later steps do not change} */
    public float[] hidden() {
        float[] out = new float[Math.multiplyExact(batch, hiddenSize())];
        copyHiddenTo(MemorySegment.ofArray(out));
        return out;
    }

    /**
     * Frees the state. Closing twice is harmless.
     *
     * @throws IllegalStateException if another thread is using this state
     */
    @Override
    public void close() {
        inUse.enter("close");
        try {
            memory.close();
        } finally {
            inUse.exit();
        }
    }

    void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("this GruState is closed");
        }
    }

    ExclusiveUse inUse() {
        return inUse;
    }

    GateLayout layout() {
        return layout;
    }

    /** h at the current time, {@code [B][paddedHidden]}. */
    MemorySegment currentHidden() {
        return hidden[current];
    }

    /** Buffer that the next step writes h into. */
    MemorySegment nextHidden() {
        return hidden[1 - current];
    }

    /** Makes the buffer the last step wrote the current h. */
    void advance() {
        current = 1 - current;
    }

    /** Copies the B rows of the current h to {@code [B][H]} floats at {@code offset} bytes of {@code target}. */
    void copyOut(MemorySegment target, long offset) {
        PaddedRows.copyOut(hidden[current], 0, layout.paddedHidden(), target, offset, hiddenSize(), batch);
    }
}
