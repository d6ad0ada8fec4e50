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
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

import dev.vlstm.Backend;
import dev.vlstm.LstmParameters;
import dev.vlstm.LstmRunner;
import dev.vlstm.LstmStackParameters;
import dev.vlstm.LstmStackShape;
import dev.vlstm.LstmWeights;
import dev.vlstm.reference.ReferenceLstm;

/**
 * State_dicts of {@code nn.LSTM(I, H, proj_size=P)}: a one-layer unidirectional model inspects, loads (as parameters
 * and as packed weights that run like the reference, max |error| &le; 1e-5 as in ForwardVsReferenceTest) and saves
 * with an exact round trip; projected stacks, wrong shapes of weight_hh or weight_hr are refused naming them.
 */
class ProjectionPyTorchTest {

    private static final int I = 3;
    private static final int H = 7;
    private static final int P = 3;

    @TempDir
    Path directory;

    private static FloatTensor tensor(long seed, long... shape) {
        SplittableRandom random = new SplittableRandom(seed);
        int count = 1;
        for (long size : shape) {
            count *= (int) size;
        }
        float[] values = new float[count];
        for (int n = 0; n < count; n++) {
            values[n] = (float) (random.nextDouble() - 0.5);
        }
        return new FloatTensor(shape, values);
    }

    /** The tensors of nn.LSTM(I, H, proj_size=P) under {@code prefix}, in PyTorch's order. */
    private static Map<String, FloatTensor> stateDict(String prefix) {
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        tensors.put(prefix + "weight_ih_l0", tensor(1, 4 * H, I));
        tensors.put(prefix + "weight_hh_l0", tensor(2, 4 * H, P));
        tensors.put(prefix + "bias_ih_l0", tensor(3, 4 * H));
        tensors.put(prefix + "bias_hh_l0", tensor(4, 4 * H));
        tensors.put(prefix + "weight_hr_l0", tensor(5, P, H));
        return tensors;
    }

    private Path write(String name, Map<String, FloatTensor> tensors) throws IOException {
        Path path = directory.resolve(name);
        SafeTensors.write(path, tensors, Map.of("format", "pt"));
        return path;
    }

    @Test
    void aProjectedLayerLoadsAndRunsLikeTheReference() throws IOException {
        Map<String, FloatTensor> tensors = stateDict("lstm.");
        try (SafeTensors file = SafeTensors.open(write("projected.safetensors", tensors))) {
            PyTorchLstm.Config config = PyTorchLstm.inspect(file, null);
            assertEquals(new PyTorchLstm.Config("lstm.", I, H, 1, false, P, true), config);
            assertEquals(4 * H * (I + P) + 8 * H + P * H, config.parameterCount(), "as sum(p.numel()) in PyTorch");
            ReferenceLstm reference = ReferenceLstm.projected(I, H, P, tensors.get("lstm.weight_ih_l0").data(),
                    tensors.get("lstm.weight_hh_l0").data(), tensors.get("lstm.bias_ih_l0").data(),
                    tensors.get("lstm.bias_hh_l0").data(), tensors.get("lstm.weight_hr_l0").data());
            float[] x = tensor(9, 7 * 2 * I).data();
            float[] y = new float[7 * 2 * P];
            float[] cT = new float[2 * H];
            try (LstmWeights weights = PyTorchLstm.load(file, null, Backend.PREFERRED);
                 LstmRunner runner = new LstmRunner(weights, 2)) {
                assertEquals(P, weights.projectionSize());
                assertEquals(P, weights.outputSize());
                runner.forward(x, 7, 2, null, null, y, null, cT);
            }
            ReferenceLstm.Result expected = reference.forward(x, 7, 2, null, null);
            for (int n = 0; n < y.length; n++) {
                assertEquals(expected.y()[n], y[n], 1e-5);
            }
            for (int n = 0; n < cT.length; n++) {
                assertEquals(expected.cT()[n], cT[n], 1e-5);
            }
        }
    }

