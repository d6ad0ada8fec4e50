package dev.vlstm.reference;

import java.util.Arrays;
import java.util.Objects;

/**
 * The naive LSTM, forward and backward, written straight from the equations with plain loops and double arithmetic:
 * the oracle that tests compare the kernels with, and the baseline of the benchmarks. Obviously correct, not fast.
 *
 * <p>Weights in PyTorch's layout and gate order (i, f, g, o): {@code weightIh [4H][I]}, {@code weightHh [4H][H]},
 * {@code biasIh [4H]}, {@code biasHh [4H]} (either bias may be null). For each time step t and sequence b:
 * <pre>
 *   z = W x_t + b_ih + U h_{t-1} + b_hh        (4H values)
 *   i = σ(z_i)  f = σ(z_f)  g = tanh(z_g)  o = σ(z_o)
 *   c_t = f c_{t-1} + i g
 *   h_t = o tanh(c_t)
 * </pre>
 *
 * <p>{@link #backward} takes the gradients dy_t = ∂L/∂y_t of the outputs (y_t = h_t), ∂L/∂h_T and ∂L/∂c_T of
 * a loss L and goes back through time, t = T down to 1, carrying δh and δc, the gradients that reach h_t and c_t
 * through step t+1 (at t = T: ∂L/∂h_T and ∂L/∂c_T):
 * <pre>
 *   dh = dy_t + δh
 *   dc = dh o (1 - tanh²(c_t)) + δc
 *   do = dh tanh(c_t)   di = dc g   dg = dc i   df = dc c_{t-1}
 *   dz_i = di i (1 - i)   dz_f = df f (1 - f)   dz_g = dg (1 - g²)   dz_o = do o (1 - o)
 *   dW += dz x_tᵀ   dU += dz h_{t-1}ᵀ   db_ih = db_hh += dz
 *   dx_t = Wᵀ dz   δh = Uᵀ dz   δc = dc f
 * </pre>
 * after which δh and δc are ∂L/∂h_0 and ∂L/∂c_0.
 *
 * <p>Options: variable lengths per sequence (the {@code lengths} overloads), ONNX's cell clip
 * ({@link #withCellClip}) and PyTorch's projection ({@link #projected}, LSTMP with {@code proj_size} = P): the cell
 * output m_t = o tanh(c_t) ({@code [H]}) is projected to h_t = W_hr m_t ({@code [P]}, W_hr {@code [P][H]}), which is
 * both the output and the recurrent input, so U is {@code [4H][P]}. Its backward starts each step with
 * dm = W_hrᵀ dh and dW_hr += dh m_tᵀ, then runs the equations above with dm in place of dh (tanh(c_t) and o still
 * of H units), and δh = Uᵀ dz has P values.
 *
 * <p>Peephole connections (Graves 2012; ONNX's P input; {@link #withPeepholes}): with p_i, p_f, p_o of H values each,
 * the input and forget gates see c_{t-1} and the output gate sees c_t, as parts of their pre-activations:
 * <pre>
 *   i = σ(z_i + p_i c_{t-1})   f = σ(z_f + p_f c_{t-1})   c_t = f c_{t-1} + i g   o = σ(z_o + p_o c_t)
 * </pre>
 * (with a cell clip, these sums are what is clipped). The backward then adds, per unit and with the dz above,
 * dc += dz_o p_o before dc feeds dz_i, dz_f, dz_g, and δc = dc f + dz_i p_i + dz_f p_f; dp_i += dz_i c_{t-1},
 * dp_f += dz_f c_{t-1}, dp_o += dz_o c_t.
 *
 * <p>The coupled input-forget gate (CIFG; ONNX's {@code input_forget = 1}; {@link #coupledInputForget}) has no forget
 * weights: f = 1 - i. Its tensors hold three gates in the order (i, g, o): {@code weightIh [3H][I]},
 * {@code weightHh [3H][H or P]}, {@code biasIh}, {@code biasHh [3H]}, peepholes {@code [2][H]} (p_i, p_o). With
 * c_t = (1 - i) c_{t-1} + i g, the gradient through i is di = dc (g - c_{t-1}) (both the i g and the f c_{t-1} term
 * depend on i), and δc = dc (1 - i) (+ dz_i p_i with peepholes); dz_g, dz_o, the projection and the clip are as
 * above, and there is no dz_f. Its {@link Gradients} have the same three-gate layouts.
 *
 * <p>Arguments are checked: a missing array throws NullPointerException ("x must not be null"); sizes below 1,
 * negative counts and arrays whose length does not match their layout throw IllegalArgumentException naming the
 * argument ("x must hold 18 doubles, got 17", "floats" for the float API).
 */
public final class ReferenceLstm implements ReferenceCell {

    private final int inputSize;
    private final int hiddenSize;
    /** P, or 0 without projection. */
    private final int projectionSize;
    /** Whether f = 1 - i (CIFG): the tensors then hold the gates (i, g, o), else (i, f, g, o). */
    private final boolean coupledInputForget;
    private final Tensor weightIh;
    private final Tensor weightHh;
    private final Tensor biasIh;
    private final Tensor biasHh;
    /** W_hr {@code [P][H]}, or null without projection. */
    private final Tensor weightHr;
    /** p_i, p_f, p_o {@code [3][H]} (CIFG: p_i, p_o {@code [2][H]}), or null without peepholes. */
    private final double[] peepholes;
    private final double cellClip;

