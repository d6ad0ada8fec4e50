package dev.vlstm.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The compressed weight formats: bfloat16 rounding (to nearest, ties to even, and its error bound), int8 scales
 * and quantisation (its error bound, all-zero and tiny rows), and packing: every weight's operand lands where the
 * kernels read it, for four gates and three, at several lane counts, with zero padding.
 */
class CompressedWeightFormatTest {

    /** bfloat16 keeps 8 significant bits: unit roundoff u = 2^-8, relative error at most u / (1 + u). */
    private static final double BFLOAT16_RELATIVE_ERROR = 0x1p-8 / (1 + 0x1p-8);

    @Test
    void bfloat16RoundsToNearestWithTiesToEven() {
        assertEquals(0x3F80, WeightFormat.toBfloat16(1f));
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: the tie goes to the even 1.
        assertEquals(0x3F80, WeightFormat.toBfloat16(Float.intBitsToFloat(0x3F808000)));
        // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up.
        assertEquals(0x3F82, WeightFormat.toBfloat16(Float.intBitsToFloat(0x3F818000)));
        // Just above and below the tie.
        assertEquals(0x3F81, WeightFormat.toBfloat16(Float.intBitsToFloat(0x3F808001)));
        assertEquals(0x3F80, WeightFormat.toBfloat16(Float.intBitsToFloat(0x3F807FFF)));
        // Sign is kept; negative ties go to even too.
        assertEquals(0xBF80, WeightFormat.toBfloat16(Float.intBitsToFloat(0xBF808000)));
        assertEquals(0xBF82, WeightFormat.toBfloat16(Float.intBitsToFloat(0xBF818000)));
        // A carry through the exponent: just below 2 rounds to 2.
        assertEquals(0x4000, WeightFormat.toBfloat16(Math.nextDown(2f)));
        assertEquals(0x8000, WeightFormat.toBfloat16(-0f));
        assertEquals(0, WeightFormat.toBfloat16(Float.MIN_VALUE));
        // The largest finite bfloat16, and the first float that rounds past it.
        assertEquals(0x7F7F, WeightFormat.toBfloat16(Float.intBitsToFloat(0x7F7F7FFF)));
        assertEquals(0x7F80, WeightFormat.toBfloat16(Float.intBitsToFloat(0x7F7F8000)));
        assertEquals(3.3895314e38f, WeightFormat.fromBfloat16(0x7F7F));
    }

    @Test
    void bfloat16IsTheNearestAndWithinItsErrorBound() {
        SplittableRandom random = new SplittableRandom(5);
        for (int n = 0; n < 1_000_000; n++) {
            float value = Float.intBitsToFloat(random.nextInt(0x7F7F0000) | (random.nextBoolean() ? 0x80000000 : 0));
            int bits = WeightFormat.toBfloat16(value);
            float rounded = WeightFormat.fromBfloat16(bits);
            double error = Math.abs((double) value - rounded);
            if (Math.abs(value) >= Float.MIN_NORMAL) {
                assertTrue(error <= BFLOAT16_RELATIVE_ERROR * Math.abs(value), value + " -> " + rounded);
            } else {
                assertTrue(error <= 0x1p-134, value + " -> " + rounded);
            }
            // No other bfloat16 is nearer: the neighbours in magnitude (same sign) are at least as far.
            assertTrue(Math.abs((double) value - WeightFormat.fromBfloat16(bits + 1)) >= error, value + " up");
            if ((bits & 0x7FFF) != 0) {
                assertTrue(Math.abs((double) value - WeightFormat.fromBfloat16(bits - 1)) >= error, value + " down");
            }
        }
    }

