package dev.vlstm;

/**
 * Gradients of a loss with respect to every parameter of a stacked, possibly bidirectional LSTM: one
 * {@link LstmGradients} per layer and direction (PyTorch layouts; l0, l0_reverse, l1, ...; dp where a part has
 * peepholes), filled by
 * {@link LstmStackTrainer#backward}; starts at zero. Not thread-safe; owns its memory.
 */
public final class LstmStackGradients implements AutoCloseable {

    private final LstmStackShape shape;
    private final LstmGradients[] parts;

    /**
     * Zero gradients for a model of {@code shape}.
     *
     * @param shape the model's sizes, with or without projection (then each layer's gradients hold dW_hr); one
     *              {@link LstmGradients} is allocated per layer and direction, none with peephole gradients (for a
     *              model with peepholes use {@link #LstmStackGradients(LstmStackWeights)})
     */
    public LstmStackGradients(LstmStackShape shape) {
        this(Checks.notNull("shape", shape), new boolean[shape.stateCount()]);
    }

    /**
     * Zero gradients for {@code weights}' model: its shape, and peephole gradients ({@link LstmGradients#peepholes()})
     * for exactly the layers and directions whose weights have peepholes.
     *
     * @param weights the model whose {@link LstmStackWeights#shape()} and peepholes these gradients take; only those
     *                are read
     * @throws IllegalStateException if {@code weights} is closed
     */
    public LstmStackGradients(LstmStackWeights weights) {
        this(Checks.notNull("weights", weights).shape(), peepholes(weights));
    }

    /**
     * Zero gradients for {@code parameters}' model (or an optimizer's state for them): its shape, and peephole
     * gradients for exactly the layers and directions whose parameters have peepholes.
     *
     * @param parameters the model whose {@link LstmStackParameters#shape()} and peepholes these gradients take; only
     *                   those are read
     */
    public LstmStackGradients(LstmStackParameters parameters) {
        this(Checks.notNull("parameters", parameters).shape(), peepholes(parameters));
    }

    /** Zero gradients of {@code shape}, with peephole gradients for the parts n where {@code peepholes[n]}. */
    LstmStackGradients(LstmStackShape shape, boolean[] peepholes) {
        this.shape = shape;
        this.parts = new LstmGradients[shape.stateCount()];
        try {
            for (int n = 0; n < parts.length; n++) {
                parts[n] = new LstmGradients(shape.layerInputSize(n / shape.directions()), shape.hiddenSize(),
                        shape.projectionSize(), peepholes[n]);
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    private static boolean[] peepholes(LstmStackWeights weights) {
        weights.checkOpen();
        boolean[] peepholes = new boolean[weights.shape().stateCount()];
        for (int n = 0; n < peepholes.length; n++) {
            peepholes[n] = weights.part(n).hasPeepholes();
        }
        return peepholes;
    }

    private static boolean[] peepholes(LstmStackParameters parameters) {
        boolean[] peepholes = new boolean[parameters.shape().stateCount()];
        for (int n = 0; n < peepholes.length; n++) {
            peepholes[n] = parameters.part(n).peepholes() != null;
        }
        return peepholes;
    }

    /**
     * The sizes of the model these gradients are for.
     *
     * @return the shape given or taken at construction
     */
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
    public LstmGradients layer(int layer, int direction) {
        return parts[shape.index(layer, direction)];
    }

    /** Sets every gradient to zero. */
    public void zero() {
        for (LstmGradients part : parts) {
            part.zero();
        }
    }

    /** Frees every layer's gradients. Closing twice is harmless. */
    @Override
    public void close() {
        for (LstmGradients part : parts) {
            if (part != null) {
                part.close();
            }
        }
    }

    void checkOpen() {
        for (LstmGradients part : parts) {
            part.checkOpen();
        }
    }

    /** The gradients at {@link LstmStackShape#index}. */
    LstmGradients part(int index) {
        return parts[index];
    }
}
