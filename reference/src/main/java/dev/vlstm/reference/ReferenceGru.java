package dev.vlstm.reference;

import java.util.Arrays;
import java.util.Objects;

/**
 * The naive GRU, forward and backward, written straight from the equations with plain loops and double arithmetic:
 * the oracle that tests compare the GRU kernels with. Obviously correct, not fast.
 *
 * <p>Weights in PyTorch's {@code nn.GRU} layout and gate order (r, z, n): {@code weightIh [3H][I]},
 * {@code weightHh [3H][H]}, {@code biasIh [3H]}, {@code biasHh [3H]} (either bias may be null). For each time step
 * t and sequence b, with "linear before reset" (the recurrent part of n, b_hn included, is multiplied by r):
 * <pre>
 *   r = σ(W_r x_t + b_ir + U_r h_{t-1} + b_hr)
 *   z = σ(W_z x_t + b_iz + U_z h_{t-1} + b_hz)
 *   m = U_n h_{t-1} + b_hn
 *   n = tanh(W_n x_t + b_in + r m)
 *   h_t = (1 - z) n + z h_{t-1}
 * </pre>
 *
 * <p>With ONNX's clip ({@link #withCellClip}), the input of each activation is clipped to [-clip, clip]:
 * {@code r = σ(clip(z_r))}, {@code z = σ(clip(z_z))}, {@code n = tanh(clip(z_n))} with z_r, z_z, z_n the sums
 * inside σ and tanh above (m itself is not clipped), as ONNX Runtime's GRU with linear_before_reset = 1.
 *
 * <p>{@link #backward} takes the gradients dy_t = ∂L/∂y_t of the outputs (y_t = h_t) and ∂L/∂h_T of a loss L and
 * goes back through time, t = T down to 1, carrying δh, the gradient that reaches h_t through step t+1 (at t = T:
 * ∂L/∂h_T):
 * <pre>
 *   dh = dy_t + δh
 *   dn = dh (1 - z)   dz = dh (h_{t-1} - n)
 *   da_n = dn (1 - n²)   da_r = da_n m r (1 - r)   da_z = dz z (1 - z)   dm = da_n r
 *   (with a clip, each of da_n, da_r, da_z is 0 where |z_n|, |z_r|, |z_z| &gt; clip; da_n first)
 *   dW += (da_r, da_z, da_n) x_tᵀ   db_ih += (da_r, da_z, da_n)
 *   dU += (da_r, da_z, dm) h_{t-1}ᵀ   db_hh += (da_r, da_z, dm)
 *   dx_t = Wᵀ (da_r, da_z, da_n)   δh = dh z + Uᵀ (da_r, da_z, dm)
 * </pre>
 * after which δh is ∂L/∂h_0.
 *
 * <p>Variable lengths (the {@code lengths} overloads), as ONNX's {@code sequence_lens} and PyTorch's packed
 * sequences: sequence b runs its first L_b steps only; past them its h stays h_{L_b}, its y is zero, and its hT is
 * h_{L_b} (h0 for L_b = 0). The backward skips those steps: dy there is ignored, dx there is zero, and dhT enters at
 * step L_b (straight into dh0 for L_b = 0).
 *
 * <p>Arguments are checked: a missing array throws NullPointerException ("x must not be null"); sizes below 1 and
 * arrays whose length does not match their layout throw IllegalArgumentException naming the argument, as does a
 * length outside 0..T ("lengths[2] = 7 is outside 0..T=5").
 */
public final class ReferenceGru implements ReferenceCell {

    /** Gates per GRU cell, in PyTorch's order r, z, n. */
    private static final int GATES = 3;

    private final int inputSize;
    private final int hiddenSize;
    private final double[] weightIh;
    private final double[] weightHh;
    private final double[] biasIh;
    private final double[] biasHh;
    private final double clip;

    /**
     * Copies the weights (as doubles); sizes are checked.
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param weightIh   {@code [3H][I]}, row-major
     * @param weightHh   {@code [3H][H]}, row-major
     * @param biasIh     {@code [3H]}, or null for none
     * @param biasHh     {@code [3H]}, or null for none
     * @throws IllegalArgumentException for a size &lt; 1 or an array of the wrong length
     */
    public ReferenceGru(int inputSize, int hiddenSize, float[] weightIh, float[] weightHh, float[] biasIh,
                        float[] biasHh) {
        this(inputSize, hiddenSize, ReferenceLstm.toDouble(Objects.requireNonNull(weightIh,
                        "weightIh must not be null")),
                ReferenceLstm.toDouble(Objects.requireNonNull(weightHh, "weightHh must not be null")),
                ReferenceLstm.toDouble(biasIh), ReferenceLstm.toDouble(biasHh));
    }

