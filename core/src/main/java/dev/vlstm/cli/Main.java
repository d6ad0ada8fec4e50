package dev.vlstm.cli;

/** {@code java --add-modules jdk.incubator.vector -jar vlstm-core.jar COMMAND ...}: see {@link Cli}. */
public final class Main {

    private Main() {
    }

    public static void main(String[] args) {
        System.exit(Cli.run(args, System.out, System.err));
    }
}