    @Test
    void savedProjectedParametersLoadBackExactly() throws IOException {
        Map<String, FloatTensor> tensors = stateDict("");
        Path path = directory.resolve("saved.safetensors");
        try (SafeTensors original = SafeTensors.open(write("original.safetensors", tensors));
             LstmParameters loaded = PyTorchLstm.loadParameters(original, null)) {
            assertEquals(P, loaded.projectionSize());
            assertArrayEquals(tensors.get("weight_hr_l0").data(), loaded.weightHr().toArray(ValueLayout.JAVA_FLOAT));
            PyTorchLstm.save(path, "rnn.", loaded, Map.of());
        }
        try (SafeTensors saved = SafeTensors.open(path)) {
            assertEquals(new PyTorchLstm.Config("rnn.", I, H, 1, false, P, true), PyTorchLstm.inspect(saved, null));
            for (Map.Entry<String, FloatTensor> entry : tensors.entrySet()) {
                SafeTensors.Tensor back = saved.tensor("rnn." + entry.getKey());
                assertArrayEquals(entry.getValue().shape(), back.shape(), entry.getKey());
                assertArrayEquals(entry.getValue().data(), back.toFloats(), entry.getKey());
            }
            assertEquals(5, saved.names().size());
        }
    }

    @Test
    void projectedStacksLoadAsStacksAndWrongShapesAreRefusedNamingThem() throws IOException {
        Map<String, FloatTensor> stacked = stateDict("");
        stacked.put("weight_ih_l1", tensor(6, 4 * H, P));
        stacked.put("weight_hh_l1", tensor(7, 4 * H, P));
        stacked.put("weight_hr_l1", tensor(8, P, H));
        stacked.put("bias_ih_l1", tensor(9, 4 * H));
        stacked.put("bias_hh_l1", tensor(10, 4 * H));
        try (SafeTensors file = SafeTensors.open(write("stacked.safetensors", stacked))) {
            fails(() -> PyTorchLstm.loadParameters(file, null).close(), "stacked.safetensors", "2 layer(s)",
                    "loadStackParameters or loadStack");
            try (LstmStackParameters parameters = PyTorchLstm.loadStackParameters(file, null)) {
                assertEquals(new LstmStackShape(I, H, 2, false, P), parameters.shape());
                assertArrayEquals(stacked.get("weight_hr_l1").data(),
                        parameters.layer(1, 0).weightHr().toArray(ValueLayout.JAVA_FLOAT));
            }
        }
        try (SafeTensors file = SafeTensors.open(write("single.safetensors", stateDict("")));
             LstmStackParameters parameters = PyTorchLstm.loadStackParameters(file, null)) {
            assertEquals(new LstmStackShape(I, H, 1, false, P), parameters.shape());
        }
        Map<String, FloatTensor> unprojectedHh = stateDict("");
        unprojectedHh.put("weight_hh_l0", tensor(2, 4 * H, H));
        try (SafeTensors file = SafeTensors.open(write("hh.safetensors", unprojectedHh))) {
            fails(() -> PyTorchLstm.loadParameters(file, null).close(),
                    "weight_hh_l0 has shape [28, 7], expected [28, 3] (hidden_size 7, proj_size 3)");
        }
        Map<String, FloatTensor> transposedHr = stateDict("");
        transposedHr.put("weight_hr_l0", tensor(5, H, P));
        try (SafeTensors file = SafeTensors.open(write("hr.safetensors", transposedHr))) {
            fails(() -> PyTorchLstm.loadParameters(file, null).close(),
                    "weight_hr_l0 has shape [7, 3], not [proj_size, hidden_size] with proj_size < hidden_size 7");
        }
    }

    private static void fails(Executable call, String... fragments) {
        IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class, call);
        for (String fragment : fragments) {
            assertTrue(thrown.getMessage().contains(fragment),
                    "'" + thrown.getMessage() + "' should contain '" + fragment + "'");
        }
    }
}
