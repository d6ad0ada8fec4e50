package dev.vlstm.io;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.vlstm.Backend;
import dev.vlstm.LstmParameters;
import dev.vlstm.LstmWeights;

/**
 * PyTorch {@code nn.LSTM} state_dicts in safetensors files: names {@code weight_ih_l{k}}, {@code weight_hh_l{k}},
 * {@code bias_ih_l{k}}, {@code bias_hh_l{k}}, the {@code _reverse} suffix and {@code weight_hr_l{k}}, under a module
 * prefix such as {@code lstm.}. The configuration is inferred from the names and shapes; loading takes one
 * unidirectional layer without projection for now and refuses the rest by naming the missing feature.
 */
public final class PyTorchLstm {

    private static final String FIRST_WEIGHT = "weight_ih_l0";

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

        /** Trainable parameters, as PyTorch counts them. */
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

    /** Loads the parameters of a one-layer, one-direction LSTM without projection (null prefix: inferred). */
    public static LstmParameters loadParameters(SafeTensors file, String prefix) {
        Config config = inspect(file, prefix);
        if (config.layers() != 1 || config.bidirectional() || config.projectionSize() > 0) {
            throw new IllegalArgumentException(file.path() + ": this model has " + config.layers() + " layer(s)"
                    + (config.bidirectional() ? ", two directions" : "")
                    + (config.projectionSize() > 0 ? ", projection to " + config.projectionSize() : "")
                    + ": vlstm loads one unidirectional layer without projection for now (stacked, bidirectional"
                    + " and projected models are the model-breadth issue)");
        }
        String p = config.prefix();
        int gateRows = 4 * config.hiddenSize();
        float[] weightIh = floats(file, p + "weight_ih_l0", gateRows, config.inputSize());
        float[] weightHh = floats(file, p + "weight_hh_l0", gateRows, config.hiddenSize());
        float[] biasIh = config.bias() ? floats(file, p + "bias_ih_l0", gateRows, -1) : null;
        float[] biasHh = config.bias() ? floats(file, p + "bias_hh_l0", gateRows, -1) : null;
        return LstmParameters.fromPyTorch(config.inputSize(), config.hiddenSize(), weightIh, weightHh, biasIh, biasHh);
    }

    /** Loads and packs a one-layer LSTM for {@code backend}; see {@link #loadParameters}. */
    public static LstmWeights load(SafeTensors file, String prefix, Backend backend) {
        try (LstmParameters parameters = loadParameters(file, prefix)) {
            return parameters.pack(backend);
        }
    }

    private static float[] floats(SafeTensors file, String name, int rows, int columns) {
        SafeTensors.Tensor tensor = file.tensor(name);
        long[] expected = columns < 0 ? new long[]{rows} : new long[]{rows, columns};
        if (!Arrays.equals(tensor.shape(), expected)) {
            throw new IllegalArgumentException(file.path() + ": " + name + " has shape " + Arrays.toString(tensor.shape())
                    + ", expected "
                    + Arrays.toString(expected) + " for input_size " + (columns < 0 ? "?" : columns)
                    + " and hidden_size " + rows / 4);
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
     * other three tensors, F32, written atomically. Loading it back gives the same values exactly.
     */
    public static void save(Path file, String prefix, LstmParameters parameters, Map<String, String> metadata)
            throws IOException {
        int gateRows = 4 * parameters.hiddenSize();
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        tensors.put(prefix + "weight_ih_l0", tensor(parameters.weightIh(), gateRows, parameters.inputSize()));
        tensors.put(prefix + "weight_hh_l0", tensor(parameters.weightHh(), gateRows, parameters.hiddenSize()));
        tensors.put(prefix + "bias_ih_l0", tensor(parameters.biasIh(), gateRows, -1));
        tensors.put(prefix + "bias_hh_l0", tensor(parameters.biasHh(), gateRows, -1));
        SafeTensors.write(file, tensors, metadata);
    }

    private static FloatTensor tensor(MemorySegment values, int rows, int columns) {
        long[] shape = columns < 0 ? new long[]{rows} : new long[]{rows, columns};
        return new FloatTensor(shape, values.toArray(ValueLayout.JAVA_FLOAT));
    }
}
