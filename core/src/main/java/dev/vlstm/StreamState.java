package dev.vlstm;

import java.lang.foreign.MemorySegment;

import dev.vlstm.engine.PackedLayer;
import dev.vlstm.kernel.GateLayout;

/**
 * The state of one stream through a unidirectional model, for every cell: a {@link LayerState} per layer (h, and c
 * for an LSTM, in the kernels' padded rows) and the output of each layer below the top, which the layer above reads
 * at the next step ({@link StackRunner#step}). In the API's dense layouts h is {@code [L][B][S]} (S = P with a
 * projection, else H) and c {@code [L][B][H]}. Starts at zero. Belongs to one stream; one thread at a time (the
 * guard names {@code guarded}). Owns its memory: {@link #close()} frees it.
 */
final class StreamState {

    private final RnnShape shape;
    private final int batch;
    /** The name of the public type in messages, e.g. "State". */
    private final String owner;
    private final LayerState[] layers;
    /** {@code [B][S]} outputs of layers 0 .. L-2 at the last step. */
    private final MemorySegment[] layerOutputs;
    private final OffHeap memory;
    private final ExclusiveUse inUse;

    /**
     * @param weights the model's packed weights, open
     * @param guarded the object the one-thread guard names in its message; null: this state
     * @param advice  the sentence that ends the guard's message
     * @param runner  the public runner type to name in the refusal of a bidirectional model
     * @throws IllegalArgumentException if the model is bidirectional, or {@code batch} &lt; 1
     */
    StreamState(PackedModel weights, int batch, String owner, Object guarded, String advice, String runner) {
        weights.checkOpen();
        RnnShape shape = weights.shape();
        if (shape.direction() == Direction.BIDIRECTIONAL) {
            throw new IllegalArgumentException("a bidirectional model cannot be streamed step by step: its reverse "
                    + "direction reads the sequence from the last step back, so it needs the whole sequence (use "
                    + runner + ".forward)");
        }
        this.shape = shape;
        this.batch = Checks.positive("batch", batch);
        this.owner = owner;
        this.inUse = new ExclusiveUse(guarded == null ? this : guarded, advice);
        this.layers = new LayerState[shape.layers()];
        this.layerOutputs = new MemorySegment[shape.layers() - 1];
        this.memory = OffHeap.open();
        try {
            for (int layer = 0; layer < this.layers.length; layer++) {
                PackedLayer part = weights.part(layer);
                GateLayout layout = part.layout();
                int hiddenStride = part.projection() != null ? part.projection().layout().gateRowFloats()
                        : layout.paddedHidden();
                this.layers[layer] = new LayerState(memory, batch, shape.cell().hasCellState(),
                        shape.hiddenStateSize(), hiddenStride, layout.hiddenSize(), layout.paddedHidden());
            }
            for (int layer = 0; layer < layerOutputs.length; layer++) {
                layerOutputs[layer] = memory.floats((long) batch * shape.hiddenStateSize());
            }
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    public int batch() {
        return batch;
    }

    public RnnShape shape() {
        return shape;
    }

    /** Whether the layers carry a c (LSTM, CIFG) or only h (GRU). */
    boolean hasCell() {
        return layers[0].cell() != null;
    }

    public void reset() {
        inUse.enter("reset");
        try {
            checkOpen();
            for (LayerState layer : layers) {
                layer.reset();
            }
        } finally {
            inUse.exit();
        }
    }

    public void setHidden(MemorySegment h) {
        inUse.enter("setHidden");
        try {
            checkOpen();
            Checks.floats("h", h, "L", layers.length, "B", batch, hiddenName(), shape.hiddenStateSize());
            for (int layer = 0; layer < layers.length; layer++) {
                layers[layer].copyHiddenIn(h, layer * hiddenBytes(), batch);
            }
        } finally {
            inUse.exit();
        }
    }

    public void setCell(MemorySegment c) {
        refuseWithoutCell();
        inUse.enter("setCell");
        try {
            checkOpen();
            Checks.floats("c", c, "L", layers.length, "B", batch, "H", shape.hiddenSize());
            for (int layer = 0; layer < layers.length; layer++) {
                layers[layer].copyCellIn(c, layer * cellBytes(), batch);
            }
        } finally {
            inUse.exit();
        }
    }

    public void copyHiddenTo(MemorySegment out) {
        inUse.enter("copyHiddenTo");
        try {
            checkOpen();
            Checks.output("out", out, "L", layers.length, "B", batch, hiddenName(), shape.hiddenStateSize());
            for (int layer = 0; layer < layers.length; layer++) {
                layers[layer].copyHiddenOut(out, layer * hiddenBytes(), batch);
            }
        } finally {
            inUse.exit();
        }
    }

    public void copyCellTo(MemorySegment out) {
        refuseWithoutCell();
        inUse.enter("copyCellTo");
        try {
            checkOpen();
            Checks.output("out", out, "L", layers.length, "B", batch, "H", shape.hiddenSize());
            for (int layer = 0; layer < layers.length; layer++) {
                layers[layer].copyCellOut(out, layer * cellBytes(), batch);
            }
        } finally {
            inUse.exit();
        }
    }

    public void rejectNonFinite(String caller) {
        checkOpen();
        for (int layer = 0; layer < layers.length; layer++) {
            LayerState state = layers[layer];
            for (int row = 0; row < batch; row++) {
                Checks.finiteRow(caller, "state.h", layer, row, state.currentHidden(),
                        (long) row * state.hiddenStride(), shape.hiddenStateSize());
            }
            for (int row = 0; row < batch && state.cell() != null; row++) {
                Checks.finiteRow(caller, "state.c", layer, row, state.cell(), row * state.cellRowBytes() / Float.BYTES,
                        shape.hiddenSize());
            }
        }
    }

    public void close() {
        inUse.enter("close");
        try {
            memory.close();
        } finally {
            inUse.exit();
        }
    }

    public void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("this " + owner + " is closed");
        }
    }

    public ExclusiveUse inUse() {
        return inUse;
    }

    public LayerState layer(int layer) {
        return layers[layer];
    }

    public MemorySegment layerOutput(int layer) {
        return layerOutputs[layer];
    }

    private void refuseWithoutCell() {
        if (!hasCell()) {
            throw new UnsupportedOperationException("a GRU state has no cell state c, only h");
        }
    }

    private long hiddenBytes() {
        return (long) batch * shape.hiddenStateSize() * Float.BYTES;
    }

    private long cellBytes() {
        return (long) batch * shape.hiddenSize() * Float.BYTES;
    }

    private String hiddenName() {
        return shape.projectionSize() > 0 ? "P" : "H";
    }
}
