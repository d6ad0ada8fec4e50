package dev.vlstm.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;

import dev.vlstm.Backend;
import dev.vlstm.GradientMode;
import dev.vlstm.GruGradients;
import dev.vlstm.GruStackGradients;
import dev.vlstm.GruStackRunner;
import dev.vlstm.GruStackTrainer;
import dev.vlstm.GruStackWeights;
import dev.vlstm.LstmStackShape;
import dev.vlstm.SequenceLayout;
import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.Npy;
import dev.vlstm.io.PyTorchGru;
import dev.vlstm.io.SafeTensors;

/**
 * {@link Cli}'s commands on a PyTorch {@code nn.GRU} state_dict (any number of layers, one or two directions, with or
 * without biases), with .npy files shaped as {@code nn.GRU} takes and returns them: x {@code [T, B, I]} (or
 * {@code [B, T, I]}, or unbatched {@code [T, I]}), y {@code [T, B, D·H]}, h0 and h_n {@code [L·D, B, H]};
 * {@code grad} writes the gradients of {@code sum(y*dy) + sum(hn*dhn)} under PyTorch's names, and of x and h0.
 * With {@code --lengths}, a padded batch of sequences of different lengths runs as {@code nn.GRU} runs a packed
 * sequence (pack_padded_sequence, then pad_packed_sequence with total_length T), as {@link LstmCommands} does for an
 * LSTM. Weights stay float32 (compressed weights are LSTM-only); a thread count leaves the results' bits as they are.
 */
final class GruCommands {

    private GruCommands() {
    }

    static void info(SafeTensors file, String prefix, PrintStream out) {
        PyTorchGru.Config config = PyTorchGru.inspect(file, prefix);
        out.printf("GRU, prefix '%s': input_size=%d hidden_size=%d num_layers=%d bidirectional=%b bias=%b%n"
                        + "parameters: %d%n", config.prefix(), config.inputSize(), config.hiddenSize(), config.layers(),
                config.bidirectional(), config.bias(), config.parameterCount());
    }

    /** {@code run} (outputs) or {@code grad} (outputs and every gradient); options as {@link Cli#COMMANDS} says. */
    static void forward(SafeTensors file, Arguments arguments, boolean gradients, int threads) throws IOException {
        if (arguments.has(Cli.C0) || arguments.has(Cli.DCN)) {
            throw new Cli.UsageException("a GRU has no cell state: --c0 and --dcn do not apply");
        }
        PyTorchGru.Config config = PyTorchGru.inspect(file, arguments.text(Cli.PREFIX));
        try (GruStackWeights weights = PyTorchGru.loadStack(file, config.prefix(), Backend.PREFERRED)) {
            LstmStackShape shape = weights.shape();
            Sequence x = arguments.read(Cli.INPUT, path -> Sequence.read(path, shape.inputSize(),
                    arguments.has(Cli.BATCH_FIRST)));
            float[] h0 = state(arguments, Cli.H0, x, shape);
            int[] lengths = arguments.lengths(Cli.LENGTHS);
            float[] y = new float[x.steps() * x.batch() * shape.outputSize()];
            float[] hn = new float[shape.stateCount() * x.batch() * shape.hiddenSize()];
            if (!gradients) {
                try (GruStackRunner runner = new GruStackRunner(weights, x.batch(), x.steps(), threads)) {
                    if (lengths == null) {
                        runner.forward(x.timeMajor(), x.steps(), x.batch(), h0, y, hn);
                    } else {
                        runner.forward(x.timeMajor(), SequenceLayout.TIME_MAJOR, x.steps(), x.batch(), lengths, h0, y,
                                hn);
                    }
                }
            } else {
                grad(arguments, threads, config, weights, x, lengths, h0, y, hn);
            }
            arguments.write(Cli.OUTPUT, "y.npy", path -> Npy.write(path, x.outputs(y, shape.outputSize())));
            arguments.write(Cli.OUTPUT, "hn.npy",
                    path -> Npy.write(path, x.state(hn, shape.stateCount(), shape.hiddenSize())));
        }
    }

    private static void grad(Arguments arguments, int threads, PyTorchGru.Config config, GruStackWeights weights,
                             Sequence x, int[] lengths, float[] h0, float[] y, float[] hn) throws IOException {
        LstmStackShape shape = weights.shape();
        int hidden = shape.hiddenSize();
        float[] dy = arguments.read(Cli.DY, path -> x.sameLayoutAs(path, Cli.DY.name(), shape.outputSize()));
        float[] dhn = state(arguments, Cli.DHN, x, shape);
        float[] dx = new float[x.timeMajor().length];
        float[] dh0 = new float[hn.length];
        try (GruStackTrainer trainer = new GruStackTrainer(weights, x.batch(), x.steps(), threads);
             GruStackGradients gradients = new GruStackGradients(weights)) {
            if (lengths == null) {
                trainer.forward(x.timeMajor(), x.steps(), x.batch(), h0, y, hn);
            } else {
                trainer.forward(MemorySegment.ofArray(x.timeMajor()), SequenceLayout.TIME_MAJOR, x.steps(), x.batch(),
                        lengths, h0 == null ? null : MemorySegment.ofArray(h0), MemorySegment.ofArray(y),
                        MemorySegment.ofArray(hn));
            }
            trainer.backward(dy, dhn, gradients, GradientMode.OVERWRITE, dx, dh0);
            String p = config.prefix();
            long gateRows = 3L * hidden;
            Map<String, FloatTensor> tensors = new LinkedHashMap<>();
            for (int layer = 0; layer < shape.layers(); layer++) {
                for (int direction = 0; direction < shape.directions(); direction++) {
                    GruGradients part = gradients.layer(layer, direction);
                    tensors.put(p + shape.pyTorchName("weight_ih", layer, direction),
                            tensor(part.weightIh(), gateRows, shape.layerInputSize(layer)));
                    tensors.put(p + shape.pyTorchName("weight_hh", layer, direction),
                            tensor(part.weightHh(), gateRows, hidden));
                    if (config.bias()) {
                        tensors.put(p + shape.pyTorchName("bias_ih", layer, direction), tensor(part.biasIh(), gateRows));
                        tensors.put(p + shape.pyTorchName("bias_hh", layer, direction), tensor(part.biasHh(), gateRows));
                    }
                }
            }
            tensors.put("x", x.inputsLike(dx));
            tensors.put("h0", x.state(dh0, shape.stateCount(), hidden));
            arguments.write(Cli.OUTPUT, "grad.safetensors",
                    path -> SafeTensors.write(path, tensors, Map.of("loss", "sum(y*dy) + sum(hn*dhn)")));
        }
    }

    /** An optional h0 or dhn file, {@code [L·D, B, H]}; null if not given. */
    private static float[] state(Arguments arguments, Option option, Sequence x, LstmStackShape shape)
            throws IOException {
        return arguments.read(option, path -> x.stateFrom(path, option.name(), shape.stateCount(),
                shape.hiddenSize()));
    }

    private static FloatTensor tensor(MemorySegment values, long... shape) {
        return new FloatTensor(shape, values.toArray(ValueLayout.JAVA_FLOAT));
    }
}
