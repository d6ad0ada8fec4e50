package dev.vlstm.train;

import java.lang.foreign.MemorySegment;

import dev.vlstm.Gradients;
import dev.vlstm.Parameters;
import dev.vlstm.kernel.Kernels;
import dev.vlstm.kernel.TensorKernel;

/**
 * Stochastic gradient descent with momentum, as PyTorch's {@code torch.optim.SGD} (no dampening, no Nesterov):
 * {@code v = momentum * v + g}, {@code p = p - learningRate * v}; with momentum 0, plain {@code p -= lr * g}.
 * Updates the parameters in place from the gradients it was built with; the velocity is off-heap and starts at 0.
 */
public final class Sgd implements AutoCloseable {

    private final TensorKernel kernel = Kernels.preferred().tensors();
    private final ParameterPairs pairs;
    private final double learningRate;
    private final double momentum;
    /** Off-heap, shaped like the gradients. */
    private final ParameterPairs.State velocityTensors;
    private final MemorySegment[] velocity;

    /**
     * SGD over a whole LSTM's or GRU's parameters (every layer and direction), as
     * {@code torch.optim.SGD(module.parameters(), lr, momentum)}: every tensor steps by its
     * own velocity.
     *
     * @param parameters   updated in place by {@link #step()}, then packed by {@link dev.vlstm.Trainer#updateWeights};
     *                     not owned
     * @param gradients    read by each step; for the parameters' shape; not owned
     * @param learningRate step size, &gt; 0
     * @param momentum     in [0, 1)
     * @throws IllegalArgumentException for a learning rate &le; 0, a momentum outside [0, 1), or gradients of another
     *                                  shape than the parameters
     */
    public Sgd(Parameters parameters, Gradients gradients, double learningRate, double momentum) {
        this(checked(learningRate, momentum), new ParameterPairs(parameters, gradients), momentum);
    }

    private Sgd(double learningRate, ParameterPairs pairs, double momentum) {
        this.pairs = pairs;
        this.learningRate = learningRate;
        this.momentum = momentum;
        this.velocityTensors = pairs.newState();
        this.velocity = velocityTensors.tensors();
    }

    /** The learning rate, once the hyperparameters are checked. */
    private static double checked(double learningRate, double momentum) {
        if (!(learningRate > 0) || !(momentum >= 0 && momentum < 1)) {
            throw new IllegalArgumentException("learningRate must be > 0 and momentum in [0, 1), got " + learningRate
                    + " and " + momentum);
        }
        return learningRate;
    }

    /** One update of every parameter from the current gradients, in float arithmetic. */
    public void step() {
        for (int n = 0; n < velocity.length; n++) {
            kernel.sgd(pairs.parameters[n], pairs.gradients[n], velocity[n], pairs.length(n), (float) learningRate,
                    (float) momentum);
        }
    }

    /** Frees the velocity. Closing twice is harmless. */
    @Override
    public void close() {
        velocityTensors.close().run();
    }
}
