package dev.vlstm;

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
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.SafeTensors;
import dev.vlstm.io.StateDict;
import dev.vlstm.reference.ReferenceStack;

/**
 * {@link StateDict} on state_dicts this test writes from a {@link TestRnn}'s arrays, under PyTorch's names and shapes
 * (and vlstm's {@code peephole_l{k}}): each of the cell, layers, directions, projection, peepholes, prefix and missing
 * biases is told from the tensors; the values read are the arrays written; {@link Vlstm#load} runs them to the
 * double-precision reference within {@link ForwardVsReferenceTest#TOLERANCE} and to the bits of the model packed from
 * the same arrays; {@link Parameters#save} writes what {@link Parameters#load} reads back exactly; and every misfit
 * is refused naming the file and the tensor.
 */
class StateDictTest {

    private static final int I = 3;
    private static final int H = 5;
    private static final int STEPS = 6;
    private static final int BATCH = 3;

    @TempDir
    Path directory;

    static Stream<Arguments> models() {
        RnnShape lstm = RnnShape.of(Cell.LSTM, I, H);
        RnnShape gru = RnnShape.of(Cell.GRU, I, H);
        return Stream.of(
                Arguments.of("LSTM", lstm, "", true),
                Arguments.of("GRU", gru, "gru.", true),
                Arguments.of("LSTM 2 layers", lstm.withLayers(2), "lstm.", true),
                Arguments.of("GRU 2 layers", gru.withLayers(2), "", true),
                Arguments.of("LSTM bidirectional", lstm.withDirection(Direction.BIDIRECTIONAL), "", true),
                Arguments.of("GRU 2 layers bidirectional",
                        gru.withLayers(2).withDirection(Direction.BIDIRECTIONAL), "", true),
                Arguments.of("LSTM projection", lstm.withProjection(2), "", true),
                Arguments.of("LSTM projection 2 layers bidirectional",
                        lstm.withLayers(2).withDirection(Direction.BIDIRECTIONAL).withProjection(3), "lstm.", true),
                Arguments.of("LSTM peepholes", lstm.withPeepholes(true), "", true),
                Arguments.of("LSTM peepholes 2 layers bidirectional projection",
                        lstm.withLayers(2).withDirection(Direction.BIDIRECTIONAL).withProjection(2)
                                .withPeepholes(true), "", true),
                Arguments.of("LSTM under a prefix", lstm, "encoder.rnn.", true),
                Arguments.of("LSTM without biases", lstm.withLayers(2), "", false),
                Arguments.of("GRU without biases", gru.withDirection(Direction.BIDIRECTIONAL), "gru.", false));
    }

    /** The tensors of {@code rnn} under PyTorch's names, shaped by this test (not by the code under test). */
    private static Map<String, FloatTensor> tensors(TestRnn rnn, String prefix) {
        RnnShape shape = rnn.shape;
        long gateRows = (long) shape.gates() * shape.hiddenSize();
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        int flat = 0;
        for (int layer = 0; layer < shape.layers(); layer++) {
            for (int direction = 0; direction < shape.direction().count(); direction++) {
                put(tensors, prefix + shape.tensorName("weight_ih", layer, direction), rnn.flatWeights[flat++],
                        gateRows, layer == 0 ? I : shape.outputSize());
                put(tensors, prefix + shape.tensorName("weight_hh", layer, direction), rnn.flatWeights[flat++],
                        gateRows, shape.hiddenStateSize());
                put(tensors, prefix + shape.tensorName("bias_ih", layer, direction), rnn.flatWeights[flat++],
                        gateRows);
                put(tensors, prefix + shape.tensorName("bias_hh", layer, direction), rnn.flatWeights[flat++],
                        gateRows);
                if (shape.projectionSize() > 0) {
                    put(tensors, prefix + shape.tensorName("weight_hr", layer, direction), rnn.flatWeights[flat++],
                            shape.projectionSize(), H);
                }
                if (shape.peepholes()) {
                    put(tensors, prefix + shape.tensorName("peephole", layer, direction), rnn.flatWeights[flat++],
                            3L * H);
                }
            }
        }
        return tensors;
    }

