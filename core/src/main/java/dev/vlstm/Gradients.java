package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The gradients of a whole LSTM's or GRU's parameters, which {@link Trainer#backward} writes or adds to: one tensor
 * per tensor of {@link Parameters}, with the same name, shape and layout (dL/d{@code weight_ih_l0}, ...). Zero at
 * first. Row-major floats in native byte order, off-heap: {@link #close()} frees them.
 *
 * <p>Not thread-safe: one trainer or optimizer uses them at a time.
 */
public final class Gradients implements AutoCloseable {

    private final ModelTensors tensors;

    /**
     * Zero gradients for a model of {@code shape}: with peepholes, {@code peephole_l0} and the like too.
     *
     * @param shape the model's sizes
     * @throws NullPointerException if {@code shape} is null
     */
    public Gradients(RnnShape shape) {
        this.tensors = new ModelTensors(shape, "Gradients");
    }

    /** {@return the sizes of the model these gradients are for} */
    public RnnShape shape() {
        return tensors.shape();
    }

    /** {@return the names of every tensor, as {@link Parameters#names()} gives them for the shape; unmodifiable} */
    public List<String> names() {
        return tensors.names();
    }

    /**
     * The gradient of the parameter named {@code pyTorchName}, e.g. {@code "bias_hh_l0"}.
     *
     * @param pyTorchName one of {@link #names()}
     * @return the tensor itself, writable, valid until {@link #close()}; shaped as the parameter
     * @throws IllegalArgumentException for a name these gradients do not have, listing those they have
     * @throws IllegalStateException    if these gradients are closed
     */
    public MemorySegment tensor(String pyTorchName) {
        return tensors.tensor(pyTorchName);
    }

    /**
     * Sets every gradient to zero, as before an accumulation with {@link GradientMode#ACCUMULATE}.
     *
     * @throws IllegalStateException if these gradients are closed
     */
    public void zero() {
        tensors.checkOpen();
        tensors.zero();
    }

    /** Frees the values. Closing twice is harmless. */
    @Override
    public void close() {
        tensors.close();
    }

    /** The values for a driver, checked open. */
    ModelTensors tensors() {
        tensors.checkOpen();
        return tensors;
    }
}
