package dev.vlstm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The comparison's command line: {@code --help} prints the usage on stdout and exits 0; a bad argument prints one
 * line on stderr and exits 2, before anything is measured. Run in a new JVM, as a user runs it, so that the exit
 * codes are the process's own.
 */
class ComparisonUsageTest {

    /** What the JVM itself prints on stderr when the Vector API module is added. */
    private static final String INCUBATOR_WARNING = "WARNING: Using incubator modules";

    @TempDir
    Path directory;

    @ParameterizedTest
    @ValueSource(strings = {"--help", "-h", "help"})
    void helpPrintsTheUsageAndExitsZero(String help) throws Exception {
        Result result = comparison(help);
        assertEquals(0, result.exit(), result.stderr());
        assertTrue(result.stdout().startsWith("usage: "), result.stdout());
        for (Shape shape : Shape.ALL) {
            assertTrue(result.stdout().contains(shape.name()), shape.name() + " missing from " + result.stdout());
        }
        assertEquals(List.of(), result.stderrLines());
    }

    @Test
    void aBadModePrintsOneLineAndExitsTwo() throws Exception {
        Result result = comparison("slow");
        assertEquals(2, result.exit(), result.stderr());
        assertEquals(1, result.stderrLines().size(), result.stderr());
        assertTrue(result.stderrLines().getFirst().contains("the mode must be full or quick, not slow"),
                result.stderr());
        assertEquals("", result.stdout());
    }

    @Test
    void aRegexThatDoesNotCompilePrintsOneLineAndExitsTwo() throws Exception {
        Result result = comparison("quick", "step(");
        assertEquals(2, result.exit(), result.stderr());
        assertEquals(1, result.stderrLines().size(), result.stderr());
        assertTrue(result.stderrLines().getFirst().contains("step( does not compile"), result.stderr());
    }

    @Test
    void selectTakesTheModeAndTheShapesWhoseNamesMatch() throws Comparison.UsageException {
        Comparison.Selection selection = Comparison.select(new String[]{"quick", "^step"}, "full", "");
        assertEquals("quick", selection.plan().name());
        assertFalse(selection.shapes().isEmpty());
        assertEquals(Shape.ALL.stream().filter(shape -> shape.name().startsWith("step")).toList(),
                selection.shapes());
    }

    @Test
    void selectWithoutArgumentsTakesTheDefaults() throws Comparison.UsageException {
        Comparison.Selection selection = Comparison.select(new String[0], "full", "");
        assertEquals("full", selection.plan().name());
        assertEquals(Shape.ALL, selection.shapes());
    }

    @Test
    void selectRefusesARegexWithoutShapesAndAThirdArgument() {
        Comparison.UsageException none = assertThrows(Comparison.UsageException.class,
                () -> Comparison.select(new String[]{"quick", "no-such-shape"}, "full", ""));
        assertTrue(none.getMessage().contains(Shape.ALL.getFirst().name()), none.getMessage());
        assertThrows(Comparison.UsageException.class,
                () -> Comparison.select(new String[]{"quick", "step", "extra"}, "full", ""));
    }

    private record Result(int exit, String stdout, String stderr) {

        /** stderr's lines but the JVM's own incubator warning. */
        List<String> stderrLines() {
            return stderr.lines().filter(line -> !line.startsWith(INCUBATOR_WARNING)).toList();
        }
    }

    /** Runs the comparison's main in a new JVM with {@code args}; its stdout and stderr go to files. */
    private Result comparison(String... args) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "-cp",
                System.getProperty("java.class.path"), Comparison.class.getName()));
        command.addAll(List.of(args));
        Path stdout = directory.resolve("stdout");
        Path stderr = directory.resolve("stderr");
        Process process = new ProcessBuilder(command).redirectOutput(stdout.toFile()).redirectError(stderr.toFile())
                .start();
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            fail("the comparison's JVM did not exit");
        }
        return new Result(process.exitValue(), Files.readString(stdout, StandardCharsets.UTF_8),
                Files.readString(stderr, StandardCharsets.UTF_8));
    }
}
