package dev.vlstm;

import java.util.SplittableRandom;

/**
 * The trainable parameters of a whole stacked and possibly bidirectional GRU: one {@link GruParameters} per layer and
 * direction, in PyTorch's state_dict order (l0, l0_reverse, l1, ...; see {@link LstmStackShape}). A training loop
 * updates each layer's tensors in place; {@link #pack()} and {@link GruStackTrainer#updateWeights} turn them into
 * packed weights. Not thread-safe; owns the layers' parameters: {@link #close()} closes them all.
 */
public final class GruStackParameters implements AutoCloseable {

    private final LstmStackShape shape;
    private final GruParameters[] parts;

    private GruStackParameters(LstmStackShape shape, GruParameters[] parts) {
        this.shape = shape;
        this.parts = parts;
    }

    /**
     * PyTorch's initialisation of every layer and direction ({@link GruParameters#initialize}: uniform in
     * {@code [-1/sqrt(H), 1/sqrt(H))}), each from its own seed drawn from {@code seed}.
     *
     * @param shape the model's sizes, without projection (a GRU has none)
     * @param seed  seeds a {@link SplittableRandom} that draws one seed per layer and direction, in index order
     * @return new parameters, owned by the caller
     * @throws IllegalArgumentException for a shape with projection
     */
    public static GruStackParameters initialize(LstmStackShape shape, long seed) {
        Checks.notNull("shape", shape);
        if (shape.projectionSize() > 0) {
            throw new IllegalArgumentException("shape has projectionSize " + shape.projectionSize()
                    + ", but a GRU has no projection");
        }
        SplittableRandom seeds = new SplittableRandom(seed);
        GruParameters[] parts = new GruParameters[shape.stateCount()];
        try {
            for (int n = 0; n < parts.length; n++) {
                parts[n] = GruParameters.initialize(shape.layerInputSize(n / shape.directions()), shape.hiddenSize(),
                        seeds.nextLong());
            }
        } catch (RuntimeException | Error e) {
            closeAll(parts);
            throw e;
        }
        return new GruStackParameters(shape, parts);
    }

    /**
     * A stack of the given layers' parameters, which it owns from then on. If they do not fit together, nothing is
     * taken: the caller still owns them.
     *
     * @param bidirectional whether each layer has a reverse direction (then the layers come in pairs)
     * @param layers        l0 (, l0_reverse), l1 (, l1_reverse), ...: sizes as in {@link GruStackWeights#of}
     * @return the new stack; its {@link #close()} closes {@code layers}
     * @throws IllegalArgumentException naming the first layer that does not fit, and why
     */
    public static GruStackParameters of(boolean bidirectional, GruParameters... layers) {
        Checks.notNull("layers", layers);
        int[] inputSizes = new int[layers.length];
        int[] hiddenSizes = new int[layers.length];
        for (int n = 0; n < layers.length; n++) {
            inputSizes[n] = Checks.notNull("layers[" + n + "]", layers[n]).inputSize();
            hiddenSizes[n] = layers[n].hiddenSize();
        }
        LstmStackShape shape = LstmStackShape.ofParts("layers", bidirectional, layers, inputSizes, hiddenSizes,
                new int[layers.length]);
        return new GruStackParameters(shape, layers.clone());
    }

    /** {@return the sizes of this model, as given at construction or inferred from the layers} */
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
    public GruParameters layer(int layer, int direction) {
        return parts[shape.index(layer, direction)];
    }

    /**
     * Packs the current values into new weights for the preferred kernel (validated like any weights).
     *
     * @return new weights of every layer and direction, owned by the caller; later updates do not reach them
     * @throws IllegalArgumentException for a NaN or infinite value, naming the tensor and the element
     */
    public GruStackWeights pack() {
        return pack(Backend.PREFERRED);
    }

    /**
     * Packs the current values into new weights for {@code backend}.
     *
     * @param backend the kernel family to pack every layer for, not null
     * @return new weights of every layer and direction, owned by the caller; later updates do not reach them
     * @throws IllegalArgumentException for a NaN or infinite value, naming the layer, the tensor and the element
     */
    public GruStackWeights pack(Backend backend) {
        Checks.notNull("backend", backend);
        GruWeights[] packed = new GruWeights[parts.length];
        try {
            for (int n = 0; n < parts.length; n++) {
                packed[n] = packPart(n, backend);
            }
            return GruStackWeights.of(shape.bidirectional(), packed);
        } catch (RuntimeException | Error e) {
            for (GruWeights part : packed) {
                if (part != null) {
                    part.close();
                }
            }
            throw e;
        }
    }

    /** Packs part {@code n}; a value it refuses is named with its layer and direction. */
    private GruWeights packPart(int n, Backend backend) {
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
    GruParameters part(int index) {
        return parts[index];
    }

    private static void closeAll(GruParameters[] parts) {
        for (GruParameters part : parts) {
            if (part != null) {
                part.close();
            }
        }
    }
}
