package dev.vlstm.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;

import dev.vlstm.Backend;
import dev.vlstm.GradientMode;
import dev.vlstm.LstmGradients;
import dev.vlstm.LstmParameters;
import dev.vlstm.LstmRunner;
import dev.vlstm.LstmStackGradients;
import dev.vlstm.LstmStackParameters;
import dev.vlstm.LstmStackRunner;
import dev.vlstm.LstmStackShape;
import dev.vlstm.LstmStackTrainer;
import dev.vlstm.LstmStackWeights;
import dev.vlstm.LstmWeights;
import dev.vlstm.SequenceLayout;
import dev.vlstm.WeightPrecision;
import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.Npy;
import dev.vlstm.io.PyTorchLstm;
import dev.vlstm.io.SafeTensors;

/**
 * {@link Cli}'s commands on a PyTorch {@code nn.LSTM} state_dict (any number of layers, one or two directions), with
 * .npy files shaped as {@code nn.LSTM} takes and returns them: y {@code [T, B, D·H]}, h_n and c_n {@code [L·D, B, H]}
 * (with {@code proj_size} P, y {@code [T, B, D·P]} and h_n {@code [L·D, B, P]}; {@code grad} then also writes
 * weight_hr's gradient). With {@code --lengths}, a padded batch of sequences of different lengths runs as PyTorch
 * runs a packed sequence (pack_padded_sequence, then pad_packed_sequence with total_length T): y is zero past each
 * sequence's end and h_n, c_n are each sequence's last states. {@code run} takes compressed weights
 * ({@code --precision bf16|int8}); both take a thread count, which leaves the results' bits as they are.
 */
final class LstmCommands {

    private LstmCommands() {
    }

    static void info(SafeTensors file, String prefix, PrintStream out) {
        PyTorchLstm.Config config = PyTorchLstm.inspect(file, prefix);
        out.printf("prefix '%s': input_size=%d hidden_size=%d num_layers=%d bidirectional=%b proj_size=%d bias=%b%n"
                        + "parameters: %d%n", config.prefix(), config.inputSize(), config.hiddenSize(), config.layers(),
                config.bidirectional(), config.projectionSize(), config.bias(), config.parameterCount());
    }

    /** {@code run} (outputs) or {@code grad} (outputs and every gradient); options as {@link Cli#COMMANDS} says. */
    static void forward(SafeTensors file, Arguments arguments, boolean gradients, int threads,
                        WeightPrecision precision) throws IOException {
        PyTorchLstm.Config config = PyTorchLstm.inspect(file, arguments.text(Cli.PREFIX));
        try (LstmStackWeights weights = load(file, config.prefix(), precision)) {
            LstmStackShape shape = weights.shape();
            Sequence x = arguments.read(Cli.INPUT, path -> Sequence.read(path, shape.inputSize(),
                    arguments.has(Cli.BATCH_FIRST)));
            float[] h0 = state(arguments, Cli.H0, x, shape, shape.hiddenStateSize());
            float[] c0 = state(arguments, Cli.C0, x, shape, shape.hiddenSize());
            int[] lengths = arguments.lengths(Cli.LENGTHS);
            int states = shape.stateCount() * x.batch();
            float[] y = new float[x.steps() * x.batch() * shape.outputSize()];
            float[] hn = new float[states * shape.hiddenStateSize()];
            float[] cn = new float[states * shape.hiddenSize()];
            if (!gradients) {
                try (LstmStackRunner runner = new LstmStackRunner(weights, x.batch(), x.steps(),
                        LstmRunner.NO_CELL_CLIP, threads)) {
                    if (lengths == null) {
                        runner.forward(x.timeMajor(), x.steps(), x.batch(), h0, c0, y, hn, cn);
                    } else {
                        runner.forward(x.timeMajor(), SequenceLayout.TIME_MAJOR, x.steps(), x.batch(), lengths, h0,
                                c0, y, hn, cn);
                    }
                }
            } else {
                grad(arguments, threads, config, weights, x, lengths, h0, c0, y, hn, cn);
            }
            arguments.write(Cli.OUTPUT, "y.npy", path -> Npy.write(path, x.outputs(y, shape.outputSize())));
            arguments.write(Cli.OUTPUT, "hn.npy",
                    path -> Npy.write(path, x.state(hn, shape.stateCount(), shape.hiddenStateSize())));
            arguments.write(Cli.OUTPUT, "cn.npy",
                    path -> Npy.write(path, x.state(cn, shape.stateCount(), shape.hiddenSize())));
        }
    }

