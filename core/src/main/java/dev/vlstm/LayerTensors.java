package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * The four tensors of one LSTM layer in PyTorch's layouts, off-heap and zeroed at first: {@code weightIh [4H][I]},
 * {@code weightHh [4H][H]}, {@code biasIh [4H]}, {@code biasHh [4H]}; with PyTorch's projection ({@code proj_size}
 * = P) {@code weightHh [4H][P]} and a fifth, {@code weightHr [P][H]}; with peephole connections one more,
 * {@code peepholes [3][H]} (p_i, p_f, p_o). What {@link LstmParameters} and
 * {@link LstmGradients} both are.
 */
final class LayerTensors implements AutoCloseable {

    final int inputSize;
    final int hiddenSize;
    /** P, or 0 without projection. */
    final int projectionSize;
    final MemorySegment weightIh;
    final MemorySegment weightHh;
    final MemorySegment biasIh;
    final MemorySegment biasHh;
    /** W_hr {@code [P][H]}, or null without projection. */
    final MemorySegment weightHr;
    /** p_i, p_f, p_o {@code [3][H]}, or null without peepholes. */
    final MemorySegment peepholes;
    private final OffHeap memory;
    private final String owner;

    /** @param owner what holds these tensors, for the message of a use after close, e.g. "LstmGradients" */
    LayerTensors(int inputSize, int hiddenSize, String owner) {
        this(inputSize, hiddenSize, 0, owner);
    }

    /** With a projection to {@code projectionSize} (1..H-1, or 0 for none) and its {@code weightHr}. */
    LayerTensors(int inputSize, int hiddenSize, int projectionSize, String owner) {
        this(inputSize, hiddenSize, projectionSize, false, owner);
    }

    /** With or without projection, and with a {@code peepholes} tensor if {@code peepholes}. */
    LayerTensors(int inputSize, int hiddenSize, int projectionSize, boolean peepholes, String owner) {
        this.inputSize = Checks.positive("inputSize", inputSize);
        this.hiddenSize = Checks.positive("hiddenSize", hiddenSize);
        this.projectionSize = projectionSize;
        this.owner = owner;
        this.memory = OffHeap.open();
        try {
            long gateRows = 4L * hiddenSize;
            if (gateRows * Math.max(inputSize, hiddenSize) > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("inputSize " + inputSize + " and hiddenSize " + hiddenSize
                        + " make a weight tensor of more than 2^31 - 1 floats, the most one tensor may hold");
            }
            this.weightIh = memory.floats(gateRows * inputSize);
            this.weightHh = memory.floats(gateRows * (projectionSize > 0 ? projectionSize : hiddenSize));
            this.biasIh = memory.floats(gateRows);
            this.biasHh = memory.floats(gateRows);
            this.weightHr = projectionSize > 0 ? memory.floats((long) projectionSize * hiddenSize) : null;
            this.peepholes = peepholes ? memory.floats(3L * hiddenSize) : null;
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("these " + owner + " are closed");
        }
    }

    void zero() {
        checkOpen();
        weightIh.fill((byte) 0);
        weightHh.fill((byte) 0);
        biasIh.fill((byte) 0);
        biasHh.fill((byte) 0);
        if (weightHr != null) {
            weightHr.fill((byte) 0);
        }
        if (peepholes != null) {
            peepholes.fill((byte) 0);
        }
    }

    /** Closing twice is harmless. */
    @Override
    public void close() {
        memory.close();
    }
}
