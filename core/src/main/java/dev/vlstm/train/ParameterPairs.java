package dev.vlstm.train;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.Supplier;

import dev.vlstm.Gradients;
import dev.vlstm.LstmGradients;
import dev.vlstm.LstmParameters;
import dev.vlstm.Parameters;

/**
 * The (parameter, gradient) tensor pairs in a fixed order, fetched once so that optimizer steps allocate nothing:
 * of one LSTM layer W_ih, W_hh, b_ih, b_hh, then W_hr with projection and the peepholes with peephole connections;
 * of a whole model's {@link Parameters}, every tensor in the order of {@link Parameters#names()}.
 */
final class ParameterPairs {

    /** Tensors shaped as the parameters, zero at first: an optimizer's velocity or moments; freed by close. */
    record State(MemorySegment[] tensors, Runnable close) {
    }

    final MemorySegment[] parameters;
    final MemorySegment[] gradients;
    private final Supplier<State> newState;

    ParameterPairs(LstmParameters parameters, LstmGradients gradients) {
        if (parameters == null || gradients == null) {
            throw new NullPointerException("parameters and gradients must not be null");
        }
        if ((parameters.weightHr() == null) != (gradients.weightHr() == null)) {
            throw new IllegalArgumentException(parameters.weightHr() == null
                    ? "gradients hold dW_hr (a projection), but the parameters have no projection"
                    : "parameters have projectionSize " + parameters.projectionSize() + " (PyTorch's proj_size), but"
                    + " the gradients hold no dW_hr: make them with new LstmGradients(weights) from projected"
                    + " weights, or new LstmGradients(I, H, P, peepholes)");
        }
        if ((parameters.peepholes() == null) != (gradients.peepholes() == null)) {
            throw new IllegalArgumentException(parameters.peepholes() == null
                    ? "gradients hold peephole gradients, but the parameters have no peepholes"
                    : "parameters have peepholes, but the gradients hold no peephole gradients: make them with "
                    + "new LstmGradients(weights) from peephole weights, or new LstmGradients(I, H, true)");
        }
        this.parameters = ordered(parameters.weightIh(), parameters.weightHh(), parameters.biasIh(),
                parameters.biasHh(), parameters.weightHr(), parameters.peepholes());
        this.gradients = of(gradients);
        for (int n = 0; n < this.parameters.length; n++) {
            if (this.parameters[n].byteSize() != this.gradients[n].byteSize()) {
                throw new IllegalArgumentException("gradients are for inputSize/hiddenSize/projectionSize other than"
                        + " the parameters' (" + parameters.inputSize() + ", " + parameters.hiddenSize() + ", "
                        + parameters.projectionSize() + ")");
            }
        }
        this.newState = () -> {
            LstmGradients tensors = new LstmGradients(parameters.inputSize(), parameters.hiddenSize(),
                    parameters.projectionSize(), parameters.peepholes() != null);
            return new State(of(tensors), tensors::close);
        };
    }

    /** Every tensor of a whole model's parameters and gradients, which must be for the same shape. */
    ParameterPairs(Parameters parameters, Gradients gradients) {
        if (parameters == null || gradients == null) {
            throw new NullPointerException("parameters and gradients must not be null");
        }
        if (!gradients.shape().equals(parameters.shape())) {
            throw new IllegalArgumentException("gradients are for a model of " + gradients.shape()
                    + ", but the parameters are for " + parameters.shape());
        }
        List<String> names = parameters.names();
        this.parameters = new MemorySegment[names.size()];
        for (int n = 0; n < this.parameters.length; n++) {
            this.parameters[n] = parameters.tensor(names.get(n));
        }
        this.gradients = of(gradients);
        this.newState = () -> {
            Gradients tensors = new Gradients(parameters.shape());
            return new State(of(tensors), tensors::close);
        };
    }

    /** Every tensor of {@code tensors}, in the order of their names. */
    static MemorySegment[] of(Gradients tensors) {
        List<String> names = tensors.names();
        MemorySegment[] result = new MemorySegment[names.size()];
        for (int n = 0; n < result.length; n++) {
            result[n] = tensors.tensor(names.get(n));
        }
        return result;
    }

    /** New zero tensors shaped as the parameters, owned by the caller. */
    State newState() {
        return newState.get();
    }

    /** The tensors of {@code tensors} in the order of {@link #parameters}. */
    static MemorySegment[] of(LstmGradients tensors) {
        return ordered(tensors.weightIh(), tensors.weightHh(), tensors.biasIh(), tensors.biasHh(), tensors.weightHr(),
                tensors.peepholes());
    }

    /** The four tensors every layer has, then {@code weightHr} and {@code peepholes} where not null. */
    private static MemorySegment[] ordered(MemorySegment weightIh, MemorySegment weightHh, MemorySegment biasIh,
                                           MemorySegment biasHh, MemorySegment weightHr, MemorySegment peepholes) {
        int count = 4 + (weightHr == null ? 0 : 1) + (peepholes == null ? 0 : 1);
        MemorySegment[] tensors = new MemorySegment[count];
        tensors[0] = weightIh;
        tensors[1] = weightHh;
        tensors[2] = biasIh;
        tensors[3] = biasHh;
        int next = 4;
        if (weightHr != null) {
            tensors[next++] = weightHr;
        }
        if (peepholes != null) {
            tensors[next] = peepholes;
        }
        return tensors;
    }

    /** Floats in tensor {@code n}. */
    int length(int n) {
        return (int) (parameters[n].byteSize() / Float.BYTES);
    }
}
