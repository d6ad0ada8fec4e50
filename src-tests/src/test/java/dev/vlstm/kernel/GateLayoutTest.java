package dev.vlstm.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.Consumer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The packed layouts put each PyTorch value where docs/architecture.md ("Packed weights") says, for the LSTM's four
 * gates and the GRU's three: every test builds the whole expected target from index formulas written out here,
 * independently of {@link GateLayout} and {@link Packing}, so a value in a wrong place, a missing value and a
 * non-zero padding position all fail.
 */
class GateLayoutTest {

    /** Four-gate tile width of the backward and projection GEMMs, in lanes. */
    private static final int TILE_GATES = 4;

    @ParameterizedTest(name = "G={0} H={1} depth={2} lanes={3}")
    @CsvSource({"4, 3, 2, 2", "3, 3, 2, 2", "4, 5, 3, 4", "3, 5, 3, 4", "3, 8, 1, 8", "4, 1, 5, 1"})
    void sizesFollowBlocksOfLanes(int gates, int hidden, int depth, int lanes) {
        GateLayout layout = new GateLayout(gates, depth, hidden, lanes);
        int blocks = (hidden + lanes - 1) / lanes;
        assertEquals(blocks, layout.blocks());
        assertEquals(blocks * lanes, layout.paddedHidden());
        assertEquals(gates * blocks * lanes, layout.gateRowFloats());
        assertEquals((long) depth * gates * lanes, layout.panelFloats(depth));
        assertEquals((long) blocks * depth * gates * lanes, layout.packedFloats(depth));
        for (int gate = 0; gate < gates; gate++) {
            for (int unit = 0; unit < layout.paddedHidden(); unit++) {
                assertEquals(gateRowIndex(gates, lanes, gate, unit), layout.gateIndex(gate, unit));
            }
        }
    }

    @Test
    void factoriesAndSizeChecks() {
        assertEquals(new GateLayout(4, 2, 3, 8), GateLayout.lstm(2, 3, 8));
        assertEquals(new GateLayout(3, 2, 3, 8), GateLayout.gru(2, 3, 8));
        assertThrows(IllegalArgumentException.class, () -> new GateLayout(0, 2, 3, 8));
        assertThrows(IllegalArgumentException.class, () -> new GateLayout(3, 0, 3, 8));
        assertThrows(IllegalArgumentException.class, () -> new GateLayout(3, 2, Integer.MAX_VALUE / 3, 8));
    }

    @ParameterizedTest(name = "G={0} H={1} depth={2} lanes={3}")
    @CsvSource({"4, 3, 2, 2", "3, 3, 2, 2", "4, 5, 3, 4", "3, 5, 3, 4", "3, 9, 1, 8"})
    void weightsLandInTheirBlockGateAndLaneAndPaddingIsZero(int gates, int hidden, int depth, int lanes) {
        GateLayout layout = new GateLayout(gates, depth, hidden, lanes);
        float[] source = counting(gates * hidden * depth);
        int blocks = (hidden + lanes - 1) / lanes;
        float[] expected = new float[blocks * depth * gates * lanes];
        for (int gate = 0; gate < gates; gate++) {
            for (int unit = 0; unit < hidden; unit++) {
                for (int k = 0; k < depth; k++) {
                    int index = ((unit / lanes * depth + k) * gates + gate) * lanes + unit % lanes;
                    expected[index] = source[(gate * hidden + unit) * depth + k];
                }
            }
        }
        assertArrayEquals(expected, packed(expected.length, packed -> Packing.gates(layout, WeightFormat.FLOAT32,
                "w", MemorySegment.ofArray(source), depth, packed)));
    }

