package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Every bad input to the GRU stack API gets a specific exception whose message names the argument (or layer) and
 * what was wrong, and changes nothing.
 */
class GruStackBadInputTest {

    static void fails(Class<? extends Throwable> type, Executable call, String... fragments) {
        Throwable thrown = assertThrows(type, call);
        for (String fragment : fragments) {
            assertTrue(thrown.getMessage() != null && thrown.getMessage().contains(fragment),
                    "message '" + thrown.getMessage() + "' should contain '" + fragment + "'");
        }
    }

    private static GruWeights layer(int inputSize, int hiddenSize, Backend backend) {
        return GruWeights.fromPyTorch(backend, inputSize, hiddenSize, new float[3 * hiddenSize * inputSize],
                new float[3 * hiddenSize * hiddenSize], null, null);
    }

    @Test
    void layersThatDoNotFitTogetherAreNamedAndStayTheCallersToClose() {
        try (GruWeights first = layer(3, 5, Backend.PREFERRED);
             GruWeights firstReverse = layer(3, 5, Backend.PREFERRED);
             GruWeights second = layer(5, 5, Backend.PREFERRED);
             GruWeights wide = layer(10, 5, Backend.PREFERRED);
             GruWeights otherHidden = layer(10, 6, Backend.PREFERRED);
             GruWeights scalar = layer(5, 5, Backend.SCALAR)) {
            fails(IllegalArgumentException.class, () -> GruStackWeights.of(true, first, firstReverse, second, second),
                    "layers[2] and layers[3] are the same GruWeights");
            fails(IllegalArgumentException.class, () -> GruStackWeights.of(true, first, firstReverse, second),
                    "a bidirectional model needs 2 per layer", "got 3");
            fails(IllegalArgumentException.class, () -> GruStackWeights.of(true, first, firstReverse, second, wide),
                    "layers[2] (layer 1) has inputSize 5, but the layer below writes 10 features (2 direction(s) × "
                            + "hiddenSize 5)");
            fails(IllegalArgumentException.class, () -> GruStackWeights.of(false, first, wide),
                    "layers[1] (layer 1) has inputSize 10, but the layer below writes 5 features");
            fails(IllegalArgumentException.class, () -> GruStackWeights.of(true, first, second),
                    "layers[1] (layer 0 reverse) has inputSize 5, but layer 0 has inputSize 3");
            fails(IllegalArgumentException.class, () -> GruStackWeights.of(false, first, otherHidden),
                    "layers[1] has hiddenSize 6, but layers[0] has 5");
            fails(IllegalArgumentException.class, () -> GruStackWeights.of(false, first, scalar),
                    "layers[1] is packed for kernel scalar");
            fails(IllegalArgumentException.class, () -> GruStackWeights.of(false), "got 0");
            fails(NullPointerException.class, () -> GruStackWeights.of(false, first, null),
                    "layers[1] must not be null");
            try (GruStackWeights stack = GruStackWeights.of(false, first, second)) {
                assertTrue(stack.shape().equals(new LstmStackShape(3, 5, 2, false)));
            }
            fails(IllegalStateException.class, () -> GruStackWeights.of(false, first), "these GruWeights are closed");
        }
    }

    @Test
    void forwardArgumentsOfTheWrongShapeAreNamedWithTheirShape() {
        try (TestGruStack model = new TestGruStack(1150, 3, 5, 2, true);
             GruStackRunner runner = new GruStackRunner(model.weights, 3, 4)) {
            float[] x = model.input(4, 3);
            fails(IllegalArgumentException.class, () -> runner.forward(new float[35], 4, 3, null, null, null),
                    "x must hold [T=4][B=3][I=3] = 36 floats");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 4, 3, new float[3 * 5], null, null),
                    "h0 must hold [L*D=4][B=3][H=5] = 60 floats", "holds 15 floats");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 4, 3, null, new float[4 * 3 * 5], null),
                    "y must hold [T=4][B=3][D*H=10] = 120 floats");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 4, 3, null, null, new float[15]),
                    "hT must hold [L*D=4][B=3][H=5]");
            fails(IllegalArgumentException.class, () -> runner.forward(model.input(5, 3), 5, 3, null, null, null),
                    "steps 5 exceeds this GruStackRunner's maxSteps 4");
            fails(IllegalArgumentException.class, () -> runner.forward(model.input(4, 4), 4, 4, null, null, null),
                    "batch 4 exceeds this GruStackRunner's maxBatch 3");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 0, 3, null, null, null),
                    "steps must be >= 1");
            MemorySegment readOnly = MemorySegment.ofArray(new float[120]).asReadOnly();
            fails(IllegalArgumentException.class, () -> runner.forward(MemorySegment.ofArray(x), 4, 3, null,
                    readOnly, null), "y is an output but the segment is read-only");
        }
    }

    @Test
    void aStepWithBadArgumentsLeavesTheStateAsItWas() {
        try (TestGruStack model = new TestGruStack(1151, 3, 5, 3, false);
             TestGruStack other = new TestGruStack(1152, 3, 5, 2, false);
             GruStackRunner runner = new GruStackRunner(model.weights, 2, 1);
             GruStackState state = new GruStackState(model.weights, 2);
             GruStackState otherState = new GruStackState(other.weights, 2);
             GruStackState large = new GruStackState(model.weights, 3)) {
            runner.step(model.input(1, 2), state, null);
            float[] hidden = state.hidden();
            fails(IllegalArgumentException.class, () -> runner.step(model.input(1, 2), state, new float[9]),
                    "h must hold [B=2][H=5] = 10 floats");
            fails(IllegalArgumentException.class, () -> runner.step(new float[5], state, null),
                    "x must hold [B=2][I=3] = 6 floats");
            assertArrayEquals(hidden, state.hidden(), "h unchanged by refused steps");
            fails(IllegalArgumentException.class, () -> runner.step(model.input(1, 2), otherState, null),
                    "state is for a model of LstmStackShape[inputSize=3, hiddenSize=5, layers=2");
            fails(IllegalArgumentException.class, () -> runner.step(model.input(1, 3), large, null),
                    "the state's batch 3 exceeds this GruStackRunner's maxBatch 2");
            fails(IllegalArgumentException.class, () -> state.setHidden(new float[2 * 5]),
                    "h must hold [L=3][B=2][H=5] = 30 floats");
            fails(IllegalArgumentException.class, () -> new GruStackState(model.weights, 0), "batch must be >= 1");
            state.close();
            fails(IllegalStateException.class, () -> runner.step(model.input(1, 2), state, null),
                    "this GruStackState is closed");
        }
    }

    @Test
    void closedObjectsAreRefused() {
        TestGruStack model = new TestGruStack(1155, 3, 5, 2, false);
        GruStackRunner runner = new GruStackRunner(model.weights, 1, 1);
        GruStackRunner open = new GruStackRunner(model.weights, 1, 1);
        runner.close();
        fails(IllegalStateException.class, () -> runner.forward(new float[3], 1, 1, null, null, null),
                "this GruStackRunner is closed");
        model.close();
        fails(IllegalStateException.class, () -> open.forward(new float[3], 1, 1, null, null, null),
                "these GruWeights are closed");
        open.close();
        fails(IllegalStateException.class, () -> new GruStackRunner(model.weights, 1, 1),
                "these GruWeights are closed");
    }
}
