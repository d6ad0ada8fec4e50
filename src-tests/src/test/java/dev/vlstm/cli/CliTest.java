package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.Npy;

/** The command-line tool's commands, exit codes (0 ok, 2 usage, 1 input) and one-line errors. */
class CliTest {

    private static final Path MODEL = Path.of("src/test/resources/golden/i3_h5_t4_b2/model.safetensors");

    @TempDir
    Path directory;

    private record Outcome(int code, String out, String err) {
    }

    private static Outcome run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Cli.run(args, new PrintStream(out), new PrintStream(err));
        return new Outcome(code, out.toString(), err.toString());
    }

    @Test
    void infoPrintsTheInferredConfiguration() {
        Outcome outcome = run("info", "--model", MODEL.toString());
        assertEquals(0, outcome.code(), outcome.err());
        assertTrue(outcome.out().startsWith("LSTM, prefix 'lstm.': input_size=3 hidden_size=5 num_layers=1"), outcome.out());
        assertTrue(outcome.out().contains("parameters: 200"), outcome.out());
    }

    @Test
    void runWritesPyTorchShapedOutputs() throws IOException {
        Path x = directory.resolve("x.npy");
        Npy.write(x, new FloatTensor(new long[]{4, 2, 3}, new float[24]));
        Path out = directory.resolve("out");
        Outcome outcome = run("run", "--model", MODEL.toString(), "--input", x.toString(), "--output", out.toString());
        assertEquals(0, outcome.code(), outcome.err());
        assertEquals(java.util.List.of(4L, 2L, 5L), boxed(Npy.read(out.resolve("y.npy")).shape()));
        assertEquals(java.util.List.of(1L, 2L, 5L), boxed(Npy.read(out.resolve("hn.npy")).shape()));
        assertEquals(java.util.List.of(1L, 2L, 5L), boxed(Npy.read(out.resolve("cn.npy")).shape()));
    }

    @Test
    void stackedBidirectionalModelsGetStatesShapedAsPyTorchsAndRefuseOthers() throws IOException {
        Path model = Path.of("src/test/resources/golden/i5_h6_l3_t4_b3_bidirectional_batch_first/model.safetensors");
        Outcome info = run("info", "--model", model.toString());
        assertTrue(info.out().contains("input_size=5 hidden_size=6 num_layers=3 bidirectional=true"), info.out());
        Path x = directory.resolve("x.npy");
        Npy.write(x, new FloatTensor(new long[]{3, 4, 5}, new float[60]));
        Path out = directory.resolve("stack");
        Outcome outcome = run("run", "--model", model.toString(), "--input", x.toString(), "--batch-first",
                "--output", out.toString());
        assertEquals(0, outcome.code(), outcome.err());
        assertEquals(java.util.List.of(3L, 4L, 12L), boxed(Npy.read(out.resolve("y.npy")).shape()));
        assertEquals(java.util.List.of(6L, 3L, 6L), boxed(Npy.read(out.resolve("hn.npy")).shape()));

        Path h0 = directory.resolve("h0.npy");
        Npy.write(h0, new FloatTensor(new long[]{1, 3, 6}, new float[18]));
        Outcome wrong = run("run", "--model", model.toString(), "--input", x.toString(), "--batch-first", "--h0",
                h0.toString(), "--output", out.toString());
        assertEquals(1, wrong.code());
        assertTrue(wrong.err().contains("h0.npy (--h0): shape [1, 3, 6], expected [6, 3, 6]"), wrong.err());
    }

    private static java.util.List<Long> boxed(long[] values) {
        return java.util.Arrays.stream(values).boxed().toList();
    }

    @Test
    void badUsageExitsWithTwoAndBadInputWithOneOnOneLine() throws IOException {
        assertEquals(2, run().code());
        assertEquals(2, run("fly").code());
        Outcome unknown = run("info", "--model", MODEL.toString(), "--colour", "red");
        assertEquals(2, unknown.code());
        assertTrue(unknown.err().startsWith("vlstm: unknown option --colour"), unknown.err());
        assertEquals(2, run("run", "--model", MODEL.toString(), "--input").code());
        assertTrue(run("run", "--model", MODEL.toString(), "--input", directory.resolve("x.npy").toString()).err()
                .contains("--output is required"));

        Outcome missing = run("info", "--model", directory.resolve("absent.safetensors").toString());
        assertEquals(1, missing.code());
        assertEquals(1, missing.err().lines().count(), "one line, no stack trace: " + missing.err());
        assertTrue(missing.err().contains("model file not found: " + directory.resolve("absent.safetensors")),
                missing.err());

        Path x = directory.resolve("nan.npy");
        float[] values = new float[24];
        values[5] = Float.NaN;
        Npy.write(x, new FloatTensor(new long[]{4, 2, 3}, values));
        Outcome nan = run("run", "--model", MODEL.toString(), "--input", x.toString(), "--output",
                directory.resolve("o").toString());
        assertEquals(1, nan.code());
        assertTrue(nan.err().contains("nan.npy: value NaN at flat index 5 (inputs must be finite)"), nan.err());
        assertTrue(!Files.exists(directory.resolve("o").resolve("y.npy")), "no output for a refused input");

        Path wrong = directory.resolve("wrong.npy");
        Npy.write(wrong, new FloatTensor(new long[]{4, 2, 4}, new float[32]));
        Outcome shape = run("run", "--model", MODEL.toString(), "--input", wrong.toString(), "--output",
                directory.resolve("o").toString(), "--verbose");
        assertEquals(1, shape.code());
        assertTrue(shape.err().contains("input of shape [4, 2, 4], expected [T, B, 3]"), shape.err());
        assertTrue(shape.err().lines().count() > 1, "--verbose adds the stack trace");
    }

    @Test
    void badLengthsExitWithOneNamingTheProblemAndWriteNothing() throws IOException {
        Path x = directory.resolve("x.npy");
        Npy.write(x, new FloatTensor(new long[]{4, 2, 3}, new float[24]));
        Path out = directory.resolve("lengths-out");
        String[][] cases = {
                {"4,x", "--lengths: 'x' is not an integer"},
                {"4", "lengths must hold one length per batch row, B=2, but it holds 1"},
                {"4,5", "lengths[1] = 5 is outside 0..T=4"},
                {"-1,2", "lengths[0] = -1 is outside 0..T=4"}};
        for (String[] bad : cases) {
            Outcome outcome = run("run", "--model", MODEL.toString(), "--input", x.toString(), "--output",
                    out.toString(), "--lengths", bad[0]);
            assertEquals(1, outcome.code(), outcome.err());
            assertEquals(1, outcome.err().lines().count(), "one line: " + outcome.err());
            assertTrue(outcome.err().contains(bad[1]), outcome.err());
            assertTrue(!Files.exists(out.resolve("y.npy")), "no output for refused lengths");
        }
    }
}