    @Test
    void int8ScaleMakesEveryQuantFitAndAnAllZeroRowHasScaleZero() {
        assertEquals(0f, WeightFormat.int8Scale(0f));
        assertEquals(0, WeightFormat.quantise(0f, 0f));
        assertEquals(1f, WeightFormat.int8Scale(127f));
        assertEquals(127, WeightFormat.quantise(127f, 1f));
        assertEquals(-127, WeightFormat.quantise(-127f, 1f));
        SplittableRandom random = new SplittableRandom(6);
        float[] largests = {Float.MIN_VALUE, 3 * Float.MIN_VALUE, 1e-44f, 1e-40f, Float.MIN_NORMAL, 1e-20f, 0.05f, 1f,
                1e30f, Float.MAX_VALUE};
        for (int n = 0; n < 100_000 + largests.length; n++) {
            float largest = n < largests.length ? largests[n]
                    : (float) Math.scalb(1 + random.nextDouble(), random.nextInt(-149, 127));
            float scale = WeightFormat.int8Scale(largest);
            assertTrue(scale > 0, "scale of " + largest);
            assertTrue((double) scale * 127 >= largest, "127 * " + scale + " < " + largest);
            assertTrue((double) Math.nextDown(scale) * 127 < largest, "scale of " + largest + " is not the least");
            if (scale >= Float.MIN_NORMAL) {
                // Below that, scales are subnormal and coarse: the largest weight may quantise to less than 127.
                assertEquals(127, WeightFormat.quantise(largest, scale), "largest " + largest);
            }
            for (float value : new float[]{largest, -largest, largest * random.nextFloat(), -largest / 3,
                    scale / 2, scale * 1.5f, scale * 126.5f}) {
                int q = WeightFormat.quantise(value, scale);
                assertTrue(q >= -127 && q <= 127, value + " -> " + q);
                assertTrue(Math.abs(value - q * (double) scale) <= scale / 2.0,
                        value + " -> " + q + " * " + scale);
            }
        }
        // Ties go to even.
        assertEquals(2, WeightFormat.quantise(2.5f, 1f));
        assertEquals(4, WeightFormat.quantise(3.5f, 1f));
        assertEquals(-2, WeightFormat.quantise(-2.5f, 1f));
    }

    @ParameterizedTest(name = "G={0} lanes={1} H={2} depth={3}")
    @CsvSource({"4, 4, 5, 3", "4, 8, 17, 2", "4, 16, 3, 7", "4, 16, 33, 1", "3, 4, 5, 3", "3, 8, 17, 2",
            "3, 16, 33, 1"})
    void packedOperandsAndScalesLandWhereKernelsReadThem(int gates, int lanes, int hidden, int depth) {
        GateLayout layout = new GateLayout(gates, depth, hidden, lanes);
        SplittableRandom random = new SplittableRandom(lanes * 100 + hidden);
        float[] source = new float[gates * hidden * depth];
        for (int n = 0; n < source.length; n++) {
            source[n] = (float) random.nextDouble(-1, 1);
        }
        // One all-zero row: scale 0, q 0.
        java.util.Arrays.fill(source, depth, 2 * depth, 0f);
        try (Arena arena = Arena.ofConfined()) {
            for (WeightFormat format : WeightFormat.values()) {
                MemorySegment packed = arena.allocate(format.packedBytes(layout, depth), 64);
                Packing.gates(layout, format, "w", MemorySegment.ofArray(source), depth, packed);
                for (int gate = 0; gate < gates; gate++) {
                    for (int unit = 0; unit < layout.paddedHidden(); unit++) {
                        int row = gate * hidden + unit;
                        float largest = 0;
                        for (int k = 0; unit < hidden && k < depth; k++) {
                            largest = Math.max(largest, Math.abs(source[row * depth + k]));
                        }
                        float scale = WeightFormat.int8Scale(largest);
                        if (format.scaled()) {
                            assertEquals(scale, format.scale(packed, layout.gateIndex(gate, unit)),
                                    format + " scale of gate " + gate + " unit " + unit);
                        }
                        for (int k = 0; k < depth; k++) {
                            float weight = unit < hidden ? source[row * depth + k] : 0f;
                            float expected = switch (format) {
                                case FLOAT32 -> weight;
                                case BFLOAT16 -> WeightFormat.fromBfloat16(WeightFormat.toBfloat16(weight));
                                case INT8 -> WeightFormat.quantise(weight, scale);
                            };
                            assertEquals(expected, format.operand(packed, layout, depth, unit / lanes, k, gate,
                                    unit % lanes), format + " gate " + gate + " unit " + unit + " k " + k);
                        }
                    }
                }
            }
        }
    }

