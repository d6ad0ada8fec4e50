package dev.vlstm;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Gradients of a loss with respect to one LSTM layer's parameters, off-heap, in PyTorch's layouts and gate order:
 * {@code weightIh [4H][I]}, {@code weightHh [4H][H]}, {@code biasIh [4H]}, {@code biasHh [4H]} (the two bias
 * gradients are equal: both biases enter every pre-activation the same way). Filled by
 * {@link LstmTrainer#backward}; starts at zero. Not thread-safe; owns its memory.
 */
public final class LstmGradients implements AutoCloseable {

    private final Arena arena;
    private final int inputSize;
    private final int hiddenSize;
    private final MemorySegment weightIh;
    private final MemorySegment weightHh;
    private final MemorySegment biasIh;
    private final MemorySegment biasHh;

    /** Zero gradients for a layer with {@code weights}' sizes. */
    public LstmGradients(LstmWeights weights) {
        Checks.notNull("weights", weights).checkOpen();
        this.inputSize = weights.inputSize();
        this.hiddenSize = weights.hiddenSize();
        this.arena = Arena.ofShared();
        try {
            long gateRows = 4L * hiddenSize;
            this.weightIh = OffHeap.floats(arena, gateRows * inputSize);
            this.weightHh = OffHeap.floats(arena, gateRows * hiddenSize);
            this.biasIh = OffHeap.floats(arena, gateRows);
            this.biasHh = OffHeap.floats(arena, gateRows);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** dL/dW_ih, {@code [4H][I]} floats; writable, for optimizers. */
    public MemorySegment weightIh() {
        checkOpen();
        return weightIh;
    }

    /** dL/dW_hh, {@code [4H][H]} floats. */
    public MemorySegment weightHh() {
        checkOpen();
        return weightHh;
    }

    /** dL/db_ih, {@code [4H]} floats. */
    public MemorySegment biasIh() {
        checkOpen();
        return biasIh;
    }

    /** dL/db_hh, {@code [4H]} floats (equal to {@link #biasIh()}). */
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
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    int inputSize() {
        return inputSize;
    }

    int hiddenSize() {
        return hiddenSize;
    }

    void checkOpen() {
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException("these LstmGradients are closed");
        }
    }

    /** Writes or adds {@code value} at {@code index} of {@code tensor}. */
    static void store(MemorySegment tensor, long index, float value, GradientMode mode) {
        float previous = mode == GradientMode.ACCUMULATE ? tensor.getAtIndex(ValueLayout.JAVA_FLOAT, index) : 0f;
        tensor.setAtIndex(ValueLayout.JAVA_FLOAT, index, previous + value);
    }
}
