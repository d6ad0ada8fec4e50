package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.Npy;

/**
 * Every file error is one line that says what is wrong and with which file, with exit code 1, and leaves no output
 * behind: a file not found, a directory given as a file, an output directory that exists and is a file (or lies
 * under one), a file that cannot be read or a directory that cannot be written (skipped where permissions do not
 * hold, as for root), an output file name taken by a directory. Real files in a temporary directory; and the wording
 * of each file-system exception the tool maps.
 */
class CliFileErrorsTest {

    private static final Path GOLDEN = Path.of("src/test/resources/golden/i3_h5_t4_b2");

    @TempDir
    Path directory;

    private Path x;
    private Path out;

    @BeforeEach
    void input() throws IOException {
        x = directory.resolve("x.npy");
        Npy.write(x, new FloatTensor(new long[]{4, 2, 3}, new float[24]));
        out = directory.resolve("out");
    }

    private CliOutcome run(Path model, Path input, Path output, String... extra) {
        List<String> args = new ArrayList<>(List.of("run", "--model", model.toString(), "--input", input.toString(),
                "--output", output.toString()));
        args.addAll(List.of(extra));
        return CliOutcome.of(args.toArray(String[]::new));
    }

    private static void assertFileError(CliOutcome outcome, String message) {
        assertEquals(1, outcome.code(), outcome.describe());
        assertEquals("", outcome.out(), outcome.describe());
        assertEquals("vlstm: " + message + "\n", outcome.err(), "one line");
    }

    @Test
    void aMissingFileIsNamedWithWhatItIsFor() {
        Path absent = directory.resolve("absent.safetensors");
        assertFileError(CliOutcome.of("info", "--model", absent.toString()), "model file not found: " + absent);
        assertFileError(run(absent, x, out), "model file not found: " + absent);
        Path missing = directory.resolve("missing.npy");
        assertFileError(run(GOLDEN.resolve("model.safetensors"), missing, out), "input file not found: " + missing);
        assertFileError(run(GOLDEN.resolve("model.safetensors"), x, out, "--h0", missing.toString()),
                "h0 file not found: " + missing);
        assertFileError(CliOutcome.of("grad", "--model", GOLDEN.resolve("model.safetensors").toString(), "--input",
                x.toString(), "--output", out.toString(), "--dy", missing.toString()), "dy file not found: " + missing);
        assertTrue(Files.notExists(out), "no output directory for a refused input");
    }

    @Test
    void aDirectoryGivenAsAFileIsNamed() throws IOException {
        Path folder = Files.createDirectory(directory.resolve("folder.safetensors"));
        assertFileError(CliOutcome.of("info", "--model", folder.toString()),
                "model file is a directory, not a file: " + folder);
        assertFileError(run(GOLDEN.resolve("model.safetensors"), folder, out),
                "input file is a directory, not a file: " + folder);
        assertFileError(run(GOLDEN.resolve("model.safetensors"), x, out, "--c0", folder.toString()),
                "c0 file is a directory, not a file: " + folder);
        assertTrue(Files.notExists(out));
    }

    @Test
    void anOutputDirectoryThatIsAFileIsNamedAndLeftAsItWas() throws IOException {
        Path file = Files.writeString(directory.resolve("taken"), "keep");
        assertFileError(run(GOLDEN.resolve("model.safetensors"), x, file),
                "output directory exists and is a file, not a directory: " + file);
        Path below = file.resolve("out");
        assertFileError(run(GOLDEN.resolve("model.safetensors"), x, below),
                "output directory cannot be created, " + file.toAbsolutePath() + " is a file: " + below);
        assertEquals("keep", Files.readString(file));
    }

    @Test
    void anOutputFileNameTakenByADirectoryIsNamed() throws IOException {
        Path taken = Files.createDirectories(out.resolve("y.npy"));
        Files.writeString(taken.resolve("inside"), "keep");
        CliOutcome outcome = run(GOLDEN.resolve("model.safetensors"), x, out);
        assertFileError(outcome, "output file is a directory, not a file: " + taken);
        assertEquals("keep", Files.readString(taken.resolve("inside")));
    }

    /** Skipped where the permissions do not stop this process (root, or a file system without them). */
    @Test
    void anUnreadableModelAndAnUnwritableOutputDirectoryAreNamed() throws IOException {
        assumeTrue(Files.getFileStore(directory).supportsFileAttributeView("posix"), "POSIX permissions");
        Path model = Files.copy(GOLDEN.resolve("model.safetensors"), directory.resolve("locked.safetensors"));
        Files.setPosixFilePermissions(model, PosixFilePermissions.fromString("---------"));
        Path locked = Files.createDirectory(directory.resolve("locked"),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("r-xr-xr-x")));
        assumeFalse(Files.isReadable(model), "permissions do not stop this user (root?)");
        assertFileError(CliOutcome.of("info", "--model", model.toString()),
                "model file cannot be read (permission denied): " + model);
        assertFileError(run(GOLDEN.resolve("model.safetensors"), x, locked),
                "output directory cannot be written into (permission denied): " + locked);
        Path inside = locked.resolve("out");
        assertFileError(run(GOLDEN.resolve("model.safetensors"), x, inside),
                "output directory cannot be created in " + locked.toAbsolutePath() + " (permission denied): "
                        + inside);
    }

    /** The file system's exceptions as the tool words them, whatever user runs the test. */
    @Test
    void fileSystemExceptionsAreWordedWithWhatAndWhere() {
        Path model = Path.of("/models/m.safetensors");
        String path = model.toString();
        assertEquals("model file not found: " + path,
                FileErrors.describe("model file", model, false, new NoSuchFileException(path)));
        assertEquals("model file cannot be read (permission denied): " + path,
                FileErrors.describe("model file", model, false, new AccessDeniedException(path)));
        assertEquals("output file cannot be written (permission denied): " + path,
                FileErrors.describe("output file", model, true, new AccessDeniedException(path)));
        assertEquals("output directory exists and is a file, not a directory: " + path,
                FileErrors.describe("output directory", model, true, new FileAlreadyExistsException(path)));
        assertEquals("output directory cannot be reached, a part of its path is a file, not a directory: " + path,
                FileErrors.describe("output directory", model, true, new NotDirectoryException(path)));
        assertEquals("input file cannot be reached, a part of its path is a file, not a directory: " + path,
                FileErrors.describe("input file", model, false,
                        new FileSystemException(path, null, "Not a directory")));
        assertEquals("model file is a directory, not a file: " + path,
                FileErrors.describe("model file", model, false, new IOException("Is a directory")));
        assertEquals("output file is a directory, not a file: " + path,
                FileErrors.describe("output file", model, true, new FileSystemException(path, null, "Is a directory")));
        assertEquals("output file is a directory, not a file: " + path,
                FileErrors.describe("output file", model, true, new DirectoryNotEmptyException(path)));
        assertEquals("model file is not a regular file (a directory or a device?): " + path,
                FileErrors.describe("model file", model, false, new IOException("No such device")));
        assertEquals("model file: Too many open files: " + path,
                FileErrors.describe("model file", model, false,
                        new FileSystemException(path, null, "Too many open files")));
        assertEquals(path + ": truncated: 3 bytes",
                FileErrors.describe("model file", model, false, new IOException(path + ": truncated: 3 bytes")));
        assertEquals("file not found: " + path, FileErrors.describe(new NoSuchFileException(path)));
    }
}