    /**
     * A weight tensor read as doubles. Kept in the precision it was given: as floats, the forward streams half
     * the bytes of doubles, and the benchmarks' baseline stays what it was (a float model, double arithmetic);
     * as doubles, finite differences can perturb a weight by 1e-6 exactly enough.
     */
    private sealed interface Tensor {
        double at(int index);

        int length();
    }

    private record FloatTensor(float[] values) implements Tensor {
        @Override
        public double at(int index) {
            return values[index];
        }

        @Override
        public int length() {
            return values.length;
        }
    }

    private record DoubleTensor(double[] values) implements Tensor {
        @Override
        public double at(int index) {
            return values[index];
        }

        @Override
        public int length() {
            return values.length;
        }
    }

    /**
     * Copies the weights (kept as floats, read as doubles); sizes are checked.
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param weightIh   {@code [4H][I]}, row-major
     * @param weightHh   {@code [4H][H]}, row-major
     * @param biasIh     {@code [4H]}, or null for none
     * @param biasHh     {@code [4H]}, or null for none
     * @throws IllegalArgumentException for a size &lt; 1 or an array of the wrong length
     */
    public ReferenceLstm(int inputSize, int hiddenSize, float[] weightIh, float[] weightHh, float[] biasIh,
                         float[] biasHh) {
        this(inputSize, hiddenSize, 0, false, floats(weightIh), floats(weightHh),
                floats(biasIh), floats(biasHh), null);
    }

    /**
     * Copies the weights, so later changes to the arrays do not affect the model; sizes are checked.
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param weightIh   {@code [4H][I]}, row-major
     * @param weightHh   {@code [4H][H]}, row-major
     * @param biasIh     {@code [4H]}, or null for none
     * @param biasHh     {@code [4H]}, or null for none
     * @throws IllegalArgumentException for a size &lt; 1 or an array of the wrong length
     */
    public ReferenceLstm(int inputSize, int hiddenSize, double[] weightIh, double[] weightHh, double[] biasIh,
                         double[] biasHh) {
        this(inputSize, hiddenSize, 0, false, doubles(weightIh), doubles(weightHh),
                doubles(biasIh), doubles(biasHh), null);
    }

    /**
     * A model with PyTorch's projection ({@code proj_size} = P, see the class comment), weights kept as floats.
     *
     * @param inputSize      I, features per input row, &ge; 1
     * @param hiddenSize     H, hidden units (width of c and m), &ge; 2
     * @param projectionSize P, width of h and y, 1 &le; P &lt; H
     * @param weightIh       {@code [4H][I]}, row-major
     * @param weightHh       {@code [4H][P]}, row-major
     * @param biasIh         {@code [4H]}, or null for none
     * @param biasHh         {@code [4H]}, or null for none
     * @param weightHr       {@code [P][H]}, row-major
     * @return the model, holding copies of the arrays
     * @throws IllegalArgumentException for a size out of range or an array of the wrong length
     */
    public static ReferenceLstm projected(int inputSize, int hiddenSize, int projectionSize, float[] weightIh,
                                          float[] weightHh, float[] biasIh, float[] biasHh, float[] weightHr) {
        requireProjection(hiddenSize, projectionSize);
        return new ReferenceLstm(inputSize, hiddenSize, projectionSize, false, floats(weightIh),
                floats(weightHh), floats(biasIh), floats(biasHh),
                floats(weightHr));
    }

    /**
     * As {@link #projected(int, int, int, float[], float[], float[], float[], float[])}, weights kept as doubles.
     *
     * @param inputSize      I, features per input row, &ge; 1
     * @param hiddenSize     H, hidden units (width of c and m), &ge; 2
     * @param projectionSize P, width of h and y, 1 &le; P &lt; H
     * @param weightIh       {@code [4H][I]}, row-major
     * @param weightHh       {@code [4H][P]}, row-major
     * @param biasIh         {@code [4H]}, or null for none
     * @param biasHh         {@code [4H]}, or null for none
     * @param weightHr       {@code [P][H]}, row-major
     * @return the model, holding copies of the arrays
     * @throws IllegalArgumentException for a size out of range or an array of the wrong length
     */
    public static ReferenceLstm projected(int inputSize, int hiddenSize, int projectionSize, double[] weightIh,
                                          double[] weightHh, double[] biasIh, double[] biasHh, double[] weightHr) {
        requireProjection(hiddenSize, projectionSize);
        return new ReferenceLstm(inputSize, hiddenSize, projectionSize, false, doubles(weightIh),
                doubles(weightHh), doubles(biasIh), doubles(biasHh),
                doubles(weightHr));
    }

