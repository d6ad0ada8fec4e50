package dev.vlstm.io;

import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;

import dev.vlstm.Backend;
import dev.vlstm.GruWeights;

/**
 * PyTorch {@code nn.GRU} state_dicts in safetensors files: names {@code weight_ih_l0}, {@code weight_hh_l0},
 * {@code bias_ih_l0}, {@code bias_hh_l0} under a module prefix such as {@code gru.}, gate order r, z, n. The names are
 * those of {@code nn.LSTM}; the shapes tell the two apart ({@code weight_hh_l0} is {@code [3H][H]} for a GRU,
 * {@code [4H][H]} for an LSTM), and an LSTM is refused with a pointer to {@link PyTorchLstm}. One layer, one
 * direction: stacked ({@code _l1}) and bidirectional ({@code _reverse}) GRUs are refused, naming what they have.
 */
public final class PyTorchGru {

    private static final String FIRST_WEIGHT = "weight_ih_l0";
    private static final Pattern RECURRENT_NAME = Pattern.compile("(weight|bias)_(ih|hh|hr)_l[0-9]+(_reverse)?");

    private PyTorchGru() {
    }

    /**
     * What a GRU state_dict holds.
     *
     * @param prefix        the module prefix of the names, e.g. {@code "gru."} or {@code ""}
     * @param inputSize     I, columns of {@code weight_ih_l0}
     * @param hiddenSize    H, columns of {@code weight_hh_l0} (a third of its rows)
     * @param layers        num_layers
     * @param bidirectional whether {@code _reverse} weights are present
     * @param bias          whether the biases are present
     */
    public record Config(String prefix, int inputSize, int hiddenSize, int layers, boolean bidirectional,
                         boolean bias) {

        /**
         * Trainable parameters, as PyTorch counts them.
         *
         * @return the elements of every tensor, as {@code sum(p.numel() for p in gru.parameters())}
         */
        public long parameterCount() {
            long total = 0;
            int directions = bidirectional ? 2 : 1;
            for (int layer = 0; layer < layers; layer++) {
                int input = layer == 0 ? inputSize : hiddenSize * directions;
                total += directions * (3L * hiddenSize * (input + hiddenSize) + (bias ? 6L * hiddenSize : 0));
            }
            return total;
        }
    }

    /**
     * Infers the configuration of the GRU in {@code file}. With a null {@code prefix} the file must hold exactly one
     * {@code weight_ih_l0}.
     *
     * @param file   an open safetensors file
     * @param prefix the module prefix of the names, e.g. {@code "gru."} or {@code ""}; null to infer it
     * @return the configuration inferred from the names and from the shapes of layer 0
     * @throws IllegalArgumentException naming the file if there is no recurrent layer, several with a null prefix, a
     *                                  {@code weight_hh_l0} of an LSTM ({@code [4H][H]}) or of no known cell, or a
     *                                  {@code weight_ih_l0} that is not {@code [3H][I]}
     */
    public static Config inspect(SafeTensors file, String prefix) {
        String chosen = prefix != null ? prefix : inferPrefix(file);
        long[] recurrent = file.tensor(chosen + "weight_hh_l0").shape();
        if (recurrent.length != 2 || recurrent[1] == 0 || recurrent[0] != 3 * recurrent[1]) {
            boolean lstm = recurrent.length == 2 && recurrent[1] > 0 && recurrent[0] == 4 * recurrent[1];
            throw new IllegalArgumentException(file.path() + ": " + chosen + "weight_hh_l0 has shape "
                    + Arrays.toString(recurrent) + ", not [3*hidden_size, hidden_size]"
                    + (lstm ? ": this is an nn.LSTM state_dict; load it with PyTorchLstm" : ""));
        }
        int hiddenSize = Math.toIntExact(recurrent[1]);
        long[] input = file.tensor(chosen + FIRST_WEIGHT).shape();
        if (input.length != 2 || input[0] != 3L * hiddenSize || input[1] == 0) {
            throw new IllegalArgumentException(file.path() + ": " + chosen + FIRST_WEIGHT + " has shape "
                    + Arrays.toString(input) + ", not [3*hidden_size, input_size] with hidden_size " + hiddenSize);
        }
        int layers = 0;
        while (file.names().contains(chosen + "weight_ih_l" + layers)) {
            layers++;
        }
        boolean bidirectional = file.names().contains(chosen + FIRST_WEIGHT + "_reverse");
        boolean bias = file.names().contains(chosen + "bias_ih_l0");
        return new Config(chosen, Math.toIntExact(input[1]), hiddenSize, layers, bidirectional, bias);
    }

    /**
     * Whether {@code file} holds a GRU rather than an LSTM: its {@code weight_hh_l0} (under {@code prefix}, or under
     * the one prefix of a {@code weight_ih_l0}) is {@code [3H][H]}. For tools that accept either kind of model.
     *
     * @param file   an open safetensors file
     * @param prefix the module prefix of the names; null to infer it
     * @return true for a GRU's recurrent weights; false otherwise, including when the prefix cannot be inferred or
     *         the tensor is missing (loading then says what is wrong)
     */
    public static boolean holdsGru(SafeTensors file, String prefix) {
        String chosen = prefix;
        if (chosen == null) {
            List<String> candidates = file.names().stream().filter(name -> name.endsWith(FIRST_WEIGHT)).toList();
            if (candidates.size() != 1) {
                return false;
            }
            chosen = candidates.getFirst().substring(0, candidates.getFirst().length() - FIRST_WEIGHT.length());
        }
        if (!file.names().contains(chosen + "weight_hh_l0")) {
            return false;
        }
        long[] shape = file.tensor(chosen + "weight_hh_l0").shape();
        return shape.length == 2 && shape[1] > 0 && shape[0] == 3 * shape[1];
    }

