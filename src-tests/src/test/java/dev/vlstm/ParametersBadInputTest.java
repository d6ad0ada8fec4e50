package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every refusal of a model's sizes and values: {@link RnnShape} out of range, {@link Parameters#fromPyTorch} arrays
 * of the wrong count or length (naming layer, direction and tensor), {@link Model#pack} of a NaN or infinite value
 * (naming tensor, row and column), projection ({@code weight_hr}) and peephole tensors, and initialising peepholes.
 */
class ParametersBadInputTest {

    private static final int I = 3;
    private static final int H = 5;
    private static final int P = 2;

    static String message(Class<? extends Throwable> type, Executable call) {
        return assertThrows(type, call).getMessage();
    }

    /** Packs parameters made of {@code flatWeights} and closes both, for the refusals of {@link Model#pack}. */
    private static void pack(RnnShape shape, float[]... flatWeights) {
        try (Parameters parameters = Parameters.fromPyTorch(shape, flatWeights);
             Model model = Model.pack(parameters, Options.DEFAULT)) {
            assertEquals(shape, model.shape());
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void shapesOutOfRangeAreRefusedNamingTheSize(Cell cell) {
        assertEquals("inputSize must be >= 1, got 0",
                message(IllegalArgumentException.class, () -> RnnShape.of(cell, 0, H)));
        assertEquals("hiddenSize must be >= 1, got 0",
                message(IllegalArgumentException.class, () -> RnnShape.of(cell, I, 0)));
        assertEquals("cell must not be null", message(NullPointerException.class, () -> RnnShape.of(null, I, H)));
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(2);
        assertEquals("direction must not be null",
                message(NullPointerException.class, () -> shape.withDirection(null)));
        assertEquals("layer 2 is outside [0, 2)",
                message(IndexOutOfBoundsException.class, () -> shape.layerInputSize(2)));
        assertEquals("layer 2 is outside [0, 2)",
                message(IndexOutOfBoundsException.class, () -> shape.tensorName("weight_ih", 2, 0)));
        assertEquals("direction 1 is outside [0, 1) for a unidirectional model",
                message(IndexOutOfBoundsException.class, () -> shape.tensorName("weight_ih", 0, 1)));
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void flatWeightsOfTheWrongLengthAreNamedWithTheirShape(Cell cell) {
        RnnShape shape = RnnShape.of(cell, I, H);
        int g = cell.gates();
        String rows = g + "H=" + g * H;
        float[] weightIh = new float[g * H * I];
        float[] weightHh = new float[g * H * H];
        float[] bias = new float[g * H];
        assertEquals("layer 0 direction 0: weightIh must hold [" + rows + "][I=3] = " + g * H * I + " floats ("
                        + 4 * g * H * I + " bytes), but it holds " + (g * H * I - 1) + " floats ("
                        + 4 * (g * H * I - 1) + " bytes)",
                message(IllegalArgumentException.class,
                        () -> Parameters.fromPyTorch(shape, new float[g * H * I - 1], weightHh, bias, bias)));
        int otherCellRows = (7 - g) * H * I;   // the other cell's weight_ih: 4H rows for a GRU, 3H for an LSTM
        assertEquals("layer 0 direction 0: weightIh must hold [" + rows + "][I=3] = " + g * H * I + " floats ("
                        + 4 * g * H * I + " bytes), but it holds " + otherCellRows + " floats (" + 4 * otherCellRows
                        + " bytes)",
                message(IllegalArgumentException.class,
                        () -> Parameters.fromPyTorch(shape, new float[otherCellRows], weightHh, bias, bias)));
        assertEquals("layer 0 direction 0: weightHh must hold [" + rows + "][H=5] = " + g * H * H + " floats ("
                        + 4 * g * H * H + " bytes), but it holds " + (g * H * H + 4) + " floats ("
                        + 4 * (g * H * H + 4) + " bytes)",
                message(IllegalArgumentException.class,
                        () -> Parameters.fromPyTorch(shape, weightIh, new float[g * H * H + 4], bias, bias)));
        assertEquals("layer 0 direction 0: biasIh must hold [" + rows + "] = " + g * H + " floats (" + 4 * g * H
                        + " bytes), but it holds 5 floats (20 bytes)",
                message(IllegalArgumentException.class,
                        () -> Parameters.fromPyTorch(shape, weightIh, weightHh, new float[H], bias)));
        assertEquals("layer 0 direction 0: biasHh must hold [" + rows + "] = " + g * H + " floats (" + 4 * g * H
                        + " bytes), but it holds " + (g * H + 1) + " floats (" + 4 * (g * H + 1) + " bytes)",
                message(IllegalArgumentException.class,
                        () -> Parameters.fromPyTorch(shape, weightIh, weightHh, bias, new float[g * H + 1])));
        assertEquals("layer 0 direction 0: weightIh must not be null", message(IllegalArgumentException.class,
                () -> Parameters.fromPyTorch(shape, null, weightHh, bias, bias)));
        assertEquals("layer 0 direction 0: weightHh must not be null", message(IllegalArgumentException.class,
                () -> Parameters.fromPyTorch(shape, weightIh, null, bias, bias)));
        assertEquals("flatWeights must not be null",
                message(NullPointerException.class, () -> Parameters.fromPyTorch(shape, (float[][]) null)));
        assertEquals("shape must not be null", message(NullPointerException.class,
                () -> Parameters.fromPyTorch(null, weightIh, weightHh, bias, bias)));
        assertEquals("a model of " + shape + " has 4 flat weights (4 per layer and direction), got 3",
                message(IllegalArgumentException.class,
                        () -> Parameters.fromPyTorch(shape, weightIh, weightHh, bias)));
    }

    /** A stack's layers no longer come as separate weights: each array is checked against its layer's sizes. */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void aStacksArraysAreNamedByLayerAndDirection(Cell cell) {
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(2).withDirection(Direction.BIDIRECTIONAL);
        int g = cell.gates();
        try (TestRnn model = new TestRnn(1100, shape, Options.DEFAULT)) {
            float[][] belowsWidth = model.flatWeights.clone();
            belowsWidth[8] = new float[g * H * I];   // layer 1 reads 2H features from the two directions below
            assertEquals("layer 1 direction 0: weightIh must hold [" + g + "H=" + g * H + "][I=10] = " + g * H * 10
                            + " floats (" + 4 * g * H * 10 + " bytes), but it holds " + g * H * I + " floats ("
                            + 4 * g * H * I + " bytes)",
                    message(IllegalArgumentException.class, () -> Parameters.fromPyTorch(shape, belowsWidth)));
            float[][] reverse = model.flatWeights.clone();
            reverse[13] = new float[g * H * H + 1];
            assertEquals("layer 1 direction 1: weightHh must hold [" + g + "H=" + g * H + "][H=5] = " + g * H * H
                            + " floats (" + 4 * g * H * H + " bytes), but it holds " + (g * H * H + 1) + " floats ("
                            + 4 * (g * H * H + 1) + " bytes)",
                    message(IllegalArgumentException.class, () -> Parameters.fromPyTorch(shape, reverse)));
            assertEquals("a model of " + shape + " has 16 flat weights (4 per layer and direction), got 12",
                    message(IllegalArgumentException.class,
                            () -> Parameters.fromPyTorch(shape, Arrays.copyOf(model.flatWeights, 12))));
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void nonFiniteWeightsAreRefusedWhenPackedNamingLayerTensorAndElement(Cell cell) {
        RnnShape shape = RnnShape.of(cell, I, H);
        int g = cell.gates();
        float[] weightIh = new float[g * H * I];
        float[] weightHh = new float[g * H * H];
        float[] bias = new float[g * H];
        float[] nanHh = weightHh.clone();
        nanHh[2 * H + 3] = Float.NaN;
        assertEquals("layer 0: weightHh[2][3] is NaN: weights must be finite (flat index 13)",
                message(IllegalArgumentException.class, () -> pack(shape, weightIh, nanHh, bias, bias)));
        float[] infiniteIh = weightIh.clone();
        infiniteIh[4 * I + 1] = Float.POSITIVE_INFINITY;
        assertEquals("layer 0: weightIh[4][1] is Infinity: weights must be finite (flat index 13)",
                message(IllegalArgumentException.class, () -> pack(shape, infiniteIh, weightHh, bias, bias)));
        float[] badBias = bias.clone();
        badBias[g * H - 1] = Float.NEGATIVE_INFINITY;
        assertEquals("layer 0: biasHh[" + (g * H - 1) + "] is -Infinity: weights must be finite (flat index "
                + (g * H - 1) + ")",
                message(IllegalArgumentException.class, () -> pack(shape, weightIh, weightHh, bias, badBias)));
        assertEquals("layer 0: biasIh[" + (g * H - 1) + "] is -Infinity: weights must be finite (flat index "
                + (g * H - 1) + ")",
                message(IllegalArgumentException.class, () -> pack(shape, weightIh, weightHh, badBias, null)));
        RnnShape stack = shape.withLayers(2).withDirection(Direction.BIDIRECTIONAL);
        float[] deepIh = new float[g * H * 2 * H];
        assertEquals("layer 1 reverse: weightHh[2][3] is NaN: weights must be finite (flat index 13)",
                message(IllegalArgumentException.class, () -> pack(stack, weightIh, weightHh, bias, bias, weightIh,
                        weightHh, bias, bias, deepIh, weightHh, bias, bias, deepIh, nanHh, bias, bias)));
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void packRefusesNullsAndClosedParameters(Cell cell) {
        try (TestRnn model = new TestRnn(2, RnnShape.of(cell, I, H), Options.DEFAULT)) {
            assertEquals("parameters must not be null",
                    message(NullPointerException.class, () -> Model.pack((Parameters) null, Options.DEFAULT)));
            assertEquals("options must not be null",
                    message(NullPointerException.class, () -> Model.pack(model.parameters, null)));
            assertEquals("backend must not be null",
                    message(NullPointerException.class, () -> Options.DEFAULT.withBackend(null)));
            Parameters closed = Parameters.fromPyTorch(model.shape, model.flatWeights);
            closed.close();
            assertEquals("these Parameters are closed",
                    message(IllegalStateException.class, () -> Model.pack(closed, Options.DEFAULT)));
            assertEquals("these Parameters are closed",
                    message(IllegalStateException.class, () -> closed.tensor("weight_ih_l0")));
            closed.close();   // closing twice is harmless
        }
    }

    @Test
    void everyCellClipThatIsNotPositiveIsRefused() {
        for (float clip : new float[] {0f, -1f, Float.NaN, Float.NEGATIVE_INFINITY}) {
            assertEquals("cellClip must be > 0 (Float.POSITIVE_INFINITY for no clip), got " + clip,
                    message(IllegalArgumentException.class, () -> Options.DEFAULT.withCellClip(clip)));
        }
        assertEquals(Float.POSITIVE_INFINITY, Options.DEFAULT.cellClip(), "no clip by default");
    }

    @Test
    void projectionSizesOutOfRangeAreRefused() {
        RnnShape shape = RnnShape.of(Cell.LSTM, I, H);
        assertEquals("projectionSize must be >= 0 (0 for no projection), got -1",
                message(IllegalArgumentException.class, () -> shape.withProjection(-1)));
        for (int projectionSize : new int[] {H, H + 3}) {
            assertEquals("projectionSize must be < hiddenSize (PyTorch's proj_size < hidden_size): projectionSize="
                            + projectionSize + ", hiddenSize=5",
                    message(IllegalArgumentException.class, () -> shape.withProjection(projectionSize)));
        }
    }

    @Test
    void weightHrMustBePresentExactlyWithAProjectionAndOfItsShape() {
        RnnShape plain = RnnShape.of(Cell.LSTM, I, H);
        RnnShape projected = plain.withProjection(P);
        float[] weightIh = new float[4 * H * I];
        float[] weightHh = new float[4 * H * P];
        assertEquals("layer 0 direction 0: weightHr must not be null when projectionSize = 2",
                message(IllegalArgumentException.class,
                        () -> Parameters.fromPyTorch(projected, weightIh, weightHh, null, null, null)));
        assertEquals("a model of " + projected + " has 5 flat weights (5 per layer and direction), got 4",
                message(IllegalArgumentException.class,
                        () -> Parameters.fromPyTorch(projected, weightIh, weightHh, null, null)));
        assertEquals("a model of " + plain + " has 4 flat weights (4 per layer and direction), got 5",
                message(IllegalArgumentException.class, () -> Parameters.fromPyTorch(plain, weightIh,
                        new float[4 * H * H], null, null, new float[P * H])));
        assertEquals("layer 0 direction 0: weightHr must hold [P=2][H=5] = 10 floats (40 bytes), but it holds 11"
                        + " floats (44 bytes)", message(IllegalArgumentException.class,
                () -> Parameters.fromPyTorch(projected, weightIh, weightHh, null, null, new float[P * H + 1])));
        assertEquals("layer 0 direction 0: weightHh must hold [4H=20][P=2] = 40 floats (160 bytes), but it holds 100"
                        + " floats (400 bytes)", message(IllegalArgumentException.class,
                () -> Parameters.fromPyTorch(projected, weightIh, new float[4 * H * H], null, null,
                        new float[P * H])));
        float[] weightHr = new float[P * H];
        weightHr[7] = Float.NaN;
        assertEquals("layer 0: weightHr[1][2] is NaN: weights must be finite (flat index 7)",
                message(IllegalArgumentException.class,
                        () -> pack(projected, weightIh, weightHh, null, null, weightHr)));
    }

    @Test
    void peepholesOfTheWrongLengthOrValueAreNamed() {
        RnnShape shape = RnnShape.of(Cell.LSTM, I, H).withPeepholes(true);
        float[] weightIh = new float[4 * H * I];
        float[] weightHh = new float[4 * H * H];
        assertEquals("layer 0 direction 0: peepholes must hold [3=3][H=5] = 15 floats (60 bytes), but it holds 14"
                        + " floats (56 bytes)", message(IllegalArgumentException.class,
                () -> Parameters.fromPyTorch(shape, weightIh, weightHh, null, null, new float[3 * H - 1])));
        assertEquals("layer 0 direction 0: peepholes must hold [3=3][H=5] = 15 floats (60 bytes), but it holds 20"
                        + " floats (80 bytes)", message(IllegalArgumentException.class,
                () -> Parameters.fromPyTorch(shape, weightIh, weightHh, null, null, new float[4 * H])));
        // Layer 1 reads 5 features, not 3: its peephole length still depends on H only.
        assertEquals("layer 1 direction 0: peepholes must hold [3=3][H=5] = 15 floats (60 bytes), but it holds 16"
                        + " floats (64 bytes)", message(IllegalArgumentException.class,
                () -> Parameters.fromPyTorch(shape.withLayers(2), weightIh, weightHh, null, null, new float[3 * H],
                        weightHh, weightHh, null, null, new float[3 * H + 1])));
        float[] nan = new float[3 * H];
        nan[H + 2] = Float.NaN;
        assertEquals("layer 0: peepholes[1][2] is NaN: weights must be finite (flat index 7)",
                message(IllegalArgumentException.class, () -> pack(shape, weightIh, weightHh, null, null, nan)));
        float[] infinite = new float[3 * H];
        infinite[2 * H + 4] = Float.NEGATIVE_INFINITY;
        assertEquals("layer 0: peepholes[2][4] is -Infinity: weights must be finite (flat index 14)",
                message(IllegalArgumentException.class, () -> pack(shape, weightIh, weightHh, null, null, infinite)));
    }
}