    /**
     * A CIFG model (f = 1 - i, see the class comment), weights kept as floats, with PyTorch's projection if
     * {@code projectionSize} &gt; 0.
     *
     * @param inputSize      I, features per input row, &ge; 1
     * @param hiddenSize     H, hidden units (width of c), &ge; 1 (&ge; 2 with projection)
     * @param projectionSize P, width of h and y, 1 &le; P &lt; H; or 0 for no projection
     * @param weightIh       {@code [3H][I]}, row-major, gates (i, g, o)
     * @param weightHh       {@code [3H][H]} ({@code [3H][P]} with projection), row-major, gates (i, g, o)
     * @param biasIh         {@code [3H]}, or null for none
     * @param biasHh         {@code [3H]}, or null for none
     * @param weightHr       {@code [P][H]}, row-major; null without projection
     * @return the model, holding copies of the arrays
     * @throws IllegalArgumentException for a size out of range, an array of the wrong length, or a weightHr
     *                                  without projection
     */
    public static ReferenceLstm coupledInputForget(int inputSize, int hiddenSize, int projectionSize,
                                                   float[] weightIh, float[] weightHh, float[] biasIh,
                                                   float[] biasHh, float[] weightHr) {
        requireOptionalProjection(hiddenSize, projectionSize, weightHr == null);
        return new ReferenceLstm(inputSize, hiddenSize, projectionSize, true, floats(weightIh), floats(weightHh),
                floats(biasIh), floats(biasHh), floats(weightHr));
    }

    /**
     * As {@link #coupledInputForget(int, int, int, float[], float[], float[], float[], float[])}, weights kept as
     * doubles.
     *
     * @param inputSize      I, features per input row, &ge; 1
     * @param hiddenSize     H, hidden units (width of c), &ge; 1 (&ge; 2 with projection)
     * @param projectionSize P, width of h and y, 1 &le; P &lt; H; or 0 for no projection
     * @param weightIh       {@code [3H][I]}, row-major, gates (i, g, o)
     * @param weightHh       {@code [3H][H]} ({@code [3H][P]} with projection), row-major, gates (i, g, o)
     * @param biasIh         {@code [3H]}, or null for none
     * @param biasHh         {@code [3H]}, or null for none
     * @param weightHr       {@code [P][H]}, row-major; null without projection
     * @return the model, holding copies of the arrays
     * @throws IllegalArgumentException for a size out of range, an array of the wrong length, or a weightHr
     *                                  without projection
     */
    public static ReferenceLstm coupledInputForget(int inputSize, int hiddenSize, int projectionSize,
                                                   double[] weightIh, double[] weightHh, double[] biasIh,
                                                   double[] biasHh, double[] weightHr) {
        requireOptionalProjection(hiddenSize, projectionSize, weightHr == null);
        return new ReferenceLstm(inputSize, hiddenSize, projectionSize, true, doubles(weightIh), doubles(weightHh),
                doubles(biasIh), doubles(biasHh), doubles(weightHr));
    }

    /**
     * Checks the sizes and lengths; {@code projectionSize} 0 and a null {@code weightHr} for no projection;
     * {@code coupledInputForget} for three gates (i, g, o), else four (i, f, g, o).
     */
    private ReferenceLstm(int inputSize, int hiddenSize, int projectionSize, boolean coupledInputForget,
                          Tensor weightIh, Tensor weightHh, Tensor biasIh, Tensor biasHh, Tensor weightHr) {
        requireSizes(inputSize, hiddenSize);
        int recurrentSize = projectionSize > 0 ? projectionSize : hiddenSize;
        long gateRows = (coupledInputForget ? 3L : 4L) * hiddenSize;
        requireLength("weightIh", weightIh, gateRows * inputSize);
        requireLength("weightHh", weightHh, gateRows * recurrentSize);
        if (biasIh != null) {
            requireLength("biasIh", biasIh, gateRows);
        }
        if (biasHh != null) {
            requireLength("biasHh", biasHh, gateRows);
        }
        if (projectionSize > 0) {
            requireLength("weightHr", weightHr, (long) projectionSize * hiddenSize);
        }
        this.inputSize = inputSize;
        this.hiddenSize = hiddenSize;
        this.projectionSize = projectionSize;
        this.coupledInputForget = coupledInputForget;
        this.weightIh = weightIh;
        this.weightHh = weightHh;
        this.biasIh = biasIh;
        this.biasHh = biasHh;
        this.weightHr = weightHr;
        this.peepholes = null;
        this.cellClip = Double.POSITIVE_INFINITY;
    }

    private ReferenceLstm(ReferenceLstm model, double[] peepholes, double cellClip) {
        this.inputSize = model.inputSize;
        this.hiddenSize = model.hiddenSize;
        this.projectionSize = model.projectionSize;
        this.coupledInputForget = model.coupledInputForget;
        this.weightIh = model.weightIh;
        this.weightHh = model.weightHh;
        this.biasIh = model.biasIh;
        this.biasHh = model.biasHh;
        this.weightHr = model.weightHr;
        this.peepholes = peepholes;
        this.cellClip = cellClip;
    }

    /**
     * This model with ONNX's cell clip: each pre-activation z is clipped to {@code [-cellClip, cellClip]} before
     * its activation, and h = o tanh(clip(c_t)), while c_t itself is carried unclipped. In the backward, a clipped
     * value passes no gradient: dz = 0 where |z| &gt; cellClip, and the term of dc through tanh is 0 where
     * |c_t| &gt; cellClip. {@code Double.POSITIVE_INFINITY} is the model without clip.
     *
     * @param cellClip the clip threshold, &gt; 0, or {@code Double.POSITIVE_INFINITY} for none
     * @return a new model sharing these (immutable) weights; this one is unchanged
     * @throws IllegalArgumentException if {@code cellClip} is not &gt; 0
     */
    public ReferenceLstm withCellClip(double cellClip) {
        if (!(cellClip > 0)) {
            throw new IllegalArgumentException("cellClip must be > 0, got " + cellClip);
        }
        return new ReferenceLstm(this, peepholes, cellClip);
    }

