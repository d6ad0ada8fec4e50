package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * The recurrent state of a stream through a unidirectional stack: h and c of every layer ({@code [L][B][S]} and
 * {@code [L][B][H]}, S = P with projection, else H;
 * as PyTorch's h_n and c_n), carried from one {@link LstmStackRunner#step} to the next, and the hidden output of
 * each layer below the top, which the layer above reads. Starts at zero.
 *
 * <p>A bidirectional model cannot be streamed: its reverse direction starts from the last time step, so it needs
 * the whole sequence ({@link LstmStackRunner#forward}).
 *
 * <p>Belongs to one stream; not thread-safe. Owns its memory: {@link #close()} frees it.
 */
public final class LstmStackState implements AutoCloseable {

    /** The engine's stream state, which this class's guard and messages name. */
    private final StreamState state;

    /**
     * A zero state for {@code batch} sequences of {@code weights}' model.
     *
     * @param weights an open, unidirectional model; the state fits its sizes and kernel (it keeps no reference to it)
     * @param batch   B, sequences stepped together, &ge; 1
     * @throws IllegalArgumentException if the model is bidirectional, or {@code batch} &lt; 1
     */
    public LstmStackState(LstmStackWeights weights, int batch) {
        Checks.notNull("weights", weights).checkOpen();
        this.state = StreamState.lstm(weights, batch, "LstmStackState", this, "an LstmStackState is one stream's state, used by one thread at"
                + " a time", "LstmStackRunner");
    }

    /**
     * B: sequences in this state.
     *
     * @return B as given at construction, &ge; 1
     */
    public int batch() {
        return state.batch();
    }

    /**
     * The sizes of the model this state is for.
     *
     * @return the weights' shape, always unidirectional
     */
    public LstmStackShape shape() {
        return state.shape();
    }

    /** Sets every layer's h and c back to zero. */
    public void reset() {
        state.reset();
    }

    /**
     * Sets h of every layer from {@code h}, {@code [L][B][S]} floats (heap or native segment), as PyTorch's h_0.
     *
     * @param h exactly L·B·S floats, layer 0 first; only read during this call
     * @throws IllegalArgumentException if {@code h} holds another number of bytes
     */
    public void setHidden(MemorySegment h) {
        state.setHidden(h);
    }

    /**
     * Sets c of every layer from {@code c}, {@code [L][B][H]} floats, as PyTorch's c_0.
     *
     * @param c exactly L·B·H floats, layer 0 first; only read during this call
     * @throws IllegalArgumentException if {@code c} holds another number of bytes
     */
    public void setCell(MemorySegment c) {
        state.setCell(c);
    }

    /**
     * Sets h of every layer from an {@code [L][B][S]} float array.
     *
     * @param h exactly L·B·S floats, layer 0 first; copied
     */
    public void setHidden(float[] h) {
        setHidden(MemorySegment.ofArray(Checks.notNull("h", h)));
    }

    /**
     * Sets c of every layer from an {@code [L][B][H]} float array.
     *
     * @param c exactly L·B·H floats, layer 0 first; copied
     */
    public void setCell(float[] c) {
        setCell(MemorySegment.ofArray(Checks.notNull("c", c)));
    }

    /**
     * Copies h of every layer into {@code out}, {@code [L][B][S]} floats, as PyTorch's h_n.
     *
     * @param out writable, exactly L·B·S floats (heap or native segment)
     * @throws IllegalArgumentException if {@code out} has another size or is read-only
     */
    public void copyHiddenTo(MemorySegment out) {
        state.copyHiddenTo(out);
    }

    /**
     * Copies c of every layer into {@code out}, {@code [L][B][H]} floats, as PyTorch's c_n.
     *
     * @param out writable, exactly L·B·H floats (heap or native segment)
     * @throws IllegalArgumentException if {@code out} has another size or is read-only
     */
    public void copyCellTo(MemorySegment out) {
        state.copyCellTo(out);
    }

    /**
     * Returns h of every layer as a new {@code [L][B][S]} array.
     *
     * @return a copy of L·B·S floats, layer 0 first; later steps do not change it
     */
    public float[] hidden() {
        float[] out = new float[Math.toIntExact((long) state.shape().layers() * state.batch()
                * state.shape().hiddenStateSize())];
        copyHiddenTo(MemorySegment.ofArray(out));
        return out;
    }

    /**
     * Returns c of every layer as a new {@code [L][B][H]} array.
     *
     * @return a copy of L·B·H floats, layer 0 first; later steps do not change it
     */
    public float[] cell() {
        float[] out = new float[Math.toIntExact((long) state.shape().layers() * state.batch()
                * state.shape().hiddenSize())];
        copyCellTo(MemorySegment.ofArray(out));
        return out;
    }

    /** Frees the state. Closing twice is harmless. */
    @Override
    public void close() {
        state.close();
    }

    /** {@return the engine's state of this stream, which the stack runners step} */
    StreamState stream() {
        return state;
    }
}