    /** Puts {@code values} as a tensor of {@code dimensions}; a null array (no bias) puts nothing. */
    private static void put(Map<String, FloatTensor> tensors, String name, float[] values, long... dimensions) {
        if (values != null) {
            tensors.put(name, new FloatTensor(dimensions, values));
        }
    }

    private Path write(String name, Map<String, FloatTensor> tensors) throws IOException {
        Path path = directory.resolve(name);
        SafeTensors.write(path, tensors, Map.of("format", "pt"));
        return path;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void theConfigurationIsToldFromTheTensorsAndTheValuesReadAreThoseWritten(String name, RnnShape shape,
                                                                              String prefix, boolean bias)
            throws IOException {
        try (TestRnn rnn = new TestRnn(name.hashCode(), shape, Options.DEFAULT, bias, 1f)) {
            Map<String, FloatTensor> tensors = tensors(rnn, prefix);
            Path path = write("model.safetensors", tensors);
            try (SafeTensors file = SafeTensors.open(path)) {
                StateDict stateDict = StateDict.inspect(file, null);
                assertEquals(new StateDict(prefix, shape, bias), stateDict);
                assertEquals(stateDict, StateDict.inspect(file, prefix));
                assertEquals(tensors.values().stream().mapToLong(tensor -> tensor.data().length).sum(),
                        stateDict.parameterCount(), "every element of every tensor written");
                try (Parameters read = stateDict.read(file)) {
                    assertEquals(shape, read.shape());
                    for (String local : read.names()) {
                        FloatTensor written = tensors.get(prefix + local);
                        float[] values = read.tensor(local).toArray(ValueLayout.JAVA_FLOAT);
                        assertArrayEquals(written == null ? new float[values.length] : written.data(), values,
                                local + (written == null ? ": zeros for a model without biases" : ""));
                    }
                    assertEquals(tensors.size(), read.names().stream()
                            .filter(local -> tensors.containsKey(prefix + local)).count());
                }
            }
            assertEquals(shape, Vlstm.inspect(path, null));
            assertLoadedModelRunsLikeTheReference(rnn, path);
        }
    }

    /** Vlstm.load of the file: the bits of the model packed from the arrays, and the reference within tolerance. */
    private static void assertLoadedModelRunsLikeTheReference(TestRnn rnn, Path path) throws IOException {
        RnnShape shape = rnn.shape;
        SplittableRandom random = new SplittableRandom(7);
        float[] x = TestRnn.uniform(random, STEPS * BATCH * I, 1f);
        float[] h0 = TestRnn.uniform(random, shape.stateCount() * BATCH * shape.hiddenStateSize(), 1f);
        float[] c0 = shape.cell().hasCellState()
                ? TestRnn.uniform(random, shape.stateCount() * BATCH * H, 1f) : null;
        float[][] loaded = outputs(shape);
        float[][] packed = outputs(shape);
        try (Model model = Vlstm.load(path, Options.DEFAULT.withMaxBatch(BATCH).withMaxSteps(STEPS));
             Runner runner = model.runner();
             Runner packedRunner = rnn.runner(BATCH, STEPS)) {
            runner.forward(x, STEPS, BATCH, h0, c0, loaded[0], loaded[1], loaded[2]);
            packedRunner.forward(x, STEPS, BATCH, h0, c0, packed[0], packed[1], packed[2]);
        }
        for (int n = 0; n < loaded.length; n++) {
            assertArrayEquals(packed[n], loaded[n], "output " + n + " as packed from the same arrays");
        }
        ReferenceStack.Result expected = rnn.reference.forward(x, STEPS, BATCH, h0, c0);
        assertTrue(TestRnn.maxAbsError(loaded[0], expected.y()) <= ForwardVsReferenceTest.TOLERANCE, "y");
        assertTrue(TestRnn.maxAbsError(loaded[1], expected.hT()) <= ForwardVsReferenceTest.TOLERANCE, "hT");
    }

    private static float[][] outputs(RnnShape shape) {
        return new float[][] {new float[STEPS * BATCH * shape.outputSize()],
            new float[shape.stateCount() * BATCH * shape.hiddenStateSize()],
            shape.cell().hasCellState() ? new float[shape.stateCount() * BATCH * H] : null};
    }

    /** Parameters.save writes PyTorch's names and shapes (and peepholes) that Parameters.load reads back exactly. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void savedParametersLoadBackExactly(String name, RnnShape shape, String prefix) throws IOException {
        Path path = directory.resolve("saved.safetensors");
        try (TestRnn rnn = new TestRnn(name.hashCode() + 1, shape, Options.DEFAULT, true, 1f)) {
            rnn.parameters.save(path, prefix, Map.of("epoch", "3"));
            Map<String, FloatTensor> written = tensors(rnn, prefix);
            try (SafeTensors file = SafeTensors.open(path)) {
                assertEquals(Map.of("epoch", "3"), file.metadata());
                assertEquals(written.keySet(), file.names());
                for (Map.Entry<String, FloatTensor> tensor : written.entrySet()) {
                    assertArrayEquals(tensor.getValue().shape(), file.tensor(tensor.getKey()).shape(),
                            tensor.getKey());
                }
            }
            try (Parameters loaded = Parameters.load(path, null)) {
                assertEquals(shape, loaded.shape());
                assertEquals(rnn.parameters.names(), loaded.names());
                for (String local : loaded.names()) {
                    assertArrayEquals(written.get(prefix + local).data(),
                            loaded.tensor(local).toArray(ValueLayout.JAVA_FLOAT), local);
                }
            }
        }
    }

    /** The tensors of a seeded model of {@code shape} with biases, under {@code prefix}. */
    private static Map<String, FloatTensor> stateDict(String prefix, RnnShape shape) {
        try (TestRnn rnn = new TestRnn(11, shape, Options.DEFAULT)) {
            return tensors(rnn, prefix);
        }
    }

    private void refused(Map<String, FloatTensor> tensors, String prefix, String... fragments) throws IOException {
        Path path = write("misfit.safetensors", tensors);
        try (SafeTensors file = SafeTensors.open(path)) {
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                    () -> StateDict.inspect(file, prefix).read(file).close());
            assertTrue(thrown.getMessage().startsWith(path + ": "), thrown.getMessage());
            for (String fragment : fragments) {
                assertTrue(thrown.getMessage().contains(fragment),
                        "'" + thrown.getMessage() + "' should contain '" + fragment + "'");
            }
        }
    }

