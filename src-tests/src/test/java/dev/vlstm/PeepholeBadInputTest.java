package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Bad peepholes get a specific exception naming what is wrong: a tensor of the wrong length (weights and
 * parameters), a NaN or infinity (naming the peephole row and unit), gradients or parameters whose peepholes do not
 * match a stack's weights (naming the layer and direction).
 */
class PeepholeBadInputTest {

    private static final int I = 3;
    private static final int H = 5;

    private static void fails(Class<? extends Throwable> type, Executable call, String... fragments) {
        Throwable thrown = assertThrows(type, call);
        for (String fragment : fragments) {
            assertTrue(thrown.getMessage() != null && thrown.getMessage().contains(fragment),
                    "message '" + thrown.getMessage() + "' should contain '" + fragment + "'");
        }
    }

    private static LstmWeights weights(float[] peepholes) {
        return LstmWeights.fromPyTorch(Backend.PREFERRED, WeightPrecision.FLOAT32, I, H, 0, new float[4 * H * I],
                new float[4 * H * H], null, null, null, peepholes);
    }

    @Test
    void peepholesOfTheWrongLengthAreNamed() {
        fails(IllegalArgumentException.class, () -> weights(new float[3 * H - 1]),
                "peepholes must hold [3=3][H=5] = 15 floats", "holds 14 floats");
        fails(IllegalArgumentException.class, () -> weights(new float[4 * H]), "peepholes must hold", "20 floats");
        fails(IllegalArgumentException.class, () -> LstmParameters.fromPyTorch(I, H, 0, new float[4 * H * I],
                new float[4 * H * H], null, null, null, new float[2 * H]), "peepholes must hold [3=3][H=5]");
    }

    @Test
    void nonFinitePeepholesAreNamedByRowAndUnit() {
        float[] nan = new float[3 * H];
        nan[H + 2] = Float.NaN;
        fails(IllegalArgumentException.class, () -> weights(nan), "peepholes[1][2] is NaN");
        float[] infinite = new float[3 * H];
        infinite[2 * H + 4] = Float.NEGATIVE_INFINITY;
        fails(IllegalArgumentException.class, () -> weights(infinite), "peepholes[2][4] is -Infinity");
        try (LstmParameters parameters = LstmParameters.fromPyTorch(I, H, 0, new float[4 * H * I],
                new float[4 * H * H], null, null, null, infinite)) {
            fails(IllegalArgumentException.class, parameters::pack, "peepholes[2][4] is -Infinity");
        }
    }

    /**
     * An update whose peepholes are not finite is refused before anything is repacked: the weights (and so the
     * runner's output) stay as they were, though the update's other tensors were finite and different.
     */
    @Test
    void aRefusedUpdateLeavesTheWeightsAsTheyWere() {
        float[] peepholes = new float[3 * H];
        java.util.Arrays.fill(peepholes, 0.25f);
        float[] weightIh = new float[4 * H * I];
        java.util.Arrays.fill(weightIh, 0.1f);
        float[] x = new float[2 * I];
        java.util.Arrays.fill(x, 1f);
        try (LstmWeights weights = LstmWeights.fromPyTorch(Backend.PREFERRED, WeightPrecision.FLOAT32, I, H, 0,
                weightIh, new float[4 * H * H], null, null, null, peepholes);
             LstmRunner runner = new LstmRunner(weights, 1);
             LstmTrainer trainer = new LstmTrainer(weights, 1, 2)) {
            float[] before = new float[2 * H];
            runner.forward(x, 2, 1, null, null, before, null, null);
            float[] nan = peepholes.clone();
            nan[4] = Float.NaN;
            float[] otherWeightIh = new float[4 * H * I];
            java.util.Arrays.fill(otherWeightIh, -0.3f);
            try (LstmParameters update = LstmParameters.fromPyTorch(I, H, 0, otherWeightIh, new float[4 * H * H],
                    null, null, null, nan)) {
                fails(IllegalArgumentException.class, () -> trainer.updateWeights(update), "peepholes[0][4] is NaN");
            }
            float[] after = new float[2 * H];
            runner.forward(x, 2, 1, null, null, after, null, null);
            org.junit.jupiter.api.Assertions.assertArrayEquals(before, after);
        }
    }

    /**
     * Stacks run any mix of layers with and without peepholes, but the gradients and parameters given to a stack's
     * trainer must have peepholes exactly where its weights do: a mismatch names the layer and direction, before
     * anything is written or repacked; and a peephole tensor of the wrong length for a stack's layer is refused
     * when that layer is made.
     */
    @Test
    void stacksNameThePartWhosePeepholesDoNotMatch() {
        LstmStackShape shape = new LstmStackShape(I, H, 2, true);
        try (PeepholeTestStack model = new PeepholeTestStack(1360, shape, "0100", Double.POSITIVE_INFINITY);
             PeepholeTestStack other = new PeepholeTestStack(1361, shape, "0010", Double.POSITIVE_INFINITY);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights, 2, 3);
             LstmStackGradients withoutPeepholes = new LstmStackGradients(shape);
             LstmStackParameters parameters = model.parameters();
             LstmStackParameters otherParameters = other.parameters();
             LstmStackGradients otherGradients = new LstmStackGradients(otherParameters)) {
            trainer.forward(java.lang.foreign.MemorySegment.ofArray(model.input(3, 2)), 3, 2, null, null, null, null,
                    null);
            fails(IllegalArgumentException.class, () -> trainer.backward(null, null, null, withoutPeepholes,
                    GradientMode.OVERWRITE, null, null, null), "layer 0 reverse: the gradients hold no peephole"
                    + " gradients, but the weights have peepholes", "new LstmStackGradients(weights)");
            fails(IllegalArgumentException.class, () -> trainer.backward(null, null, null, otherGradients,
                    GradientMode.OVERWRITE, null, null, null), "layer 0 reverse: the gradients hold no peephole");
            float[] y = new float[3 * 2 * 2 * H];
            try (LstmStackRunner runner = new LstmStackRunner(model.weights, 2, 3)) {
                float[] x = model.input(3, 2);
                float[] before = new float[y.length];
                runner.forward(x, 3, 2, null, null, before, null, null);
                fails(IllegalArgumentException.class, () -> trainer.updateWeights(otherParameters),
                        "layer 0 reverse: parameters have no peepholes, but the weights have peepholes");
                runner.forward(x, 3, 2, null, null, y, null, null);
                org.junit.jupiter.api.Assertions.assertArrayEquals(before, y, "a refused update changes nothing");
            }
            fails(IllegalArgumentException.class, () -> new dev.vlstm.train.Adam(parameters.layer(0, 1),
                    withoutPeepholes.layer(0, 1), 0.1), "parameters have peepholes, but the gradients hold no"
                    + " peephole gradients");
        }
        fails(IllegalArgumentException.class, () -> LstmWeights.fromPyTorch(Backend.PREFERRED,
                WeightPrecision.FLOAT32, 2 * H, H, 0, new float[4 * H * 2 * H], new float[4 * H * H], null, null,
                null, new float[3 * H + 1]), "peepholes must hold [3=3][H=5] = 15 floats");
    }
}
