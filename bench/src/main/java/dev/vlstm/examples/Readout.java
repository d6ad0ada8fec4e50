package dev.vlstm.examples;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The prediction {@code y = w·h_T + b} from the last hidden state, its mean squared error, and the gradients of that
 * loss with respect to h_T, w and b. Initialised like PyTorch's {@code nn.Linear}.
 */
final class Readout {

    private final int hidden;
    /** w then b. */
    private final double[] parameters;
    private final double[] gradients;
    private final SmallAdam adam;

    Readout(int hidden, long seed, double learningRate) {
        this.hidden = hidden;
        this.parameters = new double[hidden + 1];
        this.gradients = new double[hidden + 1];
        SplittableRandom random = new SplittableRandom(seed ^ 0x5EED);
        double bound = 1 / Math.sqrt(hidden);
        for (int i = 0; i < parameters.length; i++) {
            parameters[i] = (random.nextDouble() * 2 - 1) * bound;
        }
        this.adam = new SmallAdam(parameters, gradients, learningRate);
    }

    double predict(float[] lastHidden, int row) {
        double sum = parameters[hidden];
        for (int k = 0; k < hidden; k++) {
            sum += parameters[k] * lastHidden[row * hidden + k];
        }
        return sum;
    }

    /**
     * For the batch loss {@code mean((y - target)²)}: writes dL/dh_T into {@code hiddenGradient} ({@code [B][H]})
     * and keeps dL/dw, dL/db for {@link #step()}.
     */
    void lossGradient(float[] lastHidden, float[] targets, float[] hiddenGradient) {
        Arrays.fill(gradients, 0);
        int batch = targets.length;
        for (int b = 0; b < batch; b++) {
            double outputGradient = 2 * (predict(lastHidden, b) - targets[b]) / batch;
            for (int k = 0; k < hidden; k++) {
                hiddenGradient[b * hidden + k] = (float) (outputGradient * parameters[k]);
                gradients[k] += outputGradient * lastHidden[b * hidden + k];
            }
            gradients[hidden] += outputGradient;
        }
    }

    /** dL/dh_T as doubles, for the plain RNN. */
    void lossGradient(double[] lastHidden, float[] targets, double[] hiddenGradient) {
        float[] rounded = new float[lastHidden.length];
        for (int n = 0; n < rounded.length; n++) {
            rounded[n] = (float) lastHidden[n];
        }
        float[] gradient = new float[lastHidden.length];
        lossGradient(rounded, targets, gradient);
        for (int n = 0; n < gradient.length; n++) {
            hiddenGradient[n] = gradient[n];
        }
    }

    /** Forgets the gradients of the last {@link #lossGradient} (when it was only a probe). */
    void discardGradient() {
        Arrays.fill(gradients, 0);
    }

    void step() {
        adam.step();
    }

    double mse(float[] lastHidden, float[] targets) {
        double sum = 0;
        for (int b = 0; b < targets.length; b++) {
            double error = predict(lastHidden, b) - targets[b];
            sum += error * error;
        }
        return sum / targets.length;
    }
}