    @Test
    void whatCannotBeOneModelIsRefusedNamingTheFileAndTensor() throws IOException {
        RnnShape lstm = RnnShape.of(Cell.LSTM, I, H);
        RnnShape gru = RnnShape.of(Cell.GRU, I, H);
        refused(Map.of("dense.weight", new FloatTensor(new long[] {1}, new float[1])), null,
                "no LSTM or GRU weights (no name ends with weight_ih_l0; the file has [dense.weight])");
        Map<String, FloatTensor> two = new LinkedHashMap<>(stateDict("a.", lstm));
        two.putAll(stateDict("b.", gru));
        refused(two, null, "several recurrent models", "choose one with a prefix");
        refused(stateDict("lstm.", lstm), "rnn.", "no tensor 'rnn.weight_ih_l0'");

        Map<String, FloatTensor> missing = stateDict("", lstm.withLayers(2).withDirection(Direction.BIDIRECTIONAL));
        missing.remove("weight_hh_l1_reverse");
        refused(missing, null, "no tensor 'weight_hh_l1_reverse'");
        Map<String, FloatTensor> missingBias = stateDict("lstm.", lstm.withLayers(2));
        missingBias.remove("lstm.bias_ih_l1");
        refused(missingBias, null, "no tensor 'lstm.bias_ih_l1'");
        Map<String, FloatTensor> missingPeephole = stateDict("", lstm.withLayers(2).withPeepholes(true));
        missingPeephole.remove("peephole_l1");
        refused(missingPeephole, null, "no tensor 'peephole_l1'");
    }

