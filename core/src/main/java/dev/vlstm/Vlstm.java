package dev.vlstm;

import java.io.IOException;
import java.nio.file.Path;

import dev.vlstm.io.SafeTensors;
import dev.vlstm.io.StateDict;

/**
 * Loads models in one call from safetensors files of PyTorch state_dicts ({@code nn.LSTM} or {@code nn.GRU}, as
 * {@code safetensors.torch.save_file(module.state_dict(), path)} writes them, or as {@link Parameters#save} writes
 * them), under a module prefix such as {@code "lstm."}. The cell, layers, directions, biases, projection and
 * peepholes are read from the tensors' names and shapes as {@link StateDict} says: the rows of {@code weight_ih_l0}
 * are 4H for an LSTM, 3H for a GRU; {@code _l1}, {@code _l2}, ... are layers, {@code _reverse} a second direction,
 * {@code weight_hr_l0} an LSTM's projection, vlstm's {@code peephole_l0} its peepholes. With a null prefix the file
 * must hold exactly one model (one name ending in {@code weight_ih_l0}).
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
     *                                  a tensor of the wrong shape, a missing or unexpected tensor, or a non-finite
     *                                  value
     */
    public static Model load(Path file, Options options) throws IOException {
        Checks.notNull("file", file);
        Checks.notNull("options", options);
        try (SafeTensors tensors = SafeTensors.open(file)) {
            StateDict stateDict = StateDict.inspect(tensors, options.prefix());
            try (Parameters parameters = stateDict.read(tensors)) {
                return Model.pack(parameters, options);
            }
        }
    }

    /**
     * Reads the sizes of the model in {@code file} without loading its values.
     *
     * @param file   a safetensors file
     * @param prefix the module prefix of the names, e.g. {@code "lstm."} or {@code ""}; null to infer it
     * @return the model's shape, as {@link StateDict#inspect} reads it
     * @throws IOException              if the file cannot be read or is not a safetensors file (naming the file)
     * @throws IllegalArgumentException naming the file, if it holds no recurrent model, several with a null prefix,
     *                                  or a layer-0 weight of the wrong shape
     */
    public static RnnShape inspect(Path file, String prefix) throws IOException {
        Checks.notNull("file", file);
        try (SafeTensors tensors = SafeTensors.open(file)) {
            return StateDict.inspect(tensors, prefix).shape();
        }
    }
}