    /**
     * This model with peephole connections (see the class comment), in vlstm's gate order: {@code peepholes [3][H]}
     * holds p_i, then p_f, then p_o (CIFG: {@code [2][H]}, p_i then p_o). ONNX's P input holds them as p_i, p_o,
     * p_f.
     *
     * @param peepholes p_i, p_f, p_o, {@code [3][H]} (CIFG: p_i, p_o, {@code [2][H]}); copied
     * @return a new model sharing these (immutable) weights and this cell clip; this one is unchanged
     * @throws NullPointerException     if {@code peepholes} is null
     * @throws IllegalArgumentException if {@code peepholes} does not hold 3H values (CIFG: 2H)
     */
    public ReferenceLstm withPeepholes(double[] peepholes) {
        requireLength("peepholes", peepholes, peepholeCount() * (long) hiddenSize);
        return new ReferenceLstm(this, peepholes.clone(), cellClip);
    }

    /**
     * As {@link #withPeepholes(double[])}, from floats.
     *
     * @param peepholes p_i, p_f, p_o, {@code [3][H]} (CIFG: p_i, p_o, {@code [2][H]}); copied
     * @return a new model sharing these (immutable) weights and this cell clip; this one is unchanged
     * @throws NullPointerException     if {@code peepholes} is null
     * @throws IllegalArgumentException if {@code peepholes} does not hold 3H values (CIFG: 2H)
     */
    public ReferenceLstm withPeepholes(float[] peepholes) {
        requireLength("peepholes", peepholes, peepholeCount() * (long) hiddenSize);
        return new ReferenceLstm(this, toDouble(peepholes), cellClip);
    }

    /** {@return whether the gates have peephole connections ({@link #withPeepholes})} */
    public boolean hasPeepholes() {
        return peepholes != null;
    }

    /** {@return whether f = 1 - i, the gates being (i, g, o) ({@link #coupledInputForget})} */
    public boolean hasCoupledInputForget() {
        return coupledInputForget;
    }

    /** {@return the gates with weights: 3 (i, g, o) for CIFG, else 4 (i, f, g, o)} */
    private int gateCount() {
        return coupledInputForget ? 3 : 4;
    }

    /** {@return the peephole vectors: 2 (p_i, p_o) for CIFG, else 3 (p_i, p_f, p_o)} */
    private int peepholeCount() {
        return gateCount() - 1;
    }

    /** {@return I: features per input row} */
    @Override
    public int inputSize() {
        return inputSize;
    }

    /** {@return H: hidden units, the width of c} */
    @Override
    public int hiddenSize() {
        return hiddenSize;
    }

    /** {@return P: the width of the projected h, or 0 without projection} */
    public int projectionSize() {
        return projectionSize;
    }

    /** {@return the width of h, y and of the recurrent input: P with projection, else H} */
    @Override
    public int outputSize() {
        return projectionSize > 0 ? projectionSize : hiddenSize;
    }

    /**
     * Outputs of a sequence forward in double precision.
     *
     * @param y  h after every step, {@code [T][B][H]} ({@code [T][B][P]} with projection)
     * @param hT h after the last step, {@code [B][H]} ({@code [B][P]} with projection)
     * @param cT c after the last step, {@code [B][H]}
     */
    public record Result(double[] y, double[] hT, double[] cT) {
    }

    /**
     * Gradients of a loss with respect to every parameter and input, in the layouts of those (for CIFG 3H gate rows
     * (i, g, o) where 4H is written, and peepholes {@code [2][H]}): {@code weightIh [4H][I]},
     * {@code weightHh [4H][H]}, {@code biasIh}, {@code biasHh [4H]} (equal, since both biases enter z as a sum;
     * null where the model has no such bias), {@code x [T][B][I]}, {@code h0}, {@code c0 [B][H]}; with projection
     * {@code weightHh [4H][P]}, {@code h0 [B][P]} and {@code weightHr [P][H]}.
     *
     * @param weightIh ∂L/∂W_ih, {@code [4H][I]}
     * @param weightHh ∂L/∂W_hh, {@code [4H][H]} ({@code [4H][P]} with projection)
     * @param biasIh   ∂L/∂b_ih, {@code [4H]}, or null if the model has no b_ih
     * @param biasHh   ∂L/∂b_hh, {@code [4H]}, or null if the model has no b_hh
     * @param x        ∂L/∂x, {@code [T][B][I]}
     * @param h0       ∂L/∂h0, {@code [B][H]} ({@code [B][P]} with projection)
     * @param c0       ∂L/∂c0, {@code [B][H]}
     * @param weightHr ∂L/∂W_hr, {@code [P][H]}, or null without projection
     * @param peepholes ∂L/∂p_i, ∂L/∂p_f, ∂L/∂p_o, {@code [3][H]}, or null without peepholes
     */
    public record Gradients(double[] weightIh, double[] weightHh, double[] biasIh, double[] biasHh, double[] x,
                            double[] h0, double[] c0, double[] weightHr, double[] peepholes) {
    }

