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
    private final LayerState state;
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
            this.state = new LayerState(memory, batch, false, layout.hiddenSize(), layout.paddedHidden(),
                    layout.hiddenSize(), layout.paddedHidden());
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
            state.reset();
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
            state.copyHiddenIn(Checks.floats("h", h, "B", batch, "H", hiddenSize()), 0, batch);
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
            state.copyHiddenOut(Checks.output("out", out, "B", batch, "H", hiddenSize()), 0, batch);
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

    /** The buffers the runner's steps read and write. */
    LayerState buffers() {
        return state;
    }
}
