package dev.vlstm.io;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

import dev.vlstm.Backend;
import dev.vlstm.LstmParameters;
import dev.vlstm.LstmStackParameters;
import dev.vlstm.LstmStackShape;
import dev.vlstm.LstmStackWeights;
import dev.vlstm.LstmWeights;

/**
 * PyTorch {@code nn.LSTM} state_dicts in safetensors files: names {@code weight_ih_l{k}}, {@code weight_hh_l{k}},
 * {@code bias_ih_l{k}}, {@code bias_hh_l{k}}, the {@code _reverse} suffix and {@code weight_hr_l{k}}, under a module
 * prefix such as {@code lstm.}. The configuration is inferred from the names and shapes; whole models (any number of
 * layers, one or two directions, with or without biases) load as {@link LstmStackParameters}, one-layer
 * unidirectional ones also as {@link LstmParameters}. Projection ({@code proj_size}, {@code weight_hr_l{k}}) loads
 * and saves like the other tensors, for one layer and for whole models.
 */
public final class PyTorchLstm {

    private static final String FIRST_WEIGHT = "weight_ih_l0";
    private static final List<String> WEIGHTS = List.of("weight_ih", "weight_hh");
    private static final List<String> TENSORS = List.of("weight_ih", "weight_hh", "bias_ih", "bias_hh");
    /** The local names of nn.LSTM's tensors, for the check that no stray one is left out of a load. */
    private static final Pattern LSTM_NAME = Pattern.compile("(weight|bias)_(ih|hh|hr)_l[0-9]+(_reverse)?");

    private PyTorchLstm() {
    }

    /**
     * What a state_dict holds.
     *
     * @param prefix         the module prefix of the names, e.g. {@code "lstm."} or {@code ""}
     * @param inputSize      I, columns of {@code weight_ih_l0}
     * @param hiddenSize     H, a quarter of its rows
     * @param layers         num_layers
     * @param bidirectional  whether {@code _reverse} weights are present
     * @param projectionSize proj_size, 0 without projection
     * @param bias           whether the biases are present
     */
    public record Config(String prefix, int inputSize, int hiddenSize, int layers, boolean bidirectional,
                         int projectionSize, boolean bias) {

        /**
         * Trainable parameters, as PyTorch counts them.
         *
         * @return the elements of every tensor, as {@code sum(p.numel() for p in lstm.parameters())}
         */
        public long parameterCount() {
            long total = 0;
            int directions = bidirectional ? 2 : 1;
            int output = projectionSize > 0 ? projectionSize : hiddenSize;
            for (int layer = 0; layer < layers; layer++) {
                int input = layer == 0 ? inputSize : output * directions;
                long perDirection = 4L * hiddenSize * (input + output) + (bias ? 8L * hiddenSize : 0)
                        + (projectionSize > 0 ? (long) projectionSize * hiddenSize : 0);
                total += directions * perDirection;
            }
            return total;
        }
    }

    /**
     * Infers the configuration of the LSTM in {@code file}. With a null {@code prefix} the file must hold exactly
     * one {@code weight_ih_l0}.
     *
     * @param file   an open safetensors file
     * @param prefix the module prefix of the names, e.g. {@code "lstm."} or {@code ""}; null to infer it
     * @return the configuration inferred from the names and from the shapes of layer 0
     * @throws IllegalArgumentException if there is no LSTM, or several with a null prefix, or {@code weight_ih_l0}
     *                                  is not {@code [4H][I]}
     */
    public static Config inspect(SafeTensors file, String prefix) {
        String chosen = prefix != null ? prefix : inferPrefix(file);
        SafeTensors.Tensor weightIh = file.tensor(chosen + FIRST_WEIGHT);
        long[] shape = weightIh.shape();
        if (shape.length != 2 || shape[0] % 4 != 0 || shape[0] == 0 || shape[1] == 0) {
            throw new IllegalArgumentException(file.path() + ": " + chosen + FIRST_WEIGHT + " has shape " + Arrays.toString(shape)
                    + ", not [4*hidden_size, input_size]");
        }
        int hiddenSize = Math.toIntExact(shape[0] / 4);
        int inputSize = Math.toIntExact(shape[1]);
        int layers = 0;
        while (file.names().contains(chosen + "weight_ih_l" + layers)) {
            layers++;
        }
        boolean bidirectional = file.names().contains(chosen + FIRST_WEIGHT + "_reverse");
        int projectionSize = file.names().contains(chosen + "weight_hr_l0")
                ? Math.toIntExact(file.tensor(chosen + "weight_hr_l0").shape()[0]) : 0;
        boolean bias = file.names().contains(chosen + "bias_ih_l0");
        return new Config(chosen, inputSize, hiddenSize, layers, bidirectional, projectionSize, bias);
    }