    @Test
    void aCellThatIsNeitherOrMixedIsRefused() throws IOException {
        RnnShape lstm = RnnShape.of(Cell.LSTM, I, H);
        Map<String, FloatTensor> odd = stateDict("", lstm);
        odd.put("weight_ih_l0", new FloatTensor(new long[] {7, I}, new float[7 * I]));
        refused(odd, null, "weight_ih_l0 has shape [7, 3], not [4*hidden_size, input_size] (LSTM) or"
                + " [3*hidden_size, input_size] (GRU) with hidden_size 5, the columns of weight_hh_l0 [20, 5]");
        Map<String, FloatTensor> mixed = stateDict("", lstm.withLayers(2));
        mixed.put("weight_ih_l1", new FloatTensor(new long[] {3 * H, H}, new float[3 * H * H]));
        refused(mixed, null, "weight_ih_l1 has shape [15, 5], expected [20, 5] (LSTM hidden_size 5; layer 1 reads 5"
                + " features, 1 direction(s) × hidden_size)");
        Map<String, FloatTensor> gruHh = stateDict("", RnnShape.of(Cell.GRU, I, H));
        gruHh.put("weight_hh_l0", new FloatTensor(new long[] {4 * H, H}, new float[4 * H * H]));
        refused(gruHh, null, "weight_hh_l0 has shape [20, 5], expected [15, 5] (GRU hidden_size 5)");
        Map<String, FloatTensor> projectedGru = stateDict("", RnnShape.of(Cell.GRU, I, H));
        projectedGru.put("weight_hr_l0", new FloatTensor(new long[] {2, H}, new float[2 * H]));
        refused(projectedGru, null, "a GRU has no projection (projectionSize 2)");
        Map<String, FloatTensor> peepholeGru = stateDict("", RnnShape.of(Cell.GRU, I, H));
        peepholeGru.put("peephole_l0", new FloatTensor(new long[] {3 * H}, new float[3 * H]));
        refused(peepholeGru, null, "a GRU has no peephole connections");
    }

    @Test
    void tensorsThatDoNotFitTheConfigurationAreRefusedNamingThem() throws IOException {
        RnnShape lstm = RnnShape.of(Cell.LSTM, I, H);
        Map<String, FloatTensor> wrong = stateDict("", lstm);
        wrong.put("weight_hh_l0", new FloatTensor(new long[] {4 * H, H + 1}, new float[4 * H * (H + 1)]));
        refused(wrong, null, "weight_ih_l0 has shape [20, 3], not [4*hidden_size, input_size] (LSTM) or"
                + " [3*hidden_size, input_size] (GRU) with hidden_size 6, the columns of weight_hh_l0 [20, 6]");
        Map<String, FloatTensor> wrongRows = stateDict("", lstm);
        wrongRows.put("weight_hh_l0", new FloatTensor(new long[] {4 * H + 1, H}, new float[(4 * H + 1) * H]));
        refused(wrongRows, null, "weight_hh_l0 has shape [21, 5], expected [20, 5]");
        Map<String, FloatTensor> narrow = stateDict("lstm.", lstm.withLayers(2).withDirection(Direction.BIDIRECTIONAL));
        narrow.put("lstm.weight_ih_l1", new FloatTensor(new long[] {4 * H, H}, new float[4 * H * H]));
        refused(narrow, null, "lstm.weight_ih_l1 has shape [20, 5], expected [20, 10] (LSTM hidden_size 5; layer 1"
                + " reads 10 features, 2 direction(s) × hidden_size)");
        Map<String, FloatTensor> unprojectedHh = stateDict("", lstm.withProjection(3));
        unprojectedHh.put("weight_hh_l0", new FloatTensor(new long[] {4 * H, H}, new float[4 * H * H]));
        refused(unprojectedHh, null, "weight_hh_l0 has shape [20, 5], expected [20, 3] (LSTM hidden_size 5,"
                + " proj_size 3)");
        Map<String, FloatTensor> transposedHr = stateDict("", lstm.withProjection(3));
        transposedHr.put("weight_hr_l0", new FloatTensor(new long[] {H, 3}, new float[3 * H]));
        refused(transposedHr, null, "weight_ih_l0 has shape [20, 3], not [4*hidden_size, input_size] (LSTM)");
        Map<String, FloatTensor> wideHr = stateDict("", lstm.withProjection(3));
        wideHr.put("weight_hr_l0", new FloatTensor(new long[] {H, H}, new float[H * H]));
        refused(wideHr, null, "weight_hr_l0 has shape [5, 5], not [proj_size, hidden_size] with proj_size <"
                + " hidden_size 5");
        Map<String, FloatTensor> peephole = stateDict("", lstm.withPeepholes(true));
        peephole.put("peephole_l0", new FloatTensor(new long[] {4 * H}, new float[4 * H]));
        refused(peephole, null, "peephole_l0 has shape [20], expected [15] (LSTM hidden_size 5: p_i, p_f, p_o)");
        Map<String, FloatTensor> nan = stateDict("", lstm);
        float[] values = nan.get("weight_hh_l0").data().clone();
        values[12] = Float.NaN;
        nan.put("weight_hh_l0", new FloatTensor(new long[] {4 * H, H}, values));
        refused(nan, null, "weight_hh_l0 holds NaN at flat index 12 ([2][2])");
        Map<String, FloatTensor> infinite = stateDict("", RnnShape.of(Cell.GRU, I, H));
        float[] bias = infinite.get("bias_hh_l0").data().clone();
        bias[4] = Float.NEGATIVE_INFINITY;
        infinite.put("bias_hh_l0", new FloatTensor(new long[] {3 * H}, bias));
        refused(infinite, null, "bias_hh_l0 holds -Infinity at flat index 4");
    }

