package dev.vlstm.reference;

/**
 * The naive LSTM forward, written straight from the equations with plain loops and double arithmetic: the
 * oracle that tests compare the kernels with, and the baseline of the benchmarks. Obviously correct, not fast.
 *
 * <p>Weights in PyTorch's layout and gate order (i, f, g, o): {@code weightIh [4H][I]}, {@code weightHh [4H][H]},
 * {@code biasIh [4H]}, {@code biasHh [4H]} (either bias may be null). For each time step t and sequence b:
 * <pre>
 *   z = W x_t + b_ih + U h_{t-1} + b_hh        (4H values)
 *   i = σ(z_i)  f = σ(z_f)  g = tanh(z_g)  o = σ(z_o)
 *   c_t = f c_{t-1} + i g
 *   h_t = o tanh(c_t)
 * </pre>
 */
public final class ReferenceLstm {

    private final int inputSize;
    private final int hiddenSize;
    private final float[] weightIh;
    private final float[] weightHh;
    private final float[] biasIh;
    private final float[] biasHh;

    /** Keeps references to the arrays (no copy); sizes are checked. */
    public ReferenceLstm(int inputSize, int hiddenSize, float[] weightIh, float[] weightHh, float[] biasIh,
                         float[] biasHh) {
        if (inputSize < 1 || hiddenSize < 1) {
            throw new IllegalArgumentException("sizes must be >= 1: inputSize=" + inputSize + ", hiddenSize=" + hiddenSize);
        }
        requireLength("weightIh", weightIh, 4L * hiddenSize * inputSize);
        requireLength("weightHh", weightHh, 4L * hiddenSize * hiddenSize);
        if (biasIh != null) {
            requireLength("biasIh", biasIh, 4L * hiddenSize);
        }
        if (biasHh != null) {
            requireLength("biasHh", biasHh, 4L * hiddenSize);
        }
        this.inputSize = inputSize;
        this.hiddenSize = hiddenSize;
        this.weightIh = weightIh;
        this.weightHh = weightHh;
        this.biasIh = biasIh;
        this.biasHh = biasHh;
    }

    /** Outputs of a sequence forward in double precision: {@code y [T][B][H]}, {@code hT}, {@code cT [B][H]}. */
    public record Result(double[] y, double[] hT, double[] cT) {
    }

    /**
     * Runs the sequence {@code x [T][B][I]} from {@code h0}, {@code c0} ({@code [B][H]}, null for zeros).
     */
    public Result forward(float[] x, int steps, int batch, float[] h0, float[] c0) {
        requireLength("x", x, (long) steps * batch * inputSize);
        int hidden = hiddenSize;
        double[] h = new double[Math.multiplyExact(batch, hidden)];
        double[] c = new double[h.length];
        if (h0 != null) {
            requireLength("h0", h0, (long) batch * hidden);
            for (int n = 0; n < h.length; n++) {
                h[n] = h0[n];
            }
        }
        if (c0 != null) {
            requireLength("c0", c0, (long) batch * hidden);
            for (int n = 0; n < c.length; n++) {
                c[n] = c0[n];
            }
        }
        double[] y = new double[Math.multiplyExact(steps, h.length)];
        double[] z = new double[4 * hidden];
        double[] hNext = new double[hidden];
        for (int t = 0; t < steps; t++) {
            for (int b = 0; b < batch; b++) {
                int xRow = (t * batch + b) * inputSize;
                for (int row = 0; row < 4 * hidden; row++) {
                    double sum = 0;
                    if (biasIh != null) {
                        sum += biasIh[row];
                    }
                    if (biasHh != null) {
                        sum += biasHh[row];
                    }
                    for (int k = 0; k < inputSize; k++) {
                        sum += (double) weightIh[row * inputSize + k] * x[xRow + k];
                    }
                    for (int k = 0; k < hidden; k++) {
                        sum += (double) weightHh[row * hidden + k] * h[b * hidden + k];
                    }
                    z[row] = sum;
                }
                for (int u = 0; u < hidden; u++) {
                    double inputGate = sigmoid(z[u]);
                    double forgetGate = sigmoid(z[hidden + u]);
                    double candidate = Math.tanh(z[2 * hidden + u]);
                    double outputGate = sigmoid(z[3 * hidden + u]);
                    double cell = forgetGate * c[b * hidden + u] + inputGate * candidate;
                    c[b * hidden + u] = cell;
                    hNext[u] = outputGate * Math.tanh(cell);
                }
                System.arraycopy(hNext, 0, h, b * hidden, hidden);
                System.arraycopy(hNext, 0, y, (t * batch + b) * hidden, hidden);
            }
        }
        return new Result(y, h, c);
    }

    /** The logistic function {@code 1 / (1 + e^-x)}. */
    public static double sigmoid(double x) {
        return 1.0 / (1.0 + Math.exp(-x));
    }

    private static void requireLength(String name, float[] array, long length) {
        if (array == null) {
            throw new NullPointerException(name + " must not be null");
        }
        if (array.length != length) {
            throw new IllegalArgumentException(name + " must hold " + length + " floats, got " + array.length);
        }
    }
}
