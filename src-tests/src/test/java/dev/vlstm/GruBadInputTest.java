package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/** Bad arguments to the GRU API fail with an exception that names what is wrong, and change nothing. */
class GruBadInputTest {

    private static final int I = 3;
    private static final int H = 5;

    private static void fails(Class<? extends Throwable> type, Executable call, String... fragments) {
        Throwable thrown = assertThrows(type, call);
        for (String fragment : fragments) {
            assertTrue(thrown.getMessage().contains(fragment),
                    "message \"" + thrown.getMessage() + "\" should contain \"" + fragment + "\"");
        }
    }

    @Test
    void weightsOfTheWrongShapeOrValueAreNamed() {
        float[] weightIh = new float[3 * H * I];
        float[] weightHh = new float[3 * H * H];
        float[] bias = new float[3 * H];
        fails(IllegalArgumentException.class,
                () -> GruWeights.fromPyTorch(I, H, new float[4 * H * I], weightHh, bias, bias),
                "weightIh must hold [3H=15][I=3] = 45 floats", "60 floats");
        fails(IllegalArgumentException.class,
                () -> GruWeights.fromPyTorch(I, H, weightIh, new float[3 * H * H - 1], bias, bias),
                "weightHh must hold [3H=15][H=5] = 75 floats");
        fails(IllegalArgumentException.class, () -> GruWeights.fromPyTorch(I, H, weightIh, weightHh, bias,
                new float[4 * H]), "biasHh must hold [3H=15] = 15 floats");
        fails(IllegalArgumentException.class, () -> GruWeights.fromPyTorch(0, H, weightIh, weightHh, null, null),
                "inputSize must be >= 1, got 0");
        fails(NullPointerException.class, () -> GruWeights.fromPyTorch(I, H, null, weightHh, null, null),
                "weightIh must not be null");
        float[] badWeights = weightHh.clone();
        badWeights[2 * H + 1] = Float.NaN;
        fails(IllegalArgumentException.class, () -> GruWeights.fromPyTorch(I, H, weightIh, badWeights, bias, bias),
                "weightHh[2][1] is NaN");
        float[] badBias = bias.clone();
        badBias[14] = Float.NEGATIVE_INFINITY;
        fails(IllegalArgumentException.class, () -> GruWeights.fromPyTorch(I, H, weightIh, weightHh, badBias, null),
                "biasIh[14] is -Infinity");
    }

    @Test
    void runnerAndStateArgumentsAreNamed() {
        try (TestGru model = new TestGru(1, I, H, Backend.PREFERRED);
             GruRunner runner = new GruRunner(model.weights, 3);
             GruState state = new GruState(model.weights, 2)) {
            fails(IllegalArgumentException.class, () -> new GruRunner(model.weights, 0), "maxBatch must be >= 1");
            fails(IllegalArgumentException.class, () -> new GruRunner(model.weights, 1, 0),
                    "projectionSteps must be >= 1");
            fails(IllegalArgumentException.class, () -> new GruState(model.weights, 0), "batch must be >= 1");
            fails(IllegalArgumentException.class, () -> new GruTrainer(model.weights, 1 << 16, 1 << 15),
                    "maxBatch × maxSteps = 65536 × 32768 = 2147483648 rows, more than a trainer can keep");
            float[] x = new float[2 * 3 * I];
            fails(IllegalArgumentException.class, () -> runner.forward(new float[17], 2, 3, null, null, null),
                    "x must hold [T=2][B=3][I=3] = 18 floats");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 2, 3, new float[14], null, null),
                    "h0 must hold [B=3][H=5] = 15 floats");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 2, 3, null, new float[29], null),
                    "y must hold [T=2][B=3][H=5] = 30 floats");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 2, 3, null, null, new float[16]),
                    "hT must hold [B=3][H=5] = 15 floats");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 0, 3, null, null, null),
                    "steps must be >= 1, got 0");
            fails(IllegalArgumentException.class, () -> runner.forward(new float[2 * 4 * I], 2, 4, null, null, null),
                    "batch 4 exceeds this GruRunner's maxBatch 3");
            fails(NullPointerException.class, () -> runner.forward((float[]) null, 2, 3, null, null, null),
                    "x must not be null");
            float[] before = state.hidden();
            fails(IllegalArgumentException.class, () -> runner.step(new float[2 * I + 1], state, null),
                    "x must hold [B=2][I=3] = 6 floats");
            fails(IllegalArgumentException.class, () -> runner.step(new float[2 * I], state, new float[9]),
                    "h must hold [B=2][H=5] = 10 floats");
            assertArrayEquals(before, state.hidden(), "a refused step changes nothing");
            fails(IllegalArgumentException.class, () -> state.setHidden(new float[11]),
                    "h must hold [B=2][H=5] = 10 floats");
            try (TestGru other = new TestGru(2, I, H + 1, Backend.PREFERRED);
                 GruState wrong = new GruState(other.weights, 2)) {
                fails(IllegalArgumentException.class, () -> runner.step(new float[2 * I], wrong, null),
                        "state is for hiddenSize 6", "these weights have hiddenSize 5");
            }
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment readOnly = arena.allocate(3L * H * Float.BYTES).asReadOnly();
                fails(IllegalArgumentException.class,
                        () -> runner.forward(MemorySegment.ofArray(x), 2, 3, null, null, readOnly),
                        "hT is an output but the segment is read-only");
            }
        }
    }

    @Test
    void closedObjectsAreRefused() {
        TestGru model = new TestGru(3, I, H, Backend.PREFERRED);
        GruRunner runner = new GruRunner(model.weights, 1);
        GruState state = new GruState(model.weights, 1);
        runner.close();
        fails(IllegalStateException.class, () -> runner.step(new float[I], state, null), "this GruRunner is closed");
        state.close();
        try (GruRunner open = new GruRunner(model.weights, 1)) {
            fails(IllegalStateException.class, () -> open.step(new float[I], state, null), "this GruState is closed");
            model.close();
            fails(IllegalStateException.class, () -> open.forward(new float[I], 1, 1, null, null, null),
                    "these GruWeights are closed");
        }
        fails(IllegalStateException.class, () -> new GruState(model.weights, 1), "these GruWeights are closed");
    }
}
