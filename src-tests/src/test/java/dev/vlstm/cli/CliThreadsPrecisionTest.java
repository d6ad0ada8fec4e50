package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.Npy;
import dev.vlstm.io.SafeTensors;

/**
 * {@code --threads} and {@code --precision} of {@code run} and {@code grad}, on two-layer bidirectional models large
 * enough to split (an nn.LSTM and an nn.GRU state_dict written here, I=24, H=96, PyTorch's initialisation; T=9, B=5):
 * at f32 any thread count gives the same bytes as one thread, outputs and gradients; bf16 and int8 weights give
 * outputs within {@value #BFLOAT16_TOLERANCE} and {@value #INT8_TOLERANCE} of f32's (largest |difference| over y, h_n
 * and c_n; measured 5.9e-4 and 1.2e-3), but not f32's bits, and the same bits on two threads as on one. grad, and a
 * GRU, refuse compressed weights.
 */
class CliThreadsPrecisionTest {

    static final double BFLOAT16_TOLERANCE = 2e-3;
    static final double INT8_TOLERANCE = 5e-3;
    private static final int INPUT = 24;
    private static final int HIDDEN = 96;
    private static final List<String> OUTPUTS = List.of("y.npy", "hn.npy", "cn.npy");

    @TempDir
    static Path models;
    static Path lstm;
    static Path gru;
    static Path x;
    static Path dy;

    @TempDir
    Path directory;

    @BeforeAll
    static void writeModels() throws IOException {
        lstm = writeModel(models.resolve("lstm.safetensors"), "lstm.", 4, 2021);
        gru = writeModel(models.resolve("gru.safetensors"), "gru.", 3, 2022);
        SplittableRandom random = new SplittableRandom(2023);
        x = models.resolve("x.npy");
        Npy.write(x, new FloatTensor(new long[]{9, 5, INPUT}, uniform(random, 9 * 5 * INPUT, 1)));
        dy = models.resolve("dy.npy");
        Npy.write(dy, new FloatTensor(new long[]{9, 5, 2 * HIDDEN}, uniform(random, 9 * 5 * 2 * HIDDEN, 1)));
    }

    /** Two bidirectional layers with biases, values uniform in ±1/√H as PyTorch initialises them. */
    private static Path writeModel(Path file, String prefix, int gates, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        float bound = (float) (1 / Math.sqrt(HIDDEN));
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        for (int layer = 0; layer < 2; layer++) {
            int inputSize = layer == 0 ? INPUT : 2 * HIDDEN;
            for (String suffix : List.of("", "_reverse")) {
                String l = "_l" + layer + suffix;
                tensors.put(prefix + "weight_ih" + l, new FloatTensor(new long[]{gates * HIDDEN, inputSize},
                        uniform(random, gates * HIDDEN * inputSize, bound)));
                tensors.put(prefix + "weight_hh" + l, new FloatTensor(new long[]{gates * HIDDEN, HIDDEN},
                        uniform(random, gates * HIDDEN * HIDDEN, bound)));
                tensors.put(prefix + "bias_ih" + l, new FloatTensor(new long[]{gates * HIDDEN},
                        uniform(random, gates * HIDDEN, bound)));
                tensors.put(prefix + "bias_hh" + l, new FloatTensor(new long[]{gates * HIDDEN},
                        uniform(random, gates * HIDDEN, bound)));
            }
        }
        SafeTensors.write(file, tensors, Map.of());
        return file;
    }

    private static float[] uniform(SplittableRandom random, int count, float bound) {
        float[] values = new float[count];
        for (int n = 0; n < count; n++) {
            values[n] = (float) random.nextDouble(-bound, bound);
        }
        return values;
    }

    private Path run(String command, Path model, String name, String... extra) {
        Path out = directory.resolve(name);
        List<String> args = new ArrayList<>(List.of(command, "--model", model.toString(), "--input", x.toString(),
                "--output", out.toString(), "--lengths", "9,3,0,7,9"));
        if (command.equals("grad")) {
            args.addAll(List.of("--dy", dy.toString()));
        }
        args.addAll(List.of(extra));
        CliOutcome outcome = CliOutcome.of(args.toArray(String[]::new));
        assertEquals(0, outcome.code(), outcome.describe());
        return out;
    }

    private static void assertSameBytes(Path expected, Path actual, List<String> files) throws IOException {
        for (String file : files) {
            assertEquals(-1, Files.mismatch(expected.resolve(file), actual.resolve(file)),
                    file + ": " + expected + " and " + actual + " differ");
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {2, 3})
    void runOnThreadsGivesOneThreadsBits(int threads) throws IOException {
        assertSameBytes(run("run", lstm, "one"), run("run", lstm, "many", "--threads", "" + threads), OUTPUTS);
        assertSameBytes(run("run", gru, "gru-one"), run("run", gru, "gru-many", "--threads", "" + threads),
                List.of("y.npy", "hn.npy"));
    }

    @Test
    void gradOnTwoThreadsGivesOneThreadsBits() throws IOException {
        List<String> files = List.of("y.npy", "hn.npy", "cn.npy", "grad.safetensors");
        assertSameBytes(run("grad", lstm, "one"), run("grad", lstm, "two", "--threads", "2"), files);
        assertSameBytes(run("grad", gru, "gru-one"), run("grad", gru, "gru-two", "--threads", "2"),
                List.of("y.npy", "hn.npy", "grad.safetensors"));
    }

    @ParameterizedTest
    @CsvSource({"lstm, bf16, " + BFLOAT16_TOLERANCE, "lstm, int8, " + INT8_TOLERANCE, "gru, bf16, " + BFLOAT16_TOLERANCE,
            "gru, int8, " + INT8_TOLERANCE})
    void compressedWeightsRunCloseToFloat32(String cell, String precision, double tolerance) throws IOException {
        Path model = cell.equals("gru") ? gru : lstm;
        List<String> outputs = cell.equals("gru") ? List.of("y.npy", "hn.npy") : OUTPUTS;
        Path float32 = run("run", model, cell + "-f32");
        assertSameBytes(float32, run("run", model, cell + "-f32-named", "--precision", "f32"), outputs);
        Path compressed = run("run", model, cell + "-" + precision, "--precision", precision);
        double worst = 0;
        for (String file : outputs) {
            float[] expected = Npy.read(float32.resolve(file)).data();
            float[] actual = Npy.read(compressed.resolve(file)).data();
            for (int n = 0; n < expected.length; n++) {
                worst = Math.max(worst, Math.abs(expected[n] - actual[n]));
            }
        }
        assertTrue(worst > 0, precision + " weights give other bits than f32's");
        assertTrue(worst <= tolerance, precision + ": largest |difference| from f32 " + worst + " > " + tolerance);
        assertSameBytes(compressed, run("run", model, cell + "-" + precision + "-two", "--precision", precision,
                "--threads", "2"), outputs);
    }

    @ParameterizedTest
    @ValueSource(strings = {"bf16", "int8"})
    void compressedWeightsAreRefusedForGradients(String precision) {
        Path out = directory.resolve("refused");
        CliOutcome grad = CliOutcome.of("grad", "--model", lstm.toString(), "--input", x.toString(), "--dy",
                dy.toString(), "--output", out.toString(), "--precision", precision);
        assertEquals(2, grad.code(), grad.describe());
        assertEquals("vlstm: grad needs float32 weights: --precision " + precision + " compresses them for the"
                + " forward pass only (use it with run)\nsee vlstm grad --help\n", grad.err());
        assertTrue(Files.notExists(out), "nothing written");
    }
}