    /**
     * Copies the weights, so later changes to the arrays do not affect the model; sizes are checked.
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, hidden units, &ge; 1
     * @param weightIh   {@code [3H][I]}, row-major
     * @param weightHh   {@code [3H][H]}, row-major
     * @param biasIh     {@code [3H]}, or null for none
     * @param biasHh     {@code [3H]}, or null for none
     * @throws IllegalArgumentException for a size &lt; 1 or an array of the wrong length
     */
    public ReferenceGru(int inputSize, int hiddenSize, double[] weightIh, double[] weightHh, double[] biasIh,
                        double[] biasHh) {
        if (inputSize < 1 || hiddenSize < 1) {
            throw new IllegalArgumentException("inputSize and hiddenSize must be >= 1, got " + inputSize + " and "
                    + hiddenSize);
        }
        requireLength("weightIh", weightIh, (long) GATES * hiddenSize * inputSize);
        requireLength("weightHh", weightHh, (long) GATES * hiddenSize * hiddenSize);
        if (biasIh != null) {
            requireLength("biasIh", biasIh, (long) GATES * hiddenSize);
        }
        if (biasHh != null) {
            requireLength("biasHh", biasHh, (long) GATES * hiddenSize);
        }
        this.inputSize = inputSize;
        this.hiddenSize = hiddenSize;
        this.weightIh = weightIh.clone();
        this.weightHh = weightHh.clone();
        this.biasIh = biasIh == null ? null : biasIh.clone();
        this.biasHh = biasHh == null ? null : biasHh.clone();
        this.clip = Double.POSITIVE_INFINITY;
    }

    private ReferenceGru(ReferenceGru model, double clip) {
        this.inputSize = model.inputSize;
        this.hiddenSize = model.hiddenSize;
        this.weightIh = model.weightIh;
        this.weightHh = model.weightHh;
        this.biasIh = model.biasIh;
        this.biasHh = model.biasHh;
        this.clip = clip;
    }

    /**
     * This model with ONNX's clip: the pre-activations z_r, z_z and z_n are clipped to {@code [-clip, clip]} before
     * their activations. In the backward, a clipped value passes no gradient: its da is 0 where its |z| &gt; clip.
     * {@code Double.POSITIVE_INFINITY} is the model without clip.
     *
     * @param clip the clip threshold, &gt; 0, or {@code Double.POSITIVE_INFINITY} for none
     * @return a new model sharing these (immutable) weights; this one is unchanged
     * @throws IllegalArgumentException if {@code clip} is not &gt; 0
     */
    public ReferenceGru withCellClip(double clip) {
        if (!(clip > 0)) {
            throw new IllegalArgumentException("clip must be > 0, got " + clip);
        }
        return new ReferenceGru(this, clip);
    }

    /** {@return I: features per input row} */
    @Override
    public int inputSize() {
        return inputSize;
    }

    /** {@return H: hidden units} */
    @Override
    public int hiddenSize() {
        return hiddenSize;
    }

    /** {@return H: a GRU's output is its hidden state} */
    @Override
    public int outputSize() {
        return hiddenSize;
    }

    /**
     * Outputs of a sequence forward in double precision.
     *
     * @param y  h after every step, {@code [T][B][H]}
     * @param hT h after the last step, {@code [B][H]}
     */
    public record Result(double[] y, double[] hT) {
    }

    /**
     * Gradients of a loss with respect to every parameter and input, in the layouts of those.
     *
     * @param weightIh ∂L/∂W_ih, {@code [3H][I]}
     * @param weightHh ∂L/∂W_hh, {@code [3H][H]}
     * @param biasIh   ∂L/∂b_ih, {@code [3H]}, or null if the model has no b_ih
     * @param biasHh   ∂L/∂b_hh, {@code [3H]}, or null if the model has no b_hh (its n part differs from b_ih's:
     *                 b_hn sits inside the reset gate's product)
     * @param x        ∂L/∂x, {@code [T][B][I]}
     * @param h0       ∂L/∂h0, {@code [B][H]}
     */
    public record Gradients(double[] weightIh, double[] weightHh, double[] biasIh, double[] biasHh, double[] x,
                            double[] h0) {
    }

