package dev.vlstm.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import dev.vlstm.LstmGradients;
import dev.vlstm.LstmStackGradients;
import dev.vlstm.LstmStackShape;

/** Clipping a whole stack's gradients by one norm over every layer and direction, as clip_grad_norm_ on nn.LSTM. */
class StackGradientClippingTest {

    @Test
    void oneNormOverEveryLayerAndOneScaleForAll() {
        LstmStackShape shape = new LstmStackShape(3, 4, 2, true);
        try (LstmStackGradients gradients = new LstmStackGradients(shape)) {
            SplittableRandom random = new SplittableRandom(5);
            double squares = 0;
            for (int layer = 0; layer < 2; layer++) {
                for (int direction = 0; direction < 2; direction++) {
                    LstmGradients part = gradients.layer(layer, direction);
                    // Layers of very different sizes, so that clipping each alone would scale them differently.
                    double magnitude = layer * 2 + direction + 1;
                    for (MemorySegment tensor : ParameterPairs.of(part)) {
                        for (long n = 0; n < tensor.byteSize() / Float.BYTES; n++) {
                            float value = (float) (random.nextDouble(-1, 1) * magnitude);
                            tensor.setAtIndex(ValueLayout.JAVA_FLOAT, n, value);
                            squares += (double) value * value;
                        }
                    }
                }
            }
            float before = gradients.layer(1, 1).weightHh().getAtIndex(ValueLayout.JAVA_FLOAT, 3);
            float beforeFirst = gradients.layer(0, 0).biasIh().getAtIndex(ValueLayout.JAVA_FLOAT, 1);
            double norm = Math.sqrt(squares);
            assertEquals(norm, GradientClipping.clipGlobalNorm(gradients, norm / 4), 1e-9 * norm);
            double scale = (norm / 4) / (norm + 1e-6);
            assertEquals(before * scale, gradients.layer(1, 1).weightHh().getAtIndex(ValueLayout.JAVA_FLOAT, 3), 1e-6);
            assertEquals(beforeFirst * scale, gradients.layer(0, 0).biasIh().getAtIndex(ValueLayout.JAVA_FLOAT, 1),
                    1e-6);
            assertEquals(norm / 4, GradientClipping.clipGlobalNorm(gradients, norm), 1e-5 * norm, "clipped norm");
            assertThrows(IllegalArgumentException.class, () -> GradientClipping.clipGlobalNorm(gradients, -1));
        }
    }
}
