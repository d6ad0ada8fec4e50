package dev.vlstm.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.module.ModuleDescriptor;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.security.CodeSource;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.jar.Attributes;
import java.util.jar.JarFile;
import java.util.jar.Manifest;

import dev.vlstm.Options;

/**
 * The command-line tool: {@code info}, {@code run} and {@code grad} on a PyTorch {@code nn.LSTM} or {@code nn.GRU}
 * state_dict in a safetensors file, with .npy inputs and outputs shaped as PyTorch takes and returns them
 * ({@link ModelCommands}). {@link #COMMANDS} lists the commands: each is a {@link Command} that
 * holds its help (options, what it writes, an example) and its action. {@code help}, {@code --help}, {@code -h} and
 * {@code COMMAND --help} print help on stdout; {@code --version} prints the version.
 * Exit codes: 0 ok, 2 bad usage, 1 bad input; each failure is one line on stderr (a stack trace with
 * {@code --verbose}), a usage error followed by a line that says where the help is.
 */
public final class Cli {

    static final Option MODEL = Option.inputFile("--model", "M.safetensors",
            "a PyTorch nn.LSTM or nn.GRU state_dict (any layers, one or two directions)").asRequired();
    static final Option PREFIX = Option.text("--prefix", "P",
            "the module prefix of the tensor names, e.g. lstm. (inferred if not given)");
    static final Option INPUT = Option.inputFile("--input", "x.npy",
            "the sequence x: [T, B, I], [B, T, I] with --batch-first, or unbatched [T, I]").asRequired();
    static final Option OUTPUT = Option.outputDirectory("--output", "DIR",
            "the directory to write into, created if need be (files in it are replaced)").asRequired();
    static final Option H0 = Option.inputFile("--h0", "h0.npy",
            "initial hidden states, shaped as h_n (zeros if not given)");
    static final Option C0 = Option.inputFile("--c0", "c0.npy",
            "initial cell states, shaped as c_n (LSTM only; zeros if not given)");
    static final Option BATCH_FIRST = Option.flag("--batch-first",
            "x, y and dy are [B, T, ·], as nn.LSTM(batch_first=True) takes them");
    static final Option LENGTHS = Option.text("--lengths", "L1,L2,...",
            "each sequence's length, one per batch row: the padded batch runs as if packed");
    static final Option THREADS = Option.text("--threads", "N",
            "threads per matrix product, 1 (default) to " + Options.MAX_THREADS + "; the same bits for any N");
    static final Option PRECISION = Option.text("--precision", "f32|bf16|int8",
            "W and U stored as f32 (default), or bf16 or int8: faster, approximate");
    static final Option GRAD_PRECISION = Option.text("--precision", "f32",
            "f32 only: gradients need float32 weights (bf16 and int8 are for run)");
    static final Option DY = Option.inputFile("--dy", "dy.npy",
            "the gradient of the loss with respect to y, shaped as y").asRequired();
    static final Option DHN = Option.inputFile("--dhn", "dhn.npy",
            "the gradient with respect to h_n, shaped as h_n (zeros if not given)");
    static final Option DCN = Option.inputFile("--dcn", "dcn.npy",
            "the gradient with respect to c_n, shaped as c_n (LSTM only; zeros if not given)");

    private static final String SHAPES = "(T steps, B sequences, L layers, D directions, H hidden_size, P proj_size)";

    /** The commands, in the order the help lists them. */
    static final List<Command> COMMANDS = List.of(
            new Command("info", "print a model's configuration",
                    """
                    Reads the model and prints what it holds: LSTM or GRU, the module prefix, input_size,
                    hidden_size, num_layers, bidirectional, proj_size (LSTM) and bias, and the number of parameters.
                    """,
                    List.of(MODEL, PREFIX),
                    List.of("no file: two lines on stdout"),
                    "vlstm info --model lstm.safetensors",
                    (arguments, out, err) -> ModelCommands.info(arguments, out)),
            new Command("run", "run a model on a sequence: y, h_n (and c_n)",
                    """
                    Runs the model on x as nn.LSTM or nn.GRU does and writes its outputs, shaped as PyTorch returns
                    them. With --lengths a padded batch runs as PyTorch runs it packed (pack_padded_sequence, then
                    pad_packed_sequence with total_length T): y is zero past each sequence's end, and h_n, c_n are
                    each sequence's last states.
                    """,
                    List.of(MODEL, INPUT, OUTPUT, PREFIX, H0, C0, BATCH_FIRST, LENGTHS, THREADS, PRECISION),
                    List.of("DIR/y.npy   y    [T, B, D·H]  ([B, T, D·H] with --batch-first, [T, D·H] for a [T, I] x;"
                                    + " D·P with proj_size)",
                            "DIR/hn.npy  h_n  [L·D, B, H]  ([L·D, H] for a [T, I] x; P with proj_size)",
                            "DIR/cn.npy  c_n  [L·D, B, H]  (LSTM only)",
                            SHAPES),
                    "vlstm run --model lstm.safetensors --input x.npy --output out --threads 2",
                    (arguments, out, err) -> ModelCommands.forward(arguments, false)),
            new Command("grad", "run forward and backward: y, h_n (c_n) and every gradient",
                    """
                    Runs the model on x, then backward: the gradients of sum(y*dy) + sum(hn*dhn) + sum(cn*dcn)
                    with respect to every parameter, x, h0 and c0, as PyTorch's autograd gives them.
                    """,
                    List.of(MODEL, INPUT, DY, OUTPUT, PREFIX, H0, C0, DHN, DCN, BATCH_FIRST, LENGTHS, THREADS,
                            GRAD_PRECISION),
                    List.of("DIR/y.npy, DIR/hn.npy, DIR/cn.npy  as run writes them",
                            "DIR/grad.safetensors  every parameter's gradient under its PyTorch name"
                                    + " (weight_ih_l0, ...),",
                            "                      and those of x, h0 and c0 (named x, h0, c0; shaped as x, h_n,"
                                    + " c_n)",
                            SHAPES),
                    "vlstm grad --model lstm.safetensors --input x.npy --dy dy.npy --output out",
                    (arguments, out, err) -> ModelCommands.forward(arguments, true)),
            BenchCommand.COMMAND);