    private static String inferPrefix(SafeTensors file) {
        List<String> candidates = file.names().stream().filter(name -> name.endsWith(FIRST_WEIGHT)).toList();
        if (candidates.size() != 1) {
            throw new IllegalArgumentException(file.path() + ": " + (candidates.isEmpty() ? "no LSTM weights (no name ends with "
                    + FIRST_WEIGHT + "; the file has " + file.names() + ")"
                    : "several LSTMs (" + candidates + "); choose one with a prefix"));
        }
        String name = candidates.getFirst();
        return name.substring(0, name.length() - FIRST_WEIGHT.length());
    }

    /**
     * Loads the parameters of a one-layer, unidirectional LSTM, with or without projection ({@code proj_size}, then
     * with {@code weight_hr_l0 [P][H]}; null prefix: inferred); stacked or bidirectional models are refused with a
     * pointer to {@link #loadStackParameters}.
     *
     * @param file   an open safetensors file; may be closed once this returns
     * @param prefix the module prefix of the names, e.g. {@code "lstm."} or {@code ""}; null to infer it
     * @return a copy of the values, owned by the caller
     */
    public static LstmParameters loadParameters(SafeTensors file, String prefix) {
        Config config = inspect(file, prefix);
        if (config.layers() != 1 || config.bidirectional()) {
            throw new IllegalArgumentException(file.path() + ": this model has " + config.layers() + " layer(s)"
                    + (config.bidirectional() ? ", two directions" : "") + "; LstmParameters and LstmWeights hold one "
                    + "unidirectional layer: load the whole model with PyTorchLstm.loadStackParameters or loadStack");
        }
        if (config.projectionSize() > 0) {
            checkProjection(file, config);
        }
        LstmStackShape shape = shape(file, config);
        return loadLayer(file, config, shape, 0, 0);
    }

    /**
     * Loads and packs a one-layer LSTM for {@code backend}; see {@link #loadParameters}.
     *
     * @param file    an open safetensors file; may be closed once this returns
     * @param prefix  the module prefix of the names, e.g. {@code "lstm."} or {@code ""}; null to infer it
     * @param backend the kernel family to pack for
     * @return packed weights, owned by the caller
     */
    public static LstmWeights load(SafeTensors file, String prefix, Backend backend) {
        try (LstmParameters parameters = loadParameters(file, prefix)) {
            return parameters.pack(backend);
        }
    }

    /**
     * Loads the parameters of a whole {@code nn.LSTM}: every layer ({@code _l0}, {@code _l1}, ...) and direction
     * ({@code _reverse}), with or without biases and projection ({@code proj_size}: {@code weight_hr_l0 [P][H]} and
     * its siblings) (null prefix: inferred).
     *
     * @param file   an open safetensors file; may be closed once this returns
     * @param prefix the module prefix of the names, e.g. {@code "lstm."} or {@code ""}; null to infer it
     * @return a copy of every layer's and direction's values, owned by the caller
     * @throws IllegalArgumentException naming the file and tensor for a missing tensor, a shape that does not fit
     *                                  the inferred configuration (layer k &ge; 1 reads D·S features, S = P or H), a non-finite
     *                                  value, or an LSTM tensor that does not belong to that configuration
     */
    public static LstmStackParameters loadStackParameters(SafeTensors file, String prefix) {
        Config config = inspect(file, prefix);
        if (config.projectionSize() > 0) {
            checkProjection(file, config);
        }
        LstmStackShape shape = shape(file, config);
        LstmParameters[] parts = new LstmParameters[shape.stateCount()];
        try {
            for (int n = 0; n < parts.length; n++) {
                parts[n] = loadLayer(file, config, shape, n / shape.directions(), n % shape.directions());
            }
            return LstmStackParameters.of(shape.bidirectional(), parts);
        } catch (RuntimeException | Error e) {
            for (LstmParameters part : parts) {
                if (part != null) {
                    part.close();
                }
            }
            throw e;
        }
    }

    /**
     * Loads and packs a whole {@code nn.LSTM} for {@code backend}; see {@link #loadStackParameters}.
     *
     * @param file    an open safetensors file; may be closed once this returns
     * @param prefix  the module prefix of the names, e.g. {@code "lstm."} or {@code ""}; null to infer it
     * @param backend the kernel family to pack every layer for
     * @return packed weights, owned by the caller
     */
    public static LstmStackWeights loadStack(SafeTensors file, String prefix, Backend backend) {
        try (LstmStackParameters parameters = loadStackParameters(file, prefix)) {
            return parameters.pack(backend);
        }
    }

