package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The tool's help and version: {@code help}, {@code --help} and {@code -h} print the list of commands, and
 * {@code CMD --help}, {@code CMD -h} and {@code help CMD} a command's help (every option with its description, what
 * it writes, an example), on stdout with exit code 0 and nothing on stderr; {@code --version} prints the version.
 */
class CliHelpTest {

    @ParameterizedTest
    @ValueSource(strings = {"help", "--help", "-h"})
    void helpListsTheCommandsOnStdout(String word) {
        CliOutcome outcome = CliOutcome.of(word);
        assertEquals(0, outcome.code(), outcome.describe());
        assertEquals("", outcome.err());
        assertTrue(outcome.out().startsWith("usage: vlstm COMMAND [options]\n"), outcome.describe());
        for (Command command : Cli.COMMANDS) {
            assertTrue(outcome.out().lines().anyMatch(line -> line.startsWith("  " + command.name() + " ")
                    && line.endsWith("  " + command.summary())), command.name() + " in\n" + outcome.out());
        }
        assertTrue(outcome.out().contains("Exit codes: 0 done; 1 bad input"), outcome.out());
        assertEquals(Cli.usage(), outcome.out());
    }

    static Stream<List<String>> commandHelps() {
        return Cli.COMMANDS.stream().flatMap(command -> Stream.of(
                List.of(command.name(), "--help"),
                List.of(command.name(), "-h"),
                List.of("help", command.name()),
                List.of(command.name(), "--model", "m.safetensors", "--help"),
                List.of(command.name(), "--no-such-option", "-h")));
    }

    @ParameterizedTest
    @MethodSource("commandHelps")
    void eachCommandsHelpListsItsOptionsWhatItWritesAndAnExample(List<String> args) {
        CliOutcome outcome = CliOutcome.of(args.toArray(String[]::new));
        assertEquals(0, outcome.code(), outcome.describe());
        assertEquals("", outcome.err());
        Command command = Cli.COMMANDS.stream().filter(c -> args.contains(c.name())).findFirst().orElseThrow();
        String help = outcome.out();
        assertEquals(command.help(), help);
        assertTrue(help.startsWith("vlstm " + command.name() + ": " + command.summary() + "\n\nusage: vlstm "
                + command.name() + " --model M.safetensors"), help);
        List<String> lines = help.lines().toList();
        for (Option option : command.options()) {
            assertTrue(lines.stream().anyMatch(line -> line.startsWith("  " + option.synopsis() + " ")
                            && line.contains(option.description())),
                    option.name() + " with its description in\n" + help);
            assertTrue(option.description().length() <= 90, "one short line: " + option.description());
        }
        int writes = lines.indexOf("writes:");
        int example = lines.indexOf("example:");
        assertTrue(writes > 0 && example > writes + 1, "a writes section, then an example:\n" + help);
        assertTrue(lines.get(example + 1).startsWith("  vlstm " + command.name() + " "), help);
    }

    /** Each help's example is a command line its command accepts: known options, required ones given. */
    @Test
    void examplesUseTheirCommandsOptions() {
        for (Command command : Cli.COMMANDS) {
            List<String> words = Arrays.asList(command.example().split(" "));
            assertEquals(List.of("vlstm", command.name()), words.subList(0, 2), command.example());
            assertDoesNotThrow(() -> Arguments.parse(command, Cli.COMMANDS, words.subList(2, words.size())),
                    command.example());
        }
    }

    @Test
    void runAndGradListTheirOutputFiles() {
        String run = CliOutcome.of("run", "--help").out();
        for (String file : List.of("DIR/y.npy", "DIR/hn.npy", "DIR/cn.npy", "[T, B, D·H]", "[L·D, B, H]")) {
            assertTrue(run.contains(file), file + " in\n" + run);
        }
        assertTrue(CliOutcome.of("grad", "--help").out().contains("DIR/grad.safetensors"));
        assertTrue(CliOutcome.of("info", "--help").out().contains("no file: two lines on stdout"));
    }

    /**
     * The version is the module's or the jar manifest's, which the build sets to the project's version (the surefire
     * property vlstm.version); classes run from a directory have neither and say so.
     */
    @Test
    void versionPrintsTheBuildsVersion() {
        CliOutcome outcome = CliOutcome.of("--version");
        assertEquals(0, outcome.code(), outcome.describe());
        assertEquals("", outcome.err());
        String location = Cli.class.getProtectionDomain().getCodeSource().getLocation().getPath();
        String expected = location.endsWith(".jar") ? System.getProperty("vlstm.version")
                : "(version not known: not run from a vlstm-cli jar)";
        assertEquals("vlstm " + expected + "\n", outcome.out(), "classes from " + location);
    }

    @Test
    void badUsageOfHelpAndVersionExitsWithTwo() {
        for (String[] args : new String[][]{{"help", "fly"}, {"help", "run", "grad"}, {"--version", "run"}, {"fly"},
                {"--fly"}}) {
            CliOutcome outcome = CliOutcome.of(args);
            assertEquals(2, outcome.code(), outcome.describe());
            assertEquals("", outcome.out());
            assertTrue(outcome.err().startsWith("vlstm: "), outcome.describe());
            assertTrue(outcome.err().endsWith("see vlstm --help\n"), outcome.describe());
        }
        assertTrue(CliOutcome.of("help", "fly").err().startsWith("vlstm: unknown command fly\n"));
        CliOutcome none = CliOutcome.of();
        assertEquals(2, none.code());
        assertEquals("", none.out());
        assertEquals("vlstm: no command\n" + Cli.usage(), none.err());
    }
}
