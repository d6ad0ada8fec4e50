package dev.vlstm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
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
import dev.vlstm.GruStackRunner;
import dev.vlstm.GruStackWeights;
import dev.vlstm.LstmStackShape;
import dev.vlstm.SequenceLayout;
import dev.vlstm.reference.ReferenceGru;
import dev.vlstm.reference.ReferenceStack;

/**
 * {@link PyTorchGru#loadStack} on state_dicts of PyTorch's nn.GRU with {@code num_layers} and {@code bidirectional}:
 * every golden case of {@code src-tests/golden/make_golden_gru.py} (PyTorch 1.13, float32; one to three layers, one or
 * two directions, with and without biases, time-major and batch-first; packed sequences of different lengths, whose
 * lengths.txt this test passes as {@code lengths}) loads and runs to PyTorch's outputs, the reference stack's gradients
 * match PyTorch's autograd, and misfit files are refused naming the file and tensor.
 *
 * <p>Tolerances as PyTorchGruTest: outputs within 1e-5; gradients within 1e-4 absolute and 1e-3 of the tensor's
 * largest value.
 */
class PyTorchGruStackTest {

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

    /** A golden case's x as time-major floats with its T and B, whatever layout the file has. */
    private record Input(float[] timeMajor, int steps, int batch, boolean batchFirst) {

        static Input read(Path golden, String name) throws IOException {
            FloatTensor x = Npy.read(golden.resolve("x.npy"));
            boolean batchFirst = name.contains("batch_first");
            int steps = (int) x.shape()[batchFirst ? 1 : 0];
            int batch = (int) x.shape()[batchFirst ? 0 : 1];
            return new Input(batchFirst ? swap(x.data(), batch, steps) : x.data(), steps, batch, batchFirst);
        }

        /** A tensor in the case's layout (time-major or batch-first), as time-major. */
        float[] timeMajor(float[] values) {
            return batchFirst ? swap(values, batch, steps) : values;
        }
    }

    /** The lengths of a case made from packed sequences (its lengths.txt), or null for a case without. */
    private static int[] lengths(Path golden) throws IOException {
        Path file = golden.resolve("lengths.txt");
        if (!Files.exists(file)) {
            return null;
        }
        String[] items = Files.readString(file).strip().split(",");
        int[] lengths = new int[items.length];
        for (int n = 0; n < items.length; n++) {
            lengths[n] = Integer.parseInt(items[n]);
        }
        return lengths;
    }

    @ParameterizedTest
    @MethodSource("cases")
    void goldenModelsRunToPyTorchsOutputs(String name) throws IOException {
        Path golden = GOLDEN.resolve(name);
        Input x = Input.read(golden, name);
        float[] h0 = Files.exists(golden.resolve("h0.npy")) ? Npy.read(golden.resolve("h0.npy")).data() : null;
        int[] lengths = lengths(golden);
        for (Backend backend : Backend.values()) {
            try (SafeTensors file = SafeTensors.open(golden.resolve("model.safetensors"));
                 GruStackWeights weights = PyTorchGru.loadStack(file, null, backend);
                 GruStackRunner runner = new GruStackRunner(weights, x.batch(), x.steps())) {
                LstmStackShape shape = weights.shape();
                float[] y = new float[x.steps() * x.batch() * shape.outputSize()];
                float[] hT = new float[shape.stateCount() * x.batch() * shape.hiddenSize()];
                if (lengths == null) {
                    runner.forward(x.timeMajor(), x.steps(), x.batch(), h0, y, hT);
                } else {
                    runner.forward(x.timeMajor(), SequenceLayout.TIME_MAJOR, x.steps(), x.batch(), lengths, h0, y,
                            hT);
                }
                assertClose(backend + " y", y, x.timeMajor(Npy.read(golden.resolve("expected_y.npy")).data()));
                assertClose(backend + " hT", hT, Npy.read(golden.resolve("expected_hn.npy")).data());
            }
        }
    }

