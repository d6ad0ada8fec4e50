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

import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.Npy;
import dev.vlstm.io.SafeTensors;

/**
 * The CLI's {@code grad} and {@code run} against PyTorch's nn.LSTM on golden cases made by
 * {@code src-tests/golden/make_golden.py} (PyTorch 1.13, float32; one to three layers, one or two directions; two
 * cases of padded sequences of different lengths, run by PyTorch as packed sequences and here with {@code --lengths};
 * projected ({@code proj_size}) models: one layer, and three stacks, bidirectional or with lengths): outputs
 * y, h_n, c_n and the gradients of every parameter (weight_hr too) and of x, h0, c0 must match with max |difference| &le; 1e-4 and
 * &le; 1e-3 of the tensor's largest value.
 */
class PyTorchParityTest {

    private static final Path GOLDEN = Path.of("src/test/resources/golden");
    private static final double ABSOLUTE = 1e-4;
    private static final double RELATIVE = 1e-3;

    @TempDir
    Path output;

    @ParameterizedTest
    @MethodSource("cases")
    void outputsAndGradientsMatchPyTorch(String name) throws IOException {
        Path folder = GOLDEN.resolve(name);
        run(name, "grad", "--dy", folder.resolve("dy.npy").toString(), "--dhn", folder.resolve("dhn.npy").toString(),
                "--dcn", folder.resolve("dcn.npy").toString());
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

    /** {@code run} takes the inference path (the runner, not the trainer); its outputs must match too. */
    @ParameterizedTest
    @MethodSource("cases")
    void inferenceOutputsMatchPyTorch(String name) throws IOException {
        run(name, "run");
        compareOutputs(GOLDEN.resolve(name));
    }

    static Stream<String> cases() {
        return Stream.of("i3_h5_t4_b2", "i17_h33_t6_b3_batch_first", "i1_h1_t1_b1_no_bias", "i7_h20_t9_unbatched",
                "i3_h5_l2_t4_b2", "i4_h3_t5_b2_bidirectional", "i5_h6_l3_t4_b3_bidirectional_batch_first",
                "i3_h4_l2_t3_b2_no_bias", "i3_h5_t6_b4_lengths", "i4_h3_l2_t5_b5_bidirectional_batch_first_lengths",
                "i6_h17_p5_t6_b3_proj", "i4_h6_p3_l2_t5_b3_bidirectional_proj",
                "i3_h7_p2_l2_t6_b4_batch_first_proj_lengths",
                "i5_h9_p4_l2_t7_b6_bidirectional_batch_first_proj_lengths");
    }

    /** Runs {@code command} on the golden case's model and inputs (with its h0, c0 and layout) into {@link #output}. */
    private void run(String name, String command, String... extra) throws IOException {
        Path folder = GOLDEN.resolve(name);
        List<String> args = new ArrayList<>(List.of(command, "--model", folder.resolve("model.safetensors").toString(),
                "--input", folder.resolve("x.npy").toString(), "--output", output.toString()));
        args.addAll(List.of(extra));
        if (Files.exists(folder.resolve("h0.npy"))) {
            args.addAll(List.of("--h0", folder.resolve("h0.npy").toString(), "--c0", folder.resolve("c0.npy").toString()));
        }
        if (name.contains("batch_first")) {
            args.add("--batch-first");
        }
        Path lengths = folder.resolve("lengths.txt");
        if (Files.exists(lengths)) {
            args.addAll(List.of("--lengths", Files.readString(lengths).strip()));
        }
        ByteArrayOutputStream errors = new ByteArrayOutputStream();
        int code = Cli.run(args.toArray(String[]::new), new PrintStream(new ByteArrayOutputStream()), new PrintStream(errors));
        assertEquals(0, code, errors.toString());
    }

    private void compareOutputs(Path folder) throws IOException {
        for (String tensor : List.of("y", "hn", "cn")) {
            compare(tensor, Npy.read(output.resolve(tensor + ".npy")), Npy.read(folder.resolve("expected_" + tensor + ".npy")));
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