    /**
     * Runs the sequence {@code x [T][B][I]} from {@code h0}, {@code c0} ({@code [B][H]}, null for zeros).
     *
     * @param x     input, {@code [T][B][I]} (time-major)
     * @param steps T, time steps, &ge; 1
     * @param batch B, sequences, &ge; 1
     * @param h0    initial hidden state {@code [B][H]}, or null for zeros
     * @param c0    initial cell state {@code [B][H]}, or null for zeros
     * @return y, hT and cT, new arrays in double precision
     */
    public Result forward(float[] x, int steps, int batch, float[] h0, float[] c0) {
        requireCounts(steps, batch);
        requireLength("x", x, (long) steps * batch * inputSize);
        if (h0 != null) {
            requireLength("h0", h0, (long) batch * outputSize());
        }
        if (c0 != null) {
            requireLength("c0", c0, (long) batch * hiddenSize);
        }
        return forward(toDouble(x), steps, batch, toDouble(h0), toDouble(c0));
    }

    /**
     * Runs the sequence {@code x [T][B][I]} from {@code h0}, {@code c0} ({@code [B][H]}, null for zeros).
     *
     * @param x     input, {@code [T][B][I]} (time-major)
     * @param steps T, time steps, &ge; 1
     * @param batch B, sequences, &ge; 1
     * @param h0    initial hidden state {@code [B][H]}, or null for zeros
     * @param c0    initial cell state {@code [B][H]}, or null for zeros
     * @return y, hT and cT, new arrays in double precision
     */
    public Result forward(double[] x, int steps, int batch, double[] h0, double[] c0) {
        return forward(x, steps, batch, null, h0, c0);
    }

    /**
     * Variable lengths: runs the time-major batch {@code x [T][B][I]}, padded to T steps, where sequence b has
     * {@code lengths[b]} steps (0..T; null for all T). Past its end a sequence keeps its state, and its y is zero;
     * its hT and cT are the state after its last step (h0 and c0 for length 0).
     *
     * @param x       input, {@code [T][B][I]} (time-major), padded to T steps
     * @param steps   T, the padded length, &ge; 1
     * @param batch   B, sequences, &ge; 1
     * @param lengths time steps of each sequence, B values in 0..T, or null for all T
     * @param h0      initial hidden state {@code [B][H]}, or null for zeros
     * @param c0      initial cell state {@code [B][H]}, or null for zeros
     * @return y (zero past each sequence's end), hT and cT, new arrays in double precision
     */
    public Result forward(float[] x, int steps, int batch, int[] lengths, float[] h0, float[] c0) {
        requireCounts(steps, batch);
        requireLength("x", x, (long) steps * batch * inputSize);
        return forward(toDouble(x), steps, batch, lengths, toDouble(h0), toDouble(c0));
    }

    /**
     * As {@link #forward(float[], int, int, int[], float[], float[])}, in doubles.
     *
     * @param x       input, {@code [T][B][I]} (time-major), padded to T steps
     * @param steps   T, the padded length, &ge; 1
     * @param batch   B, sequences, &ge; 1
     * @param lengths time steps of each sequence, B values in 0..T, or null for all T
     * @param h0      initial hidden state {@code [B][H]}, or null for zeros
     * @param c0      initial cell state {@code [B][H]}, or null for zeros
     * @return y (zero past each sequence's end), hT and cT, new arrays in double precision
     */
    public Result forward(double[] x, int steps, int batch, int[] lengths, double[] h0, double[] c0) {
        Trace trace = trace(x, steps, batch, lengths, h0, c0);
        int output = outputSize();
        int frame = batch * output;
        int last = steps * frame;
        double[] y = Arrays.copyOfRange(trace.h, frame, last + frame);
        for (int t = 0; t < steps; t++) {
            for (int b = 0; b < batch; b++) {
                if (!runs(lengths, t, b)) {
                    Arrays.fill(y, (t * batch + b) * output, (t * batch + b + 1) * output, 0);
                }
            }
        }
        int cellFrame = batch * hiddenSize;
        int lastCell = steps * cellFrame;
        return new Result(y, Arrays.copyOfRange(trace.h, last, last + frame),
                Arrays.copyOfRange(trace.c, lastCell, lastCell + cellFrame));
    }

    /**
     * Backpropagation through time of the sequence {@code x [T][B][I]} from {@code h0}, {@code c0}
     * ({@code [B][H]}, null for zeros): recomputes the forward, then runs the equations of the class comment
     * backwards. {@code dy [T][B][H]}, {@code dhT} and {@code dcT [B][H]} (dy and dhT of width P with projection) are the gradients of the loss with respect
     * to y, hT and cT; null stands for zeros (the loss does not depend on that output).
     *
     * @param x     input, {@code [T][B][I]} (time-major)
     * @param steps T, time steps, &ge; 1
     * @param batch B, sequences, &ge; 1
     * @param h0    initial hidden state {@code [B][H]}, or null for zeros
     * @param c0    initial cell state {@code [B][H]}, or null for zeros
     * @param dy    ∂L/∂y, {@code [T][B][H]}, or null for zeros
     * @param dhT   ∂L/∂hT, {@code [B][H]}, or null for zeros
     * @param dcT   ∂L/∂cT, {@code [B][H]}, or null for zeros
     * @return the gradients of every parameter and of x, h0 and c0, new arrays
     */
    public Gradients backward(double[] x, int steps, int batch, double[] h0, double[] c0, double[] dy, double[] dhT,
                              double[] dcT) {
        return backward(x, steps, batch, null, h0, c0, dy, dhT, dcT);
    }

