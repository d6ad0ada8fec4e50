package dev.vlstm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.vlstm.Backend;
import dev.vlstm.LstmStackParameters;
import dev.vlstm.LstmStackRunner;
import dev.vlstm.LstmStackShape;
import dev.vlstm.LstmStackWeights;
import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/** Whole nn.LSTM state_dicts (several layers, two directions, no biases) in safetensors: load, save, refusals. */
class PyTorchStackTest {

    private static final int I = 3;
    private static final int H = 5;

    @TempDir
    Path directory;

    /** The tensors of {@code nn.LSTM(I, H, num_layers=layers, bidirectional=..., bias=...)} under {@code prefix}. */
    private static Map<String, FloatTensor> stateDict(String prefix, int layers, boolean bidirectional, boolean bias) {
        SplittableRandom random = new SplittableRandom(layers * 10L + (bidirectional ? 1 : 0));
        LstmStackShape shape = new LstmStackShape(I, H, layers, bidirectional);
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        for (int layer = 0; layer < layers; layer++) {
            for (int direction = 0; direction < shape.directions(); direction++) {
                int input = shape.layerInputSize(layer);
                tensors.put(prefix + shape.pyTorchName("weight_ih", layer, direction), tensor(random, 4 * H, input));
                tensors.put(prefix + shape.pyTorchName("weight_hh", layer, direction), tensor(random, 4 * H, H));
                if (bias) {
                    tensors.put(prefix + shape.pyTorchName("bias_ih", layer, direction), tensor(random, 4 * H));
                    tensors.put(prefix + shape.pyTorchName("bias_hh", layer, direction), tensor(random, 4 * H));
                }
            }
        }
        return tensors;
    }

    private static FloatTensor tensor(SplittableRandom random, long... shape) {
        long count = 1;
        for (long dimension : shape) {
            count *= dimension;
        }
        float[] values = new float[(int) count];
        for (int n = 0; n < values.length; n++) {
            values[n] = (float) (random.nextDouble() - 0.5);
        }
        return new FloatTensor(shape, values);
    }

    private Path write(String name, Map<String, FloatTensor> tensors) throws IOException {
        Path path = directory.resolve(name);
        SafeTensors.write(path, tensors, Map.of("format", "pt"));
        return path;
    }

    @Test
    void aStackedBidirectionalModelLoadsAndRunsLikeTheReference() throws IOException {
        Map<String, FloatTensor> tensors = stateDict("encoder.lstm.", 2, true, true);
        try (SafeTensors file = SafeTensors.open(write("model.safetensors", tensors))) {
            PyTorchLstm.Config config = PyTorchLstm.inspect(file, null);
            assertEquals(new PyTorchLstm.Config("encoder.lstm.", I, H, 2, true, 0, true), config);
            long parameters = tensors.values().stream().mapToLong(tensor -> tensor.data().length).sum();
            assertEquals(parameters, config.parameterCount(), "as sum(p.numel()) in PyTorch");
            LstmStackShape shape = new LstmStackShape(I, H, 2, true);
            ReferenceLstm[] cells = new ReferenceLstm[4];
            for (int n = 0; n < 4; n++) {
                int layer = n / 2;
                int direction = n % 2;
                cells[n] = new ReferenceLstm(shape.layerInputSize(layer), H,
                        data(tensors, "encoder.lstm." + shape.pyTorchName("weight_ih", layer, direction)),
                        data(tensors, "encoder.lstm." + shape.pyTorchName("weight_hh", layer, direction)),
                        data(tensors, "encoder.lstm." + shape.pyTorchName("bias_ih", layer, direction)),
                        data(tensors, "encoder.lstm." + shape.pyTorchName("bias_hh", layer, direction)));
            }
            float[] x = tensor(new SplittableRandom(9), 7 * 2 * I).data();
            float[] y = new float[7 * 2 * 2 * H];
            float[] hT = new float[4 * 2 * H];
            try (LstmStackWeights weights = PyTorchLstm.loadStack(file, null, Backend.PREFERRED);
                 LstmStackRunner runner = new LstmStackRunner(weights, 2, 7)) {
                assertEquals(shape, weights.shape());
                runner.forward(x, 7, 2, null, null, y, hT, null);
            }
            ReferenceStack.Result expected = new ReferenceStack(true, cells).forward(x, 7, 2, null, null);
            for (int n = 0; n < y.length; n++) {
                assertEquals(expected.y()[n], y[n], 1e-5, "y[" + n + "]");
            }
            for (int n = 0; n < hT.length; n++) {
                assertEquals(expected.hT()[n], hT[n], 1e-5, "hT[" + n + "]");
            }
        }
    }

    private static float[] data(Map<String, FloatTensor> tensors, String name) {
        return tensors.get(name).data();
    }