    /** The reference stack's convention (order of cells, reversal, joining of directions) is PyTorch's. */
    @ParameterizedTest
    @MethodSource("cases")
    void referenceStackGradientsMatchPyTorchsAutograd(String name) throws IOException {
        Path golden = GOLDEN.resolve(name);
        Input x = Input.read(golden, name);
        PyTorchGru.Config config;
        List<PyTorchGru.Tensors> tensors;
        try (SafeTensors file = SafeTensors.open(golden.resolve("model.safetensors"))) {
            config = PyTorchGru.inspect(file, "gru.");
            tensors = PyTorchGru.loadStackTensors(file, "gru.");
        }
        ReferenceGru[] cells = new ReferenceGru[tensors.size()];
        for (int n = 0; n < cells.length; n++) {
            PyTorchGru.Tensors t = tensors.get(n);
            cells[n] = new ReferenceGru(t.inputSize(), t.hiddenSize(), t.weightIh(), t.weightHh(), t.biasIh(),
                    t.biasHh());
        }
        boolean initialState = Files.exists(golden.resolve("h0.npy"));
        ReferenceStack.Gradients gradients = new ReferenceStack(config.bidirectional(), cells).backward(
                doubles(x.timeMajor()), x.steps(), x.batch(), lengths(golden),
                initialState ? doubles(Npy.read(golden.resolve("h0.npy")).data()) : null, null, null,
                doubles(x.timeMajor(Npy.read(golden.resolve("dy.npy")).data())),
                doubles(Npy.read(golden.resolve("dhn.npy")).data()), null);
        LstmStackShape shape = new LstmStackShape(config.inputSize(), config.hiddenSize(), config.layers(),
                config.bidirectional());
        Map<String, double[]> ours = new LinkedHashMap<>();
        for (int n = 0; n < cells.length; n++) {
            int layer = n / shape.directions();
            int direction = n % shape.directions();
            ours.put("gru." + shape.pyTorchName("weight_ih", layer, direction), gradients.weightIh()[n]);
            ours.put("gru." + shape.pyTorchName("weight_hh", layer, direction), gradients.weightHh()[n]);
            ours.put("gru." + shape.pyTorchName("bias_ih", layer, direction), gradients.biasIh()[n]);
            ours.put("gru." + shape.pyTorchName("bias_hh", layer, direction), gradients.biasHh()[n]);
        }
        ours.put("h0", gradients.h0());
        try (SafeTensors expected = SafeTensors.open(golden.resolve("expected_grad.safetensors"))) {
            for (String tensor : expected.names()) {
                float[] pyTorch = expected.tensor(tensor).toFloats();
                double[] actual = ours.get(tensor);
                if (tensor.equals("x")) {
                    actual = gradients.x();
                    pyTorch = x.timeMajor(pyTorch);
                }
                assertNotNull(actual, tensor + ": PyTorch has a gradient the reference does not");
                double largest = 0;
                for (float value : pyTorch) {
                    largest = Math.max(largest, Math.abs(value));
                }
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
    void inspectReadsTheConfigurationOfAWholeModel() throws IOException {
        Path model = GOLDEN.resolve("i5_h6_l3_t4_b3_bidirectional_batch_first/model.safetensors");
        try (SafeTensors file = SafeTensors.open(model)) {
            PyTorchGru.Config config = PyTorchGru.inspect(file, null);
            assertEquals(new PyTorchGru.Config("gru.", 5, 6, 3, true, true), config);
            long elements = 0;
            for (PyTorchGru.Tensors layer : PyTorchGru.loadStackTensors(file, null)) {
                elements += layer.weightIh().length + layer.weightHh().length + layer.biasIh().length
                        + layer.biasHh().length;
            }
            assertEquals(elements, config.parameterCount());
        }
    }

    @Test
    void misfitsAreRefusedNamingFileAndTensor() throws IOException {
        int input = 2;
        int hidden = 3;
        Map<String, FloatTensor> model = new LinkedHashMap<>();
        model.putAll(layer(0, "", input, hidden, true));
        model.putAll(layer(0, "_reverse", input, hidden, true));
        model.putAll(layer(1, "", 2 * hidden, hidden, true));
        model.putAll(layer(1, "_reverse", 2 * hidden, hidden, true));
        refusedUnless(model, null);

        Map<String, FloatTensor> missing = new LinkedHashMap<>(model);
        missing.remove("weight_hh_l1_reverse");
        refusedUnless(missing, "no tensor 'weight_hh_l1_reverse'");

        Map<String, FloatTensor> narrow = new LinkedHashMap<>(model);
        narrow.putAll(layer(1, "", hidden, hidden, true));
        refusedUnless(narrow, "weight_ih_l1 has shape [9, 3], expected [9, 6] (hidden_size 3; layer 1 reads 6 "
                + "features, 2 direction(s) × hidden_size)");

        Map<String, FloatTensor> stray = new LinkedHashMap<>(model);
        stray.put("weight_hh_l2", new FloatTensor(new long[]{3 * hidden, hidden}, new float[9 * hidden]));
        refusedUnless(stray, "unexpected tensor 'weight_hh_l2' in a GRU of 2 layer(s), two directions");

        Map<String, FloatTensor> biasFree = new LinkedHashMap<>();
        biasFree.putAll(layer(0, "", input, hidden, false));
        biasFree.putAll(layer(1, "", hidden, hidden, false));
        refusedUnless(biasFree, null);
        biasFree.put("bias_ih_l1", new FloatTensor(new long[]{3 * hidden}, new float[3 * hidden]));
        refusedUnless(biasFree, "unexpected tensor 'bias_ih_l1' in a GRU of 2 layer(s) without biases");

        Map<String, FloatTensor> nan = new LinkedHashMap<>(model);
        float[] weights = new float[3 * hidden * hidden];
        weights[5] = Float.NaN;
        nan.put("weight_hh_l1_reverse", new FloatTensor(new long[]{3 * hidden, hidden}, weights));
        refusedUnless(nan, "weight_hh_l1_reverse holds NaN at flat index 5 ([1][2])");
    }

    /** Writes the tensors and loads them as a stack: refused with {@code fragment} in the message, or loaded if null. */
    private void refusedUnless(Map<String, FloatTensor> tensors, String fragment) throws IOException {
        Path path = folder.resolve("model.safetensors");
        SafeTensors.write(path, tensors, Map.of());
        try (SafeTensors file = SafeTensors.open(path)) {
            if (fragment == null) {
                PyTorchGru.loadStack(file, null, Backend.PREFERRED).close();
                return;
            }
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                    () -> PyTorchGru.loadStack(file, null, Backend.PREFERRED).close());
            assertTrue(thrown.getMessage().contains(fragment) && thrown.getMessage().contains(path.toString()),
                    "message \"" + thrown.getMessage() + "\" should name " + path + " and contain \"" + fragment
                            + "\"");
        }
    }

    private static Map<String, FloatTensor> layer(int layer, String suffix, int input, int hidden, boolean bias) {
        int gateRows = 3 * hidden;
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        tensors.put("weight_ih_l" + layer + suffix,
                new FloatTensor(new long[]{gateRows, input}, new float[gateRows * input]));
        tensors.put("weight_hh_l" + layer + suffix,
                new FloatTensor(new long[]{gateRows, hidden}, new float[gateRows * hidden]));
        if (bias) {
            tensors.put("bias_ih_l" + layer + suffix, new FloatTensor(new long[]{gateRows}, new float[gateRows]));
            tensors.put("bias_hh_l" + layer + suffix, new FloatTensor(new long[]{gateRows}, new float[gateRows]));
        }
        return tensors;
    }

    /** {@code [outer][inner][F]} as {@code [inner][outer][F]}. */
    private static float[] swap(float[] values, int outer, int inner) {
        int features = values.length / (outer * inner);
        float[] result = new float[values.length];
        for (int o = 0; o < outer; o++) {
            for (int i = 0; i < inner; i++) {
                System.arraycopy(values, (o * inner + i) * features, result, (i * outer + o) * features, features);
            }
        }
        return result;
    }

    private static void assertClose(String what, float[] actual, float[] expected) {
        assertEquals(expected.length, actual.length, what + " length");
        for (int n = 0; n < expected.length; n++) {
            assertTrue(Math.abs(actual[n] - expected[n]) <= OUTPUT_TOLERANCE,
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
