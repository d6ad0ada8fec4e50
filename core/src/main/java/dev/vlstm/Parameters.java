package dev.vlstm;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.SafeTensors;
import dev.vlstm.io.StateDict;

/**
 * A whole LSTM's or GRU's parameters as float32 values in PyTorch's layouts (every layer and direction): the master
 * copy that training changes and {@link Model#pack(Parameters, Options)} or {@link Trainer#updateWeights} packs. Its
 * tensors go by PyTorch's state_dict names ({@link #names()}): {@code weight_ih_l0} {@code [G·H][I]},
 * {@code weight_hh_l0} {@code [G·H][S]}, {@code bias_ih_l0} and {@code bias_hh_l0} {@code [G·H]}, with projection
 * {@code weight_hr_l0} {@code [P][H]}, {@code _reverse} for a second direction, {@code _l1}, ... for further layers
 * (G = 4 for an LSTM, 3 for a GRU; gates in PyTorch's order). An LSTM with peepholes
 * ({@link RnnShape#peepholes()}) has one more tensor per layer and direction, {@code peephole_l0} {@code [3H]}:
 * p_i, p_f, p_o, H each, the weights by which the gates i, f and o read the cell state; PyTorch has no such tensor,
 * so the name is vlstm's own. Row-major floats in native byte order, off-heap: {@link #close()} frees them.
 *
 * <p>Not thread-safe: one thread writes them at a time, and nobody packs them meanwhile.
 */
public final class Parameters implements AutoCloseable {

    private final ModelTensors tensors;

    private Parameters(ModelTensors tensors) {
        this.tensors = tensors;
    }

    /**
     * PyTorch's initialisation of {@code shape}: every value uniform in ±1/√H, drawn per layer and direction (in
     * state_dict order) from a {@link java.util.SplittableRandom} seeded by the next value of one seeded by
     * {@code seed}, W_ih, W_hh, b_ih, b_hh and then W_hr; then an LSTM's forget-gate entries of {@code bias_ih} are
     * 1 and those of {@code bias_hh} 0, so that their sum is exactly 1. Peepholes, which PyTorch has not, start at
     * zero: the model starts as the same LSTM without them, and training moves them.
     *
     * @param shape the model's sizes
     * @param seed  the seed; the same seed gives the same values
     * @return new parameters, owned by the caller
     * @throws NullPointerException if {@code shape} is null
     */
    public static Parameters initialize(RnnShape shape, long seed) {
        return new Parameters(ModelTensors.initialize(shape, seed));
    }

    /**
     * A copy of PyTorch-layout arrays: per layer and direction, in state_dict order (l0, l0_reverse, l1, ...), the
     * arrays {@code weight_ih}, {@code weight_hh}, {@code bias_ih}, {@code bias_hh}, then with projection
     * {@code weight_hr}, then with peepholes {@code peephole}; as {@code nn.LSTM}'s and {@code nn.GRU}'s
     * {@code _flat_weights} order them (with {@code bias=False} too: pass null for its biases). Layouts as in the
     * class description.
     *
     * @param shape       the model's sizes, not null
     * @param flatWeights the arrays, row-major; a null bias is zeros; later changes to them do not reach the
     *                    parameters
     * @return new parameters, owned by the caller
     * @throws IllegalArgumentException for another count of arrays than {@code shape} has, or an array of the wrong
     *                                  length, naming its layer and direction (values are checked when packed)
     * @throws NullPointerException     if {@code shape} or {@code flatWeights} is null
     */
    public static Parameters fromPyTorch(RnnShape shape, float[]... flatWeights) {
        Checks.notNull("shape", shape);
        Checks.notNull("flatWeights", flatWeights);
        return new Parameters(ModelTensors.fromPyTorch(shape, flatWeights));
    }

