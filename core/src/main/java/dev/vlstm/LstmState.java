package dev.vlstm;

import java.lang.foreign.MemorySegment;

import dev.vlstm.kernel.GateLayout;

/**
 * The recurrent state (h and c, {@code [B][H]} each) that a stream carries from one {@link LstmRunner#step}
 * to the next, off-heap and padded to the kernel's block width. Starts at zero. For weights with PyTorch's
 * projection ({@link LstmWeights#projectionSize()} = P), h is {@code [B][P]} and c stays {@code [B][H]}.
 *
 * <p>Belongs to one stream; not thread-safe. Two threads inside its methods at once (including
 * {@link LstmRunner#step} with this state) are detected: the second call throws an {@link IllegalStateException}
 * naming the state and both threads, and changes nothing. Owns its memory: {@link #close()} frees it.
 */
public final class LstmState implements AutoCloseable {

    private final OffHeap memory;
    private final GateLayout layout;
    private final int batch;
    /** P of the weights, or 0 without projection. */
    private final int projectionSize;
    /** Values per row of h: P or H. */
    private final int outputSize;
    /** Floats between rows of h: the projection GEMM's output row, or paddedHidden without projection. */
    private final LayerState state;
    private final ExclusiveUse inUse = new ExclusiveUse(this,
            "an LstmState is one stream's state, used by one thread at a time");

    /**
     * Creates a zero state for {@code batch} sequences of a model with {@code weights}' shapes.
     *
     * @param weights open weights; the state fits their H and their kernel's padding (it keeps no reference to them)
     * @param batch   B, sequences stepped together, &ge; 1
     * @throws IllegalStateException if {@code weights} is closed
     */
    public LstmState(LstmWeights weights, int batch) {
        Checks.notNull("weights", weights).checkOpen();
        this.layout = weights.layout();
        this.batch = Checks.positive("batch", batch);
        this.projectionSize = weights.projectionSize();
        this.outputSize = weights.outputSize();
        this.memory = OffHeap.open();
        try {
            this.state = new LayerState(memory, batch, true, outputSize,
                    projectionSize > 0 ? weights.projectionLayout().gateRowFloats() : layout.paddedHidden(),
                    layout.hiddenSize(), layout.paddedHidden());
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    /**
     * B: sequences in this state.
     *
     * @return B as given at construction, &ge; 1
     */
    public int batch() {
        return batch;
    }

    /**
     * H: hidden units per sequence, the width of c.
     *
     * @return H of the weights this state was made for, &ge; 1
     */
    public int hiddenSize() {
        return layout.hiddenSize();
    }

    /**
     * The width of h: P for weights with projection, H without.
     *
     * @return values per row of h, &ge; 1
     */
    public int outputSize() {
        return outputSize;
    }

    /**
     * P: PyTorch's {@code proj_size} of the weights this state was made for.
     *
     * @return P, or 0 without projection
     */
    public int projectionSize() {
        return projectionSize;
    }

    /** Sets h and c back to zero. */
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
     * Sets h from {@code h}, {@code [B][H]} floats ({@code [B][P]} with projection; heap or native segment).
     *
     * @param h exactly B·{@link #outputSize()} floats, one row per sequence; only read during this call
     * @throws IllegalArgumentException if {@code h} holds another number of bytes
     */
    public void setHidden(MemorySegment h) {
        inUse.enter("setHidden");
        try {
            checkOpen();
            state.copyHiddenIn(Checks.floats("h", h, "B", batch, outputName(), outputSize), 0, batch);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Sets c from {@code c}, {@code [B][H]} floats (heap or native segment).
     *
     * @param c exactly B·H floats, one row per sequence; only read during this call
     * @throws IllegalArgumentException if {@code c} holds another number of bytes
     */
    public void setCell(MemorySegment c) {
        inUse.enter("setCell");
        try {
            checkOpen();
            state.copyCellIn(Checks.floats("c", c, "B", batch, "H", hiddenSize()), 0, batch);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Sets h from a {@code [B][H]} float array ({@code [B][P]} with projection).
     *
     * @param h exactly B·{@link #outputSize()} floats, one row per sequence; copied
     */
    public void setHidden(float[] h) {
        setHidden(MemorySegment.ofArray(Checks.notNull("h", h)));
    }

    /**
     * Sets c from a {@code [B][H]} float array.
     *
     * @param c exactly B·H floats, one row per sequence; copied
     */
    public void setCell(float[] c) {
        setCell(MemorySegment.ofArray(Checks.notNull("c", c)));
    }

    /**
     * Copies h into {@code out}, {@code [B][H]} floats ({@code [B][P]} with projection).
     *
     * @param out writable, exactly B·{@link #outputSize()} floats (heap or native segment)
     * @throws IllegalArgumentException if {@code out} has another size or is read-only
     */
    public void copyHiddenTo(MemorySegment out) {
        inUse.enter("copyHiddenTo");
        try {
            checkOpen();
            state.copyHiddenOut(Checks.output("out", out, "B", batch, outputName(), outputSize), 0, batch);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Copies c into {@code out}, {@code [B][H]} floats.
     *
     * @param out writable, exactly B·H floats (heap or native segment)
     * @throws IllegalArgumentException if {@code out} has another size or is read-only
     */
    public void copyCellTo(MemorySegment out) {
        inUse.enter("copyCellTo");
        try {
            checkOpen();
            state.copyCellOut(Checks.output("out", out, "B", batch, "H", hiddenSize()), 0, batch);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Returns h as a new {@code [B][H]} array ({@code [B][P]} with projection).
     *
     * @return a copy of B·{@link #outputSize()} floats; later steps do not change it
     */
    public float[] hidden() {
        float[] out = new float[Math.multiplyExact(batch, outputSize)];
        copyHiddenTo(MemorySegment.ofArray(out));
        return out;
    }

    /**
     * Returns c as a new {@code [B][H]} array.
     *
     * @return a copy of B·H floats; later steps do not change it
     */
    public float[] cell() {
        float[] out = new float[Math.multiplyExact(batch, hiddenSize())];
        copyCellTo(MemorySegment.ofArray(out));
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
            throw new IllegalStateException("this LstmState is closed");
        }
    }

    /** The guard that {@link LstmRunner#step} holds while it advances this state. */
    ExclusiveUse inUse() {
        return inUse;
    }

    GateLayout layout() {
        return layout;
    }

    /** The name of h's width in messages: "P" with projection, "H" without. */
    String outputName() {
        return projectionSize > 0 ? "P" : "H";
    }

    /** The buffers the runner's steps read and write. */
    LayerState buffers() {
        return state;
    }
}
