package dev.vlstm.cli;

/**
 * One option of the tool, as {@code --name VALUE}, {@code --name=VALUE} or, for a flag, {@code --name}.
 *
 * @param name        the option with its dashes, e.g. {@code --model}
 * @param value       what the value stands for in the help, e.g. {@code M.safetensors}; null for a flag
 * @param kind        what the value is, which says how it is checked before the command runs
 * @param required    whether the command refuses to run without it
 * @param description one line for the help
 */
record Option(String name, String value, Kind kind, boolean required, String description) {

    /** What an option's value is. */
    enum Kind {
        /** No value: present or not. */
        FLAG,
        /** A value the command parses itself. */
        TEXT,
        /** A file the command reads: it must exist, be a file and be readable. */
        INPUT_FILE,
        /** A directory the command writes into, created if needed: it must not be a file. */
        OUTPUT_DIRECTORY
    }

    static Option flag(String name, String description) {
        return new Option(name, null, Kind.FLAG, false, description);
    }

    static Option text(String name, String value, String description) {
        return new Option(name, value, Kind.TEXT, false, description);
    }

    static Option inputFile(String name, String value, String description) {
        return new Option(name, value, Kind.INPUT_FILE, false, description);
    }

    static Option outputDirectory(String name, String value, String description) {
        return new Option(name, value, Kind.OUTPUT_DIRECTORY, false, description);
    }

    /** {@return this option, which a command then refuses to run without} */
    Option asRequired() {
        return new Option(name, value, kind, true, description);
    }

    /** {@return what errors call the option's file, e.g. "model file" for --model; or the option's name} */
    String noun() {
        return switch (kind) {
            case INPUT_FILE -> name.substring(2) + " file";
            case OUTPUT_DIRECTORY -> name.substring(2) + " directory";
            case FLAG, TEXT -> name;
        };
    }

    /** {@return the option as the help's synopsis shows it: {@code --model M.safetensors}} */
    String synopsis() {
        return value == null ? name : name + " " + value;
    }
}
