package dev.vlstm;

import java.lang.foreign.MemorySegment;

import dev.vlstm.kernel.GateLayout;
import dev.vlstm.kernel.LstmKernel;
import dev.vlstm.kernel.WeightFormat;

/**
 * The weights of one LSTM layer, validated and repacked once into the kernel's gate-interleaved blocked layout
 * (DESIGN.md, idea 1), off-heap.
 *
 * <p>Input is PyTorch's {@code nn.LSTM} convention: {@code weight_ih [4H][I]}, {@code weight_hh [4H][H]},
 * {@code bias_ih [4H]}, {@code bias_hh [4H]}, row-major floats in native byte order, gate order i, f, g, o.
 * The cell is {@code i,f,o = σ(W x + b_ih + U h + b_hh)}, {@code g = tanh(...)}, {@code c' = f*c + i*g},
 * {@code h' = o*tanh(c')}.
 *
 * <p>Immutable once built and safe to share between any number of threads, each with its own
 * {@link LstmRunner}; the one exception is {@link LstmTrainer#updateWeights}, which a training loop calls between
 * steps and which must not overlap any use of these weights. Owns its off-heap memory: {@link #close()} frees it,
 * after which runners built on it fail with an {@link IllegalStateException}.
 */
public final class LstmWeights implements AutoCloseable {

    private final OffHeap memory;
    private final LstmKernel kernel;
    private final GateLayout layout;
    private final WeightPrecision precision;
    private final MemorySegment packedInputWeights;
    private final MemorySegment packedRecurrentWeights;
    private final MemorySegment packedBias;

