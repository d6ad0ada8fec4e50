package dev.vlstm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.Backend;
import dev.vlstm.Cell;
import dev.vlstm.Direction;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
import dev.vlstm.SequenceLayout;
import dev.vlstm.Vlstm;
import dev.vlstm.reference.ReferenceGru;
import dev.vlstm.reference.ReferenceStack;

/**
 * {@link Vlstm#load} and {@link StateDict} on state_dicts of PyTorch's nn.GRU with {@code num_layers} and
 * {@code bidirectional}:
 * every golden case of {@code src-tests/golden/make_golden_gru.py} (PyTorch 1.13, float32; one to three layers, one or
 * two directions, with and without biases, time-major and batch-first; packed sequences of different lengths, whose
 * lengths.txt this test passes as {@code lengths}) loads and runs to PyTorch's outputs, the reference stack's gradients
 * match PyTorch's autograd (StateDictTest checks the misfit files).
 *
 * <p>Tolerances: outputs within 1e-5 (ForwardVsReferenceTest's bound; PyTorch computes in float32 too); gradients
 * within 1e-4 absolute and 1e-3 of the tensor's largest value, as in PyTorchParityTest.
 */
class GruGoldenTest {

    private static final Path GOLDEN = Path.of("src/test/resources/golden-gru");
    private static final double OUTPUT_TOLERANCE = 1e-5;
    private static final double GRADIENT_ABSOLUTE = 1e-4;
    private static final double GRADIENT_RELATIVE = 1e-3;

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
            Options options = Options.DEFAULT.withBackend(backend).withMaxBatch(x.batch()).withMaxSteps(x.steps());
            try (Model model = Vlstm.load(golden.resolve("model.safetensors"), options);
                 Runner runner = model.runner()) {
                RnnShape shape = model.shape();
                float[] y = new float[x.steps() * x.batch() * shape.outputSize()];
                float[] hT = new float[shape.stateCount() * x.batch() * shape.hiddenSize()];
                if (lengths == null) {
                    runner.forward(x.timeMajor(), x.steps(), x.batch(), h0, null, y, hT, null);
                } else {
                    runner.forward(x.timeMajor(), SequenceLayout.TIME_MAJOR, x.steps(), x.batch(), lengths, h0, null,
                            y, hT, null);
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
        RnnShape shape;
        ReferenceGru[] cells;
        try (SafeTensors file = SafeTensors.open(golden.resolve("model.safetensors"))) {
            shape = StateDict.inspect(file, "gru.").shape();
            cells = new ReferenceGru[shape.stateCount()];
            for (int n = 0; n < cells.length; n++) {
                int layer = n / shape.direction().count();
                int direction = n % shape.direction().count();
                cells[n] = new ReferenceGru(shape.layerInputSize(layer), shape.hiddenSize(),
                        tensor(file, shape.tensorName("weight_ih", layer, direction)),
                        tensor(file, shape.tensorName("weight_hh", layer, direction)),
                        tensor(file, shape.tensorName("bias_ih", layer, direction)),
                        tensor(file, shape.tensorName("bias_hh", layer, direction)));
            }
        }
        boolean initialState = Files.exists(golden.resolve("h0.npy"));
        ReferenceStack.Gradients gradients = new ReferenceStack(shape.direction() == Direction.BIDIRECTIONAL, cells)
                .backward(
                doubles(x.timeMajor()), x.steps(), x.batch(), lengths(golden),
                initialState ? doubles(Npy.read(golden.resolve("h0.npy")).data()) : null, null, null,
                doubles(x.timeMajor(Npy.read(golden.resolve("dy.npy")).data())),
                doubles(Npy.read(golden.resolve("dhn.npy")).data()), null);
        Map<String, double[]> ours = new LinkedHashMap<>();
        for (int n = 0; n < cells.length; n++) {
            int layer = n / shape.direction().count();
            int direction = n % shape.direction().count();
            ours.put("gru." + shape.tensorName("weight_ih", layer, direction), gradients.weightIh()[n]);
            ours.put("gru." + shape.tensorName("weight_hh", layer, direction), gradients.weightHh()[n]);
            ours.put("gru." + shape.tensorName("bias_ih", layer, direction), gradients.biasIh()[n]);
            ours.put("gru." + shape.tensorName("bias_hh", layer, direction), gradients.biasHh()[n]);
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
            StateDict stateDict = StateDict.inspect(file, null);
            assertEquals(new StateDict("gru.", new RnnShape(Cell.GRU, 5, 6, 3, Direction.BIDIRECTIONAL, 0, false),
                    true), stateDict);
            long elements = 0;
            for (String name : file.names()) {
                elements += file.tensor(name).toFloats().length;
            }
            assertEquals(elements, stateDict.parameterCount(), "every element of the file, as PyTorch counts them");
        }
    }

    /** The tensor {@code gru.name} of the file, or null if it has none (a model without biases). */
    private static float[] tensor(SafeTensors file, String name) {
        return file.names().contains("gru." + name) ? file.tensor("gru." + name).toFloats() : null;
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
