package dev.vlstm;

/**
 * Gradients of a loss with respect to every parameter of a stacked, possibly bidirectional GRU: one
 * {@link GruGradients} per layer and direction (PyTorch layouts; l0, l0_reverse, l1, ...), filled by
 * {@link GruStackTrainer#backward}; starts at zero. Not thread-safe; owns its memory.
 */
public final class GruStackGradients implements AutoCloseable {

    private final LstmStackShape shape;
    private final GruGradients[] parts;

    /**
     * Zero gradients for a GRU model of {@code shape}.
     *
     * @param shape the model's sizes, without projection (a GRU has none); one {@link GruGradients} is allocated per
     *              layer and direction
     * @throws IllegalArgumentException for a shape with projection
     */
    public GruStackGradients(LstmStackShape shape) {
        this.shape = Checks.notNull("shape", shape);
        if (shape.projectionSize() > 0) {
            throw new IllegalArgumentException("shape has projectionSize " + shape.projectionSize()
                    + ", but a GRU has no projection");
        }
        this.parts = new GruGradients[shape.stateCount()];
        try {
            for (int n = 0; n < parts.length; n++) {
                parts[n] = new GruGradients(shape.layerInputSize(n / shape.directions()), shape.hiddenSize());
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /**
     * Zero gradients for {@code weights}' model.
     *
     * @param weights the model whose {@link GruStackWeights#shape()} these gradients take; only the shape is read
     */
    public GruStackGradients(GruStackWeights weights) {
        this(Checks.notNull("weights", weights).shape());
    }

    /** {@return the sizes of the model these gradients are for, as given or taken at construction} */
    public LstmStackShape shape() {
        return shape;
    }

    /**
     * The gradients of one layer and direction, owned by this object.
     *
     * @param layer     0 (the layer reading the input) to L-1
     * @param direction 0 forward, {@link LstmStackShape#REVERSE} reverse
     * @return the gradients at {@link LstmStackShape#index}, in PyTorch's layouts; valid until this object is closed
     *         (do not close them on their own)
     * @throws IndexOutOfBoundsException for a layer outside [0, L) or a direction outside [0, D)
     */
    public GruGradients layer(int layer, int direction) {
        return parts[shape.index(layer, direction)];
    }

    /** Sets every gradient to zero. */
    public void zero() {
        for (GruGradients part : parts) {
            part.zero();
        }
    }

    /** Frees every layer's gradients. Closing twice is harmless. */
    @Override
    public void close() {
        for (GruGradients part : parts) {
            if (part != null) {
                part.close();
            }
        }
    }

    void checkOpen() {
        for (GruGradients part : parts) {
            part.checkOpen();
        }
    }

    /** The gradients at {@link LstmStackShape#index}. */
    GruGradients part(int index) {
        return parts[index];
    }
}
