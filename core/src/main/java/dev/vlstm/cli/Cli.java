package dev.vlstm.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

import dev.vlstm.Backend;
import dev.vlstm.GradientMode;
import dev.vlstm.LstmGradients;
import dev.vlstm.LstmStackGradients;
import dev.vlstm.LstmStackRunner;
import dev.vlstm.LstmStackShape;
import dev.vlstm.LstmStackTrainer;
import dev.vlstm.LstmStackWeights;
import dev.vlstm.SequenceLayout;
import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.Npy;
import dev.vlstm.io.PyTorchGru;
import dev.vlstm.io.PyTorchLstm;
import dev.vlstm.io.SafeTensors;

/**
 * The command-line tool: {@code info}, {@code run} and {@code grad} on a PyTorch {@code nn.LSTM} state_dict in a
 * safetensors file (any number of layers, one or two directions), with .npy inputs and outputs shaped as PyTorch's
 * {@code nn.LSTM} takes and returns them: y {@code [T, B, D·H]}, h_n and c_n {@code [L·D, B, H]} (with
 * {@code proj_size} P, y {@code [T, B, D·P]} and h_n {@code [L·D, B, P]}; {@code grad} then also writes weight_hr's
 * gradient). With
 * {@code --lengths}, a padded batch of sequences of different lengths runs as PyTorch runs a packed sequence
 * (pack_padded_sequence, then pad_packed_sequence with total_length T): y is zero past each sequence's end and
 * h_n, c_n are each sequence's last states. Also on an {@code nn.GRU} state_dict (any number of layers, one or two
 * directions; told apart by the shape of {@code weight_hh_l0}), see {@link GruCommands}.
 * Exit codes: 0 ok, 2 bad usage, 1 bad input; each failure is one line on stderr (a stack trace with
 * {@code --verbose}).
 */
public final class Cli {

    static final String USAGE = """
            usage: vlstm info --model M.safetensors [--prefix P]     (an nn.LSTM or an nn.GRU)
                   vlstm run  --model M.safetensors [--prefix P] --input x.npy [--h0 h0.npy --c0 c0.npy]
                              --output DIR [--batch-first] [--lengths L1,L2,...]
                   vlstm grad (the options of run) --dy dy.npy [--dhn dhn.npy] [--dcn dcn.npy]
                   (a GRU takes no --c0 or --dcn, and writes no cn.npy)
                   add --verbose for stack traces""";
    private static final Set<String> FLAGS = Set.of("--batch-first", "--verbose");
    private static final Set<String> OPTIONS = Set.of("--model", "--prefix", "--input", "--h0", "--c0", "--output",
            "--dy", "--dhn", "--dcn", "--lengths");

    private Cli() {
    }

    /** Bad usage: exit code 2. */
    static final class UsageException extends RuntimeException {
        UsageException(String message) {
            super(message);
        }
    }