    /**
     * Backpropagation through time of a variable-length batch (see {@link #forward(double[], int, int, int[],
     * double[], double[])}; {@code lengths} null for all T). Steps past a sequence's end are skipped: its dy there
     * is ignored, its dx there is zero, and dhT and dcT enter at its last step (unchanged into dh0 and dc0 for
     * length 0).
     *
     * @param x       input, {@code [T][B][I]} (time-major), padded to T steps
     * @param steps   T, the padded length, &ge; 1
     * @param batch   B, sequences, &ge; 1
     * @param lengths time steps of each sequence, B values in 0..T, or null for all T
     * @param h0      initial hidden state {@code [B][H]}, or null for zeros
     * @param c0      initial cell state {@code [B][H]}, or null for zeros
     * @param dy      ∂L/∂y, {@code [T][B][H]}, or null for zeros; ignored past each sequence's end
     * @param dhT     ∂L/∂hT, {@code [B][H]}, or null for zeros
     * @param dcT     ∂L/∂cT, {@code [B][H]}, or null for zeros
     * @return the gradients of every parameter and of x, h0 and c0, new arrays
     */
    public Gradients backward(double[] x, int steps, int batch, int[] lengths, double[] h0, double[] c0, double[] dy,
                              double[] dhT, double[] dcT) {
        Trace trace = trace(x, steps, batch, lengths, h0, c0);
        int hidden = hiddenSize;
        int output = outputSize();
        int frame = batch * output;
        int cellFrame = batch * hidden;
        if (dy != null) {
            requireLength("dy", dy, (long) steps * frame);
        }
        if (dhT != null) {
            requireLength("dhT", dhT, frame);
        }
        if (dcT != null) {
            requireLength("dcT", dcT, cellFrame);
        }
        // δh and δc of every sequence: what reaches h_t and c_t from step t+1.
        double[] dhNext = dhT == null ? new double[frame] : dhT.clone();
        double[] dcNext = dcT == null ? new double[cellFrame] : dcT.clone();
        double[] dWeightIh = new double[weightIh.length()];
        double[] dWeightHh = new double[weightHh.length()];
        double[] dWeightHr = weightHr == null ? null : new double[weightHr.length()];
        int gateRows = gateCount() * hidden;
        int candidateRow = gateRows - 2 * hidden;
        int outputRow = gateRows - hidden;
        int outputPeephole = candidateRow;
        double[] dPeepholes = peepholes == null ? null : new double[peepholeCount() * hidden];
        double[] dBias = new double[gateRows];
        double[] dx = new double[x.length];
        double[] dz = new double[gateRows];
        double[] dh = new double[output];
        double[] dm = new double[hidden];
        for (int t = steps - 1; t >= 0; t--) {
            for (int b = 0; b < batch; b++) {
                if (!runs(lengths, t, b)) {
                    continue;
                }
                int sequence = t * batch + b;
                int previous = sequence * output;
                int previousCell = sequence * hidden;
                int currentCell = previousCell + cellFrame;
                int gates = 4 * previousCell;
                int preActivations = gateCount() * previousCell;
                int state = b * output;
                int cellState = b * hidden;
                for (int p = 0; p < output; p++) {
                    dh[p] = (dy == null ? 0 : dy[previous + p]) + dhNext[state + p];
                }
                if (weightHr == null) {
                    System.arraycopy(dh, 0, dm, 0, hidden);
                } else {
                    // h = W_hr m: dm = W_hrᵀ dh, dW_hr += dh mᵀ.
                    Arrays.fill(dm, 0);
                    for (int p = 0; p < output; p++) {
                        for (int u = 0; u < hidden; u++) {
                            dm[u] += weightHr.at(p * hidden + u) * dh[p];
                            dWeightHr[p * hidden + u] += dh[p] * trace.m[previousCell + u];
                        }
                    }
                }
                for (int u = 0; u < hidden; u++) {
                    double inputGate = trace.gates[gates + u];
                    double forgetGate = trace.gates[gates + hidden + u];
                    double candidate = trace.gates[gates + 2 * hidden + u];
                    double outputGate = trace.gates[gates + 3 * hidden + u];
                    double cell = trace.c[currentCell + u];
                    double cellBefore = trace.c[previousCell + u];
                    double tanhCell = Math.tanh(clip(cell));
                    double throughTanh = Math.abs(cell) > cellClip ? 0 : dm[u] * outputGate * (1 - tanhCell * tanhCell);
                    double dOutput = dm[u] * tanhCell;
                    dz[outputRow + u] = passed(preActivations + outputRow + u, trace,
                            dOutput * outputGate * (1 - outputGate));
                    double dc = throughTanh + dcNext[cellState + u];
                    if (peepholes != null) {
                        // o sees c_t through p_o: that path reaches c_t too.
                        dc += dz[outputRow + u] * peepholes[outputPeephole + u];
                    }
                    // CIFG: c_t = (1 - i) c_{t-1} + i g, so i also scales c_{t-1}, negatively.
                    double dInput = dc * (coupledInputForget ? candidate - cellBefore : candidate);
                    double dCandidate = dc * inputGate;
                    dz[u] = passed(preActivations + u, trace, dInput * inputGate * (1 - inputGate));
                    dz[candidateRow + u] = passed(preActivations + candidateRow + u, trace,
                            dCandidate * (1 - candidate * candidate));
                    if (!coupledInputForget) {
                        double dForget = dc * cellBefore;
                        dz[hidden + u] = passed(preActivations + hidden + u, trace,
                                dForget * forgetGate * (1 - forgetGate));
                    }
                    dcNext[cellState + u] = dc * forgetGate;
                    if (peepholes != null) {
                        dcNext[cellState + u] += dz[u] * peepholes[u];
                        dPeepholes[u] += dz[u] * cellBefore;
                        if (!coupledInputForget) {
                            dcNext[cellState + u] += dz[hidden + u] * peepholes[hidden + u];
                            dPeepholes[hidden + u] += dz[hidden + u] * cellBefore;
                        }
                        dPeepholes[outputPeephole + u] += dz[outputRow + u] * cell;
                    }
                }
                // dW += dz x_tᵀ, dU += dz h_{t-1}ᵀ, db += dz; dx_t = Wᵀ dz and δh = Uᵀ dz for step t-1.
                Arrays.fill(dhNext, state, state + output, 0);
                int xRow = sequence * inputSize;
                for (int row = 0; row < gateRows; row++) {
                    dBias[row] += dz[row];
                    for (int k = 0; k < inputSize; k++) {
                        dWeightIh[row * inputSize + k] += dz[row] * x[xRow + k];
                        dx[xRow + k] += weightIh.at(row * inputSize + k) * dz[row];
                    }
                    for (int k = 0; k < output; k++) {
                        dWeightHh[row * output + k] += dz[row] * trace.h[previous + k];
                        dhNext[state + k] += weightHh.at(row * output + k) * dz[row];
                    }
                }
            }
        }
        return new Gradients(dWeightIh, dWeightHh, biasIh == null ? null : dBias,
                biasHh == null ? null : dBias.clone(), dx, dhNext, dcNext, dWeightHr, dPeepholes);
    }

