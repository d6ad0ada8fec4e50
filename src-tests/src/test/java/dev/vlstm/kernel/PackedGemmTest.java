package dev.vlstm.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The {@link PackedGemm} of each family (the preferred one and the scalar one) for every format and gate count that
 * has tiles: each output is within the error bound of a double-precision sum over the matrix's operands, the two
 * families give the same bits at every output, and a call split over block ranges gives the bits of the whole call
 * and writes nothing outside its blocks. Without a bias the reference has no bias term (the sums start at +0.0).
 * Rows 1 to 9 cover the 4-row tiles and the rows left over; a hidden size of 37 leaves an odd block at some widths
 * and an even count at others; a's rows are read dense and at a padded stride (as the steps read h's padded rows).
 */
class PackedGemmTest {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final int INPUTS = 13;
    private static final int HIDDEN = 37;
    private static final int MAX_ROWS = 9;
    /** Floats between a's rows in the padded case. */
    private static final int PADDED_ROW = INPUTS + 3;

    @ParameterizedTest
    @CsvSource({"FLOAT32, 4, false", "FLOAT32, 4, true", "FLOAT32, 3, false", "FLOAT32, 3, true",
            "BFLOAT16, 4, false", "BFLOAT16, 4, true", "BFLOAT16, 3, false", "BFLOAT16, 3, true", "INT8, 4, false",
            "INT8, 4, true", "INT8, 3, false", "INT8, 3, true"})
    void everyOutputIsTheOperandsSumAndBothFamiliesAgreeBitForBit(WeightFormat format, int gates, boolean padded) {
        PackedGemm preferred = Kernels.preferred().gemm();
        PackedGemm scalar = Kernels.scalar().gemm();
        SplittableRandom random = new SplittableRandom(17 + format.ordinal() * 8L + gates);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment weights = floats(arena, random, gates * HIDDEN * INPUTS);
            MemorySegment biasSource = floats(arena, random, gates * HIDDEN);
            MemorySegment a = floats(arena, random, MAX_ROWS * INPUTS);
            for (int rows = 1; rows <= MAX_ROWS; rows++) {
                for (boolean withBias : new boolean[] {true, false}) {
                    MemorySegment bias = withBias ? biasSource : null;
                    Product vector = new Product(arena, preferred, format, gates, weights, bias);
                    Product plain = new Product(arena, scalar, format, gates, weights, bias);
                    vector.run(a, rows, padded);
                    plain.run(a, rows, padded);
                    for (int row = 0; row < rows; row++) {
                        for (int gate = 0; gate < gates; gate++) {
                            for (int unit = 0; unit < HIDDEN; unit++) {
                                String where = format + " G" + gates + " rows " + rows + " row " + row + " gate "
                                        + gate + " unit " + unit + (withBias ? "" : " no bias");
                                float got = vector.output(row, gate, unit);
                                assertEquals(Float.floatToRawIntBits(got),
                                        Float.floatToRawIntBits(plain.output(row, gate, unit)), where);
                                vector.assertNearReference(a, row, gate, unit, padded, got, where);
                            }
                        }
                    }
                    vector.assertSplitGivesTheSameBits(a, rows, padded);
                }
            }
        }
    }

    private static MemorySegment floats(Arena arena, SplittableRandom random, int count) {
        MemorySegment segment = arena.allocate((long) count * Float.BYTES, 64);
        for (int i = 0; i < count; i++) {
            segment.setAtIndex(FLOAT, i, (float) random.nextDouble(-1, 1));
        }
        return segment;
    }

    /** One family's packed matrix, bias and output for one case. */
    private static final class Product {
        private final PackedGemm gemm;
        private final WeightFormat format;
        private final GateLayout layout;
        private final MemorySegment packed;
        private final MemorySegment bias;
        private final MemorySegment out;
        private final MemorySegment paddedA;
        private final GemmCall call = new GemmCall();

        Product(Arena arena, PackedGemm gemm, WeightFormat format, int gates, MemorySegment weights,
                MemorySegment biasSource) {
            this.gemm = gemm;
            this.format = format;
            this.layout = new GateLayout(gates, INPUTS, HIDDEN, gemm.lanes());
            this.packed = arena.allocate(format.packedBytes(layout, INPUTS), 64);
            Packing.gates(layout, format, "w", weights, INPUTS, packed);
            if (biasSource == null) {
                this.bias = null;
            } else {
                this.bias = arena.allocate((long) layout.gateRowFloats() * Float.BYTES, 64);
                for (int gate = 0; gate < gates; gate++) {
                    for (int unit = 0; unit < HIDDEN; unit++) {
                        bias.setAtIndex(FLOAT, layout.gateIndex(gate, unit),
                                biasSource.getAtIndex(FLOAT, (long) gate * HIDDEN + unit));
                    }
                }
            }
            this.out = arena.allocate((long) MAX_ROWS * layout.gateRowFloats() * Float.BYTES, 64);
            this.paddedA = arena.allocate((long) MAX_ROWS * PADDED_ROW * Float.BYTES, 64);
        }

        /** Sets the call for {@code rows} rows of a, dense or (from a copy) {@link #PADDED_ROW} floats apart. */
        GemmCall call(MemorySegment a, int rows, boolean padded) {
            if (!padded) {
                return call.set(format, layout, packed, INPUTS, bias, a, 0, (long) INPUTS * Float.BYTES, rows, out, 0);
            }
            paddedA.fill((byte) 0x7F);
            for (int row = 0; row < rows; row++) {
                MemorySegment.copy(a, (long) row * INPUTS * Float.BYTES, paddedA, (long) row * PADDED_ROW * Float.BYTES,
                        (long) INPUTS * Float.BYTES);
            }
            return call.set(format, layout, packed, INPUTS, bias, paddedA, 0, (long) PADDED_ROW * Float.BYTES, rows,
                    out, 0);
        }

        void run(MemorySegment a, int rows, boolean padded) {
            out.fill((byte) 0x7F);
            gemm.multiply(call(a, rows, padded), 0, layout.blocks());
        }

        float output(int row, int gate, int unit) {
            return out.getAtIndex(FLOAT, (long) row * layout.gateRowFloats() + layout.gateIndex(gate, unit));
        }

        /**
         * The output against {@code bias + Σ_k a(row, k)·operand(k)} (INT8: the sum times the row's scale, then the
         * bias) in double: within {@code (INPUTS + 2)·2^-24} of the sum of the terms' magnitudes.
         */
        void assertNearReference(MemorySegment a, int row, int gate, int unit, boolean padded, float got,
                                 String where) {
            int block = unit / layout.lanes();
            int lane = unit % layout.lanes();
            double sum = 0;
            double magnitude = 0;
            for (int k = 0; k < INPUTS; k++) {
                double term = (double) a.getAtIndex(FLOAT, (long) row * INPUTS + k)
                        * format.operand(packed, layout, INPUTS, block, k, gate, lane);
                sum += term;
                magnitude += Math.abs(term);
            }
            if (format.scaled()) {
                double scale = format.scale(packed, layout.gateIndex(gate, unit));
                sum *= scale;
                magnitude *= Math.abs(scale);
            }
            if (bias != null) {
                double start = bias.getAtIndex(FLOAT, layout.gateIndex(gate, unit));
                sum += start;
                magnitude += Math.abs(start);
            }
            double bound = (INPUTS + 2) * 0x1p-24 * magnitude;
            assertTrue(Math.abs(got - sum) <= bound, where + (padded ? " padded" : "") + ": " + got + " vs "
                    + sum + " (bound " + bound + ")");
        }

        /** Blocks {@code [0, mid)} then {@code [mid, blocks)}, and a middle range alone, against the whole call. */
        void assertSplitGivesTheSameBits(MemorySegment a, int rows, boolean padded) {
            int blocks = layout.blocks();
            run(a, rows, padded);
            long bytes = (long) rows * layout.gateRowFloats() * Float.BYTES;
            MemorySegment whole = MemorySegment.ofArray(new int[(int) (bytes / Integer.BYTES)])
                    .copyFrom(out.asSlice(0, bytes));
            out.fill((byte) 0x7F);
            int mid = blocks / 2;
            gemm.multiply(call(a, rows, padded), 0, mid);
            gemm.multiply(call(a, rows, padded), mid, blocks);
            assertEquals(-1, whole.mismatch(out.asSlice(0, bytes)), "split at block " + mid);
            if (blocks >= 3) {
                out.fill((byte) 0x7F);
                gemm.multiply(call(a, rows, padded), 1, blocks - 1);
                for (int row = 0; row < rows; row++) {
                    for (int index = 0; index < layout.gateRowFloats(); index++) {
                        int block = index / (layout.gates() * layout.lanes());
                        long at = ((long) row * layout.gateRowFloats() + index) * Float.BYTES;
                        boolean outside = block == 0 || block == blocks - 1;
                        int expected = outside ? 0x7F7F7F7F : whole.get(ValueLayout.JAVA_INT, at);
                        assertEquals(expected, out.get(ValueLayout.JAVA_INT, at), "blocks 1.." + (blocks - 1)
                                + ", row " + row + ", float " + index);
                    }
                }
            }
        }
    }
}
