package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.Npy;

/**
 * Options are checked per command: each command takes its own options, and one that only another command takes is
 * refused naming that command; {@code --name=VALUE} works as {@code --name VALUE} does. Every usage error is exit
 * code 2 with its line and a pointer to the command's help on stderr, nothing on stdout, and no file written.
 */
class CliOptionsTest {

    private static final Path MODEL = Path.of("src/test/resources/golden/i3_h5_t4_b2/model.safetensors");

    @TempDir
    Path directory;

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "info | --input   | --input is an option of run and grad, not of info",
            "info | --threads | --threads is an option of run, grad and bench, not of info",
            "info | --output  | --output is an option of run and grad, not of info",
            "run  | --dy      | --dy is an option of grad, not of run",
            "run  | --dcn     | --dcn is an option of grad, not of run",
            "info | --colour  | unknown option --colour for info",
            "grad | --colour  | unknown option --colour for grad"})
    void anOptionTheCommandDoesNotTakeIsRefusedNamingTheCommandThatDoes(String command, String option,
                                                                       String message) {
        Path out = directory.resolve("out");
        List<String> args = new ArrayList<>(List.of(command, "--model", MODEL.toString()));
        if (!command.equals("info")) {
            args.addAll(List.of("--input", MODEL.toString(), "--output", out.toString()));
        }
        args.addAll(List.of(option, "f"));
        assertUsageError(CliOutcome.of(args.toArray(String[]::new)), command, message);
        assertTrue(Files.notExists(out), "nothing written");
    }

    @Test
    void optionsTakeTheirValueAfterAnEqualsSignToo() throws IOException {
        Path x = directory.resolve("x.npy");
        float[] values = new float[24];
        for (int n = 0; n < values.length; n++) {
            values[n] = (float) Math.sin(n);
        }
        Npy.write(x, new FloatTensor(new long[]{4, 2, 3}, values));
        Path spaced = directory.resolve("spaced");
        Path joined = directory.resolve("joined");
        CliOutcome first = CliOutcome.of("run", "--model", MODEL.toString(), "--input", x.toString(), "--output",
                spaced.toString(), "--lengths", "4,2", "--threads", "2", "--precision", "f32");
        CliOutcome second = CliOutcome.of("run", "--model=" + MODEL, "--input=" + x, "--output=" + joined,
                "--lengths=4,2", "--threads=2", "--precision=f32");
        assertEquals(0, first.code(), first.describe());
        assertEquals(0, second.code(), second.describe());
        for (String file : List.of("y.npy", "hn.npy", "cn.npy")) {
            assertEquals(-1, Files.mismatch(spaced.resolve(file), joined.resolve(file)), file);
        }
        CliOutcome info = CliOutcome.of("info", "--model=" + MODEL, "--prefix=lstm.");
        assertEquals(0, info.code(), info.describe());
        assertTrue(info.out().startsWith("LSTM, prefix 'lstm.': input_size=3"), info.out());
    }

    @Test
    void malformedOptionsAreUsageErrors() {
        String model = MODEL.toString();
        String out = directory.resolve("out").toString();
        assertUsageError(CliOutcome.of("info", "--model", model, "--model=" + model), "info", "--model given twice");
        assertUsageError(CliOutcome.of("info", "--model", model, "stray"), "info",
                "unexpected argument 'stray' for info (options start with --)");
        assertUsageError(CliOutcome.of("info", "--model", model, "--verbose=yes"), "info",
                "--verbose takes no value, got '--verbose=yes'");
        assertUsageError(CliOutcome.of("run", "--model", model, "--input", "--output", out), "run",
                "--input needs a value: --input x.npy");
        assertUsageError(CliOutcome.of("run", "--model=", "--input", model, "--output", out), "run",
                "--model needs a value: --model M.safetensors, got an empty one");
        assertUsageError(CliOutcome.of("run", "--input", model, "--output", out), "run",
                "--model is required: --model M.safetensors, " + Cli.MODEL.description());
        assertUsageError(CliOutcome.of("grad", "--model", model, "--input", model, "--output", out), "grad",
                "--dy is required: --dy dy.npy, " + Cli.DY.description());
        assertTrue(Files.notExists(directory.resolve("out")), "nothing written");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "--threads   | 0    | --threads: '0' is not a number of threads from 1 to 256",
            "--threads   | 257  | --threads: '257' is not a number of threads from 1 to 256",
            "--threads   | two  | --threads: 'two' is not a number of threads from 1 to 256",
            "--precision | fp16 | --precision: 'fp16' is not a precision: give f32, bf16 or int8"})
    void badThreadsAndPrecisionsAreUsageErrors(String option, String value, String message) throws IOException {
        Path x = directory.resolve("x.npy");
        Npy.write(x, new FloatTensor(new long[]{4, 2, 3}, new float[24]));
        Path out = directory.resolve("out");
        assertUsageError(CliOutcome.of("run", "--model", MODEL.toString(), "--input", x.toString(), "--output",
                out.toString(), option, value), "run", message);
        assertTrue(Files.notExists(out), "nothing written");
    }

    private static void assertUsageError(CliOutcome outcome, String command, String message) {
        assertEquals(2, outcome.code(), outcome.describe());
        assertEquals("", outcome.out(), outcome.describe());
        assertEquals("vlstm: " + message + "\nsee vlstm " + command + " --help\n", outcome.err());
    }
}
