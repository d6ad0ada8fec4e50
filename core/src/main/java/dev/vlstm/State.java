package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * The state of B streams of a unidirectional {@link Model}, carried from one {@link Runner#step} to the next: h
 * {@code [L][B][S]} (every layer's last h, layer 0 first; S = P with projection, else H) and, for an LSTM, c
 * {@code [L][B][H]}. One type for LSTM and GRU: a GRU's state has no c, and its cell methods throw. Made by
 * {@link Model#newState(int)}, zero at first. Holds off-heap memory: {@link #close()} frees it.
 *
 * <p>Not thread-safe: a state is one stream group's, used by one thread at a time. Layouts are row-major floats in
 * native byte order.
 */
public final class State implements AutoCloseable {

    private final RnnShape shape;
    private final StreamState stream;
    private boolean open = true;

    State(RnnShape shape, StreamState stream) {
        this.shape = shape;
        this.stream = stream;
    }

    /** {@return B, the streams in this state, &ge; 1} */
    public int batch() {
        return stream.batch();
    }

    /** {@return the sizes of the model this state was made for} */
    public RnnShape shape() {
        return shape;
    }

    /**
     * Sets h and (for an LSTM) c to zero, the state of a stream that has not started.
     *
     * @throws IllegalStateException if this state is closed
     */
    public void reset() {
        stream().reset();
    }

    /**
     * Sets h to {@code h}.
     *
     * @param h {@code [L][B][S]}: exactly L·B·S floats, layer 0 first; only read during this call
     * @throws IllegalArgumentException if {@code h} holds another number of floats
     * @throws IllegalStateException    if this state is closed
     */
    public void setHidden(MemorySegment h) {
        stream().setHidden(h);
    }

    /**
     * Float-array form of {@link #setHidden(MemorySegment)}.
     *
     * @param h {@code [L][B][S]}: exactly L·B·S floats; copied
     * @throws IllegalArgumentException as the MemorySegment form
     * @throws IllegalStateException    as the MemorySegment form
     */
    public void setHidden(float[] h) {
        setHidden(MemorySegment.ofArray(Checks.notNull("h", h)));
    }

    /**
     * Sets an LSTM's c to {@code c}.
     *
     * @param c {@code [L][B][H]}: exactly L·B·H floats, layer 0 first; only read during this call
     * @throws IllegalArgumentException      if {@code c} holds another number of floats
     * @throws IllegalStateException         if this state is closed
     * @throws UnsupportedOperationException for a GRU's state, which has no c
     */
    public void setCell(MemorySegment c) {
        stream().setCell(c);
    }

    /**
     * Float-array form of {@link #setCell(MemorySegment)}.
     *
     * @param c {@code [L][B][H]}: exactly L·B·H floats; copied
     * @throws IllegalArgumentException      as the MemorySegment form
     * @throws IllegalStateException         as the MemorySegment form
     * @throws UnsupportedOperationException as the MemorySegment form
     */
    public void setCell(float[] c) {
        setCell(MemorySegment.ofArray(Checks.notNull("c", c)));
    }

    /**
     * Copies h into {@code out}.
     *
     * @param out writable, {@code [L][B][S]}: exactly L·B·S floats
     * @throws IllegalArgumentException if {@code out} has another size or is read-only
     * @throws IllegalStateException    if this state is closed
     */
    public void copyHiddenTo(MemorySegment out) {
        stream().copyHiddenTo(out);
    }

    /**
     * Copies an LSTM's c into {@code out}.
     *
     * @param out writable, {@code [L][B][H]}: exactly L·B·H floats
     * @throws IllegalArgumentException      if {@code out} has another size or is read-only
     * @throws IllegalStateException         if this state is closed
     * @throws UnsupportedOperationException for a GRU's state, which has no c
     */
    public void copyCellTo(MemorySegment out) {
        stream().copyCellTo(out);
    }

    /**
     * {@return a copy of h, {@code [L][B][S]}}
     *
     * @throws IllegalStateException if this state is closed
     */
    public float[] hidden() {
        float[] h = new float[shape.layers() * batch() * shape.hiddenStateSize()];
        copyHiddenTo(MemorySegment.ofArray(h));
        return h;
    }

    /**
     * {@return a copy of an LSTM's c, {@code [L][B][H]}}
     *
     * @throws IllegalStateException         if this state is closed
     * @throws UnsupportedOperationException for a GRU's state, which has no c
     */
    public float[] cell() {
        float[] c = new float[shape.layers() * batch() * shape.hiddenSize()];
        copyCellTo(MemorySegment.ofArray(c));
        return c;
    }

    /** Frees this state's memory. Closing twice is harmless. */
    @Override
    public void close() {
        open = false;
        stream.close();
    }

    /** The driver's state, for the runner's calls; refuses a closed state in this type's words. */
    StreamState stream() {
        if (!open) {
            throw new IllegalStateException("this State is closed");
        }
        return stream;
    }
}
