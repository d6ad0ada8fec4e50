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

    private final LstmStackShape shape;
    private final int batch;
    private final GruState[] layers;
    /** {@code [B][H]} outputs of layers 0 .. L-2 at the last step: the inputs of the layers above. */
    private final MemorySegment[] layerOutputs;
    private final OffHeap memory;
    private final StackDrivers.Stream stream = new StackDrivers.GruStream(this);
    private final ExclusiveUse inUse = new ExclusiveUse(this,
            "a GruStackState is one stream's state, used by one thread at a time");

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
        this.shape = weights.shape();
        if (shape.bidirectional()) {
            throw new IllegalArgumentException("a bidirectional model cannot be streamed step by step: its reverse "
                    + "direction reads the sequence from the last step back, so it needs the whole sequence (use "
                    + "GruStackRunner.forward)");
        }
        this.batch = Checks.positive("batch", batch);
        this.layers = new GruState[shape.layers()];
        this.layerOutputs = new MemorySegment[shape.layers() - 1];
        this.memory = OffHeap.open();
        try {
            for (int layer = 0; layer < layers.length; layer++) {
                layers[layer] = new GruState(weights.part(layer), batch);
            }
            for (int layer = 0; layer < layerOutputs.length; layer++) {
                layerOutputs[layer] = memory.floats((long) batch * shape.hiddenSize());
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /** {@return B: sequences in this state, &ge; 1} */
    public int batch() {
        return batch;
    }

    /** {@return the sizes of the model this state is for; always unidirectional} */
    public LstmStackShape shape() {
        return shape;
    }

    /** Sets every layer's h back to zero. */
    public void reset() {
        inUse.enter("reset");
        try {
            checkOpen();
            for (GruState layer : layers) {
                layer.reset();
            }
        } finally {
            inUse.exit();
        }
    }

    /**
     * Sets h of every layer from {@code h}, {@code [L][B][H]} floats (heap or native segment), as PyTorch's h_0.
     *
     * @param h exactly L·B·H floats, layer 0 first; only read during this call
     * @throws IllegalArgumentException if {@code h} holds another number of bytes
     */
    public void setHidden(MemorySegment h) {
        inUse.enter("setHidden");
        try {
            checkOpen();
            Checks.floats("h", h, "L", layers.length, "B", batch, "H", shape.hiddenSize());
            for (int layer = 0; layer < layers.length; layer++) {
                layers[layer].setHidden(h.asSlice(layer * hiddenBytes(), hiddenBytes()));
            }
        } finally {
            inUse.exit();
        }
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
        inUse.enter("copyHiddenTo");
        try {
            checkOpen();
            Checks.output("out", out, "L", layers.length, "B", batch, "H", shape.hiddenSize());
            for (int layer = 0; layer < layers.length; layer++) {
                layers[layer].copyHiddenTo(out.asSlice(layer * hiddenBytes(), hiddenBytes()));
            }
        } finally {
            inUse.exit();
        }
    }

    /** {@return h of every layer as a new {@code [L][B][H]} array, a copy that later steps do not change} */
    public float[] hidden() {
        float[] out = new float[Math.toIntExact(layers.length * hiddenBytes() / Float.BYTES)];
        copyHiddenTo(MemorySegment.ofArray(out));
        return out;
    }

    /** Frees the state. Closing twice is harmless. */
    @Override
    public void close() {
        inUse.enter("close");
        try {
            for (GruState layer : layers) {
                if (layer != null) {
                    layer.close();
                }
            }
            memory.close();
        } finally {
            inUse.exit();
        }
    }

    void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("this GruStackState is closed");
        }
    }

    /** The guard of this state's public methods, which {@link GruStackRunner#step} enters too. */
    /** {@return this state as the engine's stack runner steps it, one view per state} */
    StackDrivers.Stream stream() {
        return stream;
    }

    ExclusiveUse inUse() {
        return inUse;
    }

    GruState layer(int layer) {
        return layers[layer];
    }

    /** What layer {@code layer} (below the top) output at the last step, {@code [B][H]}. */
    MemorySegment layerOutput(int layer) {
        return layerOutputs[layer];
    }

    /** Bytes of one layer's h, {@code [B][H]}. */
    private long hiddenBytes() {
        return (long) batch * shape.hiddenSize() * Float.BYTES;
    }
}