    private static final List<String> HELP_WORDS = List.of("help", "--help", "-h");

    private Cli() {
    }

    /** Bad usage: exit code 2. */
    static final class UsageException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        UsageException(String message) {
            super(message);
        }
    }

    /** A command that ran and failed by its own rule (e.g. a benchmark slower than allowed): its exit code. */
    static final class Failure extends RuntimeException {
        private final int exitCode;

        Failure(int exitCode, String message) {
            super(message);
            this.exitCode = exitCode;
        }
    }

    /** Runs one command; returns the exit code. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        Command command = null;
        boolean verbose = false;
        try {
            if (args.length == 0) {
                err.println("vlstm: no command");
                err.print(usage());
                return 2;
            }
            List<String> rest = Arrays.asList(args).subList(1, args.length);
            if (HELP_WORDS.contains(args[0])) {
                if (rest.size() > 1) {
                    throw new UsageException("help takes one command at most, got " + String.join(" ", rest));
                }
                out.print(rest.isEmpty() ? usage() : command(rest.get(0)).help());
                return 0;
            }
            if (args[0].equals("--version")) {
                if (!rest.isEmpty()) {
                    throw new UsageException("--version takes nothing more, got " + String.join(" ", rest));
                }
                out.println("vlstm " + version());
                return 0;
            }
            command = command(args[0]);
            if (rest.contains(Command.HELP.name()) || rest.contains("-h")) {
                out.print(command.help());
                return 0;
            }
            Arguments arguments = Arguments.parse(command, COMMANDS, rest);
            verbose = arguments.has(Command.VERBOSE);
            arguments.checkFiles();
            command.action().run(arguments, out, err);
            return 0;
        } catch (UsageException e) {
            err.println("vlstm: " + e.getMessage());
            err.println(command == null ? "see vlstm --help" : "see vlstm " + command.name() + " --help");
            return 2;
        } catch (Failure e) {
            err.println("vlstm: " + e.getMessage());
            return e.exitCode;
        } catch (IOException e) {
            err.println("vlstm: " + FileErrors.describe(e));
            if (verbose) {
                e.printStackTrace(err);
            }
            return command == null ? 1 : command.inputError();
        } catch (RuntimeException e) {
            err.println("vlstm: " + (e.getMessage() == null ? e.toString() : e.getMessage()));
            if (verbose) {
                e.printStackTrace(err);
            }
            return command == null ? 1 : command.inputError();
        }
    }

    private static Command command(String name) {
        return COMMANDS.stream().filter(command -> command.name().equals(name)).findFirst()
                .orElseThrow(() -> new UsageException("unknown command " + name));
    }

    /** {@return the tool's help: its commands, where each one's help is, the exit codes} */
    static String usage() {
        StringBuilder text = new StringBuilder("""
                usage: vlstm COMMAND [options]
                       vlstm COMMAND --help | vlstm help COMMAND    a command's options, what it writes, an example
                       vlstm --help | -h | help                     this help
                       vlstm --version                              the version

                Runs PyTorch nn.LSTM and nn.GRU models, saved as state_dicts in safetensors files, on sequences in
                .npy files, and writes outputs and gradients shaped as PyTorch's; times them on this machine.

                commands:
                """);
        int width = COMMANDS.stream().mapToInt(command -> command.name().length()).max().orElse(0);
        for (Command command : COMMANDS) {
            text.append("  ").append(Command.pad(command.name(), width)).append("  ").append(command.summary())
                    .append('\n');
        }
        text.append("""

                Options are --name VALUE or --name=VALUE. Exit codes: 0 done; 1 bad input (a file, a shape or a
                value), one line on stderr (--verbose adds the stack trace); 2 bad usage (a command or an option).
                bench: 1 means a measurement slower than --max-slowdown, and bad input exits with 2.
                """);
        return text.toString();
    }

    /**
     * The version of vlstm (vlstm-cli's and vlstm-core's are one): the module's when it runs as a module, else the
     * Implementation-Version in the manifest of the jar this class came from. The jar's own manifest, not this
     * package's: a package split between the jar and a directory on the class path (as this one is in the tests) may
     * have been defined without it.
     *
     * @return the version, or a sentence saying it is not known (classes run from a directory)
     */
    static String version() {
        return Optional.ofNullable(Cli.class.getModule().getDescriptor())
                .flatMap(ModuleDescriptor::rawVersion)
                .or(Cli::manifestVersion)
                .orElse("(version not known: not run from a vlstm-cli jar)");
    }

    private static Optional<String> manifestVersion() {
        CodeSource source = Cli.class.getProtectionDomain().getCodeSource();
        if (source == null) {
            return Optional.empty();
        }
        try (JarFile jar = new JarFile(Path.of(source.getLocation().toURI()).toFile())) {
            Manifest manifest = jar.getManifest();
            return Optional.ofNullable(manifest == null ? null
                    : manifest.getMainAttributes().getValue(Attributes.Name.IMPLEMENTATION_VERSION));
        } catch (IOException | URISyntaxException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
