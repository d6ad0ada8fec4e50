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
 * {@link PackedGemm#step}, the fused recurrent step, of each family for every cell code and weight format: every
 * value it leaves (gate activations, the inputs it rewrites, c, hNext) is within a stated bound of the cell
 * computed in double from the same operands, the preferred and the scalar family agree bit for bit, and a call
 * split over block ranges gives the whole call's bits. Rows 1 to 9 cover the 4-row tiles and the rows left over; a
 * hidden size of 37 leaves an odd block at some widths; the inputs' offset makes single rows sweep both ways.
 */
class PackedGemmStepTest {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final int HIDDEN = 37;
    private static final int MAX_ROWS = 9;
    /**
     * Bound on |float − double| of every value the step leaves (relative above 1): the sums' worst-case rounding,
     * {@code (H + 2)·2⁻²⁴·Σ|terms|} with {@code Σ|terms| <= 37·0.3 + 2}, is below 3e-5, and it passes through
     * activations whose slope is at most 1, plus their own approximation error (below 1e-6).
     */
    private static final double TOLERANCE = 5e-5;

    @ParameterizedTest
    @CsvSource({"LSTM, FLOAT32, Infinity", "LSTM, FLOAT32, 0.5", "LSTM_PEEPHOLES, FLOAT32, Infinity",
            "LSTM_PEEPHOLES, FLOAT32, 0.5", "GRU, FLOAT32, Infinity", "GRU, FLOAT32, 0.5", "LSTM, BFLOAT16, Infinity",
            "LSTM_PEEPHOLES, BFLOAT16, 0.5", "LSTM, INT8, Infinity", "LSTM_PEEPHOLES, INT8, Infinity",
            "CIFG, FLOAT32, Infinity", "CIFG, FLOAT32, 0.5", "CIFG_PEEPHOLES, FLOAT32, Infinity",
            "CIFG_PEEPHOLES, FLOAT32, 0.5"})
    void everyValueIsTheCellInDoubleAndBothFamiliesAgreeBitForBit(String cellName, WeightFormat format, float clip) {
        int cell = switch (cellName) {
            case "LSTM" -> Postgemm.LSTM;
            case "LSTM_PEEPHOLES" -> Postgemm.LSTM_PEEPHOLES;
            case "CIFG" -> Postgemm.CIFG;
            case "CIFG_PEEPHOLES" -> Postgemm.CIFG_PEEPHOLES;
            default -> Postgemm.GRU;
        };
        int gates = cell == Postgemm.LSTM || cell == Postgemm.LSTM_PEEPHOLES ? GateLayout.LSTM_GATES
                : GateLayout.GRU_GATES;
        SplittableRandom random = new SplittableRandom(31L * cell + format.ordinal());
        try (Arena arena = Arena.ofConfined()) {
            float[] weights = floats(random, gates * HIDDEN * HIDDEN, 0.3);
            float[] cellRow = floats(random, gates * HIDDEN, 1);
            float[] inputs = floats(random, MAX_ROWS * gates * HIDDEN, 2);
            float[] hPrev = floats(random, MAX_ROWS * HIDDEN, 1);
            float[] c = floats(random, MAX_ROWS * HIDDEN, 2);
            for (int rows = 1; rows <= MAX_ROWS; rows++) {
                for (int position = 0; position < 2; position++) {
                    Step vector = new Step(arena, Kernels.preferred().gemm(), format, gates, cell, clip, weights,
                            cellRow, position);
                    Step plain = new Step(arena, Kernels.scalar().gemm(), format, gates, cell, clip, weights,
                            cellRow, position);
                    vector.run(inputs, hPrev, c, rows, 0, vector.layout.blocks());
                    plain.run(inputs, hPrev, c, rows, 0, plain.layout.blocks());
                    String where = cellName + " " + format + " clip " + clip + " rows " + rows + " position "
                            + position;
                    vector.assertSameValues(plain, rows, where + ": vector vs scalar");
                    vector.assertNearDouble(inputs, hPrev, c, rows, where);
                    Step split = new Step(arena, Kernels.preferred().gemm(), format, gates, cell, clip, weights,
                            cellRow, position);
                    int mid = split.layout.blocks() / 2;
                    split.run(inputs, hPrev, c, rows, 0, mid);
                    split.call(rows);
                    split.gemm.step(split.call, mid, split.layout.blocks());
                    vector.assertSameValues(split, rows, where + ": split at block " + mid);
                }
            }
        }
    }

    private static float[] floats(SplittableRandom random, int count, double range) {
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = (float) random.nextDouble(-range, range);
        }
        return values;
    }

    /** One family's packed U, cell row and step buffers, in that family's layout. */
    private static final class Step {
        final PackedGemm gemm;
        final GateLayout layout;
        final StepCall call = new StepCall();
        private final WeightFormat format;
        private final int cell;
        private final float clip;
        private final MemorySegment u;
        private final MemorySegment cellRow;
        private final MemorySegment inputs;
        private final MemorySegment sums;
        private final MemorySegment hPrev;
        private final MemorySegment c;
        private final MemorySegment hNext;
        private final long inputsOffset;

        Step(Arena arena, PackedGemm gemm, WeightFormat format, int gates, int cell, float clip, float[] weights,
             float[] cellRow, int position) {
            this.gemm = gemm;
            this.format = format;
            this.cell = cell;
            this.clip = clip;
            this.layout = new GateLayout(gates, HIDDEN, HIDDEN, gemm.lanes());
            this.u = arena.allocate(format.packedBytes(layout, HIDDEN), 64);
            Packing.gates(layout, format, "u", MemorySegment.ofArray(weights), HIDDEN, u);
            long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
            long stateBytes = (long) MAX_ROWS * layout.paddedHidden() * Float.BYTES;
            this.cellRow = arena.allocate(gateRowBytes, 64);
            for (int gate = 0; gate < gates; gate++) {
                for (int unit = 0; unit < HIDDEN; unit++) {
                    long at = cell == Postgemm.GRU ? unit : layout.gateIndex(gate, unit);
                    if (cell != Postgemm.GRU || gate == 0) {
                        this.cellRow.setAtIndex(FLOAT, at, cellRow[gate * HIDDEN + unit]);
                    }
                }
            }
            this.inputsOffset = position * gateRowBytes;
            this.inputs = arena.allocate(inputsOffset + MAX_ROWS * gateRowBytes, 64);
            this.sums = arena.allocate(MAX_ROWS * gateRowBytes, 64);
            this.hPrev = arena.allocate(stateBytes, 64);
            this.c = arena.allocate(stateBytes, 64);
            this.hNext = arena.allocate(stateBytes, 64);
        }

        void call(int rows) {
            call.set(format, layout, u, HIDDEN, cell, clip,
                    cell == Postgemm.LSTM || cell == Postgemm.CIFG ? null : cellRow, inputs,
                    inputsOffset, sums, 0, hPrev, (long) layout.paddedHidden() * Float.BYTES,
                    cell == Postgemm.GRU && clip == Float.POSITIVE_INFINITY ? null : c, hNext, rows);
        }

        /** Loads the operands into this layout and runs the blocks {@code [from, to)}. */
        void run(float[] inputValues, float[] hPrevValues, float[] cValues, int rows, int from, int to) {
            sums.fill((byte) 0x7F);
            hNext.fill((byte) 0x7F);
            for (int row = 0; row < rows; row++) {
                for (int unit = 0; unit < HIDDEN; unit++) {
                    long state = (long) row * layout.paddedHidden() + unit;
                    hPrev.setAtIndex(FLOAT, state, hPrevValues[row * HIDDEN + unit]);
                    c.setAtIndex(FLOAT, state, cValues[row * HIDDEN + unit]);
                    for (int gate = 0; gate < layout.gates(); gate++) {
                        inputs.setAtIndex(FLOAT, input(row, gate, unit),
                                inputValues[(row * layout.gates() + gate) * HIDDEN + unit]);
                    }
                }
            }
            call(rows);
            gemm.step(call, from, to);
        }

        private long input(int row, int gate, int unit) {
            return inputsOffset / Float.BYTES + (long) row * layout.gateRowFloats() + layout.gateIndex(gate, unit);
        }

        private float sum(int row, int gate, int unit) {
            return sums.getAtIndex(FLOAT, (long) row * layout.gateRowFloats() + layout.gateIndex(gate, unit));
        }

        private float state(MemorySegment segment, int row, int unit) {
            return segment.getAtIndex(FLOAT, (long) row * layout.paddedHidden() + unit);
        }

        void assertSameValues(Step other, int rows, String where) {
            for (int row = 0; row < rows; row++) {
                for (int unit = 0; unit < HIDDEN; unit++) {
                    String at = where + ", row " + row + ", unit " + unit;
                    for (int gate = 0; gate < layout.gates(); gate++) {
                        assertEquals(bits(sum(row, gate, unit)), bits(other.sum(row, gate, unit)), at + " gate " + gate);
                        assertEquals(bits(inputs.getAtIndex(FLOAT, input(row, gate, unit))),
                                bits(other.inputs.getAtIndex(FLOAT, other.input(row, gate, unit))),
                                at + " input " + gate);
                    }
                    assertEquals(bits(state(hNext, row, unit)), bits(other.state(other.hNext, row, unit)), at + " h");
                    assertEquals(bits(state(c, row, unit)), bits(other.state(other.c, row, unit)), at + " c");
                }
            }
        }

        /** The cell in double on the same operands (U as the packed format stores it). */
        void assertNearDouble(float[] inputValues, float[] hPrevValues, float[] cValues, int rows, String where) {
            int gates = layout.gates();
            for (int row = 0; row < rows; row++) {
                for (int unit = 0; unit < HIDDEN; unit++) {
                    double[] s = new double[gates];
                    double[] a = new double[gates];
                    for (int gate = 0; gate < gates; gate++) {
                        for (int k = 0; k < HIDDEN; k++) {
                            s[gate] += hPrevValues[row * HIDDEN + k]
                                    * (double) format.operand(u, layout, HIDDEN, unit / layout.lanes(), k, gate,
                                    unit % layout.lanes());
                        }
                        if (format.scaled()) {
                            s[gate] *= format.scale(u, layout.gateIndex(gate, unit));
                        }
                        a[gate] = inputValues[(row * gates + gate) * HIDDEN + unit];
                    }
                    String at = where + ", row " + row + ", unit " + unit;
                    if (cell == Postgemm.GRU) {
                        double r = sigmoid(clipped(a[0] + s[0]));
                        double z = sigmoid(clipped(a[1] + s[1]));
                        double m = s[2] + cellRow.getAtIndex(FLOAT, unit);
                        double n = Math.tanh(clipped(a[2] + r * m));
                        if (clip < Float.POSITIVE_INFINITY) {
                            near(a[0] + s[0], inputs.getAtIndex(FLOAT, input(row, 0, unit)), at + " z_r");
                            near(a[1] + s[1], inputs.getAtIndex(FLOAT, input(row, 1, unit)), at + " z_z");
                            near(a[2] + r * m, state(c, row, unit), at + " z_n");
                        }
                        near(m, inputs.getAtIndex(FLOAT, input(row, 2, unit)), at + " m");
                        near(r, sum(row, 0, unit), at + " r");
                        near(z, sum(row, 1, unit), at + " z");
                        near(n, sum(row, 2, unit), at + " n");
                        near(n + z * (hPrevValues[row * HIDDEN + unit] - n), state(hNext, row, unit), at + " h");
                        continue;
                    }
                    double previous = cValues[row * HIDDEN + unit];
                    double[] preActivation = new double[gates];
                    for (int gate = 0; gate < gates; gate++) {
                        preActivation[gate] = a[gate] + s[gate];
                    }
                    if (cell == Postgemm.CIFG || cell == Postgemm.CIFG_PEEPHOLES) {
                        boolean peepholes = cell == Postgemm.CIFG_PEEPHOLES;
                        if (peepholes) {
                            preActivation[0] += cellRow.getAtIndex(FLOAT, layout.gateIndex(0, unit)) * previous;
                        }
                        double i = sigmoid(clipped(preActivation[0]));
                        double g = Math.tanh(clipped(preActivation[1]));
                        double next = (1 - i) * previous + i * g;
                        if (peepholes) {
                            preActivation[2] += cellRow.getAtIndex(FLOAT, layout.gateIndex(2, unit)) * next;
                        }
                        double o = sigmoid(clipped(preActivation[2]));
                        for (int gate = 0; gate < gates; gate++) {
                            near(preActivation[gate], inputs.getAtIndex(FLOAT, input(row, gate, unit)),
                                    at + " z" + gate);
                        }
                        near(i, sum(row, 0, unit), at + " i");
                        near(g, sum(row, 1, unit), at + " g");
                        near(o, sum(row, 2, unit), at + " o");
                        near(next, state(c, row, unit), at + " c");
                        near(o * Math.tanh(clipped(next)), state(hNext, row, unit), at + " h");
                        continue;
                    }
                    if (cell == Postgemm.LSTM_PEEPHOLES) {
                        preActivation[0] += cellRow.getAtIndex(FLOAT, layout.gateIndex(0, unit)) * previous;
                        preActivation[1] += cellRow.getAtIndex(FLOAT, layout.gateIndex(1, unit)) * previous;
                    }
                    double i = sigmoid(clipped(preActivation[0]));
                    double f = sigmoid(clipped(preActivation[1]));
                    double g = Math.tanh(clipped(preActivation[2]));
                    double next = f * previous + i * g;
                    if (cell == Postgemm.LSTM_PEEPHOLES) {
                        preActivation[3] += cellRow.getAtIndex(FLOAT, layout.gateIndex(3, unit)) * next;
                    }
                    double o = sigmoid(clipped(preActivation[3]));
                    for (int gate = 0; gate < gates; gate++) {
                        near(preActivation[gate], inputs.getAtIndex(FLOAT, input(row, gate, unit)), at + " z" + gate);
                    }
                    near(i, sum(row, 0, unit), at + " i");
                    near(f, sum(row, 1, unit), at + " f");
                    near(g, sum(row, 2, unit), at + " g");
                    near(o, sum(row, 3, unit), at + " o");
                    near(next, state(c, row, unit), at + " c");
                    near(o * Math.tanh(clipped(next)), state(hNext, row, unit), at + " h");
                }
            }
        }

        private double clipped(double value) {
            return Math.min(Math.max(value, -clip), clip);
        }

        private static double sigmoid(double value) {
            return 1 / (1 + Math.exp(-value));
        }

        private static void near(double expected, float got, String where) {
            assertTrue(Math.abs(got - expected) <= TOLERANCE * Math.max(1, Math.abs(expected)),
                    where + ": " + got + " vs " + expected);
        }

        private static int bits(float value) {
            return Float.floatToRawIntBits(value);
        }
    }
}