    /**
     * Runs the sequence {@code x [T][B][I]} from {@code h0} ({@code [B][H]}, null for zeros).
     *
     * @param x     input, {@code [T][B][I]} (time-major)
     * @param steps T, time steps, &ge; 1
     * @param batch B, sequences, &ge; 1
     * @param h0    initial hidden state {@code [B][H]}, or null for zeros
     * @return y and hT, new arrays in double precision
     */
    public Result forward(float[] x, int steps, int batch, float[] h0) {
        return forward(ReferenceLstm.toDouble(Objects.requireNonNull(x, "x must not be null")), steps, batch,
                ReferenceLstm.toDouble(h0));
    }

    /**
     * Runs the sequence {@code x [T][B][I]} from {@code h0} ({@code [B][H]}, null for zeros).
     *
     * @param x     input, {@code [T][B][I]} (time-major)
     * @param steps T, time steps, &ge; 1
     * @param batch B, sequences, &ge; 1
     * @param h0    initial hidden state {@code [B][H]}, or null for zeros
     * @return y and hT, new arrays in double precision
     */
    public Result forward(double[] x, int steps, int batch, double[] h0) {
        return forward(x, steps, batch, null, h0);
    }

    /**
     * Variable lengths: runs the time-major batch {@code x [T][B][I]}, padded to T steps, where sequence b has
     * {@code lengths[b]} steps (0..T; null for all T). Past its end a sequence keeps its h, and its y is zero; its hT
     * is h after its last step (h0 for length 0).
     *
     * @param x       input, {@code [T][B][I]} (time-major), padded to T steps
     * @param steps   T, the padded length, &ge; 1
     * @param batch   B, sequences, &ge; 1
     * @param lengths time steps of each sequence, B values in 0..T, or null for all T
     * @param h0      initial hidden state {@code [B][H]}, or null for zeros
     * @return y (zero past each sequence's end) and hT, new arrays in double precision
     */
    public Result forward(float[] x, int steps, int batch, int[] lengths, float[] h0) {
        return forward(ReferenceLstm.toDouble(Objects.requireNonNull(x, "x must not be null")), steps, batch, lengths,
                ReferenceLstm.toDouble(h0));
    }

    /**
     * As {@link #forward(float[], int, int, int[], float[])}, in doubles.
     *
     * @param x       input, {@code [T][B][I]} (time-major), padded to T steps
     * @param steps   T, the padded length, &ge; 1
     * @param batch   B, sequences, &ge; 1
     * @param lengths time steps of each sequence, B values in 0..T, or null for all T
     * @param h0      initial hidden state {@code [B][H]}, or null for zeros
     * @return y (zero past each sequence's end) and hT, new arrays in double precision
     */
    public Result forward(double[] x, int steps, int batch, int[] lengths, double[] h0) {
        Trace trace = trace(x, steps, batch, lengths, h0);
        int frame = batch * hiddenSize;
        double[] y = Arrays.copyOfRange(trace.h, frame, (steps + 1) * frame);
        for (int t = 0; t < steps; t++) {
            for (int b = 0; b < batch; b++) {
                if (!runs(lengths, t, b)) {
                    Arrays.fill(y, (t * batch + b) * hiddenSize, (t * batch + b + 1) * hiddenSize, 0);
                }
            }
        }
        return new Result(y, Arrays.copyOfRange(trace.h, steps * frame, (steps + 1) * frame));
    }

    /**
     * Backpropagation through time of the sequence {@code x [T][B][I]} from {@code h0} ({@code [B][H]}, null for
     * zeros): recomputes the forward, then runs the equations of the class comment backwards. {@code dy [T][B][H]}
     * and {@code dhT [B][H]} are the gradients of the loss with respect to y and hT; null stands for zeros.
     *
     * @param x     input, {@code [T][B][I]} (time-major)
     * @param steps T, time steps, &ge; 1
     * @param batch B, sequences, &ge; 1
     * @param h0    initial hidden state {@code [B][H]}, or null for zeros
     * @param dy    ∂L/∂y, {@code [T][B][H]}, or null for zeros
     * @param dhT   ∂L/∂hT, {@code [B][H]}, or null for zeros
     * @return the gradients of every parameter and of x and h0, new arrays
     */
    public Gradients backward(double[] x, int steps, int batch, double[] h0, double[] dy, double[] dhT) {
        return backward(x, steps, batch, null, h0, dy, dhT);
    }

