package dev.vlstm;

import java.lang.foreign.MemorySegment;

import dev.vlstm.engine.PackedLayer;
import dev.vlstm.kernel.Family;
import dev.vlstm.kernel.GateLayout;

/**
 * The weights of one GRU layer, validated and repacked once into the kernel's gate-interleaved blocked layout
 * ({@link GateLayout}: {@code [block][k][gate r,z,n][lane]}), off-heap, in float32.
 *
 * <p>Input is PyTorch's {@code nn.GRU} convention: {@code weight_ih [3H][I]}, {@code weight_hh [3H][H]},
 * {@code bias_ih [3H]}, {@code bias_hh [3H]}, row-major floats in native byte order, gate order r, z, n, with
 * "linear before reset": {@code r = σ(W_r x + b_ir + U_r h + b_hr)}, {@code z = σ(W_z x + b_iz + U_z h + b_hz)},
 * {@code n = tanh(W_n x + b_in + r*(U_n h + b_hn))}, {@code h' = (1 - z)*n + z*h}.
 *
 * <p>Immutable once built and safe to share between any number of threads, each with its own {@link GruRunner}; the
 * one exception is {@link GruTrainer#updateWeights}, which a training loop calls between steps and which must not
 * overlap any use of these weights.
 * Owns its off-heap memory: {@link #close()} frees it, after which runners built on it fail with an
 * {@link IllegalStateException}.
 */
public final class GruWeights implements AutoCloseable {

    private final OffHeap memory;
    private final Family family;
    private final PackedLayer layer;

    private GruWeights(Family family, int inputSize, int hiddenSize, MemorySegment weightIh,
                       MemorySegment weightHh, MemorySegment biasIh, MemorySegment biasHh) {
        this.family = family;
        this.memory = OffHeap.open();
        try {
            layer = PackedLayer.gru(memory::floats, family.lanes(), inputSize, hiddenSize, weightIh, weightHh, biasIh,
                    biasHh);
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
     * @param weightIh   {@code weight_ih_l0}, {@code [3H][I]}
     * @param weightHh   {@code weight_hh_l0}, {@code [3H][H]}
     * @param biasIh     {@code bias_ih_l0}, {@code [3H]}, or null for none
     * @param biasHh     {@code bias_hh_l0}, {@code [3H]}, or null for none
     * @return the packed weights; the caller owns them and closes them after the last runner built on them
     * @throws IllegalArgumentException for sizes &lt; 1, arrays of the wrong length, or a NaN or infinite weight
     *                                  (the message names the tensor and the element)
     */
    public static GruWeights fromPyTorch(int inputSize, int hiddenSize, float[] weightIh, float[] weightHh,
                                         float[] biasIh, float[] biasHh) {
        return fromPyTorch(Backend.PREFERRED, inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh);
    }

    /**
     * As {@link #fromPyTorch(int, int, float[], float[], float[], float[])} for the given backend.
     *
     * @param backend    the kernel family to pack for, not null
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param weightIh   {@code weight_ih_l0}, {@code [3H][I]}
     * @param weightHh   {@code weight_hh_l0}, {@code [3H][H]}
     * @param biasIh     {@code bias_ih_l0}, {@code [3H]}, or null for none
     * @param biasHh     {@code bias_hh_l0}, {@code [3H]}, or null for none
     * @return the packed weights, owned by the caller
     * @throws IllegalArgumentException as in the overload without {@code backend}
     */
    public static GruWeights fromPyTorch(Backend backend, int inputSize, int hiddenSize, float[] weightIh,
                                         float[] weightHh, float[] biasIh, float[] biasHh) {
        return fromPyTorch(backend, inputSize, hiddenSize,
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
     * @param weightIh   {@code weight_ih_l0}, {@code [3H][I]} floats
     * @param weightHh   {@code weight_hh_l0}, {@code [3H][H]} floats
     * @param biasIh     {@code bias_ih_l0}, {@code [3H]} floats, or null for none
     * @param biasHh     {@code bias_hh_l0}, {@code [3H]} floats, or null for none
     * @return the packed weights, owned by the caller; they do not refer to the segments
     * @throws IllegalArgumentException for sizes &lt; 1, segments of the wrong size, or a NaN or infinite weight
     */
    public static GruWeights fromPyTorch(int inputSize, int hiddenSize, MemorySegment weightIh,
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
     * @param weightIh   {@code weight_ih_l0}, {@code [3H][I]} floats
     * @param weightHh   {@code weight_hh_l0}, {@code [3H][H]} floats
     * @param biasIh     {@code bias_ih_l0}, {@code [3H]} floats, or null for none
     * @param biasHh     {@code bias_hh_l0}, {@code [3H]} floats, or null for none
     * @return the packed weights, owned by the caller; they do not refer to the segments
     * @throws IllegalArgumentException as in the overload without {@code backend}
     */
    public static GruWeights fromPyTorch(Backend backend, int inputSize, int hiddenSize, MemorySegment weightIh,
                                         MemorySegment weightHh, MemorySegment biasIh, MemorySegment biasHh) {
        Checks.notNull("backend", backend);
        Checks.positive("inputSize", inputSize);
        Checks.positive("hiddenSize", hiddenSize);
        long gateRows = 3L * hiddenSize;
        Checks.floats("weightIh", weightIh, "3H", gateRows, "I", inputSize);
        Checks.floats("weightHh", weightHh, "3H", gateRows, "H", hiddenSize);
        if (biasIh != null) {
            Checks.floats("biasIh", biasIh, "3H", gateRows);
        }
        if (biasHh != null) {
            Checks.floats("biasHh", biasHh, "3H", gateRows);
        }
        Checks.finite("weightIh", weightIh, inputSize);
        Checks.finite("weightHh", weightHh, hiddenSize);
        if (biasIh != null) {
            Checks.finite("biasIh", biasIh, 0);
        }
        if (biasHh != null) {
            Checks.finite("biasHh", biasHh, 0);
        }
        return new GruWeights(backend.family(), inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh);
    }

    /** Repacks new values in place (see GruTrainer.updateWeights); checked like weights at load. */
    void repack(GruParameters parameters) {
        checkOpen();
        Checks.finite("weightIh", parameters.weightIh(), inputSize());
        Checks.finite("weightHh", parameters.weightHh(), hiddenSize());
        Checks.finite("biasIh", parameters.biasIh(), 0);
        Checks.finite("biasHh", parameters.biasHh(), 0);
        layer.repackGru(parameters.weightIh(), parameters.weightHh(), parameters.biasIh(), parameters.biasHh());
    }

    /** {@return I: features per input row} */
    public int inputSize() {
        return layer.layout().inputSize();
    }

    /** {@return H: hidden units, the width of h} */
    public int hiddenSize() {
        return layer.layout().hiddenSize();
    }

    /** {@return the name of the kernel these weights are packed for, e.g. {@code "vector-512"}} */
    public String kernelName() {
        return family.name();
    }

    /** {@return the off-heap bytes held by the packed weights and biases} */
    public long packedBytes() {
        return layer.packedBytes();
    }

    /** Frees the packed weights. Closing twice is harmless. */
    @Override
    public void close() {
        memory.close();
    }

    void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("these GruWeights are closed");
        }
    }

    Family family() {
        return family;
    }

    PackedLayer layer() {
        return layer;
    }

    GateLayout layout() {
        return layer.layout();
    }
}
