package dev.vlstm.train;

import java.lang.foreign.MemorySegment;

import dev.vlstm.LstmGradients;
import dev.vlstm.LstmParameters;

/**
 * The four (parameter, gradient) tensor pairs of one layer, five with peephole connections, in a fixed order,
 * fetched once so that optimizer steps allocate nothing.
 */
final class ParameterPairs {

    final MemorySegment[] parameters;
    final MemorySegment[] gradients;

    ParameterPairs(LstmParameters parameters, LstmGradients gradients) {
        if (parameters == null || gradients == null) {
            throw new NullPointerException("parameters and gradients must not be null");
        }
        if (parameters.projectionSize() > 0) {
            throw new IllegalArgumentException("parameters have projectionSize " + parameters.projectionSize()
                    + " (PyTorch's proj_size): optimizers do not yet train a projected LSTM");
        }
        if ((parameters.peepholes() == null) != (gradients.peepholes() == null)) {
            throw new IllegalArgumentException(parameters.peepholes() == null
                    ? "gradients hold peephole gradients, but the parameters have no peepholes"
                    : "parameters have peepholes, but the gradients hold no peephole gradients: make them with "
                    + "new LstmGradients(weights) from peephole weights, or new LstmGradients(I, H, true)");
        }
        this.parameters = parameters.peepholes() == null
                ? new MemorySegment[]{parameters.weightIh(), parameters.weightHh(), parameters.biasIh(),
                    parameters.biasHh()}
                : new MemorySegment[]{parameters.weightIh(), parameters.weightHh(), parameters.biasIh(),
                    parameters.biasHh(), parameters.peepholes()};
        this.gradients = of(gradients);
        for (int n = 0; n < this.parameters.length; n++) {
            if (this.parameters[n].byteSize() != this.gradients[n].byteSize()) {
                throw new IllegalArgumentException("gradients are for inputSize/hiddenSize other than the parameters' ("
                        + parameters.inputSize() + ", " + parameters.hiddenSize() + ")");
            }
        }
    }

    /** The four (or five, with peepholes) tensors of {@code tensors} in the order of {@link #parameters}. */
    static MemorySegment[] of(LstmGradients tensors) {
        return tensors.peepholes() == null
                ? new MemorySegment[]{tensors.weightIh(), tensors.weightHh(), tensors.biasIh(), tensors.biasHh()}
                : new MemorySegment[]{tensors.weightIh(), tensors.weightHh(), tensors.biasIh(), tensors.biasHh(),
                    tensors.peepholes()};
    }

    /** Floats in tensor {@code n}. */
    int length(int n) {
        return (int) (parameters[n].byteSize() / Float.BYTES);
    }
}
