package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.Npy;
import dev.vlstm.io.SafeTensors;

/**
 * The CLI's {@code info}, {@code run} and {@code grad} on nn.GRU state_dicts, against PyTorch's outputs and autograd
 * on the golden cases of {@code src-tests/golden/make_golden_gru.py} (one to three layers, one or two directions, with
 * and without biases, time-major and batch-first; two cases of padded sequences of different lengths, run by PyTorch
 * as packed sequences and here with {@code --lengths}): y, h_n and the gradients of every parameter of every layer and
 * direction and of x and h0 within 1e-4 absolute and 1e-3 of the tensor's largest value, as PyTorchParityTest asks of
 * the LSTM. The cases with lengths are also held to 1e-5 absolute on y and h_n and 1e-4 of each gradient tensor's
 * largest value (the tolerances of the tests against the double reference).
 */
class GruCliTest {

    private static final Path GOLDEN = Path.of("src/test/resources/golden-gru");
    private static final double ABSOLUTE = 1e-4;
    private static final double RELATIVE = 1e-3;

    @TempDir
    Path output;

    static Stream<String> cases() {
        return Stream.of("i3_h5_t4_b2", "i17_h33_t6_b3", "i1_h1_t1_b1_no_bias", "i7_h20_t9_b9", "i3_h5_l2_t4_b2",
                "i4_h3_t5_b2_bidirectional", "i5_h6_l3_t4_b3_bidirectional_batch_first", "i3_h4_l2_t3_b2_no_bias",
                "i17_h33_l2_t5_b5_bidirectional_no_bias", "i3_h5_t6_b4_lengths",
                "i4_h3_l2_t5_b5_bidirectional_batch_first_lengths");
    }

    static Stream<String> lengthCases() {
        return Stream.of("i3_h5_t6_b4_lengths", "i4_h3_l2_t5_b5_bidirectional_batch_first_lengths");
    }

    /** The packed-sequence cases, held to the reference tests' tolerances: outputs 1e-5, gradients 1e-4. */
    @ParameterizedTest
    @MethodSource("lengthCases")
    void lengthsMatchPyTorchClosely(String name) throws IOException {
        Path folder = GOLDEN.resolve(name);
        assertEquals(0, run(name, "grad", "--dy", folder.resolve("dy.npy").toString(), "--dhn",
                folder.resolve("dhn.npy").toString()));
        for (String tensor : List.of("y", "hn")) {
            FloatTensor actual = Npy.read(output.resolve(tensor + ".npy"));
            FloatTensor expected = Npy.read(folder.resolve("expected_" + tensor + ".npy"));
            assertArrayEquals(expected.shape(), actual.shape(), tensor + " shape");
            for (int n = 0; n < expected.data().length; n++) {
                assertEquals(expected.data()[n], actual.data()[n], 1e-5, tensor + "[" + n + "]");
            }
        }
        try (SafeTensors actual = SafeTensors.open(output.resolve("grad.safetensors"));
             SafeTensors expected = SafeTensors.open(folder.resolve("expected_grad.safetensors"))) {
            for (String tensor : expected.names()) {
                float[] reference = expected.tensor(tensor).toFloats();
                float[] ours = actual.tensor(tensor).toFloats();
                double scale = 0;
                for (float value : reference) {
                    scale = Math.max(scale, Math.abs(value));
                }
                for (int n = 0; n < reference.length; n++) {
                    assertEquals(reference[n], ours[n], 1e-4 * scale, "gradient " + tensor + "[" + n + "]");
                }
            }
        }
    }

    @Test
    void badLengthsAreRefusedNamingTheLength() {
        Path folder = GOLDEN.resolve("i3_h5_t6_b4_lengths");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Cli.run(new String[]{"run", "--model", folder.resolve("model.safetensors").toString(), "--input",
                folder.resolve("x.npy").toString(), "--lengths", "3,7,1,4", "--output", output.toString()},
                new PrintStream(new ByteArrayOutputStream()), new PrintStream(err));
        assertEquals(1, code, err.toString());
        assertTrue(err.toString().contains("lengths[1] = 7 is outside 0..T=6"), err.toString());
        assertTrue(Files.notExists(output.resolve("y.npy")), "no output for refused lengths");
    }

