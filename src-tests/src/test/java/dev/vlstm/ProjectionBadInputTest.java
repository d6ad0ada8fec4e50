package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

/**
 * Bad input to a projected LSTM (PyTorch's proj_size) gets a specific exception naming what is wrong: projection
 * sizes out of range, a missing, superfluous or wrongly sized W_hr, a W_hh of the unprojected shape, h buffers of H
 * values where P are expected, a state of another model, and training with parameters or gradients of a model with
 * another projection; projected parameters are checked like weights and pack into the same weights.
 */
class ProjectionBadInputTest {

    private static final int I = 3;
    private static final int H = 5;
    private static final int P = 2;

    private static void fails(Class<? extends Throwable> type, Executable call, String... fragments) {
        Throwable thrown = assertThrows(type, call);
        for (String fragment : fragments) {
            assertTrue(thrown.getMessage() != null && thrown.getMessage().contains(fragment),
                    "message '" + thrown.getMessage() + "' should contain '" + fragment + "'");
        }
    }

    private static LstmWeights weights(int projectionSize, float[] weightHh, float[] weightHr) {
        return LstmWeights.fromPyTorch(Backend.PREFERRED, WeightPrecision.FLOAT32, I, H, projectionSize,
                new float[4 * H * I], weightHh, null, null, weightHr);
    }

    @Test
    void projectionSizesOutOfRangeAreRefused() {
        fails(IllegalArgumentException.class, () -> weights(-1, new float[4 * H * H], null),
                "projectionSize must be >= 0 (0 for no projection), got -1");
        fails(IllegalArgumentException.class, () -> weights(H, new float[4 * H * H], new float[H * H]),
                "projectionSize must be < hiddenSize", "projectionSize=5, hiddenSize=5");
        fails(IllegalArgumentException.class, () -> weights(H + 3, new float[4 * H * 8], new float[8 * H]),
                "projectionSize=8, hiddenSize=5");
    }

    @Test
    void weightHrMustBePresentExactlyWithAProjectionAndOfItsShape() {
        fails(NullPointerException.class, () -> weights(P, new float[4 * H * P], null),
                "weightHr must not be null when projectionSize = 2");
        fails(IllegalArgumentException.class, () -> weights(0, new float[4 * H * H], new float[P * H]),
                "weightHr was given but projectionSize is 0");
        fails(IllegalArgumentException.class, () -> weights(P, new float[4 * H * P], new float[P * H + 1]),
                "weightHr must hold [P=2][H=5] = 10 floats", "holds 11 floats");
        fails(IllegalArgumentException.class, () -> weights(P, new float[4 * H * H], new float[P * H]),
                "weightHh must hold [4H=20][P=2] = 40 floats", "holds 100 floats");
        float[] weightHr = new float[P * H];
        weightHr[7] = Float.NaN;
        fails(IllegalArgumentException.class, () -> weights(P, new float[4 * H * P], weightHr),
                "weightHr[1][2] is NaN");
    }

    @Test
    void hiddenStatesSizedHInsteadOfPAreNamed() {
        try (ProjectedTestModel model = new ProjectedTestModel(1, I, H, P);
             LstmRunner runner = new LstmRunner(model.weights, 2);
             LstmState state = new LstmState(model.weights, 2)) {
            float[] x = new float[3 * 2 * I];
            fails(IllegalArgumentException.class,
                    () -> runner.forward(x, 3, 2, new float[2 * H], null, null, null, null), "h0", "[B=2][P=2]");
            fails(IllegalArgumentException.class,
                    () -> runner.forward(x, 3, 2, null, new float[2 * P], null, null, null), "c0", "[B=2][H=5]");
            fails(IllegalArgumentException.class,
                    () -> runner.forward(x, 3, 2, null, null, new float[3 * 2 * H], null, null), "y",
                    "[T=3][B=2][P=2]");
            fails(IllegalArgumentException.class,
                    () -> runner.forward(x, 3, 2, null, null, null, new float[2 * H], null), "hT", "[B=2][P=2]");
            fails(IllegalArgumentException.class,
                    () -> runner.forward(x, SequenceLayout.BATCH_FIRST, 3, 2, new int[]{3, 1}, null, null,
                            new float[3 * 2 * H], null, null), "y", "[B=2][T=3][P=2]");
            fails(IllegalArgumentException.class, () -> runner.step(new float[2 * I], state, new float[2 * H]),
                    "h", "[B=2][P=2]");
            fails(IllegalArgumentException.class, () -> state.setHidden(new float[2 * H]), "h", "[B=2][P=2]");
            fails(IllegalArgumentException.class, () -> state.setCell(new float[2 * P]), "c", "[B=2][H=5]");
        }
    }

