package dev.vlstm.examples;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The contrast: a plain Elman RNN, {@code h_t = tanh(W x_t + U h_{t-1} + b)}, in plain Java (double), with the same
 * readout, initialisation scheme (PyTorch's {@code nn.RNN}: U(-1/sqrt(H), 1/sqrt(H))), Adam settings and global
 * gradient clipping as the LSTM, trained by full backpropagation through time.
 */
final class TanhRnn {

    private final int hidden;
    /** W [H][2], U [H][H], b [H], one array for the optimizer. */
    private final double[] parameters;
    private final double[] gradients;
    private final int inputOffset = 0;
    private final int recurrentOffset;
    private final int biasOffset;
    private final SmallAdam adam;
    private final Readout readout;

    TanhRnn(long seed, int hidden, double learningRate) {
        this.hidden = hidden;
        this.recurrentOffset = hidden * AddingProblem.INPUTS;
        this.biasOffset = recurrentOffset + hidden * hidden;
        this.parameters = new double[biasOffset + hidden];
        this.gradients = new double[parameters.length];
        SplittableRandom random = new SplittableRandom(seed);
        double bound = 1 / Math.sqrt(hidden);
        for (int i = 0; i < parameters.length; i++) {
            parameters[i] = (random.nextDouble() * 2 - 1) * bound;
        }
        this.adam = new SmallAdam(parameters, gradients, learningRate);
        this.readout = new Readout(hidden, seed, learningRate);
    }

    /** Hidden states {@code [T+1][B][H]}, index 0 the zero initial state. */
    private double[] forward(float[] x, int batch) {
        int steps = AddingProblem.STEPS;
        double[] h = new double[(steps + 1) * batch * hidden];
        for (int t = 0; t < steps; t++) {
            for (int b = 0; b < batch; b++) {
                int previous = (t * batch + b) * hidden;
                int current = previous + batch * hidden;
                int input = (t * batch + b) * AddingProblem.INPUTS;
                for (int u = 0; u < hidden; u++) {
                    double sum = parameters[biasOffset + u];
                    for (int i = 0; i < AddingProblem.INPUTS; i++) {
                        sum += parameters[inputOffset + u * AddingProblem.INPUTS + i] * x[input + i];
                    }
                    for (int k = 0; k < hidden; k++) {
                        sum += parameters[recurrentOffset + u * hidden + k] * h[previous + k];
                    }
                    h[current + u] = Math.tanh(sum);
                }
            }
        }
        return h;
    }

    /** Backpropagation through time from dL/dh_T; fills {@link #gradients} and returns dL/dx {@code [T][B][2]}. */
    private double[] backward(float[] x, int batch, double[] h, double[] lastHiddenGradient) {
        int steps = AddingProblem.STEPS;
        Arrays.fill(gradients, 0);
        double[] dx = new double[steps * batch * AddingProblem.INPUTS];
        double[] dh = lastHiddenGradient.clone();
        double[] dz = new double[hidden];
        for (int t = steps - 1; t >= 0; t--) {
            double[] dhPrevious = new double[batch * hidden];
            for (int b = 0; b < batch; b++) {
                int previous = (t * batch + b) * hidden;
                int current = previous + batch * hidden;
                int input = (t * batch + b) * AddingProblem.INPUTS;
                for (int u = 0; u < hidden; u++) {
                    dz[u] = dh[b * hidden + u] * (1 - h[current + u] * h[current + u]);
                    gradients[biasOffset + u] += dz[u];
                    for (int i = 0; i < AddingProblem.INPUTS; i++) {
                        gradients[inputOffset + u * AddingProblem.INPUTS + i] += dz[u] * x[input + i];
                        dx[input + i] += parameters[inputOffset + u * AddingProblem.INPUTS + i] * dz[u];
                    }
                    for (int k = 0; k < hidden; k++) {
                        gradients[recurrentOffset + u * hidden + k] += dz[u] * h[previous + k];
                        dhPrevious[b * hidden + k] += parameters[recurrentOffset + u * hidden + k] * dz[u];
                    }
                }
            }
            dh = dhPrevious;
        }
        return dx;
    }

    void train(AddingProblem.Batch batch) {
        double[] h = forward(batch.x(), batch.size());
        double[] last = Arrays.copyOfRange(h, AddingProblem.STEPS * batch.size() * hidden, h.length);
        double[] dh = new double[last.length];
        readout.lossGradient(last, batch.targets(), dh);
        backward(batch.x(), batch.size(), h, dh);
        clip();
        adam.step();
        readout.step();
    }

    private void clip() {
        double sum = 0;
        for (double g : gradients) {
            sum += g * g;
        }
        double norm = Math.sqrt(sum);
        if (norm > AddingProblem.MAX_GRADIENT_NORM) {
            double scale = AddingProblem.MAX_GRADIENT_NORM / (norm + 1e-6);
            for (int i = 0; i < gradients.length; i++) {
                gradients[i] *= scale;
            }
        }
    }

    double testMse(AddingProblem.Batch test) {
        double[] h = forward(test.x(), test.size());
        float[] last = new float[test.size() * hidden];
        for (int n = 0; n < last.length; n++) {
            last[n] = (float) h[AddingProblem.STEPS * test.size() * hidden + n];
        }
        return readout.mse(last, test.targets());
    }

    /** ||dL/dx_t|| averaged over the batch, for t = 0 .. T-1, at the current weights. */
    double[] inputGradientNorms(AddingProblem.Batch batch) {
        double[] h = forward(batch.x(), batch.size());
        double[] last = Arrays.copyOfRange(h, AddingProblem.STEPS * batch.size() * hidden, h.length);
        double[] dh = new double[last.length];
        readout.lossGradient(last, batch.targets(), dh);
        readout.discardGradient();
        double[] dx = backward(batch.x(), batch.size(), h, dh);
        Arrays.fill(gradients, 0);
        float[] rounded = new float[dx.length];
        for (int n = 0; n < dx.length; n++) {
            rounded[n] = (float) dx[n];
        }
        return GradientPicture.normsPerStep(rounded, batch.size(), AddingProblem.INPUTS);
    }
}
