package dev.vlstm;

import java.lang.foreign.MemorySegment;

import dev.vlstm.engine.PackedLayer;
import dev.vlstm.kernel.Family;
import dev.vlstm.kernel.GateLayout;

/**
 * The weights of one LSTM layer, validated and repacked once into the kernel's gate-interleaved blocked layout
 * ({@code [block][k][gate][lane]}: one broadcast input value and four FMAs give the four gate pre-activations of a
 * block of hidden units; docs/architecture.md, "Packed weights"), off-heap.
 *
 * <p>Input is PyTorch's {@code nn.LSTM} convention: {@code weight_ih [4H][I]}, {@code weight_hh [4H][H]},
 * {@code bias_ih [4H]}, {@code bias_hh [4H]}, row-major floats in native byte order, gate order i, f, g, o.
 * The cell is {@code i,f,o = σ(W x + b_ih + U h + b_hh)}, {@code g = tanh(...)}, {@code c' = f*c + i*g},
 * {@code h' = o*tanh(c')}.
 *
 * <p>With PyTorch's projection ({@code proj_size} = P, 0 &lt; P &lt; H; the {@code fromPyTorch} overloads that take
 * {@code projectionSize}), the cell output {@code m = o*tanh(c')} is projected to {@code h' = W_hr m}
 * ({@code weight_hr [P][H]}, no bias), which is the output y and the next step's recurrent input, so
 * {@code weight_hh} is {@code [4H][P]}; h is {@code [B][P]}, c stays {@code [B][H]}. W_hr is packed once in the
 * blocked layout of a plain GEMM and always stored as float32, whatever the {@link WeightPrecision} of W and U.
 * {@link LstmRunner} and {@link LstmTrainer} run such weights, and so do the stack classes.
 *
 * <p>With peephole connections (Graves 2012; ONNX's P input; the overloads that take {@code peepholes}), the input
 * and forget gates also see the cell before the step and the output gate the cell after it:
 * {@code i,f = σ(... + p_{i,f}*c)}, {@code c' = f*c + i*g}, {@code o = σ(... + p_o*c')}. The peepholes are one
 * tensor {@code [3][H]} holding p_i, p_f, p_o (vlstm's gate order without g; ONNX orders them i, o, f, which
 * {@link dev.vlstm.io.GateConventions#fromOnnx} reorders), stored as float32 whatever the {@link WeightPrecision}.
 * {@link LstmRunner} and {@link LstmTrainer} run them, with or without projection, and so do the stack classes.
 *
 * <p>Immutable once built and safe to share between any number of threads, each with its own
 * {@link LstmRunner}; the one exception is {@link LstmTrainer#updateWeights}, which a training loop calls between
 * steps and which must not overlap any use of these weights. Owns its off-heap memory: {@link #close()} frees it,
 * after which runners built on it fail with an {@link IllegalStateException}.
 */
public final class LstmWeights implements AutoCloseable {

    private final OffHeap memory;
    private final Family family;
    private final WeightPrecision precision;
    private final PackedLayer layer;

