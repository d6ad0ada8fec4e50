package dev.vlstm.examples;

/**
 * Adam for the examples' small on-heap parameters (a readout, a plain RNN), with the same formula and defaults
 * as {@link dev.vlstm.train.Adam}: betas (0.9, 0.999), eps 1e-8.
 */
final class SmallAdam {

    private final double learningRate;
    private final double[] parameters;
    private final double[] gradients;
    private final double[] mean;
    private final double[] square;
    private long steps;

    /** Updates {@code parameters} in place from {@code gradients} (same length) on each {@link #step()}. */
    SmallAdam(double[] parameters, double[] gradients, double learningRate) {
        this.parameters = parameters;
        this.gradients = gradients;
        this.learningRate = learningRate;
        this.mean = new double[parameters.length];
        this.square = new double[parameters.length];
    }

    void step() {
        steps++;
        double firstCorrection = 1 - Math.pow(0.9, steps);
        double secondCorrection = 1 - Math.pow(0.999, steps);
        for (int i = 0; i < parameters.length; i++) {
            double g = gradients[i];
            mean[i] = 0.9 * mean[i] + 0.1 * g;
            square[i] = 0.999 * square[i] + 0.001 * g * g;
            parameters[i] -= learningRate * (mean[i] / firstCorrection)
                    / (Math.sqrt(square[i] / secondCorrection) + 1e-8);
        }
    }
}