    /**
     * Backpropagation through time of a variable-length batch (see {@link #forward(double[], int, int, int[],
     * double[])}; {@code lengths} null for all T). Steps past a sequence's end are skipped: its dy there is ignored,
     * its dx there is zero, and dhT enters at its last step (unchanged into dh0 for length 0).
     *
     * @param x       input, {@code [T][B][I]} (time-major), padded to T steps
     * @param steps   T, the padded length, &ge; 1
     * @param batch   B, sequences, &ge; 1
     * @param lengths time steps of each sequence, B values in 0..T, or null for all T
     * @param h0      initial hidden state {@code [B][H]}, or null for zeros
     * @param dy      ∂L/∂y, {@code [T][B][H]}, or null for zeros; ignored past each sequence's end
     * @param dhT     ∂L/∂hT, {@code [B][H]}, or null for zeros
     * @return the gradients of every parameter and of x and h0, new arrays
     */
    public Gradients backward(double[] x, int steps, int batch, int[] lengths, double[] h0, double[] dy,
                              double[] dhT) {
        Trace trace = trace(x, steps, batch, lengths, h0);
        int frame = batch * hiddenSize;
        if (dy != null) {
            requireLength("dy", dy, (long) steps * frame);
        }
        if (dhT != null) {
            requireLength("dhT", dhT, frame);
        }
        int gateRows = GATES * hiddenSize;
        double[] dWeightIh = new double[gateRows * inputSize];
        double[] dWeightHh = new double[gateRows * hiddenSize];
        double[] dBiasIh = new double[gateRows];
        double[] dBiasHh = new double[gateRows];
        double[] dx = new double[steps * batch * inputSize];
        double[] carried = dhT == null ? new double[frame] : dhT.clone();
        double[] inputGradient = new double[gateRows];
        double[] recurrentGradient = new double[gateRows];
        for (int t = steps - 1; t >= 0; t--) {
            double[] next = new double[frame];
            for (int b = 0; b < batch; b++) {
                if (!runs(lengths, t, b)) {
                    // Past its end the sequence's h is carried unchanged: so is its gradient.
                    System.arraycopy(carried, b * hiddenSize, next, b * hiddenSize, hiddenSize);
                    continue;
                }
                int row = t * batch + b;
                int hPrev = row * hiddenSize;
                for (int j = 0; j < hiddenSize; j++) {
                    int unit = b * hiddenSize + j;
                    double dh = carried[unit] + (dy == null ? 0 : dy[t * frame + unit]);
                    int g = row * gateRows;
                    double r = trace.gates[g + j];
                    double z = trace.gates[g + hiddenSize + j];
                    double n = trace.gates[g + 2 * hiddenSize + j];
                    double m = trace.recurrentCandidate[row * hiddenSize + j];
                    double candidate = passed(trace.preActivations[g + 2 * hiddenSize + j],
                            dh * (1 - z) * (1 - n * n));
                    double reset = passed(trace.preActivations[g + j], candidate * m * r * (1 - r));
                    double update = passed(trace.preActivations[g + hiddenSize + j],
                            dh * (trace.h[hPrev + j] - n) * z * (1 - z));
                    inputGradient[j] = reset;
                    inputGradient[hiddenSize + j] = update;
                    inputGradient[2 * hiddenSize + j] = candidate;
                    recurrentGradient[j] = reset;
                    recurrentGradient[hiddenSize + j] = update;
                    recurrentGradient[2 * hiddenSize + j] = candidate * r;
                    next[unit] += dh * z;
                }
                int xRow = row * inputSize;
                for (int m = 0; m < gateRows; m++) {
                    dBiasIh[m] += inputGradient[m];
                    dBiasHh[m] += recurrentGradient[m];
                    for (int k = 0; k < inputSize; k++) {
                        dWeightIh[m * inputSize + k] += inputGradient[m] * x[xRow + k];
                        dx[xRow + k] += weightIh[m * inputSize + k] * inputGradient[m];
                    }
                    for (int k = 0; k < hiddenSize; k++) {
                        dWeightHh[m * hiddenSize + k] += recurrentGradient[m] * trace.h[hPrev + k];
                        next[b * hiddenSize + k] += weightHh[m * hiddenSize + k] * recurrentGradient[m];
                    }
                }
            }
            carried = next;
        }
        return new Gradients(dWeightIh, dWeightHh, biasIh == null ? null : dBiasIh, biasHh == null ? null : dBiasHh,
                dx, carried);
    }

