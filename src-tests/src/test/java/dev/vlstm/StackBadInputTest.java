package dev.vlstm;

import static dev.vlstm.TrainerVsReferenceTest.segment;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Every bad input to the stacked-model API gets a specific exception whose message names the argument (or layer)
 * and what was wrong, and changes nothing.
 */
class StackBadInputTest {

    private static void fails(Class<? extends Throwable> type, Executable call, String... fragments) {
        Throwable thrown = assertThrows(type, call);
        for (String fragment : fragments) {
            assertTrue(thrown.getMessage() != null && thrown.getMessage().contains(fragment),
                    "message '" + thrown.getMessage() + "' should contain '" + fragment + "'");
        }
    }

    private static LstmWeights layer(int inputSize, int hiddenSize, Backend backend) {
        return LstmWeights.fromPyTorch(backend, inputSize, hiddenSize, new float[4 * hiddenSize * inputSize],
                new float[4 * hiddenSize * hiddenSize], null, null);
    }

    @Test
    void layersThatDoNotFitTogetherAreNamedAndStayTheCallersToClose() {
        try (LstmWeights first = layer(3, 5, Backend.PREFERRED);
             LstmWeights firstReverse = layer(3, 5, Backend.PREFERRED);
             LstmWeights second = layer(5, 5, Backend.PREFERRED);
             LstmWeights wide = layer(10, 5, Backend.PREFERRED);
             LstmWeights otherHidden = layer(10, 6, Backend.PREFERRED);
             LstmWeights scalar = layer(5, 5, Backend.SCALAR)) {
            fails(IllegalArgumentException.class, () -> LstmStackWeights.of(true, first, firstReverse, second, second),
                    "layers[2] and layers[3] are the same LstmWeights");
            fails(IllegalArgumentException.class, () -> LstmStackWeights.of(true, first, firstReverse, second),
                    "a bidirectional model needs 2 per layer", "got 3");
            fails(IllegalArgumentException.class, () -> LstmStackWeights.of(true, first, firstReverse, second, wide),
                    "layers[2] (layer 1) has inputSize 5, but the layer below writes 10 features (2 direction(s) × "
                            + "hiddenSize 5)");
            fails(IllegalArgumentException.class, () -> LstmStackWeights.of(false, first, wide),
                    "layers[1] (layer 1) has inputSize 10, but the layer below writes 5 features");
            fails(IllegalArgumentException.class, () -> LstmStackWeights.of(false, first, second, wide),
                    "layers[2] (layer 2) has inputSize 10");
            fails(IllegalArgumentException.class, () -> LstmStackWeights.of(false, first, firstReverse),
                    "layers[1] (layer 1) has inputSize 3");
            fails(IllegalArgumentException.class, () -> LstmStackWeights.of(true, first, second),
                    "layers[1] (layer 0 reverse) has inputSize 5, but layer 0 has inputSize 3");
            fails(IllegalArgumentException.class, () -> LstmStackWeights.of(false, first, otherHidden),
                    "layers[1] has hiddenSize 6, but layers[0] has 5");
            fails(IllegalArgumentException.class, () -> LstmStackWeights.of(false, first, scalar),
                    "layers[1] is packed for kernel scalar");
            fails(IllegalArgumentException.class, () -> LstmStackWeights.of(false), "got 0");
            fails(NullPointerException.class, () -> LstmStackWeights.of(false, first, null),
                    "layers[1] must not be null");
            // Refused stacks took nothing: the layers are still open and usable.
            try (LstmStackWeights stack = LstmStackWeights.of(false, first, second)) {
                assertTrue(stack.shape().equals(new LstmStackShape(3, 5, 2, false)));
            }
            fails(IllegalStateException.class, () -> LstmStackWeights.of(false, first), "these LstmWeights are closed");
        }
        try (LstmWeights projected = LstmWeights.fromPyTorch(Backend.PREFERRED, WeightPrecision.FLOAT32, 3, 6, 2,
                new float[24 * 3], new float[24 * 2], null, null, new float[2 * 6]);
             LstmWeights other = LstmWeights.fromPyTorch(Backend.PREFERRED, WeightPrecision.FLOAT32, 2, 6, 3,
                     new float[24 * 2], new float[24 * 3], null, null, new float[3 * 6])) {
            fails(IllegalArgumentException.class, () -> LstmStackWeights.of(false, projected, other),
                    "layers[1] has projectionSize 3, but layers[0] has 2");
        }
    }

