package dev.vlstm.train;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.Supplier;

import dev.vlstm.Gradients;
import dev.vlstm.Parameters;

/**
 * The (parameter, gradient) tensor pairs of a whole model's {@link Parameters} and {@link Gradients}, every tensor in
 * the order of {@link Parameters#names()}, fetched once so that optimizer steps allocate nothing.
 */
final class ParameterPairs {

    /** Tensors shaped as the parameters, zero at first: an optimizer's velocity or moments; freed by close. */
    record State(MemorySegment[] tensors, Runnable close) {
    }

    final MemorySegment[] parameters;
    final MemorySegment[] gradients;
    private final Supplier<State> newState;

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

    /** Floats in tensor {@code n}. */
    int length(int n) {
        return (int) (parameters[n].byteSize() / Float.BYTES);
    }
}
