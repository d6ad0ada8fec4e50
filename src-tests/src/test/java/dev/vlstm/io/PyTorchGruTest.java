package dev.vlstm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.Backend;
import dev.vlstm.GruRunner;
import dev.vlstm.GruWeights;
import dev.vlstm.reference.ReferenceGru;

/**
 * {@link PyTorchGru} on state_dicts of PyTorch's nn.GRU: the golden cases of {@code src-tests/golden/make_golden_gru.py}
 * (PyTorch 1.13, float32) load and run to PyTorch's outputs, the reference's gradients match PyTorch's autograd, and
 * what vlstm does not run (LSTMs, stacked or bidirectional GRUs, stray or bad tensors) is refused by name.
 *
 * <p>Tolerances: outputs within 1e-5 (ForwardVsReferenceTest's bound; PyTorch computes in float32 too), gradients
 * within 1e-4 absolute and 1e-3 of the tensor's largest value, as in PyTorchParityTest.
 */
class PyTorchGruTest {

    private static final Path GOLDEN = Path.of("src/test/resources/golden-gru");
    private static final double OUTPUT_TOLERANCE = 1e-5;
    private static final double GRADIENT_ABSOLUTE = 1e-4;
    private static final double GRADIENT_RELATIVE = 1e-3;

    @TempDir
    Path folder;

