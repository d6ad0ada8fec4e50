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
import dev.vlstm.LstmRunner;
import dev.vlstm.LstmTrainer;
import dev.vlstm.LstmWeights;
import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.Npy;
import dev.vlstm.io.PyTorchLstm;
import dev.vlstm.io.SafeTensors;

/**
 * The command-line tool: {@code info}, {@code run} and {@code grad} on a PyTorch {@code nn.LSTM} state_dict in a
 * safetensors file, with .npy inputs and outputs shaped as PyTorch's {@code nn.LSTM} takes and returns them.
 * Exit codes: 0 ok, 2 bad usage, 1 bad input; each failure is one line on stderr (a stack trace with
 * {@code --verbose}).
 */
public final class Cli {

    static final String USAGE = """
            usage: vlstm info --model M.safetensors [--prefix P]
                   vlstm run  --model M.safetensors [--prefix P] --input x.npy [--h0 h0.npy --c0 c0.npy]
                              --output DIR [--batch-first]
                   vlstm grad (the options of run) --dy dy.npy [--dhn dhn.npy] [--dcn dcn.npy]
                   add --verbose for stack traces""";
    private static final Set<String> FLAGS = Set.of("--batch-first", "--verbose");
    private static final Set<String> OPTIONS = Set.of("--model", "--prefix", "--input", "--h0", "--c0", "--output",
            "--dy", "--dhn", "--dcn");

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

    private static String required(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) {
            throw new UsageException(name + " is required");
        }
        return value;
    }

    private static void info(Map<String, String> options, PrintStream out) throws IOException {
        try (SafeTensors file = SafeTensors.open(Path.of(required(options, "--model")))) {
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
            PyTorchLstm.Config config = PyTorchLstm.inspect(file, prefix);
            Sequence x = Sequence.read(Path.of(required(options, "--input")), config.inputSize(), batchFirst);
            int hidden = config.hiddenSize();
            float[] h0 = optionalState(options.get("--h0"), "--h0", x, hidden);
            float[] c0 = optionalState(options.get("--c0"), "--c0", x, hidden);
            float[] y = new float[x.steps() * x.batch() * hidden];
            float[] hn = new float[x.batch() * hidden];
            float[] cn = new float[x.batch() * hidden];
            Files.createDirectories(output);
            try (LstmWeights weights = PyTorchLstm.load(file, config.prefix(), Backend.PREFERRED)) {
                if (!gradients) {
                    try (LstmRunner runner = new LstmRunner(weights, x.batch())) {
                        runner.forward(x.timeMajor(), x.steps(), x.batch(), h0, c0, y, hn, cn);
                    }
                } else {
                    grad(options, output, config, weights, x, h0, c0, y, hn, cn);
                }
            }
            Npy.write(output.resolve("y.npy"), x.outputs(y, hidden));
            Npy.write(output.resolve("hn.npy"), x.state(hn, hidden));
            Npy.write(output.resolve("cn.npy"), x.state(cn, hidden));
        }
    }

    private static void grad(Map<String, String> options, Path output, PyTorchLstm.Config config, LstmWeights weights,
                             Sequence x, float[] h0, float[] c0, float[] y, float[] hn, float[] cn) throws IOException {
        int hidden = config.hiddenSize();
        float[] dy = x.sameLayoutAs(Path.of(required(options, "--dy")), "--dy", hidden);
        float[] dhn = optionalState(options.get("--dhn"), "--dhn", x, hidden);
        float[] dcn = optionalState(options.get("--dcn"), "--dcn", x, hidden);
        float[] dx = new float[x.timeMajor().length];
        float[] dh0 = new float[x.batch() * hidden];
        float[] dc0 = new float[x.batch() * hidden];
        try (LstmTrainer trainer = new LstmTrainer(weights, x.batch(), x.steps());
             LstmGradients gradients = new LstmGradients(weights)) {
            trainer.forward(MemorySegment.ofArray(x.timeMajor()), x.steps(), x.batch(), segment(h0), segment(c0),
                    MemorySegment.ofArray(y), MemorySegment.ofArray(hn), MemorySegment.ofArray(cn));
            trainer.backward(MemorySegment.ofArray(dy), segment(dhn), segment(dcn), gradients, GradientMode.OVERWRITE,
                    MemorySegment.ofArray(dx), MemorySegment.ofArray(dh0), MemorySegment.ofArray(dc0));
            String p = config.prefix();
            long gateRows = 4L * hidden;
            Map<String, FloatTensor> tensors = new LinkedHashMap<>();
            tensors.put(p + "weight_ih_l0", tensor(gradients.weightIh(), gateRows, config.inputSize()));
            tensors.put(p + "weight_hh_l0", tensor(gradients.weightHh(), gateRows, hidden));
            if (config.bias()) {
                tensors.put(p + "bias_ih_l0", tensor(gradients.biasIh(), gateRows));
                tensors.put(p + "bias_hh_l0", tensor(gradients.biasHh(), gateRows));
            }
            tensors.put("x", x.inputsLike(dx));
            tensors.put("h0", x.state(dh0, hidden));
            tensors.put("c0", x.state(dc0, hidden));
            SafeTensors.write(output.resolve("grad.safetensors"), tensors, Map.of("loss", "sum(y*dy) + sum(hn*dhn)"
                    + " + sum(cn*dcn)"));
        }
    }

    private static float[] optionalState(String file, String option, Sequence x, int hidden) throws IOException {
        return file == null ? null : x.stateFrom(Path.of(file), option, hidden);
    }

    private static MemorySegment segment(float[] values) {
        return values == null ? null : MemorySegment.ofArray(values);
    }

    private static FloatTensor tensor(MemorySegment values, long... shape) {
        return new FloatTensor(shape, values.toArray(ValueLayout.JAVA_FLOAT));
    }
}
