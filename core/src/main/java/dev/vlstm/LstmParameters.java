package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * The trainable parameters of one LSTM layer, off-heap and writable, in PyTorch's layouts and gate order i, f, g, o:
 * {@code weightIh [4H][I]}, {@code weightHh [4H][H]}, {@code biasIh [4H]}, {@code biasHh [4H]}, row-major floats;
 * with PyTorch's projection ({@code proj_size} = P, see {@link LstmWeights}) {@code weightHh [4H][P]} and
 * {@code weightHr [P][H]}, which training updates like the other tensors. With
 * peephole connections (see {@link LstmWeights}) also {@code peepholes [3][H]} (p_i, p_f, p_o), which training
 * updates like the other tensors.
 * Optimizers update them in place; {@link #pack()} and {@link LstmTrainer#updateWeights} turn them into the
 * kernels' packed weights. Not thread-safe; owns its memory.
 */
public final class LstmParameters implements AutoCloseable {

    /** Forget-gate bias that {@link #initialize(int, int, long)} sets, so that cells start by remembering. */
    public static final float DEFAULT_FORGET_BIAS = 1f;

    private final LayerTensors tensors;

    private LstmParameters(int inputSize, int hiddenSize, int projectionSize, boolean peepholes) {
        this.tensors = new LayerTensors(inputSize, hiddenSize, projectionSize, peepholes, "LstmParameters");
    }

    /**
     * PyTorch's initialisation of {@code nn.LSTM}, seeded: every weight and bias uniform in
     * {@code [-1/sqrt(H), 1/sqrt(H))}; then the forget gate's bias is set to {@link #DEFAULT_FORGET_BIAS} (in
     * {@code biasIh}, with {@code biasHh}'s forget entries zero, so their sum is exactly that value).
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param seed       seeds a {@link SplittableRandom}: the same seed gives the same values (not the values
     *                   PyTorch would draw)
     * @return new parameters, owned by the caller
     * @throws IllegalArgumentException for a size &lt; 1
     */
    public static LstmParameters initialize(int inputSize, int hiddenSize, long seed) {
        return initialize(inputSize, hiddenSize, seed, DEFAULT_FORGET_BIAS);
    }

    /**
     * As {@link #initialize(int, int, long)} with the given forget-gate bias.
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param seed       seeds a {@link SplittableRandom}, as in {@link #initialize(int, int, long)}
     * @param forgetBias the value of {@code biasIh}'s forget-gate entries (rows H to 2H-1)
     * @return new parameters, owned by the caller
     * @throws IllegalArgumentException for a size &lt; 1
     */
    public static LstmParameters initialize(int inputSize, int hiddenSize, long seed, float forgetBias) {
        return initializeProjected(inputSize, hiddenSize, 0, seed, forgetBias);
    }

    /**
     * As {@link #initialize(int, int, long)}, with or without PyTorch's projection ({@code proj_size} = P; a name of
     * its own, so that no call meant for {@code initialize(I, H, seed, forgetBias)} can land here): then
     * {@code weightHh} is {@code [4H][P]} and {@code weightHr [P][H]} is drawn from the same
     * {@code [-1/sqrt(H), 1/sqrt(H))}, as PyTorch does (its bound is 1/sqrt(hidden_size) for every tensor).
     *
     * @param inputSize      I, features per input row, &ge; 1
     * @param hiddenSize     H, hidden units, &ge; 1
     * @param projectionSize P, 1 &le; P &lt; H, or 0 for no projection (which gives the values of
     *                       {@link #initialize(int, int, long)})
     * @param seed           seeds a {@link SplittableRandom}, as in {@link #initialize(int, int, long)}
     * @return new parameters, owned by the caller
     * @throws IllegalArgumentException for a size out of range
     */
    public static LstmParameters initializeProjected(int inputSize, int hiddenSize, int projectionSize, long seed) {
        return initializeProjected(inputSize, hiddenSize, projectionSize, seed, DEFAULT_FORGET_BIAS);
    }

    /**
     * As {@link #initializeProjected(int, int, int, long)} with the given forget-gate bias.
     *
     * @param inputSize      I, features per input row, &ge; 1
     * @param hiddenSize     H, hidden units, &ge; 1
     * @param projectionSize P, 1 &le; P &lt; H, or 0 for no projection
     * @param seed           seeds a {@link SplittableRandom}, as in {@link #initialize(int, int, long)}
     * @param forgetBias     the value of {@code biasIh}'s forget-gate entries (rows H to 2H-1)
     * @return new parameters, owned by the caller
     * @throws IllegalArgumentException for a size out of range
     */
    public static LstmParameters initializeProjected(int inputSize, int hiddenSize, int projectionSize, long seed,
                                                     float forgetBias) {
        Checks.positive("inputSize", inputSize);
        Checks.positive("hiddenSize", hiddenSize);
        Checks.projectionSize(projectionSize, hiddenSize);
        LstmParameters parameters = new LstmParameters(inputSize, hiddenSize, projectionSize, false);
        SplittableRandom random = new SplittableRandom(seed);
        double bound = 1 / Math.sqrt(hiddenSize);
        LayerTensors tensors = parameters.tensors;
        // W_hr last, so that a model without projection draws the values it always drew.
        MemorySegment[] drawn = tensors.weightHr == null
                ? new MemorySegment[]{tensors.weightIh, tensors.weightHh, tensors.biasIh, tensors.biasHh}
                : new MemorySegment[]{tensors.weightIh, tensors.weightHh, tensors.biasIh, tensors.biasHh,
                    tensors.weightHr};
        for (MemorySegment tensor : drawn) {
            for (long n = 0; n < tensor.byteSize() / Float.BYTES; n++) {
                tensor.setAtIndex(ValueLayout.JAVA_FLOAT, n, (float) ((random.nextDouble() * 2 - 1) * bound));
            }
        }
        for (int unit = 0; unit < hiddenSize; unit++) {
            tensors.biasIh.setAtIndex(ValueLayout.JAVA_FLOAT, hiddenSize + unit, forgetBias);
            tensors.biasHh.setAtIndex(ValueLayout.JAVA_FLOAT, hiddenSize + unit, 0f);
        }
        return parameters;
    }

    /**
     * A copy of PyTorch-layout parameters; a null bias becomes zeros. Shapes as in {@link LstmWeights}.
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param weightIh   {@code weight_ih_l0}, {@code [4H][I]}
     * @param weightHh   {@code weight_hh_l0}, {@code [4H][H]}
     * @param biasIh     {@code bias_ih_l0}, {@code [4H]}, or null for zeros
     * @param biasHh     {@code bias_hh_l0}, {@code [4H]}, or null for zeros
     * @return new parameters, owned by the caller; later changes to the arrays do not reach them
     * @throws IllegalArgumentException for a size &lt; 1 or an array of the wrong length (values are not checked
     *                                  here: {@link #pack()} refuses NaN and infinities)
     */
    public static LstmParameters fromPyTorch(int inputSize, int hiddenSize, float[] weightIh, float[] weightHh,
                                             float[] biasIh, float[] biasHh) {
        return fromPyTorch(inputSize, hiddenSize, 0, weightIh, weightHh, biasIh, biasHh, null);
    }

    /**
     * A copy of PyTorch-layout parameters with or without PyTorch's projection ({@code proj_size}); a null bias
     * becomes zeros. Shapes as in {@link LstmWeights}.
     *
     * @param inputSize      I, features per input row, &ge; 1
     * @param hiddenSize     H, hidden units (width of c), &ge; 1
     * @param projectionSize P, width of h ({@code proj_size}), 1 &le; P &lt; H; or 0 for no projection
     * @param weightIh       {@code weight_ih_l0}, {@code [4H][I]}
     * @param weightHh       {@code weight_hh_l0}, {@code [4H][P]} ({@code [4H][H]} without projection)
     * @param biasIh         {@code bias_ih_l0}, {@code [4H]}, or null for zeros
     * @param biasHh         {@code bias_hh_l0}, {@code [4H]}, or null for zeros
     * @param weightHr       {@code weight_hr_l0}, {@code [P][H]}; null without projection
     * @return new parameters, owned by the caller; later changes to the arrays do not reach them
     * @throws IllegalArgumentException for a size out of range, an array of the wrong length, or a
     *                                  {@code weightHr} given with P = 0 (values are not checked here:
     *                                  {@link #pack()} refuses NaN and infinities)
     * @throws NullPointerException     for a missing weight, or a null {@code weightHr} with P &gt; 0
     */
    public static LstmParameters fromPyTorch(int inputSize, int hiddenSize, int projectionSize, float[] weightIh,
                                             float[] weightHh, float[] biasIh, float[] biasHh, float[] weightHr) {
        return fromPyTorch(inputSize, hiddenSize, projectionSize, weightIh, weightHh, biasIh, biasHh, weightHr, null);
    }

    /**
     * A copy of PyTorch-layout parameters with or without projection and with or without peephole connections
     * (shapes as in {@link LstmWeights}); a null bias becomes zeros.
     *
     * @param inputSize      I, features per input row, &ge; 1
     * @param hiddenSize     H, hidden units (width of c), &ge; 1
     * @param projectionSize P, width of h ({@code proj_size}), 1 &le; P &lt; H; or 0 for no projection
     * @param weightIh       {@code weight_ih_l0}, {@code [4H][I]}
     * @param weightHh       {@code weight_hh_l0}, {@code [4H][P]} ({@code [4H][H]} without projection)
     * @param biasIh         {@code bias_ih_l0}, {@code [4H]}, or null for zeros
     * @param biasHh         {@code bias_hh_l0}, {@code [4H]}, or null for zeros
     * @param weightHr       {@code weight_hr_l0}, {@code [P][H]}; null without projection
     * @param peepholes      p_i, p_f, p_o, {@code [3][H]}; null without peepholes
     * @return new parameters, owned by the caller; later changes to the arrays do not reach them
     * @throws IllegalArgumentException as the overload without {@code peepholes}, and for peepholes of the wrong
     *                                  length
     * @throws NullPointerException     for a missing weight, or a null {@code weightHr} with P &gt; 0
     */
    public static LstmParameters fromPyTorch(int inputSize, int hiddenSize, int projectionSize, float[] weightIh,
                                             float[] weightHh, float[] biasIh, float[] biasHh, float[] weightHr,
                                             float[] peepholes) {
        Checks.positive("inputSize", inputSize);
        Checks.positive("hiddenSize", hiddenSize);
        Checks.projection(projectionSize, hiddenSize, weightHr);
        LstmParameters parameters = new LstmParameters(inputSize, hiddenSize, projectionSize, peepholes != null);
        try {
            long gateRows = 4L * hiddenSize;
            copy("weightIh", weightIh, parameters.tensors.weightIh, "4H", "I", inputSize);
            if (projectionSize > 0) {
                copy("weightHh", weightHh, parameters.tensors.weightHh, "4H", "P", projectionSize);
                copy("weightHr", weightHr, parameters.tensors.weightHr, "P", "H", hiddenSize);
            } else {
                copy("weightHh", weightHh, parameters.tensors.weightHh, "4H", "H", hiddenSize);
            }
            if (biasIh != null) {
                MemorySegment.copy(Checks.floats("biasIh", MemorySegment.ofArray(biasIh), "4H", gateRows), 0,
                        parameters.tensors.biasIh, 0, gateRows * Float.BYTES);
            }
            if (biasHh != null) {
                MemorySegment.copy(Checks.floats("biasHh", MemorySegment.ofArray(biasHh), "4H", gateRows), 0,
                        parameters.tensors.biasHh, 0, gateRows * Float.BYTES);
            }
            if (peepholes != null) {
                copy("peepholes", peepholes, parameters.tensors.peepholes, "3", "H", hiddenSize);
            }
            return parameters;
        } catch (RuntimeException e) {
            parameters.close();
            throw e;
        }
    }

    private static void copy(String name, float[] source, MemorySegment target, String rows, String columns,
                             int columnCount) {
        MemorySegment checked = Checks.floats(name, MemorySegment.ofArray(Checks.notNull(name, source)),
                rows, target.byteSize() / Float.BYTES / columnCount, columns, columnCount);
        MemorySegment.copy(checked, 0, target, 0, target.byteSize());
    }

    /**
     * Packs the current values into new weights for the preferred kernel (validated like any weights).
     *
     * @return new weights, owned by the caller; later updates of these parameters do not reach them
     * @throws IllegalArgumentException for a NaN or infinite value, naming the tensor and the element
     * @throws IllegalStateException    if these parameters are closed
     */
    public LstmWeights pack() {
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
    public LstmWeights pack(Backend backend) {
        tensors.checkOpen();
        return LstmWeights.fromPyTorch(backend, WeightPrecision.FLOAT32, tensors.inputSize, tensors.hiddenSize,
                tensors.projectionSize, tensors.weightIh, tensors.weightHh, tensors.biasIh, tensors.biasHh,
                tensors.weightHr, tensors.peepholes);
    }

    /**
     * I.
     *
     * @return features per input row: the columns of {@link #weightIh()}, &ge; 1
     */
    public int inputSize() {
        return tensors.inputSize;
    }

    /**
     * H.
     *
     * @return hidden units: a quarter of the rows of {@link #weightIh()}, &ge; 1
     */
    public int hiddenSize() {
        return tensors.hiddenSize;
    }

    /**
     * P: PyTorch's {@code proj_size}.
     *
     * @return the width of h with projection, or 0 without
     */
    public int projectionSize() {
        return tensors.projectionSize;
    }

    /**
     * The width of h and the columns of {@link #weightHh()}.
     *
     * @return P with projection, H without
     */
    public int outputSize() {
        return tensors.projectionSize > 0 ? tensors.projectionSize : tensors.hiddenSize;
    }

    /**
     * W_ih, {@code [4H][I]} floats, writable.
     *
     * @return the tensor itself, not a copy: writes change these parameters; valid until {@link #close()}
     */
    public MemorySegment weightIh() {
        tensors.checkOpen();
        return tensors.weightIh;
    }

    /**
     * W_hh, {@code [4H][H]} floats ({@code [4H][P]} with projection), writable.
     *
     * @return the tensor itself, not a copy: writes change these parameters; valid until {@link #close()}
     */
    public MemorySegment weightHh() {
        tensors.checkOpen();
        return tensors.weightHh;
    }

    /**
     * b_ih, {@code [4H]} floats, writable.
     *
     * @return the tensor itself, not a copy: writes change these parameters; valid until {@link #close()}
     */
    public MemorySegment biasIh() {
        tensors.checkOpen();
        return tensors.biasIh;
    }

    /**
     * b_hh, {@code [4H]} floats, writable.
     *
     * @return the tensor itself, not a copy: writes change these parameters; valid until {@link #close()}
     */
    public MemorySegment biasHh() {
        tensors.checkOpen();
        return tensors.biasHh;
    }

    /**
     * W_hr, {@code [P][H]} floats, writable: the projection {@code h = W_hr m}.
     *
     * @return the tensor itself, not a copy, valid until {@link #close()}; null without projection
     */
    public MemorySegment weightHr() {
        tensors.checkOpen();
        return tensors.weightHr;
    }

    /**
     * p_i, p_f, p_o, {@code [3][H]} floats, writable: the peephole connections (see {@link LstmWeights}).
     *
     * @return the tensor itself, not a copy, valid until {@link #close()}; null without peepholes
     */
    public MemorySegment peepholes() {
        tensors.checkOpen();
        return tensors.peepholes;
    }

    /** Frees the parameters. Closing twice is harmless. */
    @Override
    public void close() {
        tensors.close();
    }
}
