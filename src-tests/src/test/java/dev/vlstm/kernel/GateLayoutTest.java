package dev.vlstm.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

/**
 * The packed layout puts each PyTorch weight where docs/architecture.md ("Packed weights") says:
 * {@code [block][k][gate][lane]}, zero-padded.
 */
class GateLayoutTest {

    @Test
    void weightsLandInTheirBlockGateAndLaneAndPaddingIsZero() {
        int hidden = 3;
        int depth = 2;
        int lanes = 2;
        GateLayout layout = new GateLayout(depth, hidden, lanes);
        assertEquals(2, layout.blocks());
        assertEquals(4, layout.paddedHidden());
        float[] source = new float[4 * hidden * depth];
        for (int n = 0; n < source.length; n++) {
            source[n] = n + 1;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment packed = arena.allocate(layout.packedFloats(depth) * Float.BYTES);
            layout.packWeights(MemorySegment.ofArray(source), depth, packed);
            for (int gate = 0; gate < 4; gate++) {
                for (int unit = 0; unit < 4; unit++) {
                    for (int k = 0; k < depth; k++) {
                        int block = unit / lanes;
                        long index = ((long) (block * depth + k) * 4 + gate) * lanes + unit % lanes;
                        float expected = unit < hidden ? source[(gate * hidden + unit) * depth + k] : 0f;
                        assertEquals(expected, packed.getAtIndex(ValueLayout.JAVA_FLOAT, index),
                                "gate " + gate + " unit " + unit + " k " + k);
                    }
                }
            }
        }
    }

    @Test
    void biasesAreSummedIntoGateRows() {
        GateLayout layout = new GateLayout(1, 3, 2);
        float[] biasIh = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
        float[] biasHh = {100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1100, 1200};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment packed = arena.allocate((long) layout.gateRowFloats() * Float.BYTES);
            layout.packBias(MemorySegment.ofArray(biasIh), MemorySegment.ofArray(biasHh), packed);
            assertEquals(101f, packed.getAtIndex(ValueLayout.JAVA_FLOAT, layout.gateIndex(0, 0)));
            assertEquals(1212f, packed.getAtIndex(ValueLayout.JAVA_FLOAT, layout.gateIndex(3, 2)));
            assertEquals(606f, packed.getAtIndex(ValueLayout.JAVA_FLOAT, layout.gateIndex(1, 2)));
            // Unit 3 is padding in block 1.
            assertEquals(0f, packed.getAtIndex(ValueLayout.JAVA_FLOAT, 1L * 4 * 2 + 2 * 2 + 1));
        }
    }
}
