package dev.vlstm;

import java.io.IOException;
import java.nio.file.Path;

import dev.vlstm.io.PyTorchGru;
import dev.vlstm.io.PyTorchLstm;
import dev.vlstm.io.SafeTensors;

/**
 * Loads models in one call from safetensors files of PyTorch state_dicts ({@code nn.LSTM} or {@code nn.GRU}, as
 * {@code safetensors.torch.save_file(module.state_dict(), path)} writes them, or as {@link PyTorchLstm#save} writes
 * them), under a module prefix such as {@code "lstm."}. The cell, layers, directions and projection are read from
 * the tensors' names and shapes: {@code weight_hh_l0} of {@code [3H][H]} is a GRU, else an LSTM (whose
 * {@code weight_ih_l0} is {@code [4H][I]}); {@code _l1}, {@code _l2}, ... are layers, {@code _reverse} a second
 * direction, {@code weight_hr_l0} an LSTM's projection. A state_dict has no peephole tensors, so a loaded model has
 * none. With a null prefix the file must hold exactly one model (one name ending in {@code weight_ih_l0}).
 */
public final class Vlstm {

    private Vlstm() {
    }

    /**
     * {@code load(file, Options.DEFAULT)}: float32 weights, the prefix inferred.
     *
     * @param file a safetensors file holding exactly one {@code nn.LSTM} or {@code nn.GRU}
     * @return the packed model, owned by the caller
     * @throws IOException              if the file cannot be read or is not a safetensors file (naming the file)
     * @throws IllegalArgumentException as {@link #load(Path, Options)}
     */
    public static Model load(Path file) throws IOException {
        return load(file, Options.DEFAULT);
    }

    /**
     * Reads the model in {@code file}, packs it with {@code options.precision()} for {@code options.backend()} and
     * closes the file. The model keeps {@code options}: its {@link Model#runner()} runs with their run-time fields.
     *
     * @param file    a safetensors file
     * @param options the prefix (null: the file must hold exactly one model), precision, backend and cell clip, read
     *                now, and the defaults of the model's runners
     * @return the packed model, owned by the caller
     * @throws IOException              if the file cannot be read or is not a safetensors file (naming the file)
     * @throws IllegalArgumentException naming the file, if it holds no recurrent model, several with a null prefix,
     *                                  a tensor of the wrong shape, a missing or unexpected tensor, a non-finite
     *                                  value, or if {@code options} ask a GRU for what it does not have (a precision
     *                                  other than FLOAT32, a cell clip)
     */
    public static Model load(Path file, Options options) throws IOException {
        Checks.notNull("file", file);
        Checks.notNull("options", options);
        try (SafeTensors tensors = SafeTensors.open(file)) {
            String prefix = options.prefix();
            if (PyTorchGru.holdsGru(tensors, prefix)) {
                StackDrivers.checkGru(options);
                return Model.gru(PyTorchGru.loadStack(tensors, prefix, options.backend()), options);
            }
            try (LstmStackParameters parameters = PyTorchLstm.loadStackParameters(tensors, prefix)) {
                return Model.pack(parameters, options);
            }
        }
    }

    /**
     * Reads the sizes of the model in {@code file} without loading its values.
     *
     * @param file   a safetensors file
     * @param prefix the module prefix of the names, e.g. {@code "lstm."} or {@code ""}; null to infer it
     * @return the model's shape (without peepholes: a state_dict has none)
     * @throws IOException              if the file cannot be read or is not a safetensors file (naming the file)
     * @throws IllegalArgumentException naming the file, if it holds no recurrent model, several with a null prefix,
     *                                  or a layer-0 weight of the wrong shape
     */
    public static RnnShape inspect(Path file, String prefix) throws IOException {
        Checks.notNull("file", file);
        try (SafeTensors tensors = SafeTensors.open(file)) {
            if (PyTorchGru.holdsGru(tensors, prefix)) {
                PyTorchGru.Config config = PyTorchGru.inspect(tensors, prefix);
                return new RnnShape(Cell.GRU, config.inputSize(), config.hiddenSize(), config.layers(),
                        direction(config.bidirectional()), 0, false);
            }
            PyTorchLstm.Config config = PyTorchLstm.inspect(tensors, prefix);
            return new RnnShape(Cell.LSTM, config.inputSize(), config.hiddenSize(), config.layers(),
                    direction(config.bidirectional()), config.projectionSize(), false);
        }
    }

    private static Direction direction(boolean bidirectional) {
        return bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD;
    }
}