    /**
     * Everything a forward computes: h {@code [T+1][B][H]} (h_0 first), the gate activations r, z, n and their
     * unclipped pre-activations z_r, z_z, z_n {@code [T][B][3H]}, and m = U_n h_{t-1} + b_hn {@code [T][B][H]}.
     */
    private record Trace(double[] h, double[] gates, double[] preActivations, double[] recurrentCandidate) {
    }

    private Trace trace(double[] x, int steps, int batch, int[] lengths, double[] h0) {
        if (steps < 1 || batch < 1) {
            throw new IllegalArgumentException("steps and batch must be >= 1, got " + steps + " and " + batch);
        }
        requireLength("x", x, (long) steps * batch * inputSize);
        if (lengths != null) {
            if (lengths.length != batch) {
                throw new IllegalArgumentException("lengths must hold " + batch + " ints, got " + lengths.length);
            }
            for (int b = 0; b < batch; b++) {
                if (lengths[b] < 0 || lengths[b] > steps) {
                    throw new IllegalArgumentException("lengths[" + b + "] = " + lengths[b] + " is outside 0..T="
                            + steps);
                }
            }
        }
        int frame = batch * hiddenSize;
        if (h0 != null) {
            requireLength("h0", h0, frame);
        }
        int gateRows = GATES * hiddenSize;
        double[] h = new double[(steps + 1) * frame];
        if (h0 != null) {
            System.arraycopy(h0, 0, h, 0, frame);
        }
        double[] gates = new double[steps * batch * gateRows];
        double[] preActivations = new double[steps * batch * gateRows];
        double[] recurrentCandidate = new double[steps * frame];
        double[] input = new double[gateRows];
        double[] recurrent = new double[gateRows];
        for (int t = 0; t < steps; t++) {
            for (int b = 0; b < batch; b++) {
                int row = t * batch + b;
                int hPrev = row * hiddenSize;
                if (!runs(lengths, t, b)) {
                    System.arraycopy(h, hPrev, h, frame + hPrev, hiddenSize);
                    continue;
                }
                for (int m = 0; m < gateRows; m++) {
                    double sumInput = biasIh == null ? 0 : biasIh[m];
                    for (int k = 0; k < inputSize; k++) {
                        sumInput += weightIh[m * inputSize + k] * x[row * inputSize + k];
                    }
                    double sumRecurrent = biasHh == null ? 0 : biasHh[m];
                    for (int k = 0; k < hiddenSize; k++) {
                        sumRecurrent += weightHh[m * hiddenSize + k] * h[hPrev + k];
                    }
                    input[m] = sumInput;
                    recurrent[m] = sumRecurrent;
                }
                int g = row * gateRows;
                for (int j = 0; j < hiddenSize; j++) {
                    double resetZ = input[j] + recurrent[j];
                    double updateZ = input[hiddenSize + j] + recurrent[hiddenSize + j];
                    double r = ReferenceLstm.sigmoid(clip(resetZ));
                    double z = ReferenceLstm.sigmoid(clip(updateZ));
                    double m = recurrent[2 * hiddenSize + j];
                    double candidateZ = input[2 * hiddenSize + j] + r * m;
                    double n = Math.tanh(clip(candidateZ));
                    preActivations[g + j] = resetZ;
                    preActivations[g + hiddenSize + j] = updateZ;
                    preActivations[g + 2 * hiddenSize + j] = candidateZ;
                    gates[g + j] = r;
                    gates[g + hiddenSize + j] = z;
                    gates[g + 2 * hiddenSize + j] = n;
                    recurrentCandidate[row * hiddenSize + j] = m;
                    h[frame + row * hiddenSize + j] = (1 - z) * n + z * h[hPrev + j];
                }
            }
        }
        return new Trace(h, gates, preActivations, recurrentCandidate);
    }

    /** {@code value} clipped to the clip (unchanged without one). */
    private double clip(double value) {
        return Math.min(Math.max(value, -clip), clip);
    }

    /** {@code gradient}, or 0 where the clip held the pre-activation {@code preActivation}. */
    private double passed(double preActivation, double gradient) {
        return Math.abs(preActivation) > clip ? 0 : gradient;
    }

    /** Whether sequence b runs step t: always without lengths. */
    private static boolean runs(int[] lengths, int t, int b) {
        return lengths == null || t < lengths[b];
    }

    private static void requireLength(String name, double[] array, long length) {
        Objects.requireNonNull(array, name + " must not be null");
        if (array.length != length) {
            throw new IllegalArgumentException(name + " must hold " + length + " doubles, got " + array.length);
        }
    }
}
