package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * Gradients of a loss with respect to one LSTM layer's parameters, off-heap, in PyTorch's layouts and gate order:
 * {@code weightIh [4H][I]}, {@code weightHh [4H][H]}, {@code biasIh [4H]}, {@code biasHh [4H]} (the two bias
 * gradients are equal: both biases enter every pre-activation the same way); with PyTorch's projection
 * ({@code proj_size} = P) {@code weightHh [4H][P]} and {@code weightHr [P][H]}; for weights with peephole connections
 * also {@code peepholes [3][H]} (dL/dp_i, dL/dp_f, dL/dp_o). Filled by
 * {@link LstmTrainer#backward}; starts at zero. Not thread-safe; owns its memory.
 */
public final class LstmGradients implements AutoCloseable {

    private final LayerTensors tensors;

    /**
     * Zero gradients for a layer with {@code weights}' sizes.
     *
     * @param weights open weights whose I, H and P these gradients take (with {@link #weightHr()} if they have a
     *                projection), and peephole gradients if they have peepholes; only their sizes are read
     * @throws IllegalStateException if {@code weights} is closed
     */
    public LstmGradients(LstmWeights weights) {
        this(open(weights).inputSize(), weights.hiddenSize(), weights.projectionSize(), weights.hasPeepholes());
    }

    private static LstmWeights open(LstmWeights weights) {
        Checks.notNull("weights", weights).checkOpen();
        return weights;
    }

    /**
     * Zero tensors of a layer's shapes: gradients, or an optimizer's state for them.
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @throws IllegalArgumentException for a size &lt; 1, or a weight tensor of more than 2^31 - 1 floats
     */
    public LstmGradients(int inputSize, int hiddenSize) {
        this(inputSize, hiddenSize, false);
    }

    /**
     * Zero tensors of a layer's shapes, with or without the peephole tensor {@code [3][H]}.
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param peepholes  whether to hold the gradients of peephole connections ({@link #peepholes()})
     * @throws IllegalArgumentException for a size &lt; 1, or a weight tensor of more than 2^31 - 1 floats
     */
    public LstmGradients(int inputSize, int hiddenSize, boolean peepholes) {
        this(inputSize, hiddenSize, 0, peepholes);
    }

    /**
     * Zero tensors of a layer's shapes, with or without PyTorch's projection ({@code proj_size} = P:
     * {@code weightHh [4H][P]} and {@link #weightHr()} {@code [P][H]}) and with or without the peephole tensor.
     *
     * @param inputSize      I, features per input row, &ge; 1
     * @param hiddenSize     H, hidden units, &ge; 1
     * @param projectionSize P, 1 &le; P &lt; H, or 0 for no projection
     * @param peepholes      whether to hold the gradients of peephole connections ({@link #peepholes()})
     * @throws IllegalArgumentException for a size out of range, or a weight tensor of more than 2^31 - 1 floats
     */
    public LstmGradients(int inputSize, int hiddenSize, int projectionSize, boolean peepholes) {
        Checks.positive("hiddenSize", hiddenSize);
        Checks.projectionSize(projectionSize, hiddenSize);
        this.tensors = new LayerTensors(inputSize, hiddenSize, projectionSize, peepholes, "LstmGradients");
    }

    /**
     * dL/dW_ih, {@code [4H][I]} floats; writable, for optimizers.
     *
     * @return the tensor itself, not a copy, valid until {@link #close()}
     */
    public MemorySegment weightIh() {
        tensors.checkOpen();
        return tensors.weightIh;
    }

    /**
     * dL/dW_hh, {@code [4H][H]} floats.
     *
     * @return the tensor itself, writable, valid until {@link #close()}
     */
    public MemorySegment weightHh() {
        tensors.checkOpen();
        return tensors.weightHh;
    }

    /**
     * dL/db_ih, {@code [4H]} floats.
     *
     * @return the tensor itself, writable, valid until {@link #close()}
     */
    public MemorySegment biasIh() {
        tensors.checkOpen();
        return tensors.biasIh;
    }

    /**
     * dL/db_hh, {@code [4H]} floats (equal to {@link #biasIh()}).
     *
     * @return the tensor itself (a separate segment from {@link #biasIh()}), writable, valid until {@link #close()}
     */
    public MemorySegment biasHh() {
        tensors.checkOpen();
        return tensors.biasHh;
    }

    /**
     * dL/dW_hr, {@code [P][H]} floats: the gradient of PyTorch's projection {@code weight_hr}.
     *
     * @return the tensor itself, writable, valid until {@link #close()}; null for gradients without projection
     */
    public MemorySegment weightHr() {
        tensors.checkOpen();
        return tensors.weightHr;
    }

    /**
     * dL/dp_i, dL/dp_f, dL/dp_o, {@code [3][H]} floats: the gradients of the peephole connections.
     *
     * @return the tensor itself, writable, valid until {@link #close()}; null for gradients without peepholes
     */
    public MemorySegment peepholes() {
        tensors.checkOpen();
        return tensors.peepholes;
    }

    /** Sets every gradient to zero. */
    public void zero() {
        tensors.zero();
    }

    /** Frees the gradients. Closing twice is harmless. */
    @Override
    public void close() {
        tensors.close();
    }

    int inputSize() {
        return tensors.inputSize;
    }

    int hiddenSize() {
        return tensors.hiddenSize;
    }

    int projectionSize() {
        return tensors.projectionSize;
    }

    void checkOpen() {
        tensors.checkOpen();
    }
}