    @ParameterizedTest
    @MethodSource("cases")
    void gradMatchesPyTorch(String name) throws IOException {
        Path folder = GOLDEN.resolve(name);
        assertEquals(0, run(name, "grad", "--dy", folder.resolve("dy.npy").toString(), "--dhn",
                folder.resolve("dhn.npy").toString()));
        compareOutputs(folder);
        try (SafeTensors actual = SafeTensors.open(output.resolve("grad.safetensors"));
             SafeTensors expected = SafeTensors.open(folder.resolve("expected_grad.safetensors"))) {
            for (String tensor : expected.names()) {
                SafeTensors.Tensor reference = expected.tensor(tensor);
                SafeTensors.Tensor ours = actual.tensor(tensor);
                compare("gradient " + tensor, new FloatTensor(ours.shape(), ours.toFloats()),
                        new FloatTensor(reference.shape(), reference.toFloats()));
            }
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void runMatchesPyTorch(String name) throws IOException {
        assertEquals(0, run(name, "run"));
        compareOutputs(GOLDEN.resolve(name));
        assertTrue(Files.notExists(output.resolve("cn.npy")), "a GRU has no cell state");
    }

    @Test
    void infoSaysItIsAGruAndCellStateOptionsAreRefused() {
        Path model = GOLDEN.resolve("i3_h5_t4_b2/model.safetensors");
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        assertEquals(0, Cli.run(new String[]{"info", "--model", model.toString()}, new PrintStream(out),
                new PrintStream(new ByteArrayOutputStream())));
        assertTrue(out.toString().startsWith("GRU, prefix 'gru.': input_size=3 hidden_size=5 num_layers=1"),
                out.toString());
        assertTrue(out.toString().contains("parameters: 150"), out.toString());
        ByteArrayOutputStream stacked = new ByteArrayOutputStream();
        assertEquals(0, Cli.run(new String[]{"info", "--model",
                GOLDEN.resolve("i5_h6_l3_t4_b3_bidirectional_batch_first/model.safetensors").toString()},
                new PrintStream(stacked), new PrintStream(new ByteArrayOutputStream())));
        assertTrue(stacked.toString().contains("input_size=5 hidden_size=6 num_layers=3 bidirectional=true bias=true"),
                stacked.toString());
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Cli.run(new String[]{"run", "--model", model.toString(), "--input",
                GOLDEN.resolve("i3_h5_t4_b2/x.npy").toString(), "--c0", GOLDEN.resolve("i3_h5_t4_b2/h0.npy").toString(),
                "--output", output.toString()},
                new PrintStream(new ByteArrayOutputStream()), new PrintStream(err));
        assertEquals(2, code);
        assertTrue(err.toString().contains("a GRU has no cell state"), err.toString());
    }

    private int run(String name, String command, String... extra) throws IOException {
        Path folder = GOLDEN.resolve(name);
        List<String> args = new ArrayList<>(List.of(command, "--model", folder.resolve("model.safetensors").toString(),
                "--input", folder.resolve("x.npy").toString(), "--output", output.toString()));
        args.addAll(List.of(extra));
        if (Files.exists(folder.resolve("h0.npy"))) {
            args.addAll(List.of("--h0", folder.resolve("h0.npy").toString()));
        }
        if (name.contains("batch_first")) {
            args.add("--batch-first");
        }
        Path lengths = folder.resolve("lengths.txt");
        if (Files.exists(lengths)) {
            args.addAll(List.of("--lengths", Files.readString(lengths).strip()));
        }
        ByteArrayOutputStream errors = new ByteArrayOutputStream();
        int code = Cli.run(args.toArray(String[]::new), new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(errors));
        assertEquals(0, code, errors.toString());
        return code;
    }

    private void compareOutputs(Path folder) throws IOException {
        for (String tensor : List.of("y", "hn")) {
            compare(tensor, Npy.read(output.resolve(tensor + ".npy")),
                    Npy.read(folder.resolve("expected_" + tensor + ".npy")));
        }
    }

    private static void compare(String name, FloatTensor actual, FloatTensor expected) {
        assertArrayEquals(expected.shape(), actual.shape(), name + " shape");
        double worst = 0;
        double scale = 0;
        for (int n = 0; n < expected.data().length; n++) {
            worst = Math.max(worst, Math.abs(actual.data()[n] - expected.data()[n]));
            scale = Math.max(scale, Math.abs(expected.data()[n]));
        }
        assertTrue(worst <= ABSOLUTE && worst <= RELATIVE * scale + 1e-12,
                name + ": max |difference| " + worst + " (largest value " + scale + ")");
    }
}