    @Test
    void aStateOfTheUnprojectedModelIsRefused() {
        try (ProjectedTestModel projected = new ProjectedTestModel(2, I, H, P);
             TestModel plain = new TestModel(3, I, H);
             LstmRunner runner = new LstmRunner(projected.weights, 1);
             LstmState plainState = new LstmState(plain.weights, 1)) {
            fails(IllegalArgumentException.class, () -> runner.step(new float[I], plainState, null),
                    "state is for projectionSize 0, but these weights have projectionSize 2");
        }
    }

    @Test
    void trainingMismatchedProjectionsIsRefusedNamingProjection() {
        try (ProjectedTestModel model = new ProjectedTestModel(4, I, H, P);
             LstmParameters parameters = LstmParameters.fromPyTorch(I, H, P, model.weightIh, model.weightHh,
                     model.biasIh, model.biasHh, model.weightHr);
             LstmGradients gradients = new LstmGradients(I, H);
             TestModel plain = new TestModel(5, I, H);
             LstmParameters plainParameters = LstmParameters.fromPyTorch(I, H, plain.weightIh, plain.weightHh,
                     plain.biasIh, plain.biasHh);
             LstmTrainer trainer = new LstmTrainer(plain.weights, 1, 1);
             LstmTrainer projectedTrainer = new LstmTrainer(model.weights, 1, 1)) {
            fails(IllegalArgumentException.class, () -> trainer.updateWeights(parameters),
                    "projectionSize 2, but these weights have", "projectionSize 0 (0: none)");
            fails(IllegalArgumentException.class, () -> projectedTrainer.updateWeights(plainParameters),
                    "projectionSize 0, but these weights have", "projectionSize 2 (0: none)");
            projectedTrainer.forward(MemorySegment.ofArray(new float[I]), 1, 1, null, null, null, null,
                    null);
            fails(IllegalArgumentException.class, () -> projectedTrainer.backward(null, null, null, gradients,
                    GradientMode.OVERWRITE, null, null, null), "projectionSize 0, but these weights",
                    "projectionSize 2 (0: none); make them with new LstmGradients(weights)");
        }
    }

    @Test
    void projectedParametersAreCheckedLikeWeights() {
        float[] weightIh = new float[4 * H * I];
        fails(IllegalArgumentException.class,
                () -> LstmParameters.fromPyTorch(I, H, H, weightIh, new float[4 * H * H], null, null, new float[25]),
                "projectionSize must be < hiddenSize");
        fails(NullPointerException.class,
                () -> LstmParameters.fromPyTorch(I, H, P, weightIh, new float[4 * H * P], null, null, null),
                "weightHr must not be null when projectionSize = 2");
        fails(IllegalArgumentException.class,
                () -> LstmParameters.fromPyTorch(I, H, P, weightIh, new float[4 * H * P], null, null,
                        new float[P * H - 1]), "weightHr must hold [P=2][H=5] = 10 floats");
        fails(IllegalArgumentException.class,
                () -> LstmParameters.fromPyTorch(I, H, P, weightIh, new float[4 * H * H], null, null,
                        new float[P * H]), "weightHh must hold [4H=20][P=2] = 40 floats");
    }

    @Test
    void projectedParametersPackIntoTheSameWeights() {
        try (ProjectedTestModel model = new ProjectedTestModel(6, I, H, P);
             LstmParameters parameters = LstmParameters.fromPyTorch(I, H, P, model.weightIh, model.weightHh,
                     model.biasIh, model.biasHh, model.weightHr);
             LstmWeights packed = parameters.pack();
             LstmRunner direct = new LstmRunner(model.weights, 2);
             LstmRunner fromParameters = new LstmRunner(packed, 2)) {
            org.junit.jupiter.api.Assertions.assertEquals(P, parameters.projectionSize());
            org.junit.jupiter.api.Assertions.assertEquals(P, parameters.outputSize());
            float[] x = model.input(4, 2);
            float[] expected = new float[4 * 2 * P];
            float[] actual = new float[4 * 2 * P];
            direct.forward(x, 4, 2, null, null, expected, null, null);
            fromParameters.forward(x, 4, 2, null, null, actual, null, null);
            org.junit.jupiter.api.Assertions.assertArrayEquals(expected, actual);
        }
    }
}