    /** {@code gradient}, or 0 where the cell clip held the pre-activation at {@code index} of the trace. */
    private double passed(int index, Trace trace, double gradient) {
        return Math.abs(trace.preActivations[index]) > cellClip ? 0 : gradient;
    }

    /**
     * Every value of a forward: the activated gates i, f, g, o {@code [T][B][4H]} (for CIFG too, with f = 1 - i),
     * the unclipped pre-activations {@code [T][B][4H]} (CIFG: {@code [T][B][3H]}) in the rows of the weights, h {@code [T+1][B][P or H]} and c {@code [T+1][B][H]} with the initial states at index 0,
     * so step t reads h_{t-1}, c_{t-1} at t - 1 and writes h_t, c_t at t; with projection also the cell outputs m
     * {@code [T][B][H]} (null without: m is h).
     */
    private record Trace(double[] gates, double[] preActivations, double[] h, double[] c, double[] m) {
    }

    private Trace trace(double[] x, int steps, int batch, int[] lengths, double[] h0, double[] c0) {
        requireCounts(steps, batch);
        requireLength("x", x, (long) steps * batch * inputSize);
        if (lengths != null) {
            requireLength("lengths", lengths.length, batch, "ints");
            for (int b = 0; b < batch; b++) {
                if (lengths[b] < 0 || lengths[b] > steps) {
                    throw new IllegalArgumentException("lengths[" + b + "] = " + lengths[b] + " is outside 0..T=" + steps);
                }
            }
        }
        int hidden = hiddenSize;
        int output = outputSize();
        int frame = Math.multiplyExact(batch, output);
        int cellFrame = Math.multiplyExact(batch, hidden);
        double[] h = new double[Math.multiplyExact(steps + 1, frame)];
        double[] c = new double[Math.multiplyExact(steps + 1, cellFrame)];
        double[] m = weightHr == null ? null : new double[Math.multiplyExact(steps, cellFrame)];
        if (h0 != null) {
            requireLength("h0", h0, frame);
            System.arraycopy(h0, 0, h, 0, frame);
        }
        if (c0 != null) {
            requireLength("c0", c0, cellFrame);
            System.arraycopy(c0, 0, c, 0, cellFrame);
        }
        int gateRows = gateCount() * hidden;
        int candidateRow = gateRows - 2 * hidden;
        int outputRow = gateRows - hidden;
        int outputPeephole = candidateRow;
        double[] gates = new double[Math.multiplyExact(4, Math.multiplyExact(steps, cellFrame))];
        double[] preActivations = new double[Math.multiplyExact(gateCount(), Math.multiplyExact(steps, cellFrame))];
        double[] z = new double[gateRows];
        for (int t = 0; t < steps; t++) {
            for (int b = 0; b < batch; b++) {
                int sequence = t * batch + b;
                int previous = sequence * output;
                int current = previous + frame;
                int previousCell = sequence * hidden;
                int currentCell = previousCell + cellFrame;
                if (!runs(lengths, t, b)) {
                    System.arraycopy(h, previous, h, current, output);
                    System.arraycopy(c, previousCell, c, currentCell, hidden);
                    continue;
                }
                int xRow = sequence * inputSize;
                for (int row = 0; row < gateRows; row++) {
                    double sum = 0;
                    if (biasIh != null) {
                        sum += biasIh.at(row);
                    }
                    if (biasHh != null) {
                        sum += biasHh.at(row);
                    }
                    for (int k = 0; k < inputSize; k++) {
                        sum += weightIh.at(row * inputSize + k) * x[xRow + k];
                    }
                    for (int k = 0; k < output; k++) {
                        sum += weightHh.at(row * output + k) * h[previous + k];
                    }
                    z[row] = sum;
                }
                // m lands in h_t directly without projection, in m to be projected otherwise.
                double[] cellOutput = m == null ? h : m;
                int cellOutputAt = m == null ? current : previousCell;
                for (int u = 0; u < hidden; u++) {
                    double cellBefore = c[previousCell + u];
                    if (peepholes != null) {
                        z[u] += peepholes[u] * cellBefore;
                        if (!coupledInputForget) {
                            z[hidden + u] += peepholes[hidden + u] * cellBefore;
                        }
                    }
                    double inputGate = sigmoid(clip(z[u]));
                    double forgetGate = coupledInputForget ? 1 - inputGate : sigmoid(clip(z[hidden + u]));
                    double candidate = Math.tanh(clip(z[candidateRow + u]));
                    double cell = forgetGate * cellBefore + inputGate * candidate;
                    if (peepholes != null) {
                        z[outputRow + u] += peepholes[outputPeephole + u] * cell;
                    }
                    double outputGate = sigmoid(clip(z[outputRow + u]));
                    c[currentCell + u] = cell;
                    cellOutput[cellOutputAt + u] = outputGate * Math.tanh(clip(cell));
                    gates[4 * previousCell + u] = inputGate;
                    gates[4 * previousCell + hidden + u] = forgetGate;
                    gates[4 * previousCell + 2 * hidden + u] = candidate;
                    gates[4 * previousCell + 3 * hidden + u] = outputGate;
                }
                System.arraycopy(z, 0, preActivations, gateCount() * previousCell, gateRows);
                if (m != null) {
                    for (int p = 0; p < output; p++) {
                        double sum = 0;
                        for (int u = 0; u < hidden; u++) {
                            sum += weightHr.at(p * hidden + u) * m[previousCell + u];
                        }
                        h[current + p] = sum;
                    }
                }
            }
        }
        return new Trace(gates, preActivations, h, c, m);
    }