    /** Checks that {@code weight_hr_l0} is {@code [proj_size][hidden_size]} with proj_size &lt; hidden_size. */
    private static void checkProjection(SafeTensors file, Config config) {
        String name = config.prefix() + "weight_hr_l0";
        long[] shape = file.tensor(name).shape();
        if (shape.length != 2 || shape[1] != config.hiddenSize() || shape[0] >= config.hiddenSize()) {
            throw new IllegalArgumentException(file.path() + ": " + name + " has shape " + Arrays.toString(shape)
                    + ", not [proj_size, hidden_size] with proj_size < hidden_size " + config.hiddenSize());
        }
    }

    /** The configuration's shape, after checking that every LSTM tensor under the prefix belongs to it. */
    private static LstmStackShape shape(SafeTensors file, Config config) {
        LstmStackShape shape = new LstmStackShape(config.inputSize(), config.hiddenSize(), config.layers(),
                config.bidirectional(), config.projectionSize());
        Set<String> expected = new HashSet<>();
        for (int layer = 0; layer < shape.layers(); layer++) {
            for (int direction = 0; direction < shape.directions(); direction++) {
                for (String tensor : config.bias() ? TENSORS : WEIGHTS) {
                    expected.add(shape.pyTorchName(tensor, layer, direction));
                }
                if (config.projectionSize() > 0) {
                    expected.add(shape.pyTorchName("weight_hr", layer, direction));
                }
            }
        }
        for (String name : file.names()) {
            if (name.startsWith(config.prefix())) {
                String local = name.substring(config.prefix().length());
                if (LSTM_NAME.matcher(local).matches() && !expected.contains(local)) {
                    throw new IllegalArgumentException(file.path() + ": unexpected tensor '" + name + "' in a model of "
                            + shape.layers() + " layer(s)" + (shape.bidirectional() ? ", two directions" : "")
                            + (config.bias() ? "" : ", no biases") + " (inferred from the names of layer 0)");
                }
            }
        }
        return shape;
    }

    private static LstmParameters loadLayer(SafeTensors file, Config config, LstmStackShape shape, int layer,
                                            int direction) {
        String p = config.prefix();
        int gateRows = 4 * shape.hiddenSize();
        int inputSize = shape.layerInputSize(layer);
        String hidden = "hidden_size " + shape.hiddenSize();
        String input = layer == 0 ? "input_size " + inputSize + ", " + hidden : hidden + "; layer " + layer + " reads "
                + inputSize + " features, " + shape.directions() + " direction(s) × "
                + (config.projectionSize() > 0 ? "proj_size" : "hidden_size");
        float[] weightIh = floats(file, p + shape.pyTorchName("weight_ih", layer, direction), gateRows, inputSize,
                input);
        int projection = config.projectionSize();
        float[] weightHh = floats(file, p + shape.pyTorchName("weight_hh", layer, direction), gateRows,
                projection > 0 ? projection : shape.hiddenSize(),
                projection > 0 ? hidden + ", proj_size " + projection : hidden);
        float[] weightHr = projection > 0 ? floats(file, p + shape.pyTorchName("weight_hr", layer, direction),
                projection, shape.hiddenSize(), "proj_size " + projection + ", " + hidden) : null;
        float[] biasIh = config.bias() ? floats(file, p + shape.pyTorchName("bias_ih", layer, direction), gateRows,
                -1, hidden) : null;
        float[] biasHh = config.bias() ? floats(file, p + shape.pyTorchName("bias_hh", layer, direction), gateRows,
                -1, hidden) : null;
        return LstmParameters.fromPyTorch(inputSize, shape.hiddenSize(), projection, weightIh, weightHh, biasIh,
                biasHh, weightHr);
    }

    private static float[] floats(SafeTensors file, String name, int rows, int columns, String sizes) {
        SafeTensors.Tensor tensor = file.tensor(name);
        long[] expected = columns < 0 ? new long[]{rows} : new long[]{rows, columns};
        if (!Arrays.equals(tensor.shape(), expected)) {
            throw new IllegalArgumentException(file.path() + ": " + name + " has shape " + Arrays.toString(tensor.shape())
                    + ", expected " + Arrays.toString(expected) + " (" + sizes + ")");
        }
        float[] values = tensor.toFloats();
        for (int n = 0; n < values.length; n++) {
            if (!Float.isFinite(values[n])) {
                throw new IllegalArgumentException(file.path() + ": " + name + " holds " + values[n] + " at flat index " + n
                        + (columns > 0 ? " ([" + n / columns + "][" + n % columns + "])" : ""));
            }
        }
        return values;
    }

