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

    private final LstmStackShape shape;
    private final int batch;
    private final LstmState[] layers;
    /** {@code [B][S]} outputs of layers 0 .. L-2 at the last step: the inputs of the layers above. */
    private final MemorySegment[] layerOutputs;
    private final OffHeap memory;
    private final StackDrivers.Stream stream = new StackDrivers.LstmStream(this);
    private final ExclusiveUse inUse = new ExclusiveUse(this,
            "an LstmStackState is one stream's state, used by one thread at a time");

    /**
     * A zero state for {@code batch} sequences of {@code weights}' model.
     *
     * @param weights an open, unidirectional model; the state fits its sizes and kernel (it keeps no reference to it)
     * @param batch   B, sequences stepped together, &ge; 1
     * @throws IllegalArgumentException if the model is bidirectional, or {@code batch} &lt; 1
     */
    public LstmStackState(LstmStackWeights weights, int batch) {
        Checks.notNull("weights", weights).checkOpen();
        this.shape = weights.shape();
        if (shape.bidirectional()) {
            throw new IllegalArgumentException("a bidirectional model cannot be streamed step by step: its reverse "
                    + "direction reads the sequence from the last step back, so it needs the whole sequence (use "
                    + "LstmStackRunner.forward)");
        }
        this.batch = Checks.positive("batch", batch);
        this.layers = new LstmState[shape.layers()];
        this.layerOutputs = new MemorySegment[shape.layers() - 1];
        this.memory = OffHeap.open();
        try {
            for (int layer = 0; layer < layers.length; layer++) {
                layers[layer] = new LstmState(weights.part(layer), batch);
            }
            for (int layer = 0; layer < layerOutputs.length; layer++) {
                layerOutputs[layer] = memory.floats((long) batch * shape.hiddenStateSize());
            }
        } catch (RuntimeException | Error e) {
            close();
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
     * The sizes of the model this state is for.
     *
     * @return the weights' shape, always unidirectional
     */
    public LstmStackShape shape() {
        return shape;
    }

    /** Sets every layer's h and c back to zero. */
    public void reset() {
        inUse.enter("reset");
        try {
            checkOpen();
            for (LstmState layer : layers) {
                layer.reset();
            }
        } finally {
            inUse.exit();
        }
    }

    /**
     * Sets h of every layer from {@code h}, {@code [L][B][S]} floats (heap or native segment), as PyTorch's h_0.
     *
     * @param h exactly L·B·S floats, layer 0 first; only read during this call
     * @throws IllegalArgumentException if {@code h} holds another number of bytes
     */
    public void setHidden(MemorySegment h) {
        inUse.enter("setHidden");
        try {
            checkOpen();
            Checks.floats("h", h, "L", layers.length, "B", batch, stateName(), shape.hiddenStateSize());
            for (int layer = 0; layer < layers.length; layer++) {
                layers[layer].setHidden(h.asSlice(layer * hiddenBytes(), hiddenBytes()));
            }
        } finally {
            inUse.exit();
        }
    }

    /**
     * Sets c of every layer from {@code c}, {@code [L][B][H]} floats, as PyTorch's c_0.
     *
     * @param c exactly L·B·H floats, layer 0 first; only read during this call
     * @throws IllegalArgumentException if {@code c} holds another number of bytes
     */
    public void setCell(MemorySegment c) {
        inUse.enter("setCell");
        try {
            checkOpen();
            Checks.floats("c", c, "L", layers.length, "B", batch, "H", shape.hiddenSize());
            for (int layer = 0; layer < layers.length; layer++) {
                layers[layer].setCell(c.asSlice(layer * cellBytes(), cellBytes()));
            }
        } finally {
            inUse.exit();
        }
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
        inUse.enter("copyHiddenTo");
        try {
            checkOpen();
            Checks.output("out", out, "L", layers.length, "B", batch, stateName(), shape.hiddenStateSize());
            for (int layer = 0; layer < layers.length; layer++) {
                layers[layer].copyHiddenTo(out.asSlice(layer * hiddenBytes(), hiddenBytes()));
            }
        } finally {
            inUse.exit();
        }
    }

    /**
     * Copies c of every layer into {@code out}, {@code [L][B][H]} floats, as PyTorch's c_n.
     *
     * @param out writable, exactly L·B·H floats (heap or native segment)
     * @throws IllegalArgumentException if {@code out} has another size or is read-only
     */
    public void copyCellTo(MemorySegment out) {
        inUse.enter("copyCellTo");
        try {
            checkOpen();
            Checks.output("out", out, "L", layers.length, "B", batch, "H", shape.hiddenSize());
            for (int layer = 0; layer < layers.length; layer++) {
                layers[layer].copyCellTo(out.asSlice(layer * cellBytes(), cellBytes()));
            }
        } finally {
            inUse.exit();
        }
    }

    /**
     * Returns h of every layer as a new {@code [L][B][S]} array.
     *
     * @return a copy of L·B·S floats, layer 0 first; later steps do not change it
     */
    public float[] hidden() {
        float[] out = new float[Math.toIntExact(layers.length * hiddenBytes() / Float.BYTES)];
        copyHiddenTo(MemorySegment.ofArray(out));
        return out;
    }

    /**
     * Returns c of every layer as a new {@code [L][B][H]} array.
     *
     * @return a copy of L·B·H floats, layer 0 first; later steps do not change it
     */
    public float[] cell() {
        float[] out = new float[Math.toIntExact(layers.length * cellBytes() / Float.BYTES)];
        copyCellTo(MemorySegment.ofArray(out));
        return out;
    }

    /** Frees the state. Closing twice is harmless. */
    @Override
    public void close() {
        inUse.enter("close");
        try {
            for (LstmState layer : layers) {
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
            throw new IllegalStateException("this LstmStackState is closed");
        }
    }

    /** The guard of this state's public methods, which {@link LstmStackRunner#step} enters too. */
    /** {@return this state as the engine's stack runner steps it, one view per state} */
    StackDrivers.Stream stream() {
        return stream;
    }

    ExclusiveUse inUse() {
        return inUse;
    }

    LstmState layer(int layer) {
        return layers[layer];
    }

    /** What layer {@code layer} (below the top) output at the last step, {@code [B][S]}. */
    MemorySegment layerOutput(int layer) {
        return layerOutputs[layer];
    }

    /** Bytes of one layer's h, {@code [B][S]}. */
    private long hiddenBytes() {
        return (long) batch * shape.hiddenStateSize() * Float.BYTES;
    }

    /** Bytes of one layer's c, {@code [B][H]}. */
    private long cellBytes() {
        return (long) batch * shape.hiddenSize() * Float.BYTES;
    }

    /** The name of h's last dimension in messages: P with projection, else H. */
    private String stateName() {
        return shape.projectionSize() > 0 ? "P" : "H";
    }
}