    @Test
    void aRecurrentTensorOutsideTheConfigurationIsRefused() throws IOException {
        RnnShape lstm = RnnShape.of(Cell.LSTM, I, H);
        Map<String, FloatTensor> gap = stateDict("lstm.", lstm.withLayers(2));
        gap.put("lstm.weight_ih_l3", new FloatTensor(new long[] {4 * H, H}, new float[4 * H * H]));
        refused(gap, null, "unexpected tensor 'lstm.weight_ih_l3' in an LSTM of 2 layer(s)");
        Map<String, FloatTensor> halfReverse = stateDict("", lstm);
        halfReverse.put("weight_hh_l0_reverse", new FloatTensor(new long[] {4 * H, H}, new float[4 * H * H]));
        refused(halfReverse, null, "unexpected tensor 'weight_hh_l0_reverse' in an LSTM of 1 layer(s)");
        Map<String, FloatTensor> strayBias = stateDict("", lstm.withLayers(2));
        strayBias.remove("bias_ih_l0");
        refused(strayBias, null, "unexpected tensor '", "' in an LSTM of 2 layer(s), no biases");
        Map<String, FloatTensor> strayPeephole = stateDict("", lstm.withLayers(2));
        strayPeephole.put("peephole_l1", new FloatTensor(new long[] {3 * H}, new float[3 * H]));
        refused(strayPeephole, null, "unexpected tensor 'peephole_l1' in an LSTM of 2 layer(s)");
        Map<String, FloatTensor> strayGru = stateDict("gru.", RnnShape.of(Cell.GRU, I, H).withLayers(2)
                .withDirection(Direction.BIDIRECTIONAL));
        strayGru.put("gru.weight_hh_l2", new FloatTensor(new long[] {3 * H, H}, new float[3 * H * H]));
        refused(strayGru, null, "unexpected tensor 'gru.weight_hh_l2' in a GRU of 2 layer(s), two directions");
    }

    /** What {@link Parameters#load} refuses that {@link Vlstm#load} runs: a model without biases. */
    @Test
    void parametersRefuseAModelWithoutBiases() throws IOException {
        Map<String, FloatTensor> tensors = stateDict("", RnnShape.of(Cell.LSTM, I, H));
        tensors.remove("bias_ih_l0");
        tensors.remove("bias_hh_l0");
        Path path = write("nobias.safetensors", tensors);
        IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                () -> Parameters.load(path, null).close());
        assertEquals(path + ": a model without biases (bias=False) cannot be loaded as Parameters yet; Vlstm.load"
                + " runs it", thrown.getMessage());
        try (Model model = Vlstm.load(path)) {
            assertEquals(RnnShape.of(Cell.LSTM, I, H), model.shape());
        }
    }
}
