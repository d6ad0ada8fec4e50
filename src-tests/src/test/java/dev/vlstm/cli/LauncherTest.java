package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The launcher, bin/vlstm, run as a user runs it: it finds a JDK 25, runs the core jar, keeps the JVM's incubator
 * warning out of stderr and passes the exit code through, from any directory and through a symlink. Needs the core
 * jars (cli/target/vlstm-cli-*.jar and core/target/vlstm-core-*.jar, which the build packages before these tests
 * run) and bash; skipped without them.
 */
class LauncherTest {

    private static final String WARNING = "WARNING: Using incubator modules: jdk.incubator.vector";
    private static final Path ROOT = Path.of("").toAbsolutePath().getParent();
    private static final Path LAUNCHER = ROOT.resolve("bin/vlstm");
    private static final Path MODEL = Path.of("src/test/resources/golden/i3_h5_t4_b2/model.safetensors")
            .toAbsolutePath();

    @TempDir
    Path directory;

    private record Result(int code, String out, String err) {
        String describe() {
            return "exit " + code + "\nstdout:\n" + out + "\nstderr:\n" + err;
        }
    }

    @BeforeAll
    static void needsTheJarAndBash() throws IOException {
        assumeTrue(Files.isExecutable(LAUNCHER), "bin/vlstm at " + LAUNCHER);
        for (String module : List.of("core", "cli")) {
            try (Stream<Path> jars = Files.list(ROOT.resolve(module + "/target"))) {
                assumeTrue(jars.map(jar -> jar.getFileName().toString()).anyMatch(name -> name.startsWith("vlstm-"
                        + module + "-") && name.endsWith(".jar") && !name.endsWith("-sources.jar")
                        && !name.endsWith("-javadoc.jar")), "the " + module + " jar has been packaged");
            } catch (IOException e) {
                assumeTrue(false, "no " + module + "/target: the " + module + " jar has not been packaged");
            }
        }
        assumeTrue(Stream.of(System.getenv("PATH").split(File.pathSeparator))
                .anyMatch(folder -> Files.isExecutable(Path.of(folder, "bash"))), "bash on the PATH");
    }

    private Result launch(Path launcher, Path workingDirectory, String... args) throws IOException,
            InterruptedException {
        List<String> command = new ArrayList<>(List.of(launcher.toString()));
        command.addAll(List.of(args));
        Path out = Files.createTempFile(directory, "out", ".txt");
        Path err = Files.createTempFile(directory, "err", ".txt");
        Process process = new ProcessBuilder(command).directory(workingDirectory.toFile())
                .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        assertTrue(process.waitFor(120, TimeUnit.SECONDS), "bin/vlstm finished");
        return new Result(process.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }

    @Test
    void versionExitsWithZeroWithoutTheIncubatorWarning() throws Exception {
        Result result = launch(LAUNCHER, directory, "--version");
        assertEquals(0, result.code(), result.describe());
        assertEquals("vlstm " + System.getProperty("vlstm.version") + "\n", result.out(), result.describe());
        assertEquals("", result.err(), "no incubator warning: " + result.describe());
    }

    @Test
    void exitCodesPassThroughAndTheStreamsStaySeparate() throws Exception {
        Result usage = launch(LAUNCHER, directory, "fly");
        assertEquals(2, usage.code(), usage.describe());
        assertEquals("", usage.out());
        assertEquals("vlstm: unknown command fly\nsee vlstm --help\n", usage.err());

        Path absent = directory.resolve("absent.safetensors");
        Result missing = launch(LAUNCHER, directory, "info", "--model", absent.toString());
        assertEquals(1, missing.code(), missing.describe());
        assertEquals("", missing.out());
        assertEquals("vlstm: model file not found: " + absent + "\n", missing.err());

        Result help = launch(LAUNCHER, directory, "run", "--help");
        assertEquals(0, help.code(), help.describe());
        assertTrue(help.out().startsWith("vlstm run: "), help.describe());
        assertEquals("", help.err());
    }

    @Test
    void worksThroughASymlinkFromAnotherDirectory() throws Exception {
        Path links = Files.createDirectories(directory.resolve("elsewhere/bin"));
        Path link = Files.createSymbolicLink(links.resolve("vlstm"), LAUNCHER);
        Path chained = Files.createSymbolicLink(directory.resolve("vl"), Path.of("elsewhere/bin/vlstm"));
        for (Path launcher : List.of(link, chained)) {
            Result info = launch(launcher, links, "info", "--model", MODEL.toString());
            assertEquals(0, info.code(), info.describe());
            assertTrue(info.out().startsWith("LSTM, prefix 'lstm.': input_size=3 hidden_size=5"), info.describe());
            assertFalse(info.err().contains(WARNING), info.describe());
            assertEquals("", info.err());
        }
    }
}
