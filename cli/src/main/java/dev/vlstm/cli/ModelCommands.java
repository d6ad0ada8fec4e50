package dev.vlstm.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;

import dev.vlstm.Cell;
import dev.vlstm.GradientMode;
import dev.vlstm.Gradients;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
import dev.vlstm.SequenceLayout;
import dev.vlstm.Trainer;
import dev.vlstm.WeightPrecision;
import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.Npy;
import dev.vlstm.io.SafeTensors;
import dev.vlstm.io.StateDict;

/**
 * {@link Cli}'s {@code info}, {@code run} and {@code grad} on a PyTorch {@code nn.LSTM} or {@code nn.GRU} state_dict
 * (any number of layers, one or two directions, with or without biases, an LSTM's projection), through one path for
 * both cells, with .npy files shaped as PyTorch takes and returns them: x {@code [T, B, I]} (or {@code [B, T, I]}, or
 * unbatched {@code [T, I]}), y {@code [T, B, D·S]}, h0 and h_n {@code [L·D, B, S]}, and for an LSTM c0 and c_n
 * {@code [L·D, B, H]} (S = P with {@code proj_size}, else H). {@code grad} writes the gradients of
 * {@code sum(y*dy) + sum(hn*dhn) (+ sum(cn*dcn))} under PyTorch's names, and of x, h0 (and c0). With
 * {@code --lengths}, a padded batch of sequences of different lengths runs as PyTorch runs a packed sequence
 * (pack_padded_sequence, then pad_packed_sequence with total_length T): y is zero past each sequence's end and h_n, c_n
 * are each sequence's last states. {@code run} takes compressed weights ({@code --precision bf16|int8});
 * both take a thread count, which leaves the results' bits as they are.
 */
final class ModelCommands {

    private ModelCommands() {
    }

    static void info(Arguments arguments, PrintStream out) throws IOException {
        try (SafeTensors file = arguments.read(Cli.MODEL, SafeTensors::open)) {
            StateDict stateDict = StateDict.inspect(file, arguments.text(Cli.PREFIX));
            RnnShape shape = stateDict.shape();
            boolean lstm = shape.cell() == Cell.LSTM;
            out.printf("%s, prefix '%s': input_size=%d hidden_size=%d num_layers=%d bidirectional=%b%s bias=%b%s%n"
                            + "parameters: %d%n", shape.cell(), stateDict.prefix(), shape.inputSize(),
                    shape.hiddenSize(), shape.layers(), shape.direction().count() == 2,
                    lstm ? " proj_size=" + shape.projectionSize() : "", stateDict.bias(),
                    shape.peepholes() ? " peepholes=true" : "", stateDict.parameterCount());
        }
    }

    /** {@code run} (outputs) or {@code grad} (outputs and every gradient); options as {@link Cli#COMMANDS} says. */
    static void forward(Arguments arguments, boolean gradients) throws IOException {
        int threads = arguments.threads(Cli.THREADS);
        WeightPrecision precision = arguments.precision(Cli.PRECISION);
        if (gradients && precision != WeightPrecision.FLOAT32) {
            throw new Cli.UsageException("grad needs float32 weights: --precision " + arguments.text(Cli.PRECISION)
                    + " compresses them for the forward pass only (use it with run)");
        }
        try (SafeTensors file = arguments.read(Cli.MODEL, SafeTensors::open)) {
            StateDict stateDict = StateDict.inspect(file, arguments.text(Cli.PREFIX));
            if (stateDict.shape().cell() == Cell.GRU) {
                if (arguments.has(Cli.C0) || arguments.has(Cli.DCN)) {
                    throw new Cli.UsageException("a GRU has no cell state: --c0 and --dcn do not apply");
                }
            }
            try (Parameters parameters = stateDict.read(file);
                 Model model = Model.pack(parameters, Options.DEFAULT.withPrecision(precision))) {
                run(arguments, gradients, threads, stateDict, model);
            }
        }
    }

