package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * Gradients of a loss with respect to one GRU layer's parameters, off-heap, in PyTorch's {@code nn.GRU} layouts and
 * gate order (r, z, n): {@code weightIh [3H][I]}, {@code weightHh [3H][H]}, {@code biasIh [3H]}, {@code biasHh [3H]}
 * (the r and z parts of the two bias gradients are equal; the n parts differ, since b_hn is multiplied by the reset
 * gate). Filled by {@link GruTrainer#backward}; starts at zero. Not thread-safe; owns its memory.
 */
public final class GruGradients implements AutoCloseable {

    private final int inputSize;
    private final int hiddenSize;
    private final OffHeap memory;
    private final MemorySegment weightIh;
    private final MemorySegment weightHh;
    private final MemorySegment biasIh;
    private final MemorySegment biasHh;

    /**
     * Zero gradients for a layer with {@code weights}' sizes.
     *
     * @param weights open weights whose I and H these gradients take; only their sizes are read
     * @throws IllegalStateException if {@code weights} is closed
     */
    public GruGradients(GruWeights weights) {
        Checks.notNull("weights", weights).checkOpen();
        this.inputSize = weights.inputSize();
        this.hiddenSize = weights.hiddenSize();
        long gateRows = 3L * hiddenSize;
        this.memory = OffHeap.open();
        try {
            weightIh = memory.floats(gateRows * inputSize);
            weightHh = memory.floats(gateRows * hiddenSize);
            biasIh = memory.floats(gateRows);
            biasHh = memory.floats(gateRows);
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    /** {@return dL/dW_ih, {@code [3H][I]} floats: the tensor itself, writable, valid until {@link #close()}} */
    public MemorySegment weightIh() {
        checkOpen();
        return weightIh;
    }

    /** {@return dL/dW_hh, {@code [3H][H]} floats: the tensor itself, writable, valid until {@link #close()}} */
    public MemorySegment weightHh() {
        checkOpen();
        return weightHh;
    }

    /** {@return dL/db_ih, {@code [3H]} floats: the tensor itself, writable, valid until {@link #close()}} */
    public MemorySegment biasIh() {
        checkOpen();
        return biasIh;
    }

    /** {@return dL/db_hh, {@code [3H]} floats: the tensor itself, writable, valid until {@link #close()}} */
    public MemorySegment biasHh() {
        checkOpen();
        return biasHh;
    }

    /** Sets every gradient to zero. */
    public void zero() {
        checkOpen();
        weightIh.fill((byte) 0);
        weightHh.fill((byte) 0);
        biasIh.fill((byte) 0);
        biasHh.fill((byte) 0);
    }

    /** Frees the gradients. Closing twice is harmless. */
    @Override
    public void close() {
        memory.close();
    }

    int inputSize() {
        return inputSize;
    }

    int hiddenSize() {
        return hiddenSize;
    }

    void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("these GruGradients are closed");
        }
    }
}