    private LstmWeights(Family family, WeightPrecision precision, int inputSize, int hiddenSize,
                        int projectionSize, MemorySegment weightIh, MemorySegment weightHh, MemorySegment biasIh,
                        MemorySegment biasHh, MemorySegment weightHr, MemorySegment peepholes) {
        this.family = family;
        this.precision = precision;
        this.memory = OffHeap.open();
        try {
            layer = PackedLayer.lstm(memory::floats, family.lanes(), precision.format(), inputSize, hiddenSize,
                    projectionSize, weightIh, weightHh, biasIh, biasHh, weightHr, peepholes);
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
        return fromPyTorch(backend, precision, inputSize, hiddenSize, 0, weightIh, weightHh, biasIh, biasHh, null);
    }

    /**
     * Packs PyTorch-layout weights given as float arrays, with or without PyTorch's projection
     * ({@code proj_size}; see the class comment).
     *
     * @param backend        the kernel family to pack for, not null
     * @param precision      storage of W and U, not null; the biases and W_hr stay float
     * @param inputSize      I, features per input row, &ge; 1
     * @param hiddenSize     H, hidden units (width of c), &ge; 1
     * @param projectionSize P, width of h ({@code proj_size}), 1 &le; P &lt; H; or 0 for no projection
     * @param weightIh       {@code weight_ih_l0}, {@code [4H][I]}
     * @param weightHh       {@code weight_hh_l0}, {@code [4H][P]} ({@code [4H][H]} without projection)
     * @param biasIh         {@code bias_ih_l0}, {@code [4H]}, or null for none
     * @param biasHh         {@code bias_hh_l0}, {@code [4H]}, or null for none
     * @param weightHr       {@code weight_hr_l0}, {@code [P][H]}; null without projection
     * @return the packed weights, owned by the caller
     * @throws IllegalArgumentException as in the overloads without projection, and for P &lt; 0, P &ge; H, a
     *                                  {@code weightHr} of the wrong length, or a {@code weightHr} given with P = 0
     */
    public static LstmWeights fromPyTorch(Backend backend, WeightPrecision precision, int inputSize, int hiddenSize,
                                          int projectionSize, float[] weightIh, float[] weightHh, float[] biasIh,
                                          float[] biasHh, float[] weightHr) {
        return fromPyTorch(backend, precision, inputSize, hiddenSize, projectionSize, weightIh, weightHh, biasIh,
                biasHh, weightHr, null);
    }

    /**
     * Packs PyTorch-layout weights given as float arrays, with or without projection and with or without peephole
     * connections (see the class comment).
     *
     * @param backend        the kernel family to pack for, not null
     * @param precision      storage of W and U, not null; the biases, W_hr and the peepholes stay float
     * @param inputSize      I, features per input row, &ge; 1
     * @param hiddenSize     H, hidden units (width of c), &ge; 1
     * @param projectionSize P, width of h ({@code proj_size}), 1 &le; P &lt; H; or 0 for no projection
     * @param weightIh       {@code weight_ih_l0}, {@code [4H][I]}
     * @param weightHh       {@code weight_hh_l0}, {@code [4H][P]} ({@code [4H][H]} without projection)
     * @param biasIh         {@code bias_ih_l0}, {@code [4H]}, or null for none
     * @param biasHh         {@code bias_hh_l0}, {@code [4H]}, or null for none
     * @param weightHr       {@code weight_hr_l0}, {@code [P][H]}; null without projection
     * @param peepholes      p_i, p_f, p_o, {@code [3][H]}; null without peepholes
     * @return the packed weights, owned by the caller
     * @throws IllegalArgumentException as in the overload without {@code peepholes}, and for peepholes of the
     *                                  wrong length or holding a NaN or infinity
     */
    public static LstmWeights fromPyTorch(Backend backend, WeightPrecision precision, int inputSize, int hiddenSize,
                                          int projectionSize, float[] weightIh, float[] weightHh, float[] biasIh,
                                          float[] biasHh, float[] weightHr, float[] peepholes) {
        return fromPyTorch(backend, precision, inputSize, hiddenSize, projectionSize,
                MemorySegment.ofArray(Checks.notNull("weightIh", weightIh)),
                MemorySegment.ofArray(Checks.notNull("weightHh", weightHh)),
                biasIh == null ? null : MemorySegment.ofArray(biasIh),
                biasHh == null ? null : MemorySegment.ofArray(biasHh),
                weightHr == null ? null : MemorySegment.ofArray(weightHr),
                peepholes == null ? null : MemorySegment.ofArray(peepholes));
    }

    /**
     * Packs PyTorch-layout weights held in memory segments (heap or native, any alignment, only read during this
     * call), with or without PyTorch's projection ({@code proj_size}; see the class comment).
     *
     * @param backend        the kernel family to pack for, not null
     * @param precision      storage of W and U, not null; the biases and W_hr stay float
     * @param inputSize      I, features per input row, &ge; 1
     * @param hiddenSize     H, hidden units (width of c), &ge; 1
     * @param projectionSize P, width of h ({@code proj_size}), 1 &le; P &lt; H; or 0 for no projection
     * @param weightIh       {@code weight_ih_l0}, {@code [4H][I]} floats
     * @param weightHh       {@code weight_hh_l0}, {@code [4H][P]} floats ({@code [4H][H]} without projection)
     * @param biasIh         {@code bias_ih_l0}, {@code [4H]} floats, or null for none
     * @param biasHh         {@code bias_hh_l0}, {@code [4H]} floats, or null for none
     * @param weightHr       {@code weight_hr_l0}, {@code [P][H]} floats; null without projection
     * @return the packed weights, owned by the caller; they do not refer to the segments
     * @throws IllegalArgumentException as in the overloads without projection, and for P &lt; 0, P &ge; H, a
     *                                  {@code weightHr} of the wrong size, or a {@code weightHr} given with P = 0
     */
    public static LstmWeights fromPyTorch(Backend backend, WeightPrecision precision, int inputSize, int hiddenSize,
                                          int projectionSize, MemorySegment weightIh, MemorySegment weightHh,
                                          MemorySegment biasIh, MemorySegment biasHh, MemorySegment weightHr) {
        return fromPyTorch(backend, precision, inputSize, hiddenSize, projectionSize, weightIh, weightHh, biasIh,
                biasHh, weightHr, null);
    }

    /**
     * Packs PyTorch-layout weights held in memory segments (heap or native, any alignment, only read during this
     * call), with or without projection and with or without peephole connections (see the class comment).
     *
     * @param backend        the kernel family to pack for, not null
     * @param precision      storage of W and U, not null; the biases, W_hr and the peepholes stay float
     * @param inputSize      I, features per input row, &ge; 1
     * @param hiddenSize     H, hidden units (width of c), &ge; 1
     * @param projectionSize P, width of h ({@code proj_size}), 1 &le; P &lt; H; or 0 for no projection
     * @param weightIh       {@code weight_ih_l0}, {@code [4H][I]} floats
     * @param weightHh       {@code weight_hh_l0}, {@code [4H][P]} floats ({@code [4H][H]} without projection)
     * @param biasIh         {@code bias_ih_l0}, {@code [4H]} floats, or null for none
     * @param biasHh         {@code bias_hh_l0}, {@code [4H]} floats, or null for none
     * @param weightHr       {@code weight_hr_l0}, {@code [P][H]} floats; null without projection
     * @param peepholes      p_i, p_f, p_o, {@code [3][H]} floats; null without peepholes
     * @return the packed weights, owned by the caller; they do not refer to the segments
     * @throws IllegalArgumentException as in the overload without {@code peepholes}, and for peepholes of the
     *                                  wrong size or holding a NaN or infinity (the message names the element)
     */
    public static LstmWeights fromPyTorch(Backend backend, WeightPrecision precision, int inputSize, int hiddenSize,
                                          int projectionSize, MemorySegment weightIh, MemorySegment weightHh,
                                          MemorySegment biasIh, MemorySegment biasHh, MemorySegment weightHr,
                                          MemorySegment peepholes) {
        Checks.notNull("backend", backend);
        Checks.notNull("precision", precision);
        Checks.positive("inputSize", inputSize);
        Checks.positive("hiddenSize", hiddenSize);
        Checks.projection(projectionSize, hiddenSize, weightHr);
        boolean projected = projectionSize > 0;
        int recurrentDepth = projected ? projectionSize : hiddenSize;
        long gateRows = 4L * hiddenSize;
        Checks.floats("weightIh", weightIh, "4H", gateRows, "I", inputSize);
        Checks.floats("weightHh", weightHh, "4H", gateRows, projected ? "P" : "H", recurrentDepth);
        if (projected) {
            Checks.floats("weightHr", weightHr, "P", projectionSize, "H", hiddenSize);
        }
        if (biasIh != null) {
            Checks.floats("biasIh", biasIh, "4H", gateRows);
        }
        if (biasHh != null) {
            Checks.floats("biasHh", biasHh, "4H", gateRows);
        }
        if (peepholes != null) {
            Checks.floats("peepholes", peepholes, "3", 3, "H", hiddenSize);
        }
        Checks.finite("weightIh", weightIh, inputSize);
        Checks.finite("weightHh", weightHh, recurrentDepth);
        if (biasIh != null) {
            Checks.finite("biasIh", biasIh, 0);
        }
        if (biasHh != null) {
            Checks.finite("biasHh", biasHh, 0);
        }
        if (projected) {
            Checks.finite("weightHr", weightHr, hiddenSize);
        }
        if (peepholes != null) {
            Checks.finite("peepholes", peepholes, hiddenSize);
        }
        return new LstmWeights(backend.family(), precision, inputSize, hiddenSize, projectionSize, weightIh, weightHh,
                biasIh, biasHh, weightHr, peepholes);
    }

    /**
     * Repacks new values in place (see LstmTrainer.updateWeights); checked like weights at load, every tensor
     * before any is packed, so that a refused update changes nothing.
     */
    void repack(LstmParameters parameters) {
        checkOpen();
        Checks.finite("weightIh", parameters.weightIh(), inputSize());
        Checks.finite("weightHh", parameters.weightHh(), outputSize());
        Checks.finite("biasIh", parameters.biasIh(), 0);
        Checks.finite("biasHh", parameters.biasHh(), 0);
        if (layer.projection() != null) {
            Checks.finite("weightHr", parameters.weightHr(), hiddenSize());
        }
        if (hasPeepholes()) {
            Checks.finite("peepholes", parameters.peepholes(), hiddenSize());
        }
        layer.repackLstm(parameters.weightIh(), parameters.weightHh(), parameters.biasIh(), parameters.biasHh(),
                parameters.weightHr(), parameters.peepholes());
    }

    /** {@return I: features per input row} */
    public int inputSize() {
        return layer.layout().inputSize();
    }

    /** {@return H: hidden units, the width of c (and of h without projection)} */
    public int hiddenSize() {
        return layer.layout().hiddenSize();
    }

    /** {@return P: PyTorch's {@code proj_size}, the width of h with projection; 0 without} */
    public int projectionSize() {
        return layer.projectionSize();
    }

    /** {@return the width of h, y and the recurrent input: P with projection, H without} */
    public int outputSize() {
        return layer.recurrent().depth();
    }

    /** {@return whether the gates have peephole connections (see the class comment)} */
    public boolean hasPeepholes() {
        return layer.cellRow() != null;
    }

    /** {@return the name of the kernel these weights are packed for, e.g. {@code "vector-512"}} */
    public String kernelName() {
        return family.name();
    }

    /**
     * {@return how W and U are stored: {@link WeightPrecision#FLOAT32} unless another precision was chosen when
     * packing}
     */
    public WeightPrecision precision() {
        return precision;
    }

    /** {@return the off-heap bytes held by the packed weights (with INT8's scales), bias, projection and peepholes} */
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
            throw new IllegalStateException("these LstmWeights are closed");
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

    /** The projection GEMM's layout ({@link GateLayout#plain}), or null without projection. */
    GateLayout projectionLayout() {
        return layer.projection() == null ? null : layer.projection().layout();
    }

    /** W_hr packed for {@link #projectionLayout()} in float32; only with projection. */
    MemorySegment packedProjectionWeights() {
        return layer.projection().data();
    }

    /** The projection GEMM's zero bias row, or null without projection. */
    MemorySegment projectionBias() {
        return layer.projectionBias();
    }
}