    @Test
    void compressedPanelsAreHalfAndAQuarterOfFloatPanels() {
        GateLayout layout = GateLayout.lstm(40, 33, 16);
        long floats = WeightFormat.FLOAT32.packedBytes(layout, 40);
        assertEquals(layout.packedFloats(40) * Float.BYTES, floats);
        assertEquals(floats / 2, WeightFormat.BFLOAT16.packedBytes(layout, 40));
        assertEquals(floats / 4 + (long) layout.gateRowFloats() * Float.BYTES,
                WeightFormat.INT8.packedBytes(layout, 40));
        assertEquals(0, WeightFormat.INT8.packedBytes(layout, 40) % 64, "panels stay cache-line aligned");
    }

    /**
     * One unit, depth 1, four lanes: the gates' bfloat16 values 1, 2, -3 (and 0.5 for a fourth gate) are 0x3F80,
     * 0x4000, 0xC040 and 0x3F00. Three gates leave the last pair's high half zero, even over a dirty target.
     */
    @ParameterizedTest(name = "G={0}")
    @CsvSource({"4, 0x3F00C040", "3, 0x0000C040"})
    void bfloat16PanelsHoldPairsOfGatesInTheLowAndHighHalvesOfInts(int gates, String secondPair) {
        GateLayout layout = new GateLayout(gates, 1, 1, 4);
        float[] source = java.util.Arrays.copyOf(new float[]{1f, 2f, -3f, 0.5f}, gates);
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(2L * 4 * Integer.BYTES, WeightFormat.BFLOAT16.packedBytes(layout, 1), "two pairs of 4 lanes");
            MemorySegment packed = arena.allocate(WeightFormat.BFLOAT16.packedBytes(layout, 1), 64);
            packed.fill((byte) 0x55);
            Packing.gates(layout, WeightFormat.BFLOAT16, "w", MemorySegment.ofArray(source), 1, packed);
            assertEquals(0x4000_3F80, packed.getAtIndex(ValueLayout.JAVA_INT, 0), "first gate low, second high");
            assertEquals(Integer.parseUnsignedInt(secondPair.substring(2), 16),
                    packed.getAtIndex(ValueLayout.JAVA_INT, 4), "third gate low, fourth or zero high");
            for (int lane = 1; lane < 4; lane++) {
                assertEquals(0, packed.getAtIndex(ValueLayout.JAVA_INT, lane), "padding lane " + lane);
                assertEquals(0, packed.getAtIndex(ValueLayout.JAVA_INT, 4 + lane), "padding lane " + lane);
            }
        }
    }

    @Test
    void threeGatePanelsAreThreeQuartersOfFourGatePanels() {
        GateLayout lstm = GateLayout.lstm(40, 33, 16);
        GateLayout gru = GateLayout.gru(40, 33, 16);
        assertEquals(WeightFormat.FLOAT32.packedBytes(lstm, 40) / 4 * 3, WeightFormat.FLOAT32.packedBytes(gru, 40));
        assertEquals(WeightFormat.BFLOAT16.packedBytes(lstm, 40), WeightFormat.BFLOAT16.packedBytes(gru, 40),
                "ceil(3 / 2) = 2 pairs, as for four gates");
        assertEquals(WeightFormat.INT8.packedBytes(lstm, 40) / 4 * 3, WeightFormat.INT8.packedBytes(gru, 40));
    }
}
