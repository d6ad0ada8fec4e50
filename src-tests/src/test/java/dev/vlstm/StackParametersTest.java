package dev.vlstm;

import static dev.vlstm.TrainerVsReferenceTest.floats;
import static dev.vlstm.TrainerVsReferenceTest.segment;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import org.junit.jupiter.api.Test;

/** The trainable parameters of a stack: seeded initialisation, packing, in-place updates, ownership of the layers. */
class StackParametersTest {

    private static final LstmStackShape SHAPE = new LstmStackShape(3, 5, 2, true);

    @Test
    void initialisationIsSeededPerLayerWithPyTorchsShapesAndBound() {
        try (LstmStackParameters a = LstmStackParameters.initialize(SHAPE, 9);
             LstmStackParameters b = LstmStackParameters.initialize(SHAPE, 9);
             LstmStackParameters c = LstmStackParameters.initialize(SHAPE, 10)) {
            assertEquals(SHAPE, a.shape());
            double bound = 1 / Math.sqrt(5);
            for (int layer = 0; layer < 2; layer++) {
                for (int direction = 0; direction < 2; direction++) {
                    LstmParameters part = a.layer(layer, direction);
                    assertEquals(layer == 0 ? 3 : 10, part.inputSize());
                    float[] weights = floats(part.weightIh());
                    assertArrayEquals(weights, floats(b.layer(layer, direction).weightIh()), "same seed");
                    assertFalse(Arrays.equals(weights, floats(c.layer(layer, direction).weightIh())), "other seed");
                    for (float value : weights) {
                        assertTrue(Math.abs(value) <= bound, "U(-1/sqrt(H), 1/sqrt(H)): " + value);
                    }
                    assertEquals(LstmParameters.DEFAULT_FORGET_BIAS,
                            part.biasIh().getAtIndex(ValueLayout.JAVA_FLOAT, 5), "forget bias of unit 0");
                }
            }
            assertFalse(Arrays.equals(floats(a.layer(0, 0).weightHh()), floats(a.layer(0, 1).weightHh())),
                    "each layer and direction draws its own values");
        }
    }

    @Test
    void updatingWeightsInPlaceEqualsPackingAnew() {
        try (LstmStackParameters parameters = LstmStackParameters.initialize(SHAPE, 11);
             LstmStackWeights weights = parameters.pack();
             LstmStackTrainer trainer = new LstmStackTrainer(weights, 2, 4);
             LstmStackRunner runner = new LstmStackRunner(weights, 2, 4)) {
            float[] x = TestModel.uniform(new java.util.SplittableRandom(2), 4 * 2 * 3, 1f);
            for (int layer = 0; layer < 2; layer++) {
                parameters.layer(layer, 1).weightHh().setAtIndex(ValueLayout.JAVA_FLOAT, 3, 0.75f);
                parameters.layer(layer, 0).biasHh().setAtIndex(ValueLayout.JAVA_FLOAT, 0, -0.5f);
            }
            trainer.updateWeights(parameters);
            float[] updated = new float[4 * 2 * 10];
            runner.forward(x, 4, 2, null, null, updated, null, null);
            float[] trained = new float[updated.length];
            trainer.forward(segment(x), 4, 2, null, null, segment(trained), null, null);
            try (LstmStackWeights fresh = parameters.pack();
                 LstmStackRunner freshRunner = new LstmStackRunner(fresh, 2, 4)) {
                float[] expected = new float[updated.length];
                freshRunner.forward(x, 4, 2, null, null, expected, null, null);
                assertArrayEquals(expected, updated, "runner on the updated weights");
                ForwardVsReferenceTest.assertWithin("trainer on the updated weights", trained,
                        TestModel.doubles(expected));
            }
        }
    }

    @Test
    void aStackOwnsItsLayersAndClosesThem() {
        long before = NativeMemory.liveBytes();
        LstmParameters first = LstmParameters.initialize(3, 5, 1);
        LstmParameters second = LstmParameters.initialize(5, 5, 2);
        LstmStackParameters stack = LstmStackParameters.of(false, first, second);
        assertEquals(new LstmStackShape(3, 5, 2, false), stack.shape());
        stack.close();
        assertEquals(before, NativeMemory.liveBytes(), "closing the stack frees every layer");
        assertThrows(IllegalStateException.class, first::weightIh);
    }
}
