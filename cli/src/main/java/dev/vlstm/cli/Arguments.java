package dev.vlstm.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import dev.vlstm.Options;
import dev.vlstm.WeightPrecision;

/**
 * The options given to one command, parsed and checked against the options it takes: {@code --name VALUE} or
 * {@code --name=VALUE}, each at most once; a flag takes no value. Reads the files they name and writes into the
 * output directory, turning the file system's exceptions into one line that says what is wrong and with which file
 * ({@link FileErrors}).
 */
final class Arguments {

    /** The precisions {@code --precision} takes, as the user writes them. */
    private static final Map<String, WeightPrecision> PRECISIONS = Map.of("f32", WeightPrecision.FLOAT32,
            "bf16", WeightPrecision.BFLOAT16, "int8", WeightPrecision.INT8);

    private final Command command;
    private final Map<String, String> values;
    private boolean outputCreated;

    private Arguments(Command command, Map<String, String> values) {
        this.command = command;
        this.values = values;
    }

    /**
     * Parses {@code args} (the command's name left out) for {@code command}.
     *
     * @param commands every command, to name the one that takes an option {@code command} does not
     * @throws Cli.UsageException for an unknown option, an option of another command, a value missing or given to a
     *                            flag, an option given twice, a word that is not an option, or a required option
     *                            left out
     */
    static Arguments parse(Command command, List<Command> commands, List<String> args) {
        Map<String, String> values = new LinkedHashMap<>();
        for (int n = 0; n < args.size(); n++) {
            String arg = args.get(n);
            if (!arg.startsWith("--")) {
                throw new Cli.UsageException("unexpected argument '" + arg + "' for " + command.name()
                        + " (options start with --)");
            }
            int equals = arg.indexOf('=');
            String name = equals < 0 ? arg : arg.substring(0, equals);
            Option option = command.option(name).orElseThrow(() -> unknown(name, command, commands));
            String value;
            if (option.kind() == Option.Kind.FLAG) {
                if (equals >= 0) {
                    throw new Cli.UsageException(name + " takes no value, got '" + arg + "'");
                }
                value = "";
            } else if (equals >= 0) {
                value = arg.substring(equals + 1);
            } else if (n + 1 < args.size() && !args.get(n + 1).startsWith("--")) {
                value = args.get(++n);
            } else {
                throw new Cli.UsageException(name + " needs a value: " + option.synopsis());
            }
            if (option.kind() != Option.Kind.FLAG && value.isEmpty()) {
                throw new Cli.UsageException(name + " needs a value: " + option.synopsis() + ", got an empty one");
            }
            if (values.putIfAbsent(name, value) != null) {
                throw new Cli.UsageException(name + " given twice");
            }
        }
        for (Option option : command.options()) {
            if (option.required() && !values.containsKey(option.name())) {
                throw new Cli.UsageException(option.name() + " is required: " + option.synopsis() + ", "
                        + option.description());
            }
        }
        return new Arguments(command, values);
    }

    private static Cli.UsageException unknown(String name, Command command, List<Command> commands) {
        List<String> others = commands.stream().filter(other -> other.option(name).isPresent())
                .map(Command::name).toList();
        return new Cli.UsageException(others.isEmpty() ? "unknown option " + name + " for " + command.name()
                : name + " is an option of " + listed(others) + ", not of " + command.name());
    }

    /** {@return "a", "a and b", "a, b and c"} */
    private static String listed(List<String> names) {
        return names.size() == 1 ? names.getFirst()
                : String.join(", ", names.subList(0, names.size() - 1)) + " and " + names.getLast();
    }

    /**
     * Checks every file the options name before the command reads any: each input file exists, is not a directory
     * and can be read; the output directory is not a file and can be created or written into.
     *
     * @throws IOException naming the option's file and what is wrong with it
     */
    void checkFiles() throws IOException {
        for (Option option : command.options()) {
            Path path = path(option);
            if (path == null) {
                continue;
            }
            switch (option.kind()) {
                case INPUT_FILE -> FileErrors.checkInput(option.noun(), path);
                case OUTPUT_DIRECTORY -> FileErrors.checkOutputDirectory(option.noun(), path);
                case FLAG, TEXT -> {
                }
            }
        }
    }

    /** {@return whether the option was given} */
    boolean has(Option option) {
        return values.containsKey(option.name());
    }

    /** {@return the option's value, or null if it was not given} */
    String text(Option option) {
        return values.get(option.name());
    }

    /** {@return the option's value as a path, or null if it was not given} */
    Path path(Option option) {
        String value = text(option);
        if (value == null) {
            return null;
        }
        try {
            return Path.of(value);
        } catch (InvalidPathException e) {
            throw new Cli.UsageException(option.name() + ": '" + value + "' is not a path: " + e.getReason());
        }
    }

    /** {@return what {@code reader} reads from the option's file, or null if the option was not given} */
    <T> T read(Option option, FileErrors.Reading<T> reader) throws IOException {
        Path file = path(option);
        return file == null ? null : FileErrors.reading(option.noun(), file, reader);
    }

    /** Writes {@code name} into the {@code output} directory, creating the directory first if need be. */
    void write(Option output, String name, FileErrors.Writing writer) throws IOException {
        Path directory = path(output);
        if (!outputCreated) {
            FileErrors.writing(output.noun(), directory, Files::createDirectories);
            outputCreated = true;
        }
        FileErrors.writing("output file", directory.resolve(name), writer);
    }

    /** {@return --threads: 1 if not given} */
    int threads(Option option) {
        String value = text(option);
        if (value == null) {
            return 1;
        }
        int threads;
        try {
            threads = Integer.parseInt(value);
        } catch (NumberFormatException e) {
            threads = 0;
        }
        if (threads < 1 || threads > Options.MAX_THREADS) {
            throw new Cli.UsageException(option.name() + ": '" + value + "' is not a number of threads from 1 to "
                    + Options.MAX_THREADS);
        }
        return threads;
    }

    /** {@return --precision: float32 if not given} */
    WeightPrecision precision(Option option) {
        String value = text(option);
        if (value == null) {
            return WeightPrecision.FLOAT32;
        }
        WeightPrecision precision = PRECISIONS.get(value);
        if (precision == null) {
            throw new Cli.UsageException(option.name() + ": '" + value
                    + "' is not a precision: give f32, bf16 or int8");
        }
        return precision;
    }

    /**
     * {@return the comma-separated lengths of {@code --lengths}, or null without it; the runner checks their count and
     * range}
     */
    int[] lengths(Option option) {
        String list = text(option);
        if (list == null) {
            return null;
        }
        String[] items = list.split(",", -1);
        int[] lengths = new int[items.length];
        for (int n = 0; n < items.length; n++) {
            try {
                lengths[n] = Integer.parseInt(items[n].strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(option.name() + ": '" + items[n] + "' is not an integer (give one"
                        + " length per sequence, comma-separated, e.g. 5,3,4)");
            }
        }
        return lengths;
    }
}
