package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** What one call of the tool gave: its exit code, and what it printed on stdout and on stderr. */
record CliOutcome(int code, String out, String err) {

    static CliOutcome of(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Cli.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new CliOutcome(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /**
     * Runs {@code command} followed by {@code options} (split at spaces) and asserts that the tool refused it: exit 2,
     * {@code message} (after "vlstm: ") as the first line on stderr, nothing on stdout.
     */
    static void assertRefused(String options, String message, String... command) {
        List<String> args = new ArrayList<>(List.of(command));
        args.addAll(List.of(options.strip().split(" +")));
        CliOutcome outcome = of(args.toArray(String[]::new));
        assertEquals(2, outcome.code(), outcome.describe());
        assertEquals("vlstm: " + message, outcome.err().lines().findFirst().orElseThrow(), outcome.describe());
        assertEquals("", outcome.out());
    }

    /** {@return this outcome for an assertion's message} */
    String describe() {
        return "exit " + code + "\nstdout:\n" + out + "\nstderr:\n" + err;
    }
}