    private LstmWeights(LstmKernel kernel, WeightPrecision precision, int inputSize, int hiddenSize,
                        MemorySegment weightIh, MemorySegment weightHh, MemorySegment biasIh, MemorySegment biasHh) {
        WeightFormat format = precision.format();
        this.kernel = kernel.withWeightFormat(format);
        this.precision = precision;
        this.layout = new GateLayout(inputSize, hiddenSize, kernel.lanes());
        this.memory = OffHeap.open();
        try {
            packedInputWeights = memory.floats(format.packedBytes(layout, inputSize) / Float.BYTES);
            packedRecurrentWeights = memory.floats(format.packedBytes(layout, hiddenSize) / Float.BYTES);
            packedBias = memory.floats(layout.gateRowFloats());
            format.pack(layout, "weightIh", weightIh, inputSize, packedInputWeights);
            format.pack(layout, "weightHh", weightHh, hiddenSize, packedRecurrentWeights);
            layout.packBias(biasIh, biasHh, packedBias);
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    /**
     * Packs PyTorch-layout weights given as float arrays for the preferred kernel.
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param weightIh   {@code weight_ih_l0}, {@code [4H][I]}
     * @param weightHh   {@code weight_hh_l0}, {@code [4H][H]}
     * @param biasIh     {@code bias_ih_l0}, {@code [4H]}, or null for none
     * @param biasHh     {@code bias_hh_l0}, {@code [4H]}, or null for none
     * @return the packed weights; the caller owns them and closes them after the last runner built on them
     * @throws IllegalArgumentException for sizes &lt; 1, arrays of the wrong length, or a NaN or infinite weight
     *                                  (the message names the tensor and the element)
     */
    public static LstmWeights fromPyTorch(int inputSize, int hiddenSize, float[] weightIh, float[] weightHh,
                                          float[] biasIh, float[] biasHh) {
        return fromPyTorch(Backend.PREFERRED, inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh);
    }

    /**
     * As {@link #fromPyTorch(int, int, float[], float[], float[], float[])} for the given backend.
     *
     * @param backend    the kernel family to pack for, not null
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param weightIh   {@code weight_ih_l0}, {@code [4H][I]}
     * @param weightHh   {@code weight_hh_l0}, {@code [4H][H]}
     * @param biasIh     {@code bias_ih_l0}, {@code [4H]}, or null for none
     * @param biasHh     {@code bias_hh_l0}, {@code [4H]}, or null for none
     * @return the packed weights, owned by the caller
     * @throws IllegalArgumentException as in the overload without {@code backend}
     */
    public static LstmWeights fromPyTorch(Backend backend, int inputSize, int hiddenSize, float[] weightIh,
                                          float[] weightHh, float[] biasIh, float[] biasHh) {
        return fromPyTorch(backend, WeightPrecision.FLOAT32, inputSize, hiddenSize, weightIh, weightHh, biasIh,
                biasHh);
    }

    /**
     * As {@link #fromPyTorch(int, int, float[], float[], float[], float[])} for the given backend, with W and U
     * stored in {@code precision} (see {@link WeightPrecision} for the error it brings).
     *
     * @param backend    the kernel family to pack for, not null
     * @param precision  storage of W and U, not null; the biases stay float
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param weightIh   {@code weight_ih_l0}, {@code [4H][I]}
     * @param weightHh   {@code weight_hh_l0}, {@code [4H][H]}
     * @param biasIh     {@code bias_ih_l0}, {@code [4H]}, or null for none
     * @param biasHh     {@code bias_hh_l0}, {@code [4H]}, or null for none
     * @return the packed weights, owned by the caller
     * @throws IllegalArgumentException as in the float32 overload, and also for a weight that {@code precision}
     *                                  cannot hold (bfloat16 overflow)
     */
    public static LstmWeights fromPyTorch(Backend backend, WeightPrecision precision, int inputSize, int hiddenSize,
                                          float[] weightIh, float[] weightHh, float[] biasIh, float[] biasHh) {
        return fromPyTorch(backend, precision, inputSize, hiddenSize,
                MemorySegment.ofArray(Checks.notNull("weightIh", weightIh)),
                MemorySegment.ofArray(Checks.notNull("weightHh", weightHh)),
                biasIh == null ? null : MemorySegment.ofArray(biasIh),
                biasHh == null ? null : MemorySegment.ofArray(biasHh));
    }

    /**
     * Packs PyTorch-layout weights held in memory segments (heap or native, any alignment) for the preferred
     * kernel. The segments are only read during this call.
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param weightIh   {@code weight_ih_l0}, {@code [4H][I]} floats
     * @param weightHh   {@code weight_hh_l0}, {@code [4H][H]} floats
     * @param biasIh     {@code bias_ih_l0}, {@code [4H]} floats, or null for none
     * @param biasHh     {@code bias_hh_l0}, {@code [4H]} floats, or null for none
     * @return the packed weights, owned by the caller; they do not refer to the segments
     * @throws IllegalArgumentException for sizes &lt; 1, segments too small, or a NaN or infinite weight
     * @see #fromPyTorch(int, int, float[], float[], float[], float[])
     */
    public static LstmWeights fromPyTorch(int inputSize, int hiddenSize, MemorySegment weightIh,
                                          MemorySegment weightHh, MemorySegment biasIh, MemorySegment biasHh) {
        return fromPyTorch(Backend.PREFERRED, inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh);
    }

    /**
     * As {@link #fromPyTorch(int, int, MemorySegment, MemorySegment, MemorySegment, MemorySegment)} for the given
     * backend.
     *
     * @param backend    the kernel family to pack for, not null
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param weightIh   {@code weight_ih_l0}, {@code [4H][I]} floats
     * @param weightHh   {@code weight_hh_l0}, {@code [4H][H]} floats
     * @param biasIh     {@code bias_ih_l0}, {@code [4H]} floats, or null for none
     * @param biasHh     {@code bias_hh_l0}, {@code [4H]} floats, or null for none
     * @return the packed weights, owned by the caller
     * @throws IllegalArgumentException as in the overload without {@code backend}
     */
    public static LstmWeights fromPyTorch(Backend backend, int inputSize, int hiddenSize, MemorySegment weightIh,
                                          MemorySegment weightHh, MemorySegment biasIh, MemorySegment biasHh) {
        return fromPyTorch(backend, WeightPrecision.FLOAT32, inputSize, hiddenSize, weightIh, weightHh, biasIh,
                biasHh);
    }

    /**
     * As {@link #fromPyTorch(int, int, MemorySegment, MemorySegment, MemorySegment, MemorySegment)} for the given
     * backend, with W and U stored in {@code precision} (see {@link WeightPrecision} for the error it brings).
     *
     * @param backend    the kernel family to pack for, not null
     * @param precision  storage of W and U, not null; the biases stay float
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param weightIh   {@code weight_ih_l0}, {@code [4H][I]} floats
     * @param weightHh   {@code weight_hh_l0}, {@code [4H][H]} floats
     * @param biasIh     {@code bias_ih_l0}, {@code [4H]} floats, or null for none
     * @param biasHh     {@code bias_hh_l0}, {@code [4H]} floats, or null for none
     * @return the packed weights, owned by the caller; they do not refer to the segments
     * @throws IllegalArgumentException as in the float32 overload, and also for a weight that {@code precision}
     *                                  cannot hold (bfloat16 overflow)
     */
    public static LstmWeights fromPyTorch(Backend backend, WeightPrecision precision, int inputSize, int hiddenSize,
                                          MemorySegment weightIh, MemorySegment weightHh, MemorySegment biasIh,
                                          MemorySegment biasHh) {
        Checks.notNull("backend", backend);
        Checks.notNull("precision", precision);
        Checks.positive("inputSize", inputSize);
        Checks.positive("hiddenSize", hiddenSize);
        long gateRows = 4L * hiddenSize;
        Checks.floats("weightIh", weightIh, "4H", gateRows, "I", inputSize);
        Checks.floats("weightHh", weightHh, "4H", gateRows, "H", hiddenSize);
        if (biasIh != null) {
            Checks.floats("biasIh", biasIh, "4H", gateRows);
        }
        if (biasHh != null) {
            Checks.floats("biasHh", biasHh, "4H", gateRows);
        }
        Checks.finite("weightIh", weightIh, inputSize);
        Checks.finite("weightHh", weightHh, hiddenSize);
        if (biasIh != null) {
            Checks.finite("biasIh", biasIh, 0);
        }
        if (biasHh != null) {
            Checks.finite("biasHh", biasHh, 0);
        }
        return new LstmWeights(backend.kernel(), precision, inputSize, hiddenSize, weightIh, weightHh, biasIh,
                biasHh);
    }

    /** Repacks new values in place (see LstmTrainer.updateWeights); checked like weights at load. */
    void repack(LstmParameters parameters) {
        checkOpen();
        Checks.finite("weightIh", parameters.weightIh(), inputSize());
        Checks.finite("weightHh", parameters.weightHh(), hiddenSize());
        Checks.finite("biasIh", parameters.biasIh(), 0);
        Checks.finite("biasHh", parameters.biasHh(), 0);
        precision.format().pack(layout, "weightIh", parameters.weightIh(), inputSize(), packedInputWeights);
        precision.format().pack(layout, "weightHh", parameters.weightHh(), hiddenSize(), packedRecurrentWeights);
        layout.packBias(parameters.biasIh(), parameters.biasHh(), packedBias);
    }

    /** {@return I: features per input row} */
    public int inputSize() {
        return layout.inputSize();
    }

    /** {@return H: hidden units, the width of h and c} */
    public int hiddenSize() {
        return layout.hiddenSize();
    }

    /** {@return the name of the kernel these weights are packed for, e.g. {@code "vector-512"}} */
    public String kernelName() {
        return kernel.name();
    }

    /**
     * {@return how W and U are stored: {@link WeightPrecision#FLOAT32} unless another precision was chosen when
     * packing}
     */
    public WeightPrecision precision() {
        return precision;
    }

    /** {@return the off-heap bytes held by the packed weights (with INT8's scales) and bias} */
    public long packedBytes() {
        return packedInputWeights.byteSize() + packedRecurrentWeights.byteSize() + packedBias.byteSize();
    }

    /** Frees the packed weights. Closing twice is harmless. */
    @Override
    public void close() {
        memory.close();
    }

    void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("these LstmWeights are closed");
        }
    }

    LstmKernel kernel() {
        return kernel;
    }

    GateLayout layout() {
        return layout;
    }

    MemorySegment packedInputWeights() {
        return packedInputWeights;
    }

    MemorySegment packedRecurrentWeights() {
        return packedRecurrentWeights;
    }

    MemorySegment packedBias() {
        return packedBias;
    }

}
