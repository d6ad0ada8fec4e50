package dev.vlstm.train;

import java.lang.foreign.MemorySegment;

import dev.vlstm.Gradients;
import dev.vlstm.Parameters;
import dev.vlstm.kernel.Kernels;
import dev.vlstm.kernel.TensorKernel;

/**
 * Adam (Kingma and Ba 2015) as PyTorch's {@code torch.optim.Adam} without weight decay: at step t,
 * {@code m = b1*m + (1-b1)*g}, {@code v = b2*v + (1-b2)*g²},
 * {@code p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)}, in PyTorch's order of operations:
 * {@code p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)}. The moments are off-heap and start at 0;
 * each element is updated in float arithmetic by the preferred kernel's {@link TensorKernel#adam}, with the bias
 * corrections computed once per step in double.
 */
public final class Adam implements AutoCloseable {

    private final TensorKernel kernel = Kernels.preferred().tensors();
    private final ParameterPairs pairs;
    private final double learningRate;
    private final double beta1;
    private final double beta2;
    private final double epsilon;
    /** Off-heap, shaped like the gradients. */
    private final ParameterPairs.State firstMomentTensors;
    private final ParameterPairs.State secondMomentTensors;
    private final MemorySegment[] firstMoment;
    private final MemorySegment[] secondMoment;
    private long steps;

    /**
     * Adam with PyTorch's defaults over a whole LSTM's or GRU's parameters (every layer and direction), as
     * {@code torch.optim.Adam(module.parameters(), lr)}: every tensor steps by
     * its own moments.
     *
     * @param parameters   updated in place by {@link #step()}, then packed by {@link dev.vlstm.Trainer#updateWeights};
     *                     not owned
     * @param gradients    read by each step; for the parameters' shape; not owned
     * @param learningRate lr, &gt; 0
     * @throws IllegalArgumentException for a learning rate &le; 0, or gradients of another shape than the parameters
     */
    public Adam(Parameters parameters, Gradients gradients, double learningRate) {
        this(checked(learningRate, 0.9, 0.999, 1e-8), new ParameterPairs(parameters, gradients), 0.9, 0.999, 1e-8);
    }

    /**
     * Adam over a whole LSTM's or GRU's parameters with the given hyperparameters, as
     * {@code torch.optim.Adam(module.parameters(), lr, betas=(beta1, beta2), eps=epsilon)}.
     *
     * @param parameters   updated in place by {@link #step()}, then packed by {@link dev.vlstm.Trainer#updateWeights};
     *                     not owned
     * @param gradients    read by each step; for the parameters' shape; not owned
     * @param learningRate lr, &gt; 0
     * @param beta1        in [0, 1)
     * @param beta2        in [0, 1)
     * @param epsilon      &gt; 0
     * @throws IllegalArgumentException for a hyperparameter out of its range, or gradients of another shape than the
     *                                  parameters
     */
    public Adam(Parameters parameters, Gradients gradients, double learningRate, double beta1, double beta2,
                double epsilon) {
        this(checked(learningRate, beta1, beta2, epsilon), new ParameterPairs(parameters, gradients), beta1, beta2,
                epsilon);
    }

    private Adam(double learningRate, ParameterPairs pairs, double beta1, double beta2, double epsilon) {
        this.pairs = pairs;
        this.learningRate = learningRate;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.epsilon = epsilon;
        this.firstMomentTensors = pairs.newState();
        try {
            this.secondMomentTensors = pairs.newState();
        } catch (RuntimeException | Error e) {
            firstMomentTensors.close();
            throw e;
        }
        this.firstMoment = firstMomentTensors.tensors();
        this.secondMoment = secondMomentTensors.tensors();
    }

    /** The learning rate, once the hyperparameters are checked. */
    private static double checked(double learningRate, double beta1, double beta2, double epsilon) {
        if (!(learningRate > 0) || !(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1) || !(epsilon > 0)) {
            throw new IllegalArgumentException("Adam needs learningRate > 0, betas in [0, 1) and epsilon > 0, got "
                    + learningRate + ", " + beta1 + ", " + beta2 + ", " + epsilon);
        }
        return learningRate;
    }

    /** One update of every parameter from the current gradients. */
    public void step() {
        steps++;
        float stepSize = (float) (learningRate / (1 - Math.pow(beta1, steps)));
        float inverseRootSecondCorrection = (float) (1 / Math.sqrt(1 - Math.pow(beta2, steps)));
        for (int n = 0; n < firstMoment.length; n++) {
            kernel.adam(pairs.parameters[n], pairs.gradients[n], firstMoment[n], secondMoment[n], pairs.length(n),
                    (float) beta1, (float) beta2, stepSize, inverseRootSecondCorrection, (float) epsilon);
        }
    }

    /**
     * Steps taken so far (t of the bias correction).
     *
     * @return 0 before the first {@link #step()}, then one more per step
     */
    public long steps() {
        return steps;
    }

    /** Frees the moments. Closing twice is harmless. */
    @Override
    public void close() {
        firstMomentTensors.close().run();
        secondMomentTensors.close().run();
    }
}