    static Stream<String> cases() throws IOException {
        try (Stream<Path> list = Files.list(GOLDEN)) {
            return list.map(path -> path.getFileName().toString()).sorted().toList().stream();
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void goldenModelsRunToPyTorchsOutputs(String name) throws IOException {
        Path golden = GOLDEN.resolve(name);
        FloatTensor x = Npy.read(golden.resolve("x.npy"));
        int steps = (int) x.shape()[0];
        int batch = (int) x.shape()[1];
        float[] h0 = Files.exists(golden.resolve("h0.npy")) ? Npy.read(golden.resolve("h0.npy")).data() : null;
        for (Backend backend : Backend.values()) {
            try (SafeTensors file = SafeTensors.open(golden.resolve("model.safetensors"));
                 GruWeights weights = PyTorchGru.load(file, null, backend);
                 GruRunner runner = new GruRunner(weights, batch)) {
                float[] y = new float[steps * batch * weights.hiddenSize()];
                float[] hT = new float[batch * weights.hiddenSize()];
                runner.forward(x.data(), steps, batch, h0, y, hT);
                assertClose(backend + " y", y, Npy.read(golden.resolve("expected_y.npy")).data(), OUTPUT_TOLERANCE);
                assertClose(backend + " hT", hT, Npy.read(golden.resolve("expected_hn.npy")).data(),
                        OUTPUT_TOLERANCE);
            }
        }
    }

    /** The oracle's convention (gate order, linear before reset, where b_hn goes) is PyTorch's. */
    @ParameterizedTest
    @MethodSource("cases")
    void referenceGradientsMatchPyTorchsAutograd(String name) throws IOException {
        Path golden = GOLDEN.resolve(name);
        FloatTensor x = Npy.read(golden.resolve("x.npy"));
        int steps = (int) x.shape()[0];
        int batch = (int) x.shape()[1];
        boolean initialState = Files.exists(golden.resolve("h0.npy"));
        PyTorchGru.Tensors tensors;
        try (SafeTensors file = SafeTensors.open(golden.resolve("model.safetensors"))) {
            tensors = PyTorchGru.loadTensors(file, "gru.");
        }
        ReferenceGru reference = new ReferenceGru(tensors.inputSize(), tensors.hiddenSize(), tensors.weightIh(),
                tensors.weightHh(), tensors.biasIh(), tensors.biasHh());
        ReferenceGru.Gradients gradients = reference.backward(doubles(x.data()), steps, batch,
                initialState ? doubles(Npy.read(golden.resolve("h0.npy")).data()) : null,
                doubles(Npy.read(golden.resolve("dy.npy")).data()), doubles(Npy.read(golden.resolve("dhn.npy")).data()));
        Map<String, double[]> ours = new LinkedHashMap<>();
        ours.put("gru.weight_ih_l0", gradients.weightIh());
        ours.put("gru.weight_hh_l0", gradients.weightHh());
        ours.put("gru.bias_ih_l0", gradients.biasIh());
        ours.put("gru.bias_hh_l0", gradients.biasHh());
        ours.put("x", gradients.x());
        ours.put("h0", gradients.h0());
        try (SafeTensors expected = SafeTensors.open(golden.resolve("expected_grad.safetensors"))) {
            for (String tensor : expected.names()) {
                float[] pyTorch = expected.tensor(tensor).toFloats();
                double largest = 0;
                for (float value : pyTorch) {
                    largest = Math.max(largest, Math.abs(value));
                }
                double[] actual = ours.get(tensor);
                assertEquals(pyTorch.length, actual.length, tensor + " length");
                double tolerance = Math.max(GRADIENT_ABSOLUTE, GRADIENT_RELATIVE * largest);
                for (int n = 0; n < pyTorch.length; n++) {
                    assertTrue(Math.abs(actual[n] - pyTorch[n]) <= tolerance, tensor + "[" + n + "]: " + actual[n]
                            + " vs PyTorch " + pyTorch[n]);
                }
            }
        }
    }

    @Test
    void inspectReadsTheConfiguration() throws IOException {
        try (SafeTensors file = SafeTensors.open(GOLDEN.resolve("i3_h5_t4_b2/model.safetensors"))) {
            PyTorchGru.Config config = PyTorchGru.inspect(file, null);
            assertEquals(new PyTorchGru.Config("gru.", 3, 5, 1, false, true), config);
            assertEquals(3 * 5 * (3 + 5) + 6 * 5, config.parameterCount());
        }
        try (SafeTensors file = SafeTensors.open(GOLDEN.resolve("i1_h1_t1_b1_no_bias/model.safetensors"))) {
            PyTorchGru.Tensors tensors = PyTorchGru.loadTensors(file, null);
            assertNull(tensors.biasIh());
            assertNull(tensors.biasHh());
        }
    }

    @Test
    void whatVlstmDoesNotRunIsRefusedByName() throws IOException {
        int input = 2;
        int hidden = 3;
        Map<String, FloatTensor> gru = layer("", 0, "", 3 * hidden, input, hidden);
        refused(gru, "x.", "no tensor 'x.weight_hh_l0'");

        Map<String, FloatTensor> lstm = layer("", 0, "", 4 * hidden, input, hidden);
        refused(lstm, null, "weight_hh_l0 has shape [12, 3]", "this is an nn.LSTM state_dict; load it with PyTorchLstm");

        Map<String, FloatTensor> stacked = new LinkedHashMap<>(gru);
        stacked.putAll(layer("", 1, "", 3 * hidden, hidden, hidden));
        refused(stacked, null, "this GRU has 2 layer(s)", "num_layers=1");

        Map<String, FloatTensor> bidirectional = new LinkedHashMap<>(gru);
        bidirectional.putAll(layer("", 0, "_reverse", 3 * hidden, input, hidden));
        refused(bidirectional, null, "1 layer(s), two directions");

        Map<String, FloatTensor> stray = new LinkedHashMap<>(gru);
        stray.put("weight_hr_l0", new FloatTensor(new long[]{2, hidden}, new float[2 * hidden]));
        refused(stray, null, "unexpected tensor 'weight_hr_l0' in a one-layer GRU");

        Map<String, FloatTensor> wrongInput = new LinkedHashMap<>(gru);
        wrongInput.put("weight_ih_l0", new FloatTensor(new long[]{2 * hidden, input}, new float[2 * hidden * input]));
        refused(wrongInput, null, "weight_ih_l0 has shape [6, 2], not [3*hidden_size, input_size]");

        Map<String, FloatTensor> nan = new LinkedHashMap<>(gru);
        float[] bias = new float[3 * hidden];
        bias[4] = Float.NaN;
        nan.put("bias_hh_l0", new FloatTensor(new long[]{3 * hidden}, bias));
        refused(nan, null, "bias_hh_l0 holds NaN at flat index 4");

        Map<String, FloatTensor> twoModels = new LinkedHashMap<>(gru);
        twoModels.putAll(layer("other.", 0, "", 3 * hidden, input, hidden));
        refused(twoModels, null, "several recurrent layers");
    }

    private void refused(Map<String, FloatTensor> tensors, String prefix, String... fragments) throws IOException {
        Path path = folder.resolve("model.safetensors");
        SafeTensors.write(path, tensors, Map.of());
        try (SafeTensors file = SafeTensors.open(path)) {
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                    () -> PyTorchGru.load(file, prefix, Backend.PREFERRED).close());
            for (String fragment : List.of(fragments)) {
                assertTrue(thrown.getMessage().contains(fragment),
                        "message \"" + thrown.getMessage() + "\" should contain \"" + fragment + "\"");
            }
        }
    }

    private static Map<String, FloatTensor> layer(String prefix, int layer, String suffix, int gateRows, int input,
                                                  int hidden) {
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        tensors.put(prefix + "weight_ih_l" + layer + suffix,
                new FloatTensor(new long[]{gateRows, input}, new float[gateRows * input]));
        tensors.put(prefix + "weight_hh_l" + layer + suffix,
                new FloatTensor(new long[]{gateRows, hidden}, new float[gateRows * hidden]));
        tensors.put(prefix + "bias_ih_l" + layer + suffix, new FloatTensor(new long[]{gateRows}, new float[gateRows]));
        tensors.put(prefix + "bias_hh_l" + layer + suffix, new FloatTensor(new long[]{gateRows}, new float[gateRows]));
        return tensors;
    }

    private static void assertClose(String what, float[] actual, float[] expected, double tolerance) {
        assertEquals(expected.length, actual.length, what + " length");
        for (int n = 0; n < expected.length; n++) {
            assertTrue(Math.abs(actual[n] - expected[n]) <= tolerance,
                    what + "[" + n + "]: " + actual[n] + " vs PyTorch " + expected[n]);
        }
    }

    private static double[] doubles(float[] values) {
        double[] result = new double[values.length];
        for (int n = 0; n < values.length; n++) {
            result[n] = values[n];
        }
        return result;
    }
}
