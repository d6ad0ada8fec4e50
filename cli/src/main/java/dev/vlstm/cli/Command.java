package dev.vlstm.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * One command of the tool: everything its help says, the options it takes, and what it does. Every command also
 * takes {@link #VERBOSE} and {@link #HELP}. {@link Cli#COMMANDS} lists them; a new command is one more entry there.
 *
 * @param name        what the user types, e.g. {@code run}
 * @param summary     one line for the list of commands
 * @param description what the command does, for its help; lines of at most about 100 characters
 * @param options     the options it takes, in the order its help lists them
 * @param writes      what it writes (files and their shapes), one line each, for its help
 * @param example     one command line, for its help
 * @param action      the command itself
 * @param inputError  the exit code when its input is bad (a file missing or malformed): 1, or 2 for a command whose
 *                    1 means something else
 */
record Command(String name, String summary, String description, List<Option> options, List<String> writes,
               String example, Action action, int inputError) {

    /** The stack trace of an error as well as its line; every command takes it. */
    static final Option VERBOSE = Option.flag("--verbose", "on an error, print its stack trace too");
    /** Every command's help; {@code -h} too. */
    static final Option HELP = Option.flag("--help", "print this help and exit (also -h)");

    /** What a command does with its checked options; output goes to {@code out}, progress to {@code err}. */
    @FunctionalInterface
    interface Action {
        void run(Arguments arguments, PrintStream out, PrintStream err) throws IOException;
    }

    /** A command whose bad input exits with 1. */
    Command(String name, String summary, String description, List<Option> options, List<String> writes,
            String example, Action action) {
        this(name, summary, description, options, writes, example, action, 1);
    }

    Command {
        List<Option> all = new ArrayList<>(options);
        all.add(VERBOSE);
        all.add(HELP);
        options = List.copyOf(all);
        writes = List.copyOf(writes);
    }

    /** {@return the option of this command called {@code name}, if it takes one} */
    Optional<Option> option(String name) {
        return options.stream().filter(option -> option.name().equals(name)).findFirst();
    }

    /** {@return the command line with its required options: {@code vlstm run --model M.safetensors ... [options]}} */
    String synopsis() {
        StringBuilder line = new StringBuilder("vlstm ").append(name);
        for (Option option : options) {
            if (option.required()) {
                line.append(' ').append(option.synopsis());
            }
        }
        return line.append(" [options]").toString();
    }

    /** {@return the command's help: usage, description, options, what it writes, an example} */
    String help() {
        StringBuilder text = new StringBuilder();
        text.append("vlstm ").append(name).append(": ").append(summary).append("\n\n");
        text.append("usage: ").append(synopsis()).append("\n\n");
        text.append(description.strip()).append("\n\n");
        text.append("options:\n");
        int width = options.stream().mapToInt(option -> option.synopsis().length()).max().orElse(0);
        for (Option option : options) {
            text.append("  ").append(pad(option.synopsis(), width)).append("  ").append(option.description())
                    .append(option.required() ? " (required)" : "").append('\n');
        }
        text.append("\nwrites:\n");
        for (String line : writes) {
            text.append("  ").append(line).append('\n');
        }
        text.append("\nexample:\n  ").append(example).append('\n');
        return text.toString();
    }

    static String pad(String text, int width) {
        return text + " ".repeat(Math.max(0, width - text.length()));
    }
}
