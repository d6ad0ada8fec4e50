package dev.vlstm;

import java.util.SplittableRandom;

/**
 * The trainable parameters of a whole stacked and possibly bidirectional LSTM: one {@link LstmParameters} per layer
 * and direction, in PyTorch's state_dict order (l0, l0_reverse, l1, ...; see {@link LstmStackShape}). Optimizers
 * update each layer's tensors in place; {@link #pack()} and {@link LstmStackTrainer#updateWeights} turn them into
 * packed weights. Not thread-safe; owns the layers' parameters: {@link #close()} closes them all.
 */
public final class LstmStackParameters implements AutoCloseable {

    private final LstmStackShape shape;
    private final LstmParameters[] parts;

    private LstmStackParameters(LstmStackShape shape, LstmParameters[] parts) {
        this.shape = shape;
        this.parts = parts;
    }

    /**
     * PyTorch's initialisation of every layer and direction ({@link LstmParameters#initializeProjected(int, int, int, long)}:
     * uniform in {@code [-1/sqrt(H), 1/sqrt(H))}, W_hr too with projection, forget bias
     * {@link LstmParameters#DEFAULT_FORGET_BIAS}), each from its own seed drawn from {@code seed}.
     *
     * @param shape the model's sizes, with or without projection (layers above the first then read D·P features)
     * @param seed  seeds a {@link SplittableRandom} that draws one seed per layer and direction, in index order
     * @return new parameters, owned by the caller
     */
    public static LstmStackParameters initialize(LstmStackShape shape, long seed) {
        Checks.notNull("shape", shape);
        SplittableRandom seeds = new SplittableRandom(seed);
        LstmParameters[] parts = new LstmParameters[shape.stateCount()];
        try {
            for (int n = 0; n < parts.length; n++) {
                parts[n] = LstmParameters.initializeProjected(shape.layerInputSize(n / shape.directions()), shape.hiddenSize(),
                        shape.projectionSize(), seeds.nextLong());
            }
        } catch (RuntimeException | Error e) {
            closeAll(parts);
            throw e;
        }
        return new LstmStackParameters(shape, parts);
    }

    /**
     * A stack of the given layers' parameters, which it owns from then on. If they do not fit together, nothing is
     * taken: the caller still owns them.
     *
     * @param bidirectional whether each layer has a reverse direction (then the layers come in pairs)
     * @param layers        l0 (, l0_reverse), l1 (, l1_reverse), ...: sizes as in {@link LstmStackWeights#of}; any of
     *                      them may have peepholes ({@link LstmParameters#peepholes()}), which then train with it
     * @return the new stack; its {@link #close()} closes {@code layers}
     * @throws IllegalArgumentException naming the first layer that does not fit, and why
     */
    public static LstmStackParameters of(boolean bidirectional, LstmParameters... layers) {
        Checks.notNull("layers", layers);
        int[] inputSizes = new int[layers.length];
        int[] hiddenSizes = new int[layers.length];
        int[] projectionSizes = new int[layers.length];
        for (int n = 0; n < layers.length; n++) {
            inputSizes[n] = Checks.notNull("layers[" + n + "]", layers[n]).inputSize();
            hiddenSizes[n] = layers[n].hiddenSize();
            projectionSizes[n] = layers[n].projectionSize();
        }
        LstmStackShape shape = LstmStackShape.ofParts("layers", bidirectional, layers, inputSizes, hiddenSizes,
                projectionSizes);
        return new LstmStackParameters(shape, layers.clone());
    }

    /**
     * The sizes of this model.
     *
     * @return the shape given at construction or inferred from the layers
     */
    public LstmStackShape shape() {
        return shape;
    }

    /**
     * The parameters of one layer and direction, owned by this stack.
     *
     * @param layer     0 (the layer reading the input) to L-1
     * @param direction 0 forward, {@link LstmStackShape#REVERSE} reverse
     * @return the parameters at {@link LstmStackShape#index}, writable in place; valid until this stack is closed
     *         (do not close them on their own)
     * @throws IndexOutOfBoundsException for a layer outside [0, L) or a direction outside [0, D)
     */
    public LstmParameters layer(int layer, int direction) {
        return parts[shape.index(layer, direction)];
    }

    /**
     * Packs the current values into new weights for the preferred kernel (validated like any weights).
     *
     * @return new weights of every layer and direction, owned by the caller; later updates do not reach them
     * @throws IllegalArgumentException for a NaN or infinite value, naming the tensor and the element
     */
    public LstmStackWeights pack() {
        return pack(Backend.PREFERRED);
    }

    /**
     * Packs the current values into new weights for {@code backend}.
     *
     * @param backend the kernel family to pack every layer for, not null
     * @return new weights of every layer and direction, owned by the caller; later updates do not reach them
     * @throws IllegalArgumentException for a NaN or infinite value, naming the layer, the tensor and the element
     */
    public LstmStackWeights pack(Backend backend) {
        Checks.notNull("backend", backend);
        LstmWeights[] packed = new LstmWeights[parts.length];
        try {
            for (int n = 0; n < parts.length; n++) {
                packed[n] = packPart(n, backend);
            }
            return LstmStackWeights.of(shape.bidirectional(), packed);
        } catch (RuntimeException | Error e) {
            closeAll(packed);
            throw e;
        }
    }

    /** Packs part {@code n}; a value it refuses is named with its layer and direction. */
    private LstmWeights packPart(int n, Backend backend) {
        try {
            return parts[n].pack(backend);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(shape.describe(n) + ": " + e.getMessage(), e);
        }
    }

    /** Closes every layer's parameters. Closing twice is harmless. */
    @Override
    public void close() {
        closeAll(parts);
    }

    /** The parameters at {@link LstmStackShape#index}. */
    LstmParameters part(int index) {
        return parts[index];
    }

    private static void closeAll(LstmParameters[] parts) {
        for (LstmParameters part : parts) {
            if (part != null) {
                part.close();
            }
        }
    }

    private static void closeAll(LstmWeights[] parts) {
        for (LstmWeights part : parts) {
            if (part != null) {
                part.close();
            }
        }
    }
}