    private static void run(Arguments arguments, boolean gradients, int threads, StateDict stateDict, Model model)
            throws IOException {
        RnnShape shape = model.shape();
        boolean lstm = shape.cell() == Cell.LSTM;
        Sequence x = arguments.read(Cli.INPUT, path -> Sequence.read(path, shape.inputSize(),
                arguments.has(Cli.BATCH_FIRST)));
        float[] h0 = state(arguments, Cli.H0, x, shape, shape.hiddenStateSize());
        float[] c0 = state(arguments, Cli.C0, x, shape, shape.hiddenSize());
        int[] lengths = arguments.lengths(Cli.LENGTHS);
        int states = shape.stateCount() * x.batch();
        float[] y = new float[x.steps() * x.batch() * shape.outputSize()];
        float[] hn = new float[states * shape.hiddenStateSize()];
        float[] cn = lstm ? new float[states * shape.hiddenSize()] : null;
        Options options = model.options().withMaxBatch(x.batch()).withMaxSteps(x.steps()).withThreads(threads);
        if (!gradients) {
            try (Runner runner = model.runner(options)) {
                if (lengths == null) {
                    runner.forward(x.timeMajor(), x.steps(), x.batch(), h0, c0, y, hn, cn);
                } else {
                    runner.forward(x.timeMajor(), SequenceLayout.TIME_MAJOR, x.steps(), x.batch(), lengths, h0, c0, y,
                            hn, cn);
                }
            }
        } else {
            grad(arguments, model, options, stateDict, x, lengths, h0, c0, y, hn, cn);
        }
        arguments.write(Cli.OUTPUT, "y.npy", path -> Npy.write(path, x.outputs(y, shape.outputSize())));
        arguments.write(Cli.OUTPUT, "hn.npy",
                path -> Npy.write(path, x.state(hn, shape.stateCount(), shape.hiddenStateSize())));
        if (lstm) {
            arguments.write(Cli.OUTPUT, "cn.npy",
                    path -> Npy.write(path, x.state(cn, shape.stateCount(), shape.hiddenSize())));
        }
    }

    /** Runs a trainer of {@code model} forward and backward and writes grad.safetensors. */
    private static void grad(Arguments arguments, Model model, Options options, StateDict stateDict, Sequence x,
                             int[] lengths, float[] h0, float[] c0, float[] y, float[] hn, float[] cn)
            throws IOException {
        RnnShape shape = stateDict.shape();
        boolean lstm = shape.cell() == Cell.LSTM;
        float[] dy = arguments.read(Cli.DY, path -> x.sameLayoutAs(path, Cli.DY.name(), shape.outputSize()));
        float[] dhn = state(arguments, Cli.DHN, x, shape, shape.hiddenStateSize());
        float[] dcn = state(arguments, Cli.DCN, x, shape, shape.hiddenSize());
        float[] dx = new float[x.timeMajor().length];
        float[] dh0 = new float[hn.length];
        float[] dc0 = lstm ? new float[cn.length] : null;
        try (Trainer trainer = model.trainer(options); Gradients gradients = new Gradients(shape)) {
            if (lengths == null) {
                trainer.forward(x.timeMajor(), x.steps(), x.batch(), h0, c0, y, hn, cn);
            } else {
                trainer.forward(x.timeMajor(), SequenceLayout.TIME_MAJOR, x.steps(), x.batch(), lengths, h0, c0, y,
                        hn, cn);
            }
            trainer.backward(dy, dhn, dcn, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
            Map<String, FloatTensor> tensors = new LinkedHashMap<>();
            for (String name : gradients.names()) {
                if (stateDict.bias() || !name.startsWith("bias")) {
                    tensors.put(stateDict.prefix() + name, new FloatTensor(StateDict.dimensions(shape, name),
                            gradients.tensor(name).toArray(ValueLayout.JAVA_FLOAT)));
                }
            }
            tensors.put("x", x.inputsLike(dx));
            tensors.put("h0", x.state(dh0, shape.stateCount(), shape.hiddenStateSize()));
            if (lstm) {
                tensors.put("c0", x.state(dc0, shape.stateCount(), shape.hiddenSize()));
            }
            String loss = lstm ? "sum(y*dy) + sum(hn*dhn) + sum(cn*dcn)" : "sum(y*dy) + sum(hn*dhn)";
            arguments.write(Cli.OUTPUT, "grad.safetensors", path -> SafeTensors.write(path, tensors,
                    Map.of("loss", loss)));
        }
    }

    /** An optional h0, c0, dhn or dcn file, {@code [L·D, B, width]}: width S for h, H for c; null if not given. */
    private static float[] state(Arguments arguments, Option option, Sequence x, RnnShape shape, int width)
            throws IOException {
        return arguments.read(option, path -> x.stateFrom(path, option.name(), shape.stateCount(), width));
    }
}