    @Test
    void savedStacksLoadBackExactlyUnderPyTorchsNames() throws IOException {
        Path path = directory.resolve("trained.safetensors");
        LstmStackShape shape = new LstmStackShape(I, H, 3, true);
        try (LstmStackParameters trained = LstmStackParameters.initialize(shape, 77)) {
            PyTorchLstm.save(path, "rnn.", trained, Map.of("epoch", "3"));
            try (SafeTensors file = SafeTensors.open(path);
                 LstmStackParameters loaded = PyTorchLstm.loadStackParameters(file, "rnn.")) {
                assertEquals(24, file.names().size());
                assertTrue(file.names().contains("rnn.bias_hh_l2_reverse"), file.names().toString());
                assertEquals(shape, loaded.shape());
                for (int layer = 0; layer < 3; layer++) {
                    for (int direction = 0; direction < 2; direction++) {
                        assertArrayEquals(floats(trained.layer(layer, direction).weightIh()),
                                floats(loaded.layer(layer, direction).weightIh()));
                        assertArrayEquals(floats(trained.layer(layer, direction).weightHh()),
                                floats(loaded.layer(layer, direction).weightHh()));
                        assertArrayEquals(floats(trained.layer(layer, direction).biasIh()),
                                floats(loaded.layer(layer, direction).biasIh()));
                        assertArrayEquals(floats(trained.layer(layer, direction).biasHh()),
                                floats(loaded.layer(layer, direction).biasHh()));
                    }
                }
            }
        }
    }

    private static float[] floats(java.lang.foreign.MemorySegment segment) {
        return segment.toArray(ValueLayout.JAVA_FLOAT);
    }

    @Test
    void biasFreeStacksLoadWithZeroBiases() throws IOException {
        try (SafeTensors file = SafeTensors.open(write("nobias.safetensors", stateDict("", 3, false, false)));
             LstmStackParameters loaded = PyTorchLstm.loadStackParameters(file, null)) {
            assertEquals(new LstmStackShape(I, H, 3, false), loaded.shape());
            assertArrayEquals(new float[4 * H], floats(loaded.layer(2, 0).biasHh()));
        }
    }

    private void refused(String name, Map<String, FloatTensor> tensors, String fragment) throws IOException {
        try (SafeTensors file = SafeTensors.open(write(name, tensors))) {
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                    () -> PyTorchLstm.loadStackParameters(file, null).close());
            assertTrue(thrown.getMessage().contains(name) && thrown.getMessage().contains(fragment),
                    "'" + thrown.getMessage() + "' should name the file and contain '" + fragment + "'");
        }
    }

    @Test
    void modelsThatDoNotHangTogetherAreRefusedNamingTheTensor() throws IOException {
        Map<String, FloatTensor> noReverse = stateDict("lstm.", 2, true, true);
        noReverse.remove("lstm.weight_ih_l1_reverse");
        refused("noreverse.safetensors", noReverse, "no tensor 'lstm.weight_ih_l1_reverse'");

        Map<String, FloatTensor> narrow = stateDict("lstm.", 2, true, true);
        narrow.put("lstm.weight_ih_l1", tensor(new SplittableRandom(1), 4 * H, H));
        refused("narrow.safetensors", narrow, "lstm.weight_ih_l1 has shape [20, 5], expected [20, 10] (hidden_size 5; "
                + "layer 1 reads 10 features, 2 direction(s) × hidden_size)");

        Map<String, FloatTensor> gap = stateDict("lstm.", 2, false, true);
        gap.put("lstm.weight_ih_l3", tensor(new SplittableRandom(2), 4 * H, H));
        refused("gap.safetensors", gap, "unexpected tensor 'lstm.weight_ih_l3' in a model of 2 layer(s)");

        Map<String, FloatTensor> halfReverse = stateDict("lstm.", 1, false, true);
        halfReverse.put("lstm.weight_hh_l0_reverse", tensor(new SplittableRandom(3), 4 * H, H));
        refused("halfreverse.safetensors", halfReverse, "unexpected tensor 'lstm.weight_hh_l0_reverse'");

        Map<String, FloatTensor> missingBias = stateDict("lstm.", 2, false, true);
        missingBias.remove("lstm.bias_ih_l1");
        refused("missingbias.safetensors", missingBias, "no tensor 'lstm.bias_ih_l1'");

        Map<String, FloatTensor> strayBias = stateDict("lstm.", 2, false, false);
        strayBias.put("lstm.bias_hh_l1", tensor(new SplittableRandom(4), 4 * H));
        refused("straybias.safetensors", strayBias, "unexpected tensor 'lstm.bias_hh_l1'");

        Map<String, FloatTensor> projected = stateDict("lstm.", 2, true, true);
        projected.put("lstm.weight_hr_l0", tensor(new SplittableRandom(5), 2, H));
        refused("projected.safetensors", projected,
                "lstm.weight_hh_l0 has shape [20, 5], expected [20, 2] (hidden_size 5, proj_size 2)");
    }

    @Test
    void theOneLayerLoaderPointsStacksToTheStackLoader() throws IOException {
        try (SafeTensors file = SafeTensors.open(write("stack.safetensors", stateDict("", 2, true, true)))) {
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                    () -> PyTorchLstm.loadParameters(file, null).close());
            assertTrue(thrown.getMessage().contains("2 layer(s), two directions")
                    && thrown.getMessage().contains("loadStack"), thrown.getMessage());
        }
    }
}
