package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Every bad input gets a specific exception whose message names the argument and what was wrong. */
class BadInputTest {

    private static final int I = 3;
    private static final int H = 5;

    private static void fails(Class<? extends Throwable> type, Executable call, String... fragments) {
        Throwable thrown = assertThrows(type, call);
        for (String fragment : fragments) {
            assertTrue(thrown.getMessage() != null && thrown.getMessage().contains(fragment),
                    "message '" + thrown.getMessage() + "' should contain '" + fragment + "'");
        }
    }

    private static LstmWeights weights(float[] weightIh, float[] weightHh, float[] biasIh, float[] biasHh) {
        return LstmWeights.fromPyTorch(I, H, weightIh, weightHh, biasIh, biasHh);
    }

    @Test
    void sizesBelowOneAreRefused() {
        fails(IllegalArgumentException.class,
                () -> LstmWeights.fromPyTorch(0, H, new float[0], new float[4 * H * H], null, null),
                "inputSize must be >= 1, got 0");
        fails(IllegalArgumentException.class,
                () -> LstmWeights.fromPyTorch(I, 0, new float[0], new float[0], null, null),
                "hiddenSize must be >= 1, got 0");
        try (TestModel model = new TestModel(1, I, H)) {
            fails(IllegalArgumentException.class, () -> new LstmRunner(model.weights, 0), "maxBatch must be >= 1, got 0");
            fails(IllegalArgumentException.class, () -> new LstmRunner(model.weights, 1, 0),
                    "projectionSteps must be >= 1, got 0");
            fails(IllegalArgumentException.class, () -> new LstmState(model.weights, -2), "batch must be >= 1, got -2");
            // More rows than an int counts is refused before any memory is taken.
            fails(IllegalArgumentException.class, () -> new LstmTrainer(model.weights, 1 << 16, 1 << 15),
                    "maxBatch × maxSteps = 65536 × 32768 = 2147483648 rows, more than a trainer can keep");
            try (LstmRunner runner = new LstmRunner(model.weights, 2)) {
                fails(IllegalArgumentException.class,
                        () -> runner.forward(new float[0], 0, 1, null, null, null, null, null), "steps must be >= 1, got 0");
                fails(IllegalArgumentException.class,
                        () -> runner.forward(new float[0], 1, 0, null, null, null, null, null), "batch must be >= 1, got 0");
            }
        }
    }

    @Test
    void weightTensorsOfTheWrongSizeAreNamed() {
        float[] weightIh = new float[4 * H * I];
        float[] weightHh = new float[4 * H * H];
        float[] bias = new float[4 * H];
        fails(IllegalArgumentException.class, () -> weights(new float[4 * H * I - 1], weightHh, bias, bias),
                "weightIh must hold [4H=20][I=3] = 60 floats", "holds 59 floats");
        fails(IllegalArgumentException.class, () -> weights(weightIh, new float[4 * H * H + 4], bias, bias),
                "weightHh must hold [4H=20][H=5] = 100 floats", "holds 104 floats");
        fails(IllegalArgumentException.class, () -> weights(weightIh, weightHh, new float[H], bias),
                "biasIh must hold [4H=20] = 20 floats");
        fails(IllegalArgumentException.class, () -> weights(weightIh, weightHh, bias, new float[21]),
                "biasHh must hold [4H=20] = 20 floats");
        fails(NullPointerException.class, () -> weights(null, weightHh, bias, bias), "weightIh must not be null");
        fails(IllegalArgumentException.class,
                () -> LstmWeights.fromPyTorch(I, H, MemorySegment.ofArray(new byte[4 * H * I * 4 + 2]),
                        MemorySegment.ofArray(weightHh), null, null),
                "not a whole number of floats");
    }