    /**
     * Loads the model with W and U of every layer and direction stored in {@code precision} (float32: as
     * {@link PyTorchLstm#loadStack} packs them).
     */
    static LstmStackWeights load(SafeTensors file, String prefix, WeightPrecision precision) {
        try (LstmStackParameters parameters = PyTorchLstm.loadStackParameters(file, prefix)) {
            LstmStackShape shape = parameters.shape();
            LstmWeights[] parts = new LstmWeights[shape.stateCount()];
            try {
                for (int n = 0; n < parts.length; n++) {
                    LstmParameters part = parameters.layer(n / shape.directions(), n % shape.directions());
                    parts[n] = LstmWeights.fromPyTorch(Backend.PREFERRED, precision, part.inputSize(),
                            part.hiddenSize(), part.projectionSize(), part.weightIh(), part.weightHh(), part.biasIh(),
                            part.biasHh(), part.weightHr(), part.peepholes());
                }
                return LstmStackWeights.of(shape.bidirectional(), parts);
            } catch (RuntimeException | Error e) {
                for (LstmWeights part : parts) {
                    if (part != null) {
                        part.close();
                    }
                }
                throw e;
            }
        }
    }

    private static void grad(Arguments arguments, int threads, PyTorchLstm.Config config, LstmStackWeights weights,
                             Sequence x, int[] lengths, float[] h0, float[] c0, float[] y, float[] hn, float[] cn)
            throws IOException {
        LstmStackShape shape = weights.shape();
        int hidden = shape.hiddenSize();
        float[] dy = arguments.read(Cli.DY, path -> x.sameLayoutAs(path, Cli.DY.name(), shape.outputSize()));
        float[] dhn = state(arguments, Cli.DHN, x, shape, shape.hiddenStateSize());
        float[] dcn = state(arguments, Cli.DCN, x, shape, shape.hiddenSize());
        float[] dx = new float[x.timeMajor().length];
        float[] dh0 = new float[hn.length];
        float[] dc0 = new float[cn.length];
        try (LstmStackTrainer trainer = new LstmStackTrainer(weights, x.batch(), x.steps(), LstmRunner.NO_CELL_CLIP,
                threads);
             LstmStackGradients gradients = new LstmStackGradients(weights)) {
            if (lengths == null) {
                trainer.forward(MemorySegment.ofArray(x.timeMajor()), x.steps(), x.batch(), segment(h0), segment(c0),
                        MemorySegment.ofArray(y), MemorySegment.ofArray(hn), MemorySegment.ofArray(cn));
            } else {
                trainer.forward(MemorySegment.ofArray(x.timeMajor()), SequenceLayout.TIME_MAJOR, x.steps(), x.batch(),
                        lengths, segment(h0), segment(c0), MemorySegment.ofArray(y), MemorySegment.ofArray(hn),
                        MemorySegment.ofArray(cn));
            }
            trainer.backward(MemorySegment.ofArray(dy), segment(dhn), segment(dcn), gradients, GradientMode.OVERWRITE,
                    MemorySegment.ofArray(dx), MemorySegment.ofArray(dh0), MemorySegment.ofArray(dc0));
            String p = config.prefix();
            long gateRows = 4L * hidden;
            Map<String, FloatTensor> tensors = new LinkedHashMap<>();
            for (int layer = 0; layer < shape.layers(); layer++) {
                for (int direction = 0; direction < shape.directions(); direction++) {
                    LstmGradients part = gradients.layer(layer, direction);
                    tensors.put(p + shape.pyTorchName("weight_ih", layer, direction),
                            tensor(part.weightIh(), gateRows, shape.layerInputSize(layer)));
                    tensors.put(p + shape.pyTorchName("weight_hh", layer, direction),
                            tensor(part.weightHh(), gateRows, shape.hiddenStateSize()));
                    if (config.bias()) {
                        tensors.put(p + shape.pyTorchName("bias_ih", layer, direction),
                                tensor(part.biasIh(), gateRows));
                        tensors.put(p + shape.pyTorchName("bias_hh", layer, direction),
                                tensor(part.biasHh(), gateRows));
                    }
                    if (shape.projectionSize() > 0) {
                        tensors.put(p + shape.pyTorchName("weight_hr", layer, direction),
                                tensor(part.weightHr(), shape.projectionSize(), hidden));
                    }
                }
            }
            tensors.put("x", x.inputsLike(dx));
            tensors.put("h0", x.state(dh0, shape.stateCount(), shape.hiddenStateSize()));
            tensors.put("c0", x.state(dc0, shape.stateCount(), hidden));
            arguments.write(Cli.OUTPUT, "grad.safetensors", path -> SafeTensors.write(path, tensors,
                    Map.of("loss", "sum(y*dy) + sum(hn*dhn) + sum(cn*dcn)")));
        }
    }

    /** An optional h0, c0, dhn or dcn file, {@code [L·D, B, width]}: width S for h, H for c; null if not given. */
    private static float[] state(Arguments arguments, Option option, Sequence x, LstmStackShape shape, int width)
            throws IOException {
        return arguments.read(option, path -> x.stateFrom(path, option.name(), shape.stateCount(), width));
    }

    private static MemorySegment segment(float[] values) {
        return values == null ? null : MemorySegment.ofArray(values);
    }

    private static FloatTensor tensor(MemorySegment values, long... shape) {
        return new FloatTensor(shape, values.toArray(ValueLayout.JAVA_FLOAT));
    }
}