    /** Runs one command; returns the exit code. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        Map<String, String> options = new HashMap<>();
        boolean verbose = false;
        try {
            if (args.length == 0) {
                throw new UsageException("no command");
            }
            for (int n = 1; n < args.length; n++) {
                if (FLAGS.contains(args[n])) {
                    options.put(args[n], "true");
                } else if (OPTIONS.contains(args[n]) && n + 1 < args.length) {
                    if (options.put(args[n], args[++n]) != null) {
                        throw new UsageException(args[n - 1] + " given twice");
                    }
                } else {
                    throw new UsageException(OPTIONS.contains(args[n]) ? args[n] + " needs a value"
                            : "unknown option " + args[n]);
                }
            }
            verbose = options.containsKey("--verbose");
            switch (args[0]) {
                case "info" -> info(options, out);
                case "run" -> forward(options, false);
                case "grad" -> forward(options, true);
                default -> throw new UsageException("unknown command " + args[0]);
            }
            return 0;
        } catch (UsageException e) {
            err.println("vlstm: " + e.getMessage());
            err.println(USAGE);
            return 2;
        } catch (IOException | RuntimeException e) {
            err.println("vlstm: " + e.getMessage());
            if (verbose) {
                e.printStackTrace(err);
            }
            return 1;
        }
    }

    static String required(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) {
            throw new UsageException(name + " is required");
        }
        return value;
    }

    private static void info(Map<String, String> options, PrintStream out) throws IOException {
        try (SafeTensors file = SafeTensors.open(Path.of(required(options, "--model")))) {
            if (PyTorchGru.holdsGru(file, options.get("--prefix"))) {
                GruCommands.info(file, options.get("--prefix"), out);
                return;
            }
            PyTorchLstm.Config config = PyTorchLstm.inspect(file, options.get("--prefix"));
            out.printf("prefix '%s': input_size=%d hidden_size=%d num_layers=%d bidirectional=%b proj_size=%d bias=%b%n"
                            + "parameters: %d%n", config.prefix(), config.inputSize(), config.hiddenSize(), config.layers(),
                    config.bidirectional(), config.projectionSize(), config.bias(), config.parameterCount());
        }
    }

    /** {@code run} (outputs) or {@code grad} (outputs and every gradient). */
    private static void forward(Map<String, String> options, boolean gradients) throws IOException {
        Path output = Path.of(required(options, "--output"));
        boolean batchFirst = options.containsKey("--batch-first");
        String prefix = options.get("--prefix");
        try (SafeTensors file = SafeTensors.open(Path.of(required(options, "--model")))) {
            if (PyTorchGru.holdsGru(file, prefix)) {
                GruCommands.forward(file, options, output, gradients);
                return;
            }
            PyTorchLstm.Config config = PyTorchLstm.inspect(file, prefix);
            try (LstmStackWeights weights = PyTorchLstm.loadStack(file, config.prefix(), Backend.PREFERRED)) {
                LstmStackShape shape = weights.shape();
                Sequence x = Sequence.read(Path.of(required(options, "--input")), shape.inputSize(), batchFirst);
                float[] h0 = optionalState(options.get("--h0"), "--h0", x, shape, shape.hiddenStateSize());
                float[] c0 = optionalState(options.get("--c0"), "--c0", x, shape, shape.hiddenSize());
                int[] lengths = lengths(options.get("--lengths"));
                int states = shape.stateCount() * x.batch();
                float[] y = new float[x.steps() * x.batch() * shape.outputSize()];
                float[] hn = new float[states * shape.hiddenStateSize()];
                float[] cn = new float[states * shape.hiddenSize()];
                Files.createDirectories(output);
                if (!gradients) {
                    try (LstmStackRunner runner = new LstmStackRunner(weights, x.batch(), x.steps())) {
                        if (lengths == null) {
                            runner.forward(x.timeMajor(), x.steps(), x.batch(), h0, c0, y, hn, cn);
                        } else {
                            runner.forward(x.timeMajor(), SequenceLayout.TIME_MAJOR, x.steps(), x.batch(), lengths, h0,
                                    c0, y, hn, cn);
                        }
                    }
                } else {
                    grad(options, output, config, weights, x, lengths, h0, c0, y, hn, cn);
                }
                Npy.write(output.resolve("y.npy"), x.outputs(y, shape.outputSize()));
                Npy.write(output.resolve("hn.npy"), x.state(hn, shape.stateCount(), shape.hiddenStateSize()));
                Npy.write(output.resolve("cn.npy"), x.state(cn, shape.stateCount(), shape.hiddenSize()));
            }
        }
    }

    private static void grad(Map<String, String> options, Path output, PyTorchLstm.Config config,
                             LstmStackWeights weights, Sequence x, int[] lengths, float[] h0, float[] c0, float[] y,
                             float[] hn, float[] cn) throws IOException {
        LstmStackShape shape = weights.shape();
        int hidden = shape.hiddenSize();
        float[] dy = x.sameLayoutAs(Path.of(required(options, "--dy")), "--dy", shape.outputSize());
        float[] dhn = optionalState(options.get("--dhn"), "--dhn", x, shape, shape.hiddenStateSize());
        float[] dcn = optionalState(options.get("--dcn"), "--dcn", x, shape, shape.hiddenSize());
        float[] dx = new float[x.timeMajor().length];
        float[] dh0 = new float[hn.length];
        float[] dc0 = new float[cn.length];
        try (LstmStackTrainer trainer = new LstmStackTrainer(weights, x.batch(), x.steps());
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
            SafeTensors.write(output.resolve("grad.safetensors"), tensors, Map.of("loss", "sum(y*dy) + sum(hn*dhn)"
                    + " + sum(cn*dcn)"));
        }
    }

    /** The comma-separated lengths of {@code --lengths}, or null without it; the runner checks their count and range. */
    static int[] lengths(String list) {
        if (list == null) {
            return null;
        }
        String[] items = list.split(",", -1);
        int[] lengths = new int[items.length];
        for (int n = 0; n < items.length; n++) {
            try {
                lengths[n] = Integer.parseInt(items[n].strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("--lengths: '" + items[n] + "' is not an integer (give one length per"
                        + " sequence, comma-separated, e.g. 5,3,4)");
            }
        }
        return lengths;
    }

    /** An optional h0, c0, dhn or dcn file, {@code [L·D, B, width]}: width S for h, H for c. */
    private static float[] optionalState(String file, String option, Sequence x, LstmStackShape shape, int width)
            throws IOException {
        return file == null ? null : x.stateFrom(Path.of(file), option, shape.stateCount(), width);
    }

    private static MemorySegment segment(float[] values) {
        return values == null ? null : MemorySegment.ofArray(values);
    }

    private static FloatTensor tensor(MemorySegment values, long... shape) {
        return new FloatTensor(shape, values.toArray(ValueLayout.JAVA_FLOAT));
    }
}
