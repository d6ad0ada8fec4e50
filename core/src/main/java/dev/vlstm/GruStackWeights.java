package dev.vlstm;

/**
 * The weights of a whole stacked and possibly bidirectional GRU ({@code nn.GRU} with {@code num_layers} and
 * {@code bidirectional}): one packed {@link GruWeights} per layer and direction, in PyTorch's state_dict order (l0,
 * l0_reverse, l1, l1_reverse, ...). Its sizes are an {@link LstmStackShape} without projection: layer 0 reads I
 * features, every layer writes {@code [T][B][D·H]} and layer k &ge; 1 reads D·H; h_n is {@code [L·D][B][H]}; a GRU
 * has no c.
 *
 * <p>Immutable once built and shareable between threads like {@link GruWeights}, each thread with its own
 * {@link GruStackRunner} or {@link GruStackTrainer}. Owns the layers' weights: {@link #close()} closes them all.
 */
public final class GruStackWeights implements AutoCloseable {

    private final LstmStackShape shape;
    private final GruWeights[] parts;

    private GruStackWeights(LstmStackShape shape, GruWeights[] parts) {
        this.shape = shape;
        this.parts = parts;
    }

    /**
     * A stack of the given layers, which it owns from then on (closing the stack closes them). If the layers do not
     * fit together, nothing is taken: the caller still owns them.
     *
     * @param bidirectional whether each layer has a reverse direction
     * @param layers        l0 (, l0_reverse), l1 (, l1_reverse), ...: layer 0 reads I features, every layer above
     *                      reads D·H; all have the same hidden size and kernel, and each is a distinct object
     * @return the new stack; its {@link #close()} closes {@code layers}
     * @throws IllegalArgumentException naming the first layer that does not fit, and why
     * @throws IllegalStateException    if a layer is closed
     */
    public static GruStackWeights of(boolean bidirectional, GruWeights... layers) {
        Checks.notNull("layers", layers);
        int[] inputSizes = new int[layers.length];
        int[] hiddenSizes = new int[layers.length];
        for (int n = 0; n < layers.length; n++) {
            Checks.notNull("layers[" + n + "]", layers[n]).checkOpen();
            inputSizes[n] = layers[n].inputSize();
            hiddenSizes[n] = layers[n].hiddenSize();
            if (layers[n].family() != layers[0].family()) {
                throw new IllegalArgumentException("layers[" + n + "] is packed for kernel " + layers[n].kernelName()
                        + ", but layers[0] for " + layers[0].kernelName() + ": pack every layer for the same backend");
            }
        }
        LstmStackShape shape = LstmStackShape.ofParts("layers", bidirectional, layers, inputSizes, hiddenSizes,
                new int[layers.length]);
        return new GruStackWeights(shape, layers.clone());
    }

    /**
     * The sizes of this model.
     *
     * @return the shape inferred from the layers at construction, without projection
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
    public GruWeights layer(int layer, int direction) {
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
     * @return the sum of {@link GruWeights#packedBytes()} over every layer and direction
     */
    public long packedBytes() {
        long bytes = 0;
        for (GruWeights part : parts) {
            bytes += part.packedBytes();
        }
        return bytes;
    }

    /** Closes every layer's weights. Closing twice is harmless. */
    @Override
    public void close() {
        for (GruWeights part : parts) {
            part.close();
        }
    }

    void checkOpen() {
        for (GruWeights part : parts) {
            part.checkOpen();
        }
    }

    /** The weights at {@link LstmStackShape#index}. */
    GruWeights part(int index) {
        return parts[index];
    }
}