    /**
     * Saves {@code parameters} as a PyTorch-compatible safetensors file: {@code prefix + weight_ih_l0} and the
     * other three tensors (and {@code weight_hr_l0} with projection), F32, written atomically. Loading it back gives
     * the same values exactly.
     *
     * @param file       the destination, replaced if it exists
     * @param prefix     put before every name, e.g. {@code "lstm."}, or {@code ""} for none
     * @param parameters saved as layer 0 of a unidirectional model; only read
     * @param metadata   strings for the header's {@code __metadata__}; empty for none
     * @throws IOException              if writing or moving fails; {@code file} is then as it was
     * @throws IllegalArgumentException if the parameters have peephole connections, which {@code nn.LSTM} has no
     *                                  tensor for (nothing is written)
     */
    public static void save(Path file, String prefix, LstmParameters parameters, Map<String, String> metadata)
            throws IOException {
        if (parameters.peepholes() != null) {
            throw new IllegalArgumentException("parameters have peephole connections, which PyTorch's nn.LSTM has no"
                    + " tensor for: saving them as a state_dict would lose them");
        }
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        putLayer(tensors, prefix, new LstmStackShape(parameters.inputSize(), parameters.hiddenSize(), 1, false), 0, 0,
                parameters);
        SafeTensors.write(file, tensors, metadata);
    }

    /**
     * Saves a whole model as a PyTorch-compatible safetensors file: the four tensors of every layer and direction
     * under PyTorch's names ({@code weight_ih_l1_reverse}, ...), F32, written atomically, loadable into
     * {@code nn.LSTM(num_layers=L, bidirectional=...)} with {@code load_state_dict}.
     *
     * @param file       the destination, replaced if it exists
     * @param prefix     put before every name, e.g. {@code "lstm."}, or {@code ""} for none
     * @param parameters every layer and direction; only read
     * @param metadata   strings for the header's {@code __metadata__}; empty for none
     * @throws IOException              if writing or moving fails; {@code file} is then as it was
     * @throws IllegalArgumentException if a layer has peephole connections, which {@code nn.LSTM} has no tensor
     *                                  for (naming the layer; nothing is written)
     */
    public static void save(Path file, String prefix, LstmStackParameters parameters, Map<String, String> metadata)
            throws IOException {
        LstmStackShape shape = parameters.shape();
        for (int layer = 0; layer < shape.layers(); layer++) {
            for (int direction = 0; direction < shape.directions(); direction++) {
                if (parameters.layer(layer, direction).peepholes() != null) {
                    throw new IllegalArgumentException("parameters.layer(" + layer + ", " + direction + ") has"
                            + " peephole connections, which PyTorch's nn.LSTM has no tensor for: saving them as a"
                            + " state_dict would lose them");
                }
            }
        }
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        for (int layer = 0; layer < shape.layers(); layer++) {
            for (int direction = 0; direction < shape.directions(); direction++) {
                putLayer(tensors, prefix, shape, layer, direction, parameters.layer(layer, direction));
            }
        }
        SafeTensors.write(file, tensors, metadata);
    }

    private static void putLayer(Map<String, FloatTensor> tensors, String prefix, LstmStackShape shape, int layer,
                                 int direction, LstmParameters parameters) {
        int gateRows = 4 * parameters.hiddenSize();
        tensors.put(prefix + shape.pyTorchName("weight_ih", layer, direction),
                tensor(parameters.weightIh(), gateRows, parameters.inputSize()));
        tensors.put(prefix + shape.pyTorchName("weight_hh", layer, direction),
                tensor(parameters.weightHh(), gateRows, parameters.outputSize()));
        tensors.put(prefix + shape.pyTorchName("bias_ih", layer, direction), tensor(parameters.biasIh(), gateRows, -1));
        tensors.put(prefix + shape.pyTorchName("bias_hh", layer, direction), tensor(parameters.biasHh(), gateRows, -1));
        if (parameters.projectionSize() > 0) {
            tensors.put(prefix + shape.pyTorchName("weight_hr", layer, direction),
                    tensor(parameters.weightHr(), parameters.projectionSize(), parameters.hiddenSize()));
        }
    }

    private static FloatTensor tensor(MemorySegment values, int rows, int columns) {
        long[] shape = columns < 0 ? new long[]{rows} : new long[]{rows, columns};
        return new FloatTensor(shape, values.toArray(ValueLayout.JAVA_FLOAT));
    }
}