    @Test
    void nonFiniteWeightsAreRefusedWithTensorAndIndex() {
        float[] weightIh = new float[4 * H * I];
        float[] weightHh = new float[4 * H * H];
        float[] bias = new float[4 * H];
        weightHh[2 * H + 3] = Float.NaN;
        fails(IllegalArgumentException.class, () -> weights(weightIh, weightHh, bias, bias),
                "weightHh[2][3] is NaN", "flat index 13");
        weightHh[2 * H + 3] = 0;
        weightIh[4 * I + 1] = Float.POSITIVE_INFINITY;
        fails(IllegalArgumentException.class, () -> weights(weightIh, weightHh, bias, bias), "weightIh[4][1] is Infinity");
        weightIh[4 * I + 1] = 0;
        float[] badBias = new float[4 * H];
        badBias[19] = Float.NEGATIVE_INFINITY;
        fails(IllegalArgumentException.class, () -> weights(weightIh, weightHh, bias, badBias), "biasHh[19] is -Infinity");
        fails(IllegalArgumentException.class, () -> weights(weightIh, weightHh, badBias, null), "biasIh[19] is -Infinity");
    }

    @Test
    void forwardArgumentsOfTheWrongSizeAreNamed() {
        try (TestModel model = new TestModel(2, I, H); LstmRunner runner = new LstmRunner(model.weights, 4)) {
            float[] x = new float[2 * 3 * I];
            fails(IllegalArgumentException.class, () -> runner.forward(new float[17], 2, 3, null, null, null, null, null),
                    "x must hold [T=2][B=3][I=3] = 18 floats", "holds 17 floats");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 2, 3, new float[14], null, null, null, null),
                    "h0 must hold [B=3][H=5] = 15 floats");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 2, 3, null, new float[16], null, null, null),
                    "c0 must hold [B=3][H=5]");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 2, 3, null, null, new float[29], null, null),
                    "y must hold [T=2][B=3][H=5] = 30 floats");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 2, 3, null, null, null, new float[1], null),
                    "hT must hold [B=3][H=5]");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 2, 3, null, null, null, null, new float[1]),
                    "cT must hold [B=3][H=5]");
            fails(IllegalArgumentException.class, () -> runner.forward(new float[2 * 5 * I], 2, 5, null, null, null, null, null),
                    "batch 5 exceeds this runner's maxBatch 4");
            fails(NullPointerException.class, () -> runner.forward((float[]) null, 2, 3, null, null, null, null, null),
                    "x must not be null");
        }
    }

    @Test
    void stepArgumentsAreChecked() {
        try (TestModel model = new TestModel(3, I, H);
             TestModel other = new TestModel(3, I, H + 1);
             LstmRunner runner = new LstmRunner(model.weights, 2);
             LstmState state = new LstmState(model.weights, 2);
             LstmState wide = new LstmState(model.weights, 3);
             LstmState foreign = new LstmState(other.weights, 2)) {
            fails(IllegalArgumentException.class, () -> runner.step(new float[5], state, null),
                    "x must hold [B=2][I=3] = 6 floats");
            fails(IllegalArgumentException.class, () -> runner.step(new float[6], state, new float[9]),
                    "h must hold [B=2][H=5] = 10 floats");
            fails(IllegalArgumentException.class, () -> runner.step(new float[9], wide, null),
                    "batch 3 exceeds this runner's maxBatch 2");
            fails(IllegalArgumentException.class, () -> runner.step(new float[6], foreign, null),
                    "state is for hiddenSize 6", "these weights have hiddenSize 5");
            fails(NullPointerException.class, () -> runner.step(new float[6], null, null), "state must not be null");
            fails(IllegalArgumentException.class, () -> state.setHidden(new float[3]), "h must hold [B=2][H=5]");
            fails(IllegalArgumentException.class, () -> state.setCell(new float[30]), "c must hold [B=2][H=5]");
        }
    }

    @Test
    void nullsAreNamed() {
        float[] weightIh = new float[4 * H * I];
        float[] weightHh = new float[4 * H * H];
        fails(NullPointerException.class,
                () -> LstmWeights.fromPyTorch(null, I, H, weightIh, weightHh, null, null), "backend must not be null");
        fails(NullPointerException.class, () -> new LstmRunner(null, 1), "weights must not be null");
        fails(NullPointerException.class, () -> new LstmRunner(null, 1, 1), "weights must not be null");
        fails(NullPointerException.class, () -> new LstmState(null, 1), "weights must not be null");
        try (TestModel model = new TestModel(5, I, H); LstmRunner runner = new LstmRunner(model.weights, 1);
             LstmState state = new LstmState(model.weights, 1)) {
            fails(NullPointerException.class,
                    () -> runner.forward((MemorySegment) null, 1, 1, null, null, null, null, null),
                    "x must not be null (expected [T=1][B=1][I=3] floats)");
            fails(NullPointerException.class, () -> runner.step((float[]) null, state, null), "x must not be null");
            fails(NullPointerException.class, () -> state.setHidden((float[]) null), "h must not be null");
        }
    }

    @Test
    void readOnlyOutputsAreRefusedBeforeAnythingChanges() {
        try (TestModel model = new TestModel(6, I, H); LstmRunner runner = new LstmRunner(model.weights, 1);
             LstmState state = new LstmState(model.weights, 1)) {
            MemorySegment readOnlyH = MemorySegment.ofArray(new float[H]).asReadOnly();
            MemorySegment x = MemorySegment.ofArray(model.input(1, 1));
            fails(IllegalArgumentException.class, () -> runner.step(x, state, readOnlyH),
                    "h is an output but the segment is read-only");
            assertArrayEquals(new float[H], state.hidden(), "a refused step must not advance the state");
            fails(IllegalArgumentException.class,
                    () -> runner.forward(x, 1, 1, null, null, MemorySegment.ofArray(new float[H]).asReadOnly(), null, null),
                    "y is an output but the segment is read-only");
            fails(IllegalArgumentException.class,
                    () -> runner.forward(x, 1, 1, null, null, null, null, readOnlyH), "cT is an output");
            fails(IllegalArgumentException.class, () -> state.copyCellTo(readOnlyH), "out is an output");
            fails(IllegalArgumentException.class, () -> state.copyHiddenTo(MemorySegment.ofArray(new float[H + 1])),
                    "out must hold [B=1][H=5]");
        }
    }

    @Test
    void segmentsOfAnotherThreadsConfinedArenaAreReported() throws Exception {
        try (TestModel model = new TestModel(7, I, H); LstmRunner runner = new LstmRunner(model.weights, 1);
             Arena mine = Arena.ofConfined()) {
            MemorySegment x = mine.allocate((long) I * Float.BYTES);
            Throwable[] thrown = new Throwable[1];
            Thread other = new Thread(() -> {
                try {
                    runner.forward(x, 1, 1, null, null, null, null, null);
                } catch (Throwable e) {
                    thrown[0] = e;
                }
            });
            other.start();
            other.join();
            assertTrue(thrown[0] instanceof IllegalStateException, "expected IllegalStateException, got " + thrown[0]);
            assertTrue(thrown[0].getMessage().contains("x: this segment belongs to a confined arena of another thread"),
                    thrown[0].getMessage());
        }
    }

    @Test
    void closedArenasRunnersStatesAndWeightsAreReported() {
        TestModel model = new TestModel(4, I, H);
        LstmRunner runner = new LstmRunner(model.weights, 1);
        LstmState state = new LstmState(model.weights, 1);
        Arena arena = Arena.ofConfined();
        MemorySegment x = arena.allocate((long) I * Float.BYTES);
        arena.close();
        fails(IllegalStateException.class, () -> runner.forward(x, 1, 1, null, null, null, null, null),
                "x: the arena of this segment is already closed");
        fails(IllegalStateException.class, () -> runner.step(x, state, null), "x: the arena of this segment is already closed");

        state.close();
        fails(IllegalStateException.class, () -> runner.step(new float[I], state, null), "this LstmState is closed");
        runner.close();
        fails(IllegalStateException.class, () -> runner.forward(new float[I], 1, 1, null, null, null, null, null),
                "this LstmRunner is closed");
        try (LstmRunner second = new LstmRunner(model.weights, 1)) {
            model.close();
            fails(IllegalStateException.class, () -> second.forward(new float[I], 1, 1, null, null, null, null, null),
                    "these LstmWeights are closed");
            fails(IllegalStateException.class, () -> new LstmRunner(model.weights, 1), "these LstmWeights are closed");
            fails(IllegalStateException.class, () -> new LstmState(model.weights, 1), "these LstmWeights are closed");
        }
        // Closing twice is harmless.
        runner.close();
        state.close();
        model.close();
        assertEquals(I, model.weights.inputSize());
    }
}
