package dev.vlstm;

import static dev.vlstm.TrainerVsReferenceTest.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The trainable {@link Parameters} of a stack (two bidirectional layers), for both cells: seeded initialisation,
 * repacking in place after an update, and freeing every layer on close.
 */
class StackParametersTest {

    private static RnnShape shape(Cell cell) {
        return RnnShape.of(cell, 3, 5).withLayers(2).withDirection(Direction.BIDIRECTIONAL);
    }

    /**
     * Every value uniform in ±1/√H, seeded: the same seed gives the same values, another seed others, and each layer
     * and direction draws its own; layer 1 reads the 2H features of the two directions below; an LSTM's forget-gate
     * biases sum to 1 (bias_ih 1, bias_hh 0); peepholes start at zero on top of the same values.
     */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void initialisationIsSeededPerLayerWithPyTorchsShapesAndBound(Cell cell) {
        RnnShape shape = shape(cell);
        int gateRows = cell.gates() * 5;
        try (Parameters a = Parameters.initialize(shape, 9);
             Parameters b = Parameters.initialize(shape, 9);
             Parameters c = Parameters.initialize(shape, 10)) {
            assertEquals(shape, a.shape());
            double bound = 1 / Math.sqrt(5);
            for (int layer = 0; layer < 2; layer++) {
                for (int direction = 0; direction < 2; direction++) {
                    String weightIh = shape.tensorName("weight_ih", layer, direction);
                    float[] weights = floats(a.tensor(weightIh));
                    assertEquals(gateRows * (layer == 0 ? 3 : 10), weights.length, weightIh);
                    assertArrayEquals(weights, floats(b.tensor(weightIh)), "same seed");
                    assertFalse(Arrays.equals(weights, floats(c.tensor(weightIh))), "other seed");
                    for (float value : weights) {
                        assertTrue(Math.abs(value) <= bound, "U(-1/sqrt(H), 1/sqrt(H)): " + value);
                    }
                    if (cell == Cell.LSTM) {
                        for (int unit = 0; unit < 5; unit++) {
                            assertEquals(1f, a.tensor(shape.tensorName("bias_ih", layer, direction))
                                    .getAtIndex(ValueLayout.JAVA_FLOAT, 5 + unit), "forget bias_ih of unit " + unit);
                            assertEquals(0f, a.tensor(shape.tensorName("bias_hh", layer, direction))
                                    .getAtIndex(ValueLayout.JAVA_FLOAT, 5 + unit), "forget bias_hh of unit " + unit);
                        }
                    }
                }
            }
            assertFalse(Arrays.equals(floats(a.tensor("weight_hh_l0")), floats(a.tensor("weight_hh_l0_reverse"))),
                    "each layer and direction draws its own values");
            if (cell.hasCellState()) {
                try (Parameters peepholes = Parameters.initialize(shape.withPeepholes(true), 9)) {
                    for (String name : a.names()) {
                        assertArrayEquals(floats(a.tensor(name)), floats(peepholes.tensor(name)), name);
                    }
                    assertEquals(a.names().size() + 4, peepholes.names().size());
                    assertArrayEquals(new float[cell.peepholeVectors() * 5],
                            floats(peepholes.tensor("peephole_l1_reverse")));
                }
            }
        }
    }

    /** After {@link Trainer#updateWeights}, the model's runner gives the bits of a model packed afresh. */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void updatingWeightsInPlaceEqualsPackingAnew(Cell cell) {
        Options options = Options.DEFAULT.withMaxBatch(2).withMaxSteps(4);
        try (Parameters parameters = Parameters.initialize(shape(cell), 11);
             Model model = Model.pack(parameters, options);
             Trainer trainer = model.trainer();
             Runner runner = model.runner()) {
            float[] x = TestRnn.uniform(new SplittableRandom(2), 4 * 2 * 3, 1f);
            float[] before = new float[4 * 2 * 10];
            runner.forward(x, 4, 2, null, null, before, null, null);
            for (int layer = 0; layer < 2; layer++) {
                parameters.tensor("weight_hh_l" + layer + "_reverse").setAtIndex(ValueLayout.JAVA_FLOAT, 3, 0.75f);
                parameters.tensor("bias_hh_l" + layer).setAtIndex(ValueLayout.JAVA_FLOAT, 0, -0.5f);
            }
            trainer.updateWeights(parameters);
            float[] updated = new float[before.length];
            runner.forward(x, 4, 2, null, null, updated, null, null);
            assertFalse(Arrays.equals(before, updated), "the update changes y");
            float[] trained = new float[updated.length];
            trainer.forward(x, 4, 2, null, null, trained, null, null);
            try (Model fresh = Model.pack(parameters, options);
                 Runner freshRunner = fresh.runner()) {
                float[] expected = new float[updated.length];
                freshRunner.forward(x, 4, 2, null, null, expected, null, null);
                assertArrayEquals(expected, updated, "runner on the updated weights");
                ForwardVsReferenceTest.assertWithin("trainer on the updated weights", trained,
                        TestRnn.doubles(expected));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void closingFreesEveryLayer(Cell cell) {
        long before = NativeMemory.liveBytes();
        Parameters parameters = Parameters.initialize(shape(cell), 1);
        assertTrue(NativeMemory.liveBytes() > before, "parameters hold native memory");
        parameters.close();
        assertEquals(before, NativeMemory.liveBytes(), "closing frees every layer");
        assertThrows(IllegalStateException.class, () -> parameters.tensor("weight_ih_l1_reverse"));
    }
}
