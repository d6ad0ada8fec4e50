package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * The trainable parameters of one GRU layer, off-heap and writable, in PyTorch's {@code nn.GRU} layouts and gate order
 * r, z, n: {@code weightIh [3H][I]}, {@code weightHh [3H][H]}, {@code biasIh [3H]}, {@code biasHh [3H]}, row-major
 * floats. A training loop updates them in place and loads them with {@link GruTrainer#updateWeights}; {@link #pack()}
 * turns them into new packed weights. Not thread-safe; owns its memory.
 */
public final class GruParameters implements AutoCloseable {

    private final int inputSize;
    private final int hiddenSize;
    private final OffHeap memory;
    private final MemorySegment weightIh;
    private final MemorySegment weightHh;
    private final MemorySegment biasIh;
    private final MemorySegment biasHh;

    private GruParameters(int inputSize, int hiddenSize) {
        this.inputSize = Checks.positive("inputSize", inputSize);
        this.hiddenSize = Checks.positive("hiddenSize", hiddenSize);
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

    /**
     * PyTorch's initialisation of {@code nn.GRU}, seeded: every weight and bias uniform in
     * {@code [-1/sqrt(H), 1/sqrt(H))}.
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param seed       seeds a {@link SplittableRandom}: the same seed gives the same values (not PyTorch's draws)
     * @return new parameters, owned by the caller
     * @throws IllegalArgumentException for a size &lt; 1
     */
    public static GruParameters initialize(int inputSize, int hiddenSize, long seed) {
        GruParameters parameters = new GruParameters(inputSize, hiddenSize);
        SplittableRandom random = new SplittableRandom(seed);
        double bound = 1 / Math.sqrt(hiddenSize);
        for (MemorySegment tensor : new MemorySegment[]{parameters.weightIh, parameters.weightHh, parameters.biasIh,
                parameters.biasHh}) {
            for (long n = 0; n < tensor.byteSize() / Float.BYTES; n++) {
                tensor.setAtIndex(ValueLayout.JAVA_FLOAT, n, (float) ((random.nextDouble() * 2 - 1) * bound));
            }
        }
        return parameters;
    }

    /**
     * A copy of PyTorch-layout parameters; a null bias becomes zeros. Shapes as in {@link GruWeights}.
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param weightIh   {@code weight_ih_l0}, {@code [3H][I]}
     * @param weightHh   {@code weight_hh_l0}, {@code [3H][H]}
     * @param biasIh     {@code bias_ih_l0}, {@code [3H]}, or null for zeros
     * @param biasHh     {@code bias_hh_l0}, {@code [3H]}, or null for zeros
     * @return new parameters, owned by the caller; later changes to the arrays do not reach them
     * @throws IllegalArgumentException for a size &lt; 1 or an array of the wrong length (values are checked when
     *                                  packed)
     */
    public static GruParameters fromPyTorch(int inputSize, int hiddenSize, float[] weightIh, float[] weightHh,
                                            float[] biasIh, float[] biasHh) {
        GruParameters parameters = new GruParameters(inputSize, hiddenSize);
        try {
            long gateRows = 3L * hiddenSize;
            copy(Checks.floats("weightIh", MemorySegment.ofArray(Checks.notNull("weightIh", weightIh)), "3H",
                    gateRows, "I", inputSize), parameters.weightIh);
            copy(Checks.floats("weightHh", MemorySegment.ofArray(Checks.notNull("weightHh", weightHh)), "3H",
                    gateRows, "H", hiddenSize), parameters.weightHh);
            if (biasIh != null) {
                copy(Checks.floats("biasIh", MemorySegment.ofArray(biasIh), "3H", gateRows), parameters.biasIh);
            }
            if (biasHh != null) {
                copy(Checks.floats("biasHh", MemorySegment.ofArray(biasHh), "3H", gateRows), parameters.biasHh);
            }
            return parameters;
        } catch (RuntimeException e) {
            parameters.close();
            throw e;
        }
    }

    private static void copy(MemorySegment source, MemorySegment target) {
        MemorySegment.copy(source, 0, target, 0, target.byteSize());
    }

    /**
     * Packs the current values into new weights for the preferred kernel (validated like any weights).
     *
     * @return new weights, owned by the caller; later updates of these parameters do not reach them
     * @throws IllegalArgumentException for a NaN or infinite value, naming the tensor and the element
     * @throws IllegalStateException    if these parameters are closed
     */
    public GruWeights pack() {
        return pack(Backend.PREFERRED);
    }

    /**
     * Packs the current values into new weights for {@code backend}.
     *
     * @param backend the kernel family to pack for, not null
     * @return new weights, owned by the caller; later updates of these parameters do not reach them
     * @throws IllegalArgumentException for a NaN or infinite value, naming the tensor and the element
     * @throws IllegalStateException    if these parameters are closed
     */
    public GruWeights pack(Backend backend) {
        checkOpen();
        return GruWeights.fromPyTorch(backend, inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh);
    }

    /** {@return I: features per input row, the columns of {@link #weightIh()}} */
    public int inputSize() {
        return inputSize;
    }

    /** {@return H: hidden units, a third of the rows of {@link #weightIh()}} */
    public int hiddenSize() {
        return hiddenSize;
    }

    /** {@return W_ih, {@code [3H][I]} floats: the tensor itself, writable, valid until {@link #close()}} */
    public MemorySegment weightIh() {
        checkOpen();
        return weightIh;
    }

    /** {@return W_hh, {@code [3H][H]} floats: the tensor itself, writable, valid until {@link #close()}} */
    public MemorySegment weightHh() {
        checkOpen();
        return weightHh;
    }

    /** {@return b_ih, {@code [3H]} floats: the tensor itself, writable, valid until {@link #close()}} */
    public MemorySegment biasIh() {
        checkOpen();
        return biasIh;
    }

    /** {@return b_hh, {@code [3H]} floats: the tensor itself, writable, valid until {@link #close()}} */
    public MemorySegment biasHh() {
        checkOpen();
        return biasHh;
    }

    /** Frees the parameters. Closing twice is harmless. */
    @Override
    public void close() {
        memory.close();
    }

    private void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("these GruParameters are closed");
        }
    }
}