    /**
     * The LSTM sums b_ih + b_hh into its gate row; the GRU does so for r and z, puts only b_in in n's slots and
     * b_hn in a row of its own. A missing b_hh counts as zero.
     */
    @ParameterizedTest(name = "G={0} lanes={1}")
    @CsvSource({"4, 1", "4, 2", "4, 4", "3, 1", "3, 2", "3, 4"})
    void biasesAreSummedIntoGateRowsExceptTheGrusRecurrentNewGateBias(int gates, int lanes) {
        int hidden = 3;
        boolean gru = gates == 3;
        GateLayout layout = new GateLayout(gates, 1, hidden, lanes);
        float[] biasIh = counting(gates * hidden);
        float[] biasHh = counting(gates * hidden, 100);
        float[] expectedInput = new float[layout.gateRowFloats()];
        float[] expectedRecurrent = new float[layout.paddedHidden()];
        float[] ihOnly = new float[layout.gateRowFloats()];
        for (int gate = 0; gate < gates; gate++) {
            for (int unit = 0; unit < hidden; unit++) {
                int index = gateRowIndex(gates, lanes, gate, unit);
                int row = gate * hidden + unit;
                ihOnly[index] = biasIh[row];
                if (gru && gate == 2) {
                    expectedInput[index] = biasIh[row];
                    expectedRecurrent[unit] = biasHh[row];
                } else {
                    expectedInput[index] = biasIh[row] + biasHh[row];
                }
            }
        }
        for (boolean withHh : new boolean[]{true, false}) {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment input = arena.allocate((long) layout.gateRowFloats() * Float.BYTES);
                MemorySegment recurrent = arena.allocate((long) layout.paddedHidden() * Float.BYTES);
                MemorySegment hh = withHh ? MemorySegment.ofArray(biasHh) : null;
                if (gru) {
                    Packing.linearBeforeResetBias(layout, MemorySegment.ofArray(biasIh), hh, input, recurrent);
                } else {
                    Packing.summedBias(layout, MemorySegment.ofArray(biasIh), hh, input);
                }
                assertArrayEquals(withHh ? expectedInput : ihOnly, input.toArray(ValueLayout.JAVA_FLOAT));
                assertArrayEquals(withHh ? expectedRecurrent : new float[layout.paddedHidden()],
                        recurrent.toArray(ValueLayout.JAVA_FLOAT));
            }
        }
    }

    /** An LSTM's p_i, p_f, p_o at the slots of i, f and o; a CIFG's p_i, p_o at those of i and o (gates i, g, o). */
    @ParameterizedTest(name = "G={0}")
    @ValueSource(ints = {4, 3})
    void peepholesSitAtTheSlotsOfTheirGates(int gates) {
        int hidden = 3;
        int lanes = 2;
        GateLayout layout = new GateLayout(gates, 1, hidden, lanes);
        int[] gateOfRow = gates == 4 ? new int[] {0, 1, 3} : new int[] {0, 2};
        float[] source = counting(gateOfRow.length * hidden);
        float[] expected = new float[layout.gateRowFloats()];
        assertEquals(gateOfRow.length, Packing.peepholeVectors(layout));
        for (int row = 0; row < gateOfRow.length; row++) {
            assertEquals(gateOfRow[row], Packing.peepholeGate(layout, row));
            for (int unit = 0; unit < hidden; unit++) {
                expected[gateRowIndex(gates, lanes, gateOfRow[row], unit)] = source[row * hidden + unit];
            }
        }
        assertArrayEquals(expected, packed(expected.length, packed -> Packing.peepholes(layout,
                MemorySegment.ofArray(source), packed)));
    }

    @ParameterizedTest(name = "G={0} H={1} depth={2} lanes={3}")
    @CsvSource({"4, 3, 2, 2", "3, 3, 2, 2", "4, 5, 11, 2", "3, 5, 11, 2", "3, 7, 9, 1", "4, 2, 3, 4"})
    void transposedPanelsHoldEachWeightAtItsGateRowPositionAndColumn(int gates, int hidden, int depth, int lanes) {
        GateLayout layout = new GateLayout(gates, depth, hidden, lanes);
        float[] source = counting(gates * hidden * depth);
        int tileWidth = TILE_GATES * lanes;
        int tiles = (depth + tileWidth - 1) / tileWidth;
        int gateRow = gates * layout.paddedHidden();
        GateLayout transposed = layout.transposed(depth);
        assertEquals(new GateLayout(TILE_GATES, gateRow, tiles * lanes, lanes), transposed);
        float[] expected = new float[tiles * gateRow * tileWidth];
        for (int gate = 0; gate < gates; gate++) {
            for (int unit = 0; unit < hidden; unit++) {
                for (int k = 0; k < depth; k++) {
                    long m = gateRowIndex(gates, lanes, gate, unit);
                    expected[(int) (((long) (k / tileWidth) * gateRow + m) * tileWidth + k % tileWidth)] =
                            source[(gate * hidden + unit) * depth + k];
                }
            }
        }
        float[] packedWeights = packed((int) layout.packedFloats(depth), packed -> Packing.gates(layout,
                WeightFormat.FLOAT32, "w", MemorySegment.ofArray(source), depth, packed));
        assertEquals(expected.length, transposed.packedFloats(gateRow));
        assertArrayEquals(expected, packed(expected.length, packed -> Packing.transposed(layout,
                MemorySegment.ofArray(packedWeights), depth, packed)));
    }

    @ParameterizedTest(name = "outputs={0} depth={1} lanes={2}")
    @CsvSource({"3, 2, 2", "9, 5, 2", "17, 3, 4", "5, 9, 1"})
    void plainPanelsAndTheirTransposeHoldEachValueInTilesOfFourGates(int outputs, int depth, int lanes) {
        float[] source = counting(outputs * depth);   // S [outputs][depth]
        int tileWidth = TILE_GATES * lanes;
        GateLayout plain = GateLayout.plain(depth, outputs, lanes);
        int tiles = (outputs + tileWidth - 1) / tileWidth;
        assertEquals(new GateLayout(TILE_GATES, depth, tiles * lanes, lanes), plain);
        float[] expected = new float[tiles * depth * tileWidth];
        for (int q = 0; q < outputs; q++) {
            for (int k = 0; k < depth; k++) {
                expected[(q / tileWidth * depth + k) * tileWidth + q % tileWidth] = source[q * depth + k];
            }
        }
        float[] packedPlain = packed((int) plain.packedFloats(depth),
                packed -> Packing.plain(plain, MemorySegment.ofArray(source), outputs, packed));
        assertArrayEquals(expected, packedPlain);

        int transposedTiles = (depth + tileWidth - 1) / tileWidth;
        float[] expectedTransposed = new float[transposedTiles * outputs * tileWidth];
        for (int q = 0; q < outputs; q++) {
            for (int j = 0; j < depth; j++) {
                expectedTransposed[(j / tileWidth * outputs + q) * tileWidth + j % tileWidth] = source[q * depth + j];
            }
        }
        assertEquals(expectedTransposed.length, GateLayout.plain(outputs, depth, lanes).packedFloats(outputs));
        assertArrayEquals(expectedTransposed, packed(expectedTransposed.length, packed -> Packing.plainTransposed(
                plain, MemorySegment.ofArray(packedPlain), outputs, packed)));
    }

    /** Index of a gate of a unit in a gate row {@code [block][gate][lane]}. */
    private static int gateRowIndex(int gates, int lanes, int gate, int unit) {
        return (unit / lanes * gates + gate) * lanes + unit % lanes;
    }

    /** 1, 2, 3, ...: distinct, exact values, none zero, so a misplaced or missing one shows. */
    private static float[] counting(int length) {
        return counting(length, 1);
    }

    /** {@code step}, 2 {@code step}, 3 {@code step}, ... */
    private static float[] counting(int length, float step) {
        float[] values = new float[length];
        for (int n = 0; n < length; n++) {
            values[n] = step * (n + 1);
        }
        return values;
    }

    /** Runs {@code pack} on a zero-filled native target of {@code floats} floats and returns its contents. */
    private static float[] packed(int floats, Consumer<MemorySegment> pack) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment target = arena.allocate((long) floats * Float.BYTES, 64);
            pack.accept(target);
            return target.toArray(ValueLayout.JAVA_FLOAT);
        }
    }
}
