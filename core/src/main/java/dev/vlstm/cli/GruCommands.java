package dev.vlstm.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import dev.vlstm.Backend;
import dev.vlstm.GradientMode;
import dev.vlstm.GruGradients;
import dev.vlstm.GruRunner;
import dev.vlstm.GruTrainer;
import dev.vlstm.GruWeights;
import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.Npy;
import dev.vlstm.io.PyTorchGru;
import dev.vlstm.io.SafeTensors;

/**
 * {@link Cli}'s commands on a PyTorch {@code nn.GRU} state_dict (one layer, one direction), with .npy files shaped as
 * {@code nn.GRU} takes and returns them: x {@code [T, B, I]} (or {@code [B, T, I]}, or unbatched {@code [T, I]}),
 * y {@code [T, B, H]}, h_n {@code [1, B, H]}; {@code grad} writes the gradients of {@code sum(y*dy) + sum(hn*dhn)}
 * under PyTorch's names, and of x and h0.
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

    /** {@code run} (outputs) or {@code grad} (outputs and every gradient); options as {@link Cli#USAGE} says. */
    static void forward(SafeTensors file, Map<String, String> options, Path output, boolean gradients)
            throws IOException {
        if (options.containsKey("--c0") || options.containsKey("--dcn")) {
            throw new Cli.UsageException("a GRU has no cell state: --c0 and --dcn do not apply");
        }
        if (options.containsKey("--lengths")) {
            throw new Cli.UsageException("--lengths is for LSTM models: the GRU runs sequences of one length only");
        }
        PyTorchGru.Config config = PyTorchGru.inspect(file, options.get("--prefix"));
        try (GruWeights weights = PyTorchGru.load(file, config.prefix(), Backend.PREFERRED)) {
            int hidden = weights.hiddenSize();
            Sequence x = Sequence.read(Path.of(Cli.required(options, "--input")), weights.inputSize(),
                    options.containsKey("--batch-first"));
            float[] h0 = state(options.get("--h0"), "--h0", x, hidden);
            float[] y = new float[x.steps() * x.batch() * hidden];
            float[] hn = new float[x.batch() * hidden];
            Files.createDirectories(output);
            if (!gradients) {
                try (GruRunner runner = new GruRunner(weights, x.batch(), x.steps())) {
                    runner.forward(x.timeMajor(), x.steps(), x.batch(), h0, y, hn);
                }
            } else {
                grad(options, output, config, weights, x, h0, y, hn);
            }
            Npy.write(output.resolve("y.npy"), x.outputs(y, hidden));
            Npy.write(output.resolve("hn.npy"), x.state(hn, 1, hidden));
        }
    }

    private static void grad(Map<String, String> options, Path output, PyTorchGru.Config config, GruWeights weights,
                             Sequence x, float[] h0, float[] y, float[] hn) throws IOException {
        int hidden = weights.hiddenSize();
        float[] dy = x.sameLayoutAs(Path.of(Cli.required(options, "--dy")), "--dy", hidden);
        float[] dhn = state(options.get("--dhn"), "--dhn", x, hidden);
        float[] dx = new float[x.timeMajor().length];
        float[] dh0 = new float[hn.length];
        try (GruTrainer trainer = new GruTrainer(weights, x.batch(), x.steps());
             GruGradients gradients = new GruGradients(weights)) {
            trainer.forward(x.timeMajor(), x.steps(), x.batch(), h0, y, hn);
            trainer.backward(dy, dhn, gradients, GradientMode.OVERWRITE, dx, dh0);
            String p = config.prefix();
            long gateRows = 3L * hidden;
            Map<String, FloatTensor> tensors = new LinkedHashMap<>();
            tensors.put(p + "weight_ih_l0", tensor(gradients.weightIh(), gateRows, weights.inputSize()));
            tensors.put(p + "weight_hh_l0", tensor(gradients.weightHh(), gateRows, hidden));
            if (config.bias()) {
                tensors.put(p + "bias_ih_l0", tensor(gradients.biasIh(), gateRows));
                tensors.put(p + "bias_hh_l0", tensor(gradients.biasHh(), gateRows));
            }
            tensors.put("x", x.inputsLike(dx));
            tensors.put("h0", x.state(dh0, 1, hidden));
            SafeTensors.write(output.resolve("grad.safetensors"), tensors, Map.of("loss", "sum(y*dy) + sum(hn*dhn)"));
        }
    }

    private static float[] state(String file, String option, Sequence x, int hidden) throws IOException {
        return file == null ? null : x.stateFrom(Path.of(file), option, 1, hidden);
    }

    private static FloatTensor tensor(MemorySegment values, long... shape) {
        return new FloatTensor(shape, values.toArray(ValueLayout.JAVA_FLOAT));
    }
}
