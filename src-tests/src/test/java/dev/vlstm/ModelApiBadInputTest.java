package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.vlstm.io.FloatTensor;
import dev.vlstm.io.SafeTensors;

/**
 * Every refusal of the new API ({@link Vlstm}, {@link Options}, {@link RnnShape}, {@link Model}, {@link Runner})
 * that RunnerBadInputTest, TrainerBadInputTest and ParametersBadInputTest do not check.
 */
class ModelApiBadInputTest {

    private static final Path LSTM = Path.of("src/test/resources/golden/i3_h5_l2_t4_b2/model.safetensors");
    private static final Path GRU = Path.of("src/test/resources/golden-gru/i3_h5_l2_t4_b2/model.safetensors");

    @TempDir
    Path directory;

    @Test
    void aMissingFileIsRefusedNamingIt() {
        Path missing = directory.resolve("missing.safetensors");
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> Vlstm.load(missing));
        assertEquals(missing.toString(), e.getMessage());
    }

    @Test
    void aFileThatIsNotSafetensorsIsRefusedNamingIt() throws IOException {
        Path text = Files.writeString(directory.resolve("notes.safetensors"), "not a safetensors file",
                StandardCharsets.UTF_8);
        IOException e = assertThrows(IOException.class, () -> Vlstm.load(text));
        assertTrue(e.getMessage().startsWith(text + ": header length "), e.getMessage());
        assertTrue(e.getMessage().contains(" is beyond the "), e.getMessage());
    }

    @Test
    void aFileWithoutRecurrentWeightsIsRefusedListingItsTensors() throws IOException {
        Path file = directory.resolve("dense.safetensors");
        SafeTensors.write(file, Map.of("dense.weight", new FloatTensor(new long[] {2, 2}, new float[4])), Map.of());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Vlstm.load(file));
        assertEquals(file + ": no LSTM or GRU weights (no name ends with weight_ih_l0; the file has [dense.weight])",
                e.getMessage());
    }

    /** A GRU takes ONNX's clip (GruClipTest checks what it computes) and keeps it. */
    @Test
    void aGruLoadsWithAClip() throws IOException {
        try (Model model = Vlstm.load(GRU, Options.DEFAULT.withCellClip(3f))) {
            assertEquals(3f, model.options().cellClip());
        }
    }

    /**
     * A state_dict saved with bias=False runs through Vlstm.load, but cannot become Parameters, which always hold
     * biases (an optimizer would train them, and the saved file would not load into the bias-free module).
     */
    @Test
    void parametersRefuseABiasFreeModelWhichVlstmLoadRuns() throws IOException {
        for (String golden : new String[] {"golden/i3_h4_l2_t3_b2_no_bias", "golden-gru/i3_h4_l2_t3_b2_no_bias"}) {
            Path file = Path.of("src/test/resources", golden, "model.safetensors");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> Parameters.load(file, null));
            assertEquals(file + ": a model without biases (bias=False) cannot be loaded as Parameters yet;"
                    + " Vlstm.load runs it", e.getMessage());
            try (Model model = Vlstm.load(file)) {
                assertEquals(2, model.shape().layers(), golden);
            }
        }
    }

    /** Trainers of a model with peepholes are refused when made, not at the first backward. */
    @Test
    void aGruRefusesCellStates() throws IOException {
        try (Model model = Vlstm.load(GRU, Options.DEFAULT.withMaxBatch(2).withMaxSteps(3));
             Runner runner = model.runner();
             State state = model.newState(2)) {
            RnnShape shape = model.shape();
            float[] x = new float[3 * 2 * shape.inputSize()];
            float[] states = new float[shape.stateCount() * 2 * shape.hiddenSize()];
            assertEquals("c0 must be null for a GRU model: a GRU has no cell state",
                    assertThrows(IllegalArgumentException.class,
                            () -> runner.forward(x, 3, 2, null, states, null, null, null)).getMessage());
            assertEquals("cT must be null for a GRU model: a GRU has no cell state",
                    assertThrows(IllegalArgumentException.class,
                            () -> runner.forward(x, 3, 2, null, null, null, null, states)).getMessage());
            assertEquals("a GRU state has no cell state c, only h",
                    assertThrows(UnsupportedOperationException.class, () -> state.setCell(states)).getMessage());
            assertEquals("a GRU state has no cell state c, only h",
                    assertThrows(UnsupportedOperationException.class, state::cell).getMessage());
        }
    }

    @Test
    void callsBeyondTheRunnersLimitsAndRaggedSegmentsAreRefused() throws IOException {
        try (Model model = Vlstm.load(LSTM, Options.DEFAULT.withMaxBatch(2).withMaxSteps(3));
             Runner runner = model.runner()) {
            float[] x = new float[4 * 3 * model.shape().inputSize()];
            assertEquals("batch 3 exceeds this Runner's maxBatch 2 (Options.maxBatch)",
                    assertThrows(IllegalArgumentException.class,
                            () -> runner.forward(x, 1, 3, null, null, null, null, null)).getMessage());
            assertEquals("steps 4 exceeds this Runner's maxSteps 3 (Options.maxSteps)",
                    assertThrows(IllegalArgumentException.class,
                            () -> runner.forward(x, 4, 1, null, null, null, null, null)).getMessage());
            float[] frames = new float[3 * model.shape().inputSize()];
            try (State wide = model.newState(3)) {
                assertEquals("batch 3 exceeds this Runner's maxBatch 2 (Options.maxBatch)", assertThrows(
                        IllegalArgumentException.class, () -> runner.step(frames, wide, null)).getMessage());
            }
            MemorySegment ragged = MemorySegment.ofArray(new byte[model.shape().inputSize() * Float.BYTES + 2]);
            assertEquals("x must hold [T=1][B=1][I=3] = 3 floats (12 bytes), but it holds 14 bytes, not a whole number"
                    + " of floats", assertThrows(IllegalArgumentException.class,
                    () -> runner.forward(ragged, 1, 1, null, null, null, null, null)).getMessage());
        }
    }

    @Test
    void aStateOfAnotherModelIsRefused() throws IOException {
        try (Model lstm = Vlstm.load(LSTM);
             Model gru = Vlstm.load(GRU);
             Runner runner = lstm.runner();
             State state = gru.newState(1)) {
            float[] x = new float[lstm.shape().inputSize()];
            assertEquals("state is for a model of " + gru.shape() + ", but this runner's is " + lstm.shape(),
                    assertThrows(IllegalArgumentException.class, () -> runner.step(x, state, null)).getMessage());
        }
    }

    @Test
    void aBidirectionalModelHasNoStreamingState() throws IOException {
        Path file = Path.of("src/test/resources/golden/i4_h3_t5_b2_bidirectional/model.safetensors");
        try (Model model = Vlstm.load(file)) {
            assertEquals("a bidirectional model cannot be streamed step by step: its reverse direction reads the"
                            + " sequence from the last step back (use Runner.forward)",
                    assertThrows(IllegalArgumentException.class, () -> model.newState(1)).getMessage());
        }
    }

    @Test
    void closedModelsAndRunnersRefuseCalls() throws IOException {
        Model model = Vlstm.load(LSTM);
        Runner runner = model.runner();
        float[] x = new float[model.shape().inputSize()];
        runner.close();
        assertEquals("this Runner is closed", assertThrows(IllegalStateException.class,
                () -> runner.forward(x, 1, 1, null, null, null, null, null)).getMessage());
        Runner other = model.runner();
        model.close();
        assertEquals("this Model is closed", assertThrows(IllegalStateException.class,
                () -> other.forward(x, 1, 1, null, null, null, null, null)).getMessage());
        assertEquals("this Model is closed", assertThrows(IllegalStateException.class, model::runner).getMessage());
        assertEquals("this Model is closed", assertThrows(IllegalStateException.class, () -> model.newState(1))
                .getMessage());
        other.close();
        model.close();
    }

    @Test
    void badOptionsAreRefusedNamingTheField() {
        assertEquals("maxBatch must be >= 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> Options.DEFAULT.withMaxBatch(0)).getMessage());
        assertEquals("maxSteps must be >= 1, got -1",
                assertThrows(IllegalArgumentException.class, () -> Options.DEFAULT.withMaxSteps(-1)).getMessage());
        assertEquals("threads must be <= " + Options.MAX_THREADS + ", got 1000",
                assertThrows(IllegalArgumentException.class, () -> Options.DEFAULT.withThreads(1000)).getMessage());
        assertEquals("cellClip must be > 0 (Float.POSITIVE_INFINITY for no clip), got NaN",
                assertThrows(IllegalArgumentException.class, () -> Options.DEFAULT.withCellClip(Float.NaN))
                        .getMessage());
        assertEquals("precision must not be null",
                assertThrows(NullPointerException.class, () -> Options.DEFAULT.withPrecision(null)).getMessage());
        assertEquals("nonFiniteInputs must not be null",
                assertThrows(NullPointerException.class, () -> Options.DEFAULT.withNonFiniteInputs(null))
                        .getMessage());
        assertEquals("chunkSteps must be >= 0 (0 for the default), got -1",
                assertThrows(IllegalArgumentException.class, () -> Options.DEFAULT.withChunkSteps(-1)).getMessage());
    }

    @Test
    void aGruShapeRefusesProjectionAndPeepholes() {
        RnnShape gru = RnnShape.of(Cell.GRU, 3, 8);
        assertEquals("a GRU has no projection (projectionSize 4): PyTorch's proj_size is an nn.LSTM option",
                assertThrows(IllegalArgumentException.class, () -> gru.withProjection(4)).getMessage());
        assertEquals("a GRU has no peephole connections: it has no cell state for its gates to read",
                assertThrows(IllegalArgumentException.class, () -> gru.withPeepholes(true)).getMessage());
        assertEquals("layers must be >= 1, got 0",
                assertThrows(IllegalArgumentException.class, () -> gru.withLayers(0)).getMessage());
    }
}
