package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * The recurrent state of a stream through a unidirectional GRU stack: h of every layer ({@code [L][B][H]}, as
 * PyTorch's h_n), carried from one {@link GruStackRunner#step} to the next, and the output of each layer below the
 * top, which the layer above reads. Starts at zero.
 *
 * <p>A bidirectional model cannot be streamed: its reverse direction starts from the last time step, so it needs
 * the whole sequence ({@link GruStackRunner#forward}).
 *
 * <p>Belongs to one stream; not thread-safe. Owns its memory: {@link #close()} frees it.
 */
public final class GruStackState implements AutoCloseable {

    /** The engine's stream state, which this class's guard and messages name. */
    private final StreamState state;

    /**
     * A zero state for {@code batch} sequences of {@code weights}' model.
     *
     * @param weights an open, unidirectional model; the state fits its sizes and kernel (it keeps no reference to it)
     * @param batch   B, sequences stepped together, &ge; 1
     * @throws IllegalArgumentException if the model is bidirectional, or {@code batch} &lt; 1
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public GruStackState(GruStackWeights weights, int batch) {
        Checks.notNull("weights", weights).checkOpen();
        this.state = StreamState.gru(weights, batch, "GruStackState", this, "a GruStackState is one stream's state, used by one thread at"
                + " a time", "GruStackRunner");
    }

    /** {@return B: sequences in this state, &ge; 1} */
    public int batch() {
        return state.batch();
    }

    /** {@return the sizes of the model this state is for; always unidirectional} */
    public LstmStackShape shape() {
        return state.shape();
    }

    /** Sets every layer's h back to zero. */
    public void reset() {
        state.reset();
    }

    /**
     * Sets h of every layer from {@code h}, {@code [L][B][H]} floats (heap or native segment), as PyTorch's h_0.
     *
     * @param h exactly L·B·H floats, layer 0 first; only read during this call
     * @throws IllegalArgumentException if {@code h} holds another number of bytes
     */
    public void setHidden(MemorySegment h) {
        state.setHidden(h);
    }

    /**
     * Sets h of every layer from an {@code [L][B][H]} float array.
     *
     * @param h exactly L·B·H floats, layer 0 first; copied
     * @throws IllegalArgumentException if {@code h} holds another number of floats
     */
    public void setHidden(float[] h) {
        setHidden(MemorySegment.ofArray(Checks.notNull("h", h)));
    }

    /**
     * Copies h of every layer into {@code out}, {@code [L][B][H]} floats, as PyTorch's h_n.
     *
     * @param out writable, exactly L·B·H floats (heap or native segment)
     * @throws IllegalArgumentException if {@code out} has another size or is read-only
     */
    public void copyHiddenTo(MemorySegment out) {
        state.copyHiddenTo(out);
    }

    /** {@return h of every layer as a new {@code [L][B][H]} array, a copy that later steps do not change} */
    public float[] hidden() {
        float[] out = new float[Math.toIntExact((long) state.shape().layers() * state.batch()
                * state.shape().hiddenStateSize())];
        copyHiddenTo(MemorySegment.ofArray(out));
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
