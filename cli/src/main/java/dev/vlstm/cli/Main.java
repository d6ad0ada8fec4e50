package dev.vlstm.cli;

/**
 * The jar's main class: {@code bin/vlstm COMMAND ...}, which runs
 * {@code java --add-modules jdk.incubator.vector -jar vlstm-core.jar COMMAND ...}; see {@link Cli}.
 */
public final class Main {

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(Cli.run(args, System.out, System.err));
    }
}
