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
import dev.vlstm.LstmParameters;
import dev.vlstm.LstmRunner;
import dev.vlstm.LstmWeights;
import dev.vlstm.reference.ReferenceLstm;

/** PyTorch nn.LSTM state_dicts in safetensors: inference of the configuration, loading, saving, refusals. */
class PyTorchLstmTest {

    private static final int I = 3;
    private static final int H = 5;

    @TempDir
    Path directory;

    private static float[] random(int count, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        float[] values = new float[count];
        for (int n = 0; n < count; n++) {
            values[n] = (float) (random.nextDouble() - 0.5);
        }
        return values;
    }

    /** The tensors of nn.LSTM(I, H) under {@code prefix}, with extra layers or features by name suffix. */
    private static Map<String, FloatTensor> stateDict(String prefix, String... extraNames) {
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        tensors.put(prefix + "weight_ih_l0", new FloatTensor(new long[]{4 * H, I}, random(4 * H * I, 1)));
        tensors.put(prefix + "weight_hh_l0", new FloatTensor(new long[]{4 * H, H}, random(4 * H * H, 2)));
        tensors.put(prefix + "bias_ih_l0", new FloatTensor(new long[]{4 * H}, random(4 * H, 3)));
        tensors.put(prefix + "bias_hh_l0", new FloatTensor(new long[]{4 * H}, random(4 * H, 4)));
        for (String extra : extraNames) {
            tensors.put(prefix + extra, new FloatTensor(new long[]{4 * H, H}, random(4 * H * H, 5)));
        }
        return tensors;
    }

    private Path write(String name, Map<String, FloatTensor> tensors) throws IOException {
        Path path = directory.resolve(name);
        SafeTensors.write(path, tensors, Map.of("format", "pt"));
        return path;
    }

    @Test
    void loadsAStateDictAndRunsItLikeTheReference() throws IOException {
        Map<String, FloatTensor> tensors = stateDict("lstm.");
        try (SafeTensors file = SafeTensors.open(write("model.safetensors", tensors))) {
            PyTorchLstm.Config config = PyTorchLstm.inspect(file, null);
            assertEquals(new PyTorchLstm.Config("lstm.", I, H, 1, false, 0, true), config);
            assertEquals(4 * H * (I + H) + 8 * H, config.parameterCount(), "as sum(p.numel()) in PyTorch");
            ReferenceLstm reference = new ReferenceLstm(I, H, tensors.get("lstm.weight_ih_l0").data(),
                    tensors.get("lstm.weight_hh_l0").data(), tensors.get("lstm.bias_ih_l0").data(),
                    tensors.get("lstm.bias_hh_l0").data());
            float[] x = random(7 * 2 * I, 9);
            float[] y = new float[7 * 2 * H];
            try (LstmWeights weights = PyTorchLstm.load(file, null, Backend.PREFERRED);
                 LstmRunner runner = new LstmRunner(weights, 2)) {
                runner.forward(x, 7, 2, null, null, y, null, null);
            }
            double[] expected = reference.forward(x, 7, 2, null, null).y();
            for (int n = 0; n < y.length; n++) {
                assertEquals(expected[n], y[n], 1e-5);
            }
        }
    }

    @Test
    void savedParametersLoadBackExactlyUnderTheirPrefix() throws IOException {
        Path path = directory.resolve("trained.safetensors");
        try (LstmParameters trained = LstmParameters.initialize(I, H, 77)) {
            PyTorchLstm.save(path, "encoder.rnn.", trained, Map.of("step", "1000"));
            try (SafeTensors file = SafeTensors.open(path);
                 LstmParameters loaded = PyTorchLstm.loadParameters(file, "encoder.rnn.")) {
                assertEquals(Map.of("step", "1000"), file.metadata());
                assertArrayEquals(trained.weightIh().toArray(ValueLayout.JAVA_FLOAT), loaded.weightIh().toArray(ValueLayout.JAVA_FLOAT));
                assertArrayEquals(trained.weightHh().toArray(ValueLayout.JAVA_FLOAT), loaded.weightHh().toArray(ValueLayout.JAVA_FLOAT));
                assertArrayEquals(trained.biasIh().toArray(ValueLayout.JAVA_FLOAT), loaded.biasIh().toArray(ValueLayout.JAVA_FLOAT));
                assertArrayEquals(trained.biasHh().toArray(ValueLayout.JAVA_FLOAT), loaded.biasHh().toArray(ValueLayout.JAVA_FLOAT));
            }
        }
    }

    @Test
    void biasFreeModelsLoadWithZeroBiases() throws IOException {
        Map<String, FloatTensor> tensors = stateDict("");
        tensors.remove("bias_ih_l0");
        tensors.remove("bias_hh_l0");
        try (SafeTensors file = SafeTensors.open(write("nobias.safetensors", tensors));
             LstmParameters loaded = PyTorchLstm.loadParameters(file, null)) {
            assertEquals(false, PyTorchLstm.inspect(file, null).bias());
            assertArrayEquals(new float[4 * H], loaded.biasIh().toArray(ValueLayout.JAVA_FLOAT));
        }
    }

    private void refused(String name, Map<String, FloatTensor> tensors, String prefix, String fragment) throws IOException {
        try (SafeTensors file = SafeTensors.open(write(name, tensors))) {
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                    () -> PyTorchLstm.loadParameters(file, prefix).close());
            assertTrue(thrown.getMessage().contains(name) && thrown.getMessage().contains(fragment),
                    "'" + thrown.getMessage() + "' should name the file and contain '" + fragment + "'");
        }
    }

    @Test
    void modelsItCannotRunYetOrThatDoNotFitAreRefusedClearly() throws IOException {
        refused("stacked.safetensors", stateDict("lstm.", "weight_ih_l1"), null, "2 layer(s)");
        refused("bidirectional.safetensors", stateDict("lstm.", "weight_ih_l0_reverse"), null, "two directions");
        Map<String, FloatTensor> projected = stateDict("lstm.", "weight_ih_l1");
        projected.put("lstm.weight_hr_l0", new FloatTensor(new long[]{2, H}, random(2 * H, 6)));
        refused("projected.safetensors", projected, null, "2 layer(s)");
        Map<String, FloatTensor> two = stateDict("a.");
        two.putAll(stateDict("b."));
        refused("two.safetensors", two, null, "several LSTMs");
        refused("none.safetensors", Map.of("w", new FloatTensor(new long[]{1}, new float[1])), null, "no LSTM weights");
        refused("prefix.safetensors", stateDict("lstm."), "rnn.", "no tensor 'rnn.weight_ih_l0'");
        Map<String, FloatTensor> wrong = stateDict("");
        wrong.put("weight_hh_l0", new FloatTensor(new long[]{4 * H, H + 1}, random(4 * H * (H + 1), 7)));
        refused("shape.safetensors", wrong, null, "weight_hh_l0 has shape [20, 6], expected [20, 5]");
        Map<String, FloatTensor> odd = stateDict("");
        odd.put("weight_ih_l0", new FloatTensor(new long[]{7, I}, random(7 * I, 8)));
        refused("odd.safetensors", odd, null, "not [4*hidden_size, input_size]");
        Map<String, FloatTensor> nan = stateDict("");
        nan.get("weight_hh_l0").data()[12] = Float.NaN;
        refused("nan.safetensors", nan, null, "weight_hh_l0 holds NaN at flat index 12 ([2][2])");
        Map<String, FloatTensor> missing = stateDict("");
        missing.remove("weight_hh_l0");
        refused("missing.safetensors", missing, null, "no tensor 'weight_hh_l0'");
    }
}
