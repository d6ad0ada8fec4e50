package dev.vlstm;


import java.util.ArrayList;
import java.util.List;

import dev.vlstm.engine.PackedLayer;
import dev.vlstm.kernel.ColdStart;
import dev.vlstm.kernel.Family;
import dev.vlstm.kernel.PackedMatrix;

/**
 * A whole model's weights packed once for one kernel family: one {@link PackedLayer} per layer and direction
 * ({@code [layer·D + direction]}), in one block of the library's off-heap memory, which {@link #close()} frees. What
 * a {@link Model} holds and its runners, states and trainers read; a trainer repacks it in place
 * ({@link #repack}).
 */
final class PackedModel implements AutoCloseable {

    /** The state_dict stems of a part's tensors in messages, in the order of {@link ModelTensors.Part}. */
    private static final String[] TENSORS = {"weightIh", "weightHh", "biasIh", "biasHh", "weightHr", "peepholes"};

    private final RnnShape shape;
    private final WeightPrecision precision;
    private final Family family;
    private final PackedLayer[] parts;
    /**
     * Each part's tensor names for messages ("layer 1 reverse: weightIh", ...), made once so that a training step's
     * {@link #repack} builds no strings.
     */
    private final String[][] tensorNames;
    private final OffHeap memory;
    /** When the runners' teams run the cold kernel: while a background warm-up runs ({@link BackgroundWarmUps}). */
    private final ColdStart coldStart = new ColdStart();

    private PackedModel(ModelTensors tensors, Backend backend, WeightPrecision precision) {
        this.shape = tensors.shape();
        this.precision = precision;
        this.family = backend.family();
        this.parts = new PackedLayer[shape.stateCount()];
        this.tensorNames = names(shape);
        checkFinite(tensors);
        this.memory = OffHeap.open();
        try {
            for (int n = 0; n < parts.length; n++) {
                ModelTensors.Part part = tensors.part(n);
                int inputSize = shape.layerInputSize(n / shape.direction().count());
                try {
                    parts[n] = switch (shape.cell()) {
                        case GRU -> PackedLayer.gru(memory::floats, family.lanes(), precision.format(), inputSize,
                                shape.hiddenSize(), part.weightIh(), part.weightHh(), part.biasIh(), part.biasHh());
                        case CIFG -> PackedLayer.cifg(memory::floats, family.lanes(), precision.format(), inputSize,
                                shape.hiddenSize(), shape.projectionSize(), part.weightIh(), part.weightHh(), part.biasIh(),
                                part.biasHh(), part.weightHr(), part.peepholes());
                        case LSTM -> PackedLayer.lstm(memory::floats, family.lanes(), precision.format(), inputSize,
                                shape.hiddenSize(), shape.projectionSize(), part.weightIh(), part.weightHh(),
                                part.biasIh(), part.biasHh(), part.weightHr(), part.peepholes());
                    };
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException(ModelTensors.describe(shape, n) + ": " + e.getMessage(), e);
                }
            }
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    /**
     * Packs {@code tensors} with {@code precision} for {@code backend}'s kernels.
     *
     * @throws IllegalArgumentException for a NaN or infinite value, or a weight beyond what the precision holds,
     *                                  naming its layer, tensor and element
     */
    static PackedModel pack(ModelTensors tensors, Backend backend, WeightPrecision precision) {
        return new PackedModel(tensors, backend, precision);
    }

    private static String[][] names(RnnShape shape) {
        String[][] names = new String[shape.stateCount()][TENSORS.length];
        for (int n = 0; n < names.length; n++) {
            for (int k = 0; k < TENSORS.length; k++) {
                names[n][k] = ModelTensors.describe(shape, n) + ": " + TENSORS[k];
            }
        }
        return names;
    }

    /**
     * Throws at the first NaN or infinity of {@code tensors}, naming its part, tensor and element. Allocates nothing
     * for finite values.
     */
    private void checkFinite(ModelTensors tensors) {
        for (int n = 0; n < parts.length; n++) {
            ModelTensors.Part part = tensors.part(n);
            String[] names = tensorNames[n];
            Checks.finite(names[0], part.weightIh(), shape.layerInputSize(n / shape.direction().count()));
            Checks.finite(names[1], part.weightHh(), shape.hiddenStateSize());
            Checks.finite(names[2], part.biasIh(), 0);
            Checks.finite(names[3], part.biasHh(), 0);
            if (part.weightHr() != null) {
                Checks.finite(names[4], part.weightHr(), shape.hiddenSize());
            }
            if (part.peepholes() != null) {
                Checks.finite(names[5], part.peepholes(), shape.hiddenSize());
            }
        }
    }

    /**
     * Repacks every part from {@code tensors}, of this model's shape, after checking every value (so that a refused
     * update changes nothing). Allocates nothing.
     *
     * @throws IllegalArgumentException for a NaN or infinite value, naming its part, tensor and element
     */
    void repack(ModelTensors tensors) {
        checkOpen();
        checkFinite(tensors);
        synchronized (coldStart) {
            coldStart.invalidate();
            for (int n = 0; n < parts.length; n++) {
                ModelTensors.Part part = tensors.part(n);
                if (shape.cell() == Cell.GRU) {
                    parts[n].repackGru(part.weightIh(), part.weightHh(), part.biasIh(), part.biasHh());
                } else {
                    parts[n].repackLstm(part.weightIh(), part.weightHh(), part.biasIh(), part.biasHh(),
                            part.weightHr(), part.peepholes());
                }
            }
        }
    }

    RnnShape shape() {
        return shape;
    }

    WeightPrecision precision() {
        return precision;
    }

    Family family() {
        return family;
    }

    /** The packed layers, {@code [layer·D + direction]}; the array itself, not to be changed. */
    PackedLayer[] parts() {
        return parts;
    }

    ColdStart coldStart() {
        return coldStart;
    }

    /** {@return every matrix a forward multiplies by: each part's W, U and (with a projection) W_hr} */
    List<PackedMatrix> matrices() {
        List<PackedMatrix> matrices = new ArrayList<>();
        for (PackedLayer part : parts) {
            matrices.add(part.input());
            matrices.add(part.recurrent());
            if (part.projection() != null) {
                matrices.add(part.projection());
            }
        }
        return matrices;
    }

    /** Part {@code n}'s packed layer. */
    PackedLayer part(int n) {
        return parts[n];
    }

    long packedBytes() {
        long bytes = 0;
        for (PackedLayer part : parts) {
            bytes += part.packedBytes();
        }
        return bytes;
    }

    void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("this Model is closed");
        }
    }

    /** Frees the packed weights. Closing twice is harmless. */
    @Override
    public void close() {
        memory.close();
    }
}