    /**
     * Reads the parameters of the {@code nn.LSTM} or {@code nn.GRU} in a safetensors file, as {@link Vlstm#load}
     * reads the model (cell, layers, directions, projection and peepholes from the tensors, see {@link StateDict}),
     * and closes the file.
     *
     * @param file   a safetensors file of a PyTorch state_dict, or one that {@link #save} wrote
     * @param prefix the module prefix of the names, e.g. {@code "lstm."} or {@code ""}; null to infer it (the file
     *               must then hold exactly one recurrent model)
     * @return new parameters, owned by the caller
     * @throws IOException              if the file cannot be read or is not a safetensors file (naming the file)
     * @throws IllegalArgumentException as {@link Vlstm#load(Path, Options)}, naming the file; and for a model
     *                                  without biases ({@code bias=False}): parameters always hold biases, which an
     *                                  optimizer would then train and {@link #save} would write, and PyTorch's
     *                                  {@code load_state_dict} refuses those names for such a module
     */
    public static Parameters load(Path file, String prefix) throws IOException {
        try (SafeTensors tensors = SafeTensors.open(Checks.notNull("file", file))) {
            StateDict stateDict = StateDict.inspect(tensors, prefix);
            if (!stateDict.bias()) {
                throw new IllegalArgumentException(tensors.path() + ": a model without biases (bias=False) cannot be"
                        + " loaded as Parameters yet; Vlstm.load runs it");
            }
            return stateDict.read(tensors);
        }
    }

    /**
     * Writes every tensor as a safetensors file (F32, the names of {@link #names()} under {@code prefix}, the shapes
     * of the class description), atomically, that {@link #load} and {@link Vlstm#load} read back exactly and, for a
     * model without peepholes, PyTorch's {@code load_state_dict} reads (it refuses the {@code peephole_l0} names,
     * which no PyTorch module has).
     *
     * @param file     the destination, replaced if it exists
     * @param prefix   put before every name, e.g. {@code "lstm."}, or {@code ""} for none
     * @param metadata strings for the header's {@code __metadata__}; empty for none
     * @throws IOException              if writing or moving fails; {@code file} is then as it was
     * @throws IllegalStateException    if these parameters are closed
     * @throws IllegalArgumentException for a {@link Cell#CIFG} model: a state_dict tells cells by the rows of
     *                                  {@code weight_ih_l0}, and its 3H rows would be read back as a GRU's
     */
    public void save(Path file, String prefix, Map<String, String> metadata) throws IOException {
        Checks.notNull("file", file);
        Checks.notNull("prefix", prefix);
        Checks.notNull("metadata", metadata);
        tensors.checkOpen();
        if (shape().cell() == Cell.CIFG) {
            throw new IllegalArgumentException("a CIFG model cannot be saved as a state_dict: its 3H gate rows would"
                    + " be read back as a GRU's (no PyTorch module has a coupled input-forget gate)");
        }
        Map<String, FloatTensor> named = new LinkedHashMap<>();
        for (String name : tensors.names()) {
            named.put(prefix + name, new FloatTensor(StateDict.dimensions(shape(), name),
                    tensors.tensor(name).toArray(ValueLayout.JAVA_FLOAT)));
        }
        SafeTensors.write(file, named, metadata);
    }

    /** {@return the sizes of the model these parameters are for} */
    public RnnShape shape() {
        return tensors.shape();
    }

    /** {@return the names of every tensor, in PyTorch's state_dict order (layer 0 forward first); unmodifiable} */
    public List<String> names() {
        return tensors.names();
    }

    /**
     * The tensor named {@code pyTorchName}, e.g. {@code "weight_ih_l1_reverse"}, without a module prefix.
     *
     * @param pyTorchName one of {@link #names()}
     * @return the tensor itself, writable, valid until {@link #close()}; its layout is in the class description
     * @throws IllegalArgumentException for a name these parameters do not have, listing those they have
     * @throws IllegalStateException    if these parameters are closed
     */
    public MemorySegment tensor(String pyTorchName) {
        return tensors.tensor(pyTorchName);
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