    @Test
    void shapesBelowOneAndLayerIndicesOutsideTheModelAreRefused() {
        fails(IllegalArgumentException.class, () -> new LstmStackShape(3, 5, 0, false), "layers must be >= 1, got 0");
        fails(IllegalArgumentException.class, () -> new LstmStackShape(0, 5, 1, false), "inputSize must be >= 1");
        LstmStackShape shape = new LstmStackShape(3, 5, 2, false);
        fails(IndexOutOfBoundsException.class, () -> shape.index(2, 0), "layer 2 is outside [0, 2)");
        fails(IndexOutOfBoundsException.class, () -> shape.index(0, 1),
                "direction 1 is outside [0, 1) for a unidirectional model");
    }

    @Test
    void forwardArgumentsOfTheWrongShapeAreNamedWithTheirShape() {
        try (TestStack model = new TestStack(1100, 3, 5, 2, true);
             LstmStackRunner runner = new LstmStackRunner(model.weights, 3, 4)) {
            float[] x = model.input(4, 3);
            fails(IllegalArgumentException.class,
                    () -> runner.forward(new float[35], 4, 3, null, null, null, null, null),
                    "x must hold [T=4][B=3][I=3] = 36 floats");
            fails(IllegalArgumentException.class,
                    () -> runner.forward(x, 4, 3, new float[3 * 5], null, null, null, null),
                    "h0 must hold [L*D=4][B=3][H=5] = 60 floats", "holds 15 floats");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 4, 3, null, new float[2 * 3 * 5], null, null,
                    null), "c0 must hold [L*D=4][B=3][H=5]");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 4, 3, null, null, new float[4 * 3 * 5], null,
                    null), "y must hold [T=4][B=3][D*H=10] = 120 floats");
            fails(IllegalArgumentException.class, () -> runner.forward(x, 4, 3, null, null, null, new float[15], null),
                    "hT must hold [L*D=4][B=3][H=5]");
            fails(IllegalArgumentException.class, () -> runner.forward(model.input(5, 3), 5, 3, null, null, null, null,
                    null), "steps 5 exceeds this LstmStackRunner's maxSteps 4");
            fails(IllegalArgumentException.class, () -> runner.forward(model.input(4, 4), 4, 4, null, null, null, null,
                    null), "batch 4 exceeds this LstmStackRunner's maxBatch 3");
            MemorySegment readOnly = MemorySegment.ofArray(new float[120]).asReadOnly();
            fails(IllegalArgumentException.class, () -> runner.forward(segment(x), 4, 3, null, null, readOnly, null,
                    null), "y is an output but the segment is read-only");
        }
    }

    @Test
    void aStepWithBadArgumentsLeavesTheStateAsItWas() {
        try (TestStack model = new TestStack(1101, 3, 5, 3, false);
             TestStack other = new TestStack(1102, 3, 5, 2, false);
             LstmStackRunner runner = new LstmStackRunner(model.weights, 2, 1);
             LstmStackState state = new LstmStackState(model.weights, 2);
             LstmStackState otherState = new LstmStackState(other.weights, 2);
             LstmStackState large = new LstmStackState(model.weights, 3)) {
            runner.step(model.input(1, 2), state, null);
            float[] hidden = state.hidden();
            float[] cell = state.cell();
            fails(IllegalArgumentException.class, () -> runner.step(model.input(1, 2), state, new float[9]),
                    "h must hold [B=2][H=5] = 10 floats");
            fails(IllegalArgumentException.class, () -> runner.step(new float[5], state, null),
                    "x must hold [B=2][I=3] = 6 floats");
            assertArrayEquals(hidden, state.hidden(), "h unchanged by refused steps");
            assertArrayEquals(cell, state.cell(), "c unchanged by refused steps");
            fails(IllegalArgumentException.class, () -> runner.step(model.input(1, 2), otherState, null),
                    "state is for a model of LstmStackShape[inputSize=3, hiddenSize=5, layers=2");
            fails(IllegalArgumentException.class, () -> runner.step(model.input(1, 3), large, null),
                    "the state's batch 3 exceeds this LstmStackRunner's maxBatch 2");
            fails(IllegalArgumentException.class, () -> state.setHidden(new float[2 * 5]),
                    "h must hold [L=3][B=2][H=5] = 30 floats");
            state.close();
            fails(IllegalStateException.class, () -> runner.step(model.input(1, 2), state, null),
                    "this LstmStackState is closed");
        }
    }

    @Test
    void trainerArgumentsAreCheckedBeforeAnythingChanges() {
        try (TestStack model = new TestStack(1103, 3, 5, 2, true);
             TestStack other = new TestStack(1104, 3, 5, 3, true);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights, 2, 4);
             LstmStackRunner runner = new LstmStackRunner(model.weights, 2, 4);
             LstmStackGradients gradients = new LstmStackGradients(model.weights);
             LstmStackGradients wrong = new LstmStackGradients(other.weights);
             LstmStackParameters parameters = LstmStackParameters.initialize(model.shape, 3);
             LstmStackParameters otherParameters = LstmStackParameters.initialize(other.shape, 3)) {
            fails(IllegalStateException.class, () -> trainer.backward(null, null, null, gradients,
                    GradientMode.OVERWRITE, null, null, null), "backward needs a forward");
            float[] x = model.input(4, 2);
            trainer.forward(segment(x), 4, 2, null, null, null, null, null);
            fails(IllegalArgumentException.class, () -> trainer.backward(null, null, null, wrong,
                    GradientMode.OVERWRITE, null, null, null), "gradients are for a model of", "layers=3");
            fails(IllegalArgumentException.class, () -> trainer.backward(segment(new float[4 * 2 * 5]), null, null,
                    gradients, GradientMode.OVERWRITE, null, null, null), "dy must hold [T=4][B=2][D*H=10]");
            fails(IllegalArgumentException.class, () -> trainer.backward(null, segment(new float[10]), null,
                    gradients, GradientMode.OVERWRITE, null, null, null), "dhT must hold [L*D=4][B=2][H=5]");
            fails(IllegalArgumentException.class, () -> trainer.backward(null, null, null, gradients,
                    GradientMode.OVERWRITE, segment(new float[3]), null, null), "dx must hold [T=4][B=2][I=3]");
            trainer.backward(null, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
            fails(IllegalStateException.class, () -> trainer.backward(null, null, null, gradients,
                    GradientMode.OVERWRITE, null, null, null), "runs once per forward");

            fails(IllegalArgumentException.class, () -> trainer.updateWeights(otherParameters),
                    "parameters are for a model of");
            float[] before = new float[4 * 2 * 10];
            runner.forward(x, 4, 2, null, null, before, null, null);
            parameters.layer(1, 1).weightHh().setAtIndex(ValueLayout.JAVA_FLOAT, 7, Float.NaN);
            fails(IllegalArgumentException.class, () -> trainer.updateWeights(parameters),
                    "layer 1 reverse: weightHh[1][2] is NaN");
            float[] after = new float[before.length];
            runner.forward(x, 4, 2, null, null, after, null, null);
            assertArrayEquals(before, after, "no layer changed by a refused update");
        }
    }

    @Test
    void aCellClipThatIsNotPositiveIsRefusedByName() {
        try (TestStack model = new TestStack(1106, 3, 5, 2, true)) {
            for (float clip : new float[]{0f, -1f, Float.NaN, Float.NEGATIVE_INFINITY}) {
                fails(IllegalArgumentException.class, () -> new LstmStackRunner(model.weights, 1, 1, clip),
                        "cellClip must be > 0", "got " + clip);
                fails(IllegalArgumentException.class, () -> new LstmStackTrainer(model.weights, 1, 1, clip),
                        "cellClip must be > 0", "got " + clip);
                fails(IllegalArgumentException.class, () -> new LstmStackTrainer(model.weights, 1, 1, 0.1, 3, clip),
                        "cellClip must be > 0", "got " + clip);
            }
            try (LstmStackRunner runner = new LstmStackRunner(model.weights, 1, 1);
                 LstmStackTrainer trainer = new LstmStackTrainer(model.weights, 1, 1, 0.1, 3)) {
                assertTrue(runner.cellClip() == LstmRunner.NO_CELL_CLIP, "no clip by default");
                assertTrue(trainer.cellClip() == LstmRunner.NO_CELL_CLIP, "no clip by default");
            }
        }
    }

    @Test
    void closedObjectsAreRefused() {
        TestStack model = new TestStack(1105, 3, 5, 2, false);
        LstmStackRunner runner = new LstmStackRunner(model.weights, 1, 1);
        LstmStackTrainer trainer = new LstmStackTrainer(model.weights, 1, 1);
        runner.close();
        fails(IllegalStateException.class, () -> runner.forward(new float[3], 1, 1, null, null, null, null, null),
                "this LstmStackRunner is closed");
        model.close();
        fails(IllegalStateException.class, () -> trainer.forward(segment(new float[3]), 1, 1, null, null, null, null,
                null), "these LstmWeights are closed");
        trainer.close();
        fails(IllegalStateException.class, () -> new LstmStackRunner(model.weights, 1, 1),
                "these LstmWeights are closed");
    }
}