    private static String inferPrefix(SafeTensors file) {
        List<String> candidates = file.names().stream().filter(name -> name.endsWith(FIRST_WEIGHT)).toList();
        if (candidates.size() != 1) {
            throw new IllegalArgumentException(file.path() + ": " + (candidates.isEmpty()
                    ? "no GRU weights (no name ends with " + FIRST_WEIGHT + "; the file has " + file.names() + ")"
                    : "several recurrent layers (" + candidates + "); choose one with a prefix"));
        }
        String name = candidates.getFirst();
        return name.substring(0, name.length() - FIRST_WEIGHT.length());
    }

    /**
     * The tensors of a one-layer unidirectional GRU, in PyTorch's layout, checked (shapes, finite values, no stray
     * tensor); null prefix: inferred.
     *
     * @param file   an open safetensors file; may be closed once this returns
     * @param prefix the module prefix of the names, e.g. {@code "gru."} or {@code ""}; null to infer it
     * @return copies of the four tensors (biases null for a model without them)
     * @throws IllegalArgumentException naming the file and tensor for a stacked or bidirectional model, a missing
     *                                  tensor, a wrong shape, a non-finite value or a tensor that a one-layer GRU
     *                                  does not have
     */
    public static Tensors loadTensors(SafeTensors file, String prefix) {
        Config config = inspect(file, prefix);
        if (config.layers() != 1 || config.bidirectional()) {
            throw new IllegalArgumentException(file.path() + ": this GRU has " + config.layers() + " layer(s)"
                    + (config.bidirectional() ? ", two directions" : "") + "; vlstm runs one unidirectional GRU"
                    + " layer (num_layers=1, bidirectional=False)");
        }
        List<String> expected = config.bias()
                ? List.of("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
                : List.of("weight_ih_l0", "weight_hh_l0");
        for (String name : file.names()) {
            if (name.startsWith(config.prefix())) {
                String local = name.substring(config.prefix().length());
                if (RECURRENT_NAME.matcher(local).matches() && !expected.contains(local)) {
                    throw new IllegalArgumentException(file.path() + ": unexpected tensor '" + name + "' in a"
                            + " one-layer GRU" + (config.bias() ? "" : " without biases"));
                }
            }
        }
        String p = config.prefix();
        int gateRows = 3 * config.hiddenSize();
        String sizes = "input_size " + config.inputSize() + ", hidden_size " + config.hiddenSize();
        return new Tensors(config.inputSize(), config.hiddenSize(),
                floats(file, p + "weight_ih_l0", gateRows, config.inputSize(), sizes),
                floats(file, p + "weight_hh_l0", gateRows, config.hiddenSize(), sizes),
                config.bias() ? floats(file, p + "bias_ih_l0", gateRows, -1, sizes) : null,
                config.bias() ? floats(file, p + "bias_hh_l0", gateRows, -1, sizes) : null);
    }

    /**
     * Loads and packs a one-layer unidirectional GRU for {@code backend}; see {@link #loadTensors}.
     *
     * @param file    an open safetensors file; may be closed once this returns
     * @param prefix  the module prefix of the names, e.g. {@code "gru."} or {@code ""}; null to infer it
     * @param backend the kernel family to pack for
     * @return packed weights, owned by the caller
     * @throws IllegalArgumentException as {@link #loadTensors} does
     */
    public static GruWeights load(SafeTensors file, String prefix, Backend backend) {
        Tensors tensors = loadTensors(file, prefix);
        return GruWeights.fromPyTorch(backend, tensors.inputSize(), tensors.hiddenSize(), tensors.weightIh(),
                tensors.weightHh(), tensors.biasIh(), tensors.biasHh());
    }

    /**
     * The four tensors of one GRU layer in PyTorch's layout, row-major floats.
     *
     * @param inputSize  I
     * @param hiddenSize H
     * @param weightIh   {@code weight_ih_l0}, {@code [3H][I]}
     * @param weightHh   {@code weight_hh_l0}, {@code [3H][H]}
     * @param biasIh     {@code bias_ih_l0}, {@code [3H]}, or null
     * @param biasHh     {@code bias_hh_l0}, {@code [3H]}, or null
     */
    public record Tensors(int inputSize, int hiddenSize, float[] weightIh, float[] weightHh, float[] biasIh,
                          float[] biasHh) {
    }

    private static float[] floats(SafeTensors file, String name, int rows, int columns, String sizes) {
        SafeTensors.Tensor tensor = file.tensor(name);
        long[] expected = columns < 0 ? new long[]{rows} : new long[]{rows, columns};
        if (!Arrays.equals(tensor.shape(), expected)) {
            throw new IllegalArgumentException(file.path() + ": " + name + " has shape "
                    + Arrays.toString(tensor.shape()) + ", expected " + Arrays.toString(expected) + " (" + sizes + ")");
        }
        float[] values = tensor.toFloats();
        for (int n = 0; n < values.length; n++) {
            if (!Float.isFinite(values[n])) {
                throw new IllegalArgumentException(file.path() + ": " + name + " holds " + values[n]
                        + " at flat index " + n + (columns > 0 ? " ([" + n / columns + "][" + n % columns + "])" : ""));
            }
        }
        return values;
    }
}
