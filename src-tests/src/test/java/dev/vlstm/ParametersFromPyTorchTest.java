package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

/**
 * {@link Parameters#fromPyTorch} takes the arrays in {@code _flat_weights} order: each lands in the tensor of its
 * state_dict name, for LSTMs (with projection, with peepholes) and GRUs of two bidirectional layers; a wrong count or
 * length is refused, naming the part.
 */
class ParametersFromPyTorchTest {

    @Test
    void everyArrayLandsInTheTensorOfItsName() {
        SplittableRandom random = new SplittableRandom(9);
        RnnShape lstm = RnnShape.of(Cell.LSTM, 3, 5).withLayers(2).withDirection(Direction.BIDIRECTIONAL);
        for (RnnShape shape : List.of(lstm, lstm.withProjection(2), lstm.withPeepholes(true),
                RnnShape.of(Cell.GRU, 3, 5).withLayers(2).withDirection(Direction.BIDIRECTIONAL))) {
            List<String> names = new ArrayList<>();
            List<float[]> flat = new ArrayList<>();
            for (int layer = 0; layer < shape.layers(); layer++) {
                for (int d = 0; d < shape.direction().count(); d++) {
                    int gateRows = shape.gates() * shape.hiddenSize();
                    add(names, flat, random, shape.tensorName("weight_ih", layer, d),
                            gateRows * shape.layerInputSize(layer));
                    add(names, flat, random, shape.tensorName("weight_hh", layer, d),
                            gateRows * shape.hiddenStateSize());
                    add(names, flat, random, shape.tensorName("bias_ih", layer, d), gateRows);
                    add(names, flat, random, shape.tensorName("bias_hh", layer, d), gateRows);
                    if (shape.projectionSize() > 0) {
                        add(names, flat, random, shape.tensorName("weight_hr", layer, d),
                                shape.projectionSize() * shape.hiddenSize());
                    }
                    if (shape.peepholes()) {
                        add(names, flat, random, shape.tensorName("peephole", layer, d), 3 * shape.hiddenSize());
                    }
                }
            }
            try (Parameters parameters = Parameters.fromPyTorch(shape, flat.toArray(float[][]::new))) {
                assertEquals(shape, parameters.shape());
                assertEquals(names, parameters.names());
                for (int n = 0; n < names.size(); n++) {
                    assertArrayEquals(flat.get(n), parameters.tensor(names.get(n)).toArray(ValueLayout.JAVA_FLOAT),
                            names.get(n) + " of " + shape);
                }
            }
        }
    }

    @Test
    void aWrongCountOrLengthIsRefusedNamingThePart() {
        RnnShape shape = RnnShape.of(Cell.GRU, 2, 3).withDirection(Direction.BIDIRECTIONAL);
        float[] weightIh = new float[9 * 2];
        float[] weightHh = new float[9 * 3];
        IllegalArgumentException count = assertThrows(IllegalArgumentException.class,
                () -> Parameters.fromPyTorch(shape, weightIh, weightHh, null, null));
        assertEquals("a model of " + shape + " has 8 flat weights (4 per layer and direction), got 4",
                count.getMessage());
        IllegalArgumentException length = assertThrows(IllegalArgumentException.class,
                () -> Parameters.fromPyTorch(shape, weightIh, weightHh, null, null, weightIh, weightIh, null, null));
        assertTrue(length.getMessage().startsWith("layer 0 direction 1: ") && length.getMessage().contains("weightHh"),
                length.getMessage());
    }

    private static void add(List<String> names, List<float[]> flat, SplittableRandom random, String name, int length) {
        float[] values = new float[length];
        for (int n = 0; n < length; n++) {
            values[n] = (float) random.nextDouble(-1, 1);
        }
        names.add(name);
        flat.add(values);
    }
}
