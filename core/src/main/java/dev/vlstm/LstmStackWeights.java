package dev.vlstm;

/**
 * The weights of a whole stacked and possibly bidirectional LSTM ({@code nn.LSTM} with {@code num_layers} and
 * {@code bidirectional}): one packed {@link LstmWeights} per layer and direction, in PyTorch's state_dict order
 * (l0, l0_reverse, l1, l1_reverse, ...; see {@link LstmStackShape}). Any layer and direction may have ONNX's
 * peephole connections ({@link LstmWeights#hasPeepholes()}), each its own; those without run without them.
 *
 * <p>Immutable once built and shareable between threads like {@link LstmWeights}, each thread with its own
 * {@link LstmStackRunner} or {@link LstmStackTrainer}. Owns the layers' weights: {@link #close()} closes them all.
 */
public final class LstmStackWeights implements AutoCloseable {

    private final LstmStackShape shape;
    private final LstmWeights[] parts;

    private LstmStackWeights(LstmStackShape shape, LstmWeights[] parts) {
        this.shape = shape;
        this.parts = parts;
    }

    /**
     * A stack of the given layers, which it owns from then on (closing the stack closes them). If the layers do not
     * fit together, nothing is taken: the caller still owns them.
     *
     * @param bidirectional whether each layer has a reverse direction
     * @param layers        l0 (, l0_reverse), l1 (, l1_reverse), ...: layer 0 reads I features, every layer above
     *                      reads D·S (S = P with projection, else H); all have the same hidden size, projection
     *                      size and kernel, and each is a distinct object
     * @return the new stack; its {@link #close()} closes {@code layers}
     * @throws IllegalArgumentException naming the first layer that does not fit, and why
     * @throws IllegalStateException    if a layer is closed
     */
    public static LstmStackWeights of(boolean bidirectional, LstmWeights... layers) {
        Checks.notNull("layers", layers);
        int[] inputSizes = new int[layers.length];
        int[] hiddenSizes = new int[layers.length];
        int[] projectionSizes = new int[layers.length];
        for (int n = 0; n < layers.length; n++) {
            Checks.notNull("layers[" + n + "]", layers[n]).checkOpen();
            inputSizes[n] = layers[n].inputSize();
            hiddenSizes[n] = layers[n].hiddenSize();
            projectionSizes[n] = layers[n].projectionSize();
            if (layers[n].family() != layers[0].family()) {
                throw new IllegalArgumentException("layers[" + n + "] is packed for kernel " + layers[n].kernelName()
                        + ", but layers[0] for " + layers[0].kernelName() + ": pack every layer for the same backend");
            }
        }
        LstmStackShape shape = LstmStackShape.ofParts("layers", bidirectional, layers, inputSizes, hiddenSizes,
                projectionSizes);
        return new LstmStackWeights(shape, layers.clone());
    }

    /**
     * The sizes of this model.
     *
     * @return the shape inferred from the layers at construction
     */
    public LstmStackShape shape() {
        return shape;
    }

    /**
     * The weights of one layer and direction, owned by this stack (do not close them on their own).
     *
     * @param layer     0 (the layer reading the input) to L-1
     * @param direction 0 forward, {@link LstmStackShape#REVERSE} reverse
     * @return the weights at {@link LstmStackShape#index}, valid until this stack is closed
     * @throws IndexOutOfBoundsException for a layer outside [0, L) or a direction outside [0, D)
     */
    public LstmWeights layer(int layer, int direction) {
        return parts[shape.index(layer, direction)];
    }

    /**
     * Name of the kernel every layer is packed for, e.g. {@code "vector-512"}.
     *
     * @return the one name all layers share (checked at construction)
     */
    public String kernelName() {
        return parts[0].kernelName();
    }

    /**
     * Off-heap bytes held by every layer's packed weights.
     *
     * @return the sum of {@link LstmWeights#packedBytes()} over every layer and direction
     */
    public long packedBytes() {
        long bytes = 0;
        for (LstmWeights part : parts) {
            bytes += part.packedBytes();
        }
        return bytes;
    }

    /** Closes every layer's weights. Closing twice is harmless. */
    @Override
    public void close() {
        for (LstmWeights part : parts) {
            part.close();
        }
    }

    void checkOpen() {
        for (LstmWeights part : parts) {
            part.checkOpen();
        }
    }

    /** The weights at {@link LstmStackShape#index}. */
    LstmWeights part(int index) {
        return parts[index];
    }
}
