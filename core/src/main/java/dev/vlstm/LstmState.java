package dev.vlstm;

import java.lang.foreign.MemorySegment;

import dev.vlstm.kernel.GateLayout;

/**
 * The recurrent state (h and c, {@code [B][H]} each) that a stream carries from one {@link LstmRunner#step}
 * to the next, off-heap and padded to the kernel's block width. Starts at zero.
 *
 * <p>Belongs to one stream; not thread-safe. Two threads inside its methods at once (including
 * {@link LstmRunner#step} with this state) are detected: the second call throws an {@link IllegalStateException}
 * naming the state and both threads, and changes nothing. Owns its memory: {@link #close()} frees it.
 */
public final class LstmState implements AutoCloseable {

    private final OffHeap memory;
    private final GateLayout layout;
    private final int batch;
    private final MemorySegment cell;
    private final MemorySegment[] hidden = new MemorySegment[2];
    private int current;
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
        this.memory = OffHeap.open();
        try {
            long floats = (long) batch * layout.paddedHidden();
            this.cell = memory.floats(floats);
            this.hidden[0] = memory.floats(floats);
            this.hidden[1] = memory.floats(floats);
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
     * H: hidden units per sequence.
     *
     * @return H of the weights this state was made for, &ge; 1
     */
    public int hiddenSize() {
        return layout.hiddenSize();
    }

    /** Sets h and c back to zero. */
    public void reset() {
        inUse.enter("reset");
        try {
            checkOpen();
            cell.fill((byte) 0);
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
            copyIn(Checks.floats("h", h, "B", batch, "H", hiddenSize()), hidden[current]);
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
            copyIn(Checks.floats("c", c, "B", batch, "H", hiddenSize()), cell);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Sets h from a {@code [B][H]} float array.
     *
     * @param h exactly B·H floats, one row per sequence; copied
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
     * Copies h into {@code out}, {@code [B][H]} floats.
     *
     * @param out writable, exactly B·H floats (heap or native segment)
     * @throws IllegalArgumentException if {@code out} has another size or is read-only
     */
    public void copyHiddenTo(MemorySegment out) {
        inUse.enter("copyHiddenTo");
        try {
            checkOpen();
            copyOut(hidden[current], Checks.output("out", out, "B", batch, "H", hiddenSize()), 0, batch);
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
            copyOut(cell, Checks.output("out", out, "B", batch, "H", hiddenSize()), 0, batch);
        } finally {
            inUse.exit();
        }
    }

    /**
     * Returns h as a new {@code [B][H]} array.
     *
     * @return a copy of B·H floats; later steps do not change it
     */
    public float[] hidden() {
        float[] out = new float[Math.multiplyExact(batch, hiddenSize())];
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

    /** h at the current time, {@code [B][paddedHidden]}. */
    MemorySegment currentHidden() {
        return hidden[current];
    }

    /** Buffer that the next step writes h into. */
    MemorySegment nextHidden() {
        return hidden[1 - current];
    }

    /** c, updated in place by each step. */
    MemorySegment cellBuffer() {
        return cell;
    }

    /** Makes the buffer the last step wrote the current h. */
    void advance() {
        current = 1 - current;
    }

    /** Copies {@code [rows][H]} floats (all of {@code source}) into the first rows of a padded state buffer. */
    void copyIn(MemorySegment source, MemorySegment padded) {
        int rows = (int) (source.byteSize() / Float.BYTES / hiddenSize());
        PaddedRows.copyIn(source, 0, hiddenSize(), padded, 0, layout.paddedHidden(), rows);
    }

    /** Copies the first {@code rows} rows of a padded state buffer to {@code [rows][H]} floats at {@code offset}. */
    void copyOut(MemorySegment padded, MemorySegment target, long offset, int rows) {
        PaddedRows.copyOut(padded, 0, layout.paddedHidden(), target, offset, hiddenSize(), rows);
    }
}