    /** {@code value} clipped to the cell clip (unchanged without one). */
    private double clip(double value) {
        return Math.min(Math.max(value, -cellClip), cellClip);
    }

    /** Whether sequence b runs step t: always without lengths. */
    private static boolean runs(int[] lengths, int t, int b) {
        return lengths == null || t < lengths[b];
    }

    /**
     * The logistic function {@code 1 / (1 + e^-x)}.
     *
     * @param x any value; &plusmn;infinity gives 0 or 1
     * @return σ(x), in [0, 1] (NaN for NaN)
     */
    public static double sigmoid(double x) {
        return 1.0 / (1.0 + Math.exp(-x));
    }

    /** The values as doubles, or null for null. */
    static double[] toDouble(float[] values) {
        if (values == null) {
            return null;
        }
        double[] copy = new double[values.length];
        for (int n = 0; n < values.length; n++) {
            copy[n] = values[n];
        }
        return copy;
    }

    private static void requireProjection(int hiddenSize, int projectionSize) {
        if (projectionSize < 1 || projectionSize >= hiddenSize) {
            throw new IllegalArgumentException("projectionSize must be in 1..hiddenSize-1 (PyTorch's 0 < proj_size"
                    + " < hidden_size): projectionSize=" + projectionSize + ", hiddenSize=" + hiddenSize);
        }
    }

    /** As {@link #requireProjection}, where {@code projectionSize} 0 with no weightHr means no projection. */
    private static void requireOptionalProjection(int hiddenSize, int projectionSize, boolean noWeightHr) {
        if (projectionSize == 0) {
            if (!noWeightHr) {
                throw new IllegalArgumentException("weightHr must be null without projection (projectionSize 0)");
            }
        } else {
            requireProjection(hiddenSize, projectionSize);
        }
    }

    private static Tensor floats(float[] values) {
        return values == null ? null : new FloatTensor(values.clone());
    }

    private static Tensor doubles(double[] values) {
        return values == null ? null : new DoubleTensor(values.clone());
    }

    private static void requireLength(String name, Tensor tensor, long length) {
        Objects.requireNonNull(tensor, () -> name + " must not be null");
        requireLength(name, tensor.length(), length, tensor instanceof FloatTensor ? "floats" : "doubles");
    }

    private static void requireSizes(int inputSize, int hiddenSize) {
        if (inputSize < 1 || hiddenSize < 1) {
            throw new IllegalArgumentException("sizes must be >= 1: inputSize=" + inputSize + ", hiddenSize=" + hiddenSize);
        }
    }

    private static void requireCounts(int steps, int batch) {
        if (steps < 0 || batch < 0) {
            throw new IllegalArgumentException("counts must be >= 0: steps=" + steps + ", batch=" + batch);
        }
    }

    private static void requireLength(String name, float[] array, long length) {
        Objects.requireNonNull(array, () -> name + " must not be null");
        requireLength(name, array.length, length, "floats");
    }

    private static void requireLength(String name, double[] array, long length) {
        Objects.requireNonNull(array, () -> name + " must not be null");
        requireLength(name, array.length, length, "doubles");
    }

    private static void requireLength(String name, int actual, long length, String unit) {
        if (actual != length) {
            throw new IllegalArgumentException(name + " must hold " + length + " " + unit + ", got " + actual);
        }
    }
}
