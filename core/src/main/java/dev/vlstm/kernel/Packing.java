package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Writes PyTorch's row-major tensors into the packed forms of a {@link GateLayout}: gate matrices in any
 * {@link WeightFormat}, bias and peephole gate rows, and the four-gate panels of the backward and projection GEMMs.
 * Every target must be zero-filled unless a method says otherwise; positions a method does not write are padding
 * and stay zero. Sources are floats of any alignment, targets 4-byte aligned.
 */
public final class Packing {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfFloat SOURCE = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** The LSTM gates that have peepholes, in the row order of a peephole tensor: i, f, o. */
    private static final int[] LSTM_PEEPHOLE_GATES = {0, 1, 3};
    /** The CIFG gates (i, g, o) that have peepholes, in the row order of a peephole tensor: i, o. */
    private static final int[] CIFG_PEEPHOLE_GATES = {0, 2};

    private Packing() {
    }

    /**
     * Repacks a PyTorch-layout gate matrix {@code [G·H][depth]} (row-major floats in the cell's gate order, all
     * finite) into {@code packed} in {@code format}.
     *
     * @param layout the cell's layout, G = {@code layout.gates()}
     * @param format how the packed matrix stores its values
     * @param name   tensor name for error messages
     * @param source {@code [G·H][depth]} floats
     * @param depth  columns of the matrix
     * @param packed {@code format.packedBytes(layout, depth)} bytes, zero-filled for {@link WeightFormat#FLOAT32}
     * @throws IllegalArgumentException for {@link WeightFormat#BFLOAT16}, if a weight is beyond bfloat16's largest
     *                                  finite value
     */
    public static void gates(GateLayout layout, WeightFormat format, String name, MemorySegment source, int depth,
                             MemorySegment packed) {
        switch (format) {
            case FLOAT32 -> float32(layout, source, depth, packed);
            case BFLOAT16 -> {
                packed.fill((byte) 0);
                bfloat16(layout, name, source, depth, packed);
            }
            case INT8 -> {
                packed.fill((byte) 0);
                int8(layout, source, depth, packed);
            }
        }
    }

    private static void float32(GateLayout layout, MemorySegment source, int depth, MemorySegment packed) {
        int lanes = layout.lanes();
        int hidden = layout.hiddenSize();
        int gates = layout.gates();
        for (int gate = 0; gate < gates; gate++) {
            for (int unit = 0; unit < hidden; unit++) {
                long sourceRow = (long) (gate * hidden + unit) * depth;
                long packedBase = blockBase(layout, unit, depth) + (long) gate * lanes + unit % lanes;
                for (int k = 0; k < depth; k++) {
                    float value = source.getAtIndex(SOURCE, sourceRow + k);
                    packed.setAtIndex(FLOAT, packedBase + (long) k * gates * lanes, value);
                }
            }
        }
    }

    private static void bfloat16(GateLayout layout, String name, MemorySegment source, int depth,
                                 MemorySegment packed) {
        int lanes = layout.lanes();
        int hidden = layout.hiddenSize();
        for (int gate = 0; gate < layout.gates(); gate++) {
            for (int unit = 0; unit < hidden; unit++) {
                long row = (long) (gate * hidden + unit) * depth;
                for (int k = 0; k < depth; k++) {
                    float value = source.getAtIndex(SOURCE, row + k);
                    int bits = WeightFormat.toBfloat16(value);
                    if (Float.isInfinite(WeightFormat.fromBfloat16(bits))) {
                        throw new IllegalArgumentException(name + "[" + (gate * hidden + unit) + "][" + k + "] is "
                                + value + ", beyond bfloat16's largest finite value "
                                + WeightFormat.fromBfloat16(0x7F7F));
                    }
                    long at = WeightFormat.BFLOAT16.intIndex(layout, depth, unit / lanes, k, gate / 2, unit % lanes);
                    int shift = gate % 2 == 0 ? 0 : Short.SIZE;
                    packed.setAtIndex(INT, at, packed.getAtIndex(INT, at) | bits << shift);
                }
            }
        }
    }

    private static void int8(GateLayout layout, MemorySegment source, int depth, MemorySegment packed) {
        int lanes = layout.lanes();
        int hidden = layout.hiddenSize();
        for (int gate = 0; gate < layout.gates(); gate++) {
            for (int unit = 0; unit < hidden; unit++) {
                long row = (long) (gate * hidden + unit) * depth;
                float largest = 0;
                for (int k = 0; k < depth; k++) {
                    largest = Math.max(largest, Math.abs(source.getAtIndex(SOURCE, row + k)));
                }
                float scale = WeightFormat.int8Scale(largest);
                packed.setAtIndex(FLOAT, layout.gateIndex(gate, unit), scale);
                for (int k = 0; k < depth; k++) {
                    int q = WeightFormat.quantise(source.getAtIndex(SOURCE, row + k), scale);
                    packed.set(ValueLayout.JAVA_BYTE,
                            WeightFormat.INT8.int8Offset(layout, depth, unit / lanes, k, gate, unit % lanes), (byte) q);
                }
            }
        }
    }

    /**
     * Writes {@code biasIh + biasHh} (each {@code [G·H]}, either may be null for a bias-free model) into
     * {@code packed}, a zero-filled gate row: the LSTM's bias, all of which adds to the input pre-activations.
     */
    public static void summedBias(GateLayout layout, MemorySegment biasIh, MemorySegment biasHh,
                                  MemorySegment packed) {
        int hidden = layout.hiddenSize();
        for (int gate = 0; gate < layout.gates(); gate++) {
            for (int unit = 0; unit < hidden; unit++) {
                long source = (long) gate * hidden + unit;
                float sum = 0f;
                if (biasIh != null) {
                    sum += biasIh.getAtIndex(SOURCE, source);
                }
                if (biasHh != null) {
                    sum += biasHh.getAtIndex(SOURCE, source);
                }
                packed.setAtIndex(FLOAT, layout.gateIndex(gate, unit), sum);
            }
        }
    }

    /**
     * Splits PyTorch's GRU biases (each {@code [3H]}, either may be null for none) as linear-before-reset requires:
     * r and z take {@code b_ih + b_hh} in the input gate row, n takes {@code b_in} there, and {@code b_hn} stays
     * apart, to be added to the recurrent sum before the reset gate multiplies it.
     *
     * @param layout        the GRU's three-gate layout
     * @param biasIh        {@code b_ih}, {@code [3H]} floats, or null
     * @param biasHh        {@code b_hh}, {@code [3H]} floats, or null
     * @param inputBias     zero-filled gate row: receives {@code b_ir + b_hr}, {@code b_iz + b_hz}, {@code b_in}
     * @param recurrentBias zero-filled {@code [paddedHidden]}: receives {@code b_hn}
     */
    public static void linearBeforeResetBias(GateLayout layout, MemorySegment biasIh, MemorySegment biasHh,
                                             MemorySegment inputBias, MemorySegment recurrentBias) {
        int hidden = layout.hiddenSize();
        int newGate = GateLayout.GRU_GATES - 1;
        for (int gate = 0; gate < GateLayout.GRU_GATES; gate++) {
            for (int unit = 0; unit < hidden; unit++) {
                long source = (long) gate * hidden + unit;
                float input = biasIh == null ? 0f : biasIh.getAtIndex(SOURCE, source);
                float recurrent = biasHh == null ? 0f : biasHh.getAtIndex(SOURCE, source);
                if (gate == newGate) {
                    inputBias.setAtIndex(FLOAT, layout.gateIndex(gate, unit), input);
                    recurrentBias.setAtIndex(FLOAT, unit, recurrent);
                } else {
                    inputBias.setAtIndex(FLOAT, layout.gateIndex(gate, unit), input + recurrent);
                }
            }
        }
    }

    /**
     * Writes peephole weights into {@code packed}, a zero-filled gate row, at the slots of the gates they belong to
     * ({@link #peepholeGate}); the other slots stay zero. A gate row puts each peephole vector beside its gate's
     * pre-activations, at the same offset within a block. A four-gate layout is an LSTM's, whose peepholes are
     * {@code [3][H]} (p_i, p_f, p_o: vlstm's gate order without g); a three-gate layout with peepholes is a CIFG's
     * (gates i, g, o), whose peepholes are {@code [2][H]} (p_i, p_o).
     *
     * @param layout the cell's layout
     * @param source the peepholes, {@code [peepholeVectors(layout)][H]} floats
     * @param packed the zero-filled target, {@code layout.gateRowFloats()} floats
     */
    public static void peepholes(GateLayout layout, MemorySegment source, MemorySegment packed) {
        int hidden = layout.hiddenSize();
        for (int peephole = 0; peephole < peepholeVectors(layout); peephole++) {
            for (int unit = 0; unit < hidden; unit++) {
                float value = source.getAtIndex(SOURCE, (long) peephole * hidden + unit);
                packed.setAtIndex(FLOAT, layout.gateIndex(peepholeGate(layout, peephole), unit), value);
            }
        }
    }

    /**
     * {@return the rows of a peephole tensor in {@code layout}: 3 (p_i, p_f, p_o) for an LSTM's four gates, 2
     * (p_i, p_o) for a CIFG's three}
     */
    public static int peepholeVectors(GateLayout layout) {
        return peepholeGates(layout).length;
    }

    /**
     * The gate that each row of a peephole tensor belongs to: for an LSTM p_i to i (0), p_f to f (1), p_o to o (3);
     * for a CIFG (gates i, g, o) p_i to i (0), p_o to o (2).
     *
     * @param layout   the cell's layout
     * @param peephole the row, 0 to {@code peepholeVectors(layout) - 1}
     * @return the gate index in the layout's gate order
     */
    public static int peepholeGate(GateLayout layout, int peephole) {
        return peepholeGates(layout)[peephole];
    }

    private static int[] peepholeGates(GateLayout layout) {
        return layout.gates() == GateLayout.LSTM_GATES ? LSTM_PEEPHOLE_GATES : CIFG_PEEPHOLE_GATES;
    }

    /**
     * Repacks a gate matrix S {@code [G·H][depth]}, given in {@code layout}'s float32 packed form
     * ({@link #gates}), for {@code layout.transposed(depth)}: panel {@code tile}, row m (a packed gate-row
     * position), column q holds {@code S[gate*H + unit][tile*4*lanes + q]}.
     *
     * @param layout       the layout S was packed in
     * @param packedSource S, float32
     * @param depth        columns of S
     * @param packed       zero-filled, {@code layout.transposed(depth).packedFloats(layout.gateRowFloats())} floats
     */
    public static void transposed(GateLayout layout, MemorySegment packedSource, int depth, MemorySegment packed) {
        int lanes = layout.lanes();
        int gates = layout.gates();
        int tileWidth = GateLayout.LSTM_GATES * lanes;
        int gateRow = layout.gateRowFloats();
        for (int gate = 0; gate < gates; gate++) {
            for (int unit = 0; unit < layout.hiddenSize(); unit++) {
                long sourceBase = blockBase(layout, unit, depth) + (long) gate * lanes + unit % lanes;
                long m = layout.gateIndex(gate, unit);
                for (int k = 0; k < depth; k++) {
                    float value = packedSource.getAtIndex(FLOAT, sourceBase + (long) k * gates * lanes);
                    long index = ((long) (k / tileWidth) * gateRow + m) * tileWidth + k % tileWidth;
                    packed.setAtIndex(FLOAT, index, value);
                }
            }
        }
    }

    /**
     * Packs a row-major {@code [outputs][inputSize]} matrix S for a layout made by {@link GateLayout#plain}: panel
     * {@code tile}, row k, column q holds {@code S[tile*4*lanes + q][k]}.
     *
     * @param plain   the plain layout
     * @param source  S, {@code [outputs][plain.inputSize()]} floats
     * @param outputs rows of S, at most {@code plain.gateRowFloats()}
     * @param packed  the zero-filled target, {@code plain.packedFloats(plain.inputSize())} floats
     */
    public static void plain(GateLayout plain, MemorySegment source, int outputs, MemorySegment packed) {
        int tileWidth = GateLayout.LSTM_GATES * plain.lanes();
        int depth = plain.inputSize();
        for (int q = 0; q < outputs; q++) {
            long packedBase = (q / tileWidth) * plain.panelFloats(depth) + q % tileWidth;
            for (int k = 0; k < depth; k++) {
                float value = source.getAtIndex(SOURCE, (long) q * depth + k);
                packed.setAtIndex(FLOAT, packedBase + (long) k * tileWidth, value);
            }
        }
    }

    /**
     * Repacks S {@code [outputs][inputSize]}, given as {@link #plain} packed it for {@code plain}, into the panels of
     * the plain layout of Sᵀ, {@code GateLayout.plain(outputs, inputSize, lanes)}: panel {@code tile}, row q,
     * column j holds {@code S[q][tile*4*lanes + j]}. The backward of a projection {@code h = m · W_hrᵀ} runs
     * {@code dm = dh · W_hr} through it. The positions it does not write must be zero (a zero-filled target, or
     * one it filled before).
     *
     * @param plain        the plain layout S was packed for
     * @param packedSource S packed by {@link #plain}
     * @param outputs      rows of S, at most {@code plain.gateRowFloats()}
     * @param packed       the target, {@code GateLayout.plain(outputs, inputSize, lanes).packedFloats(outputs)}
     *                     floats
     */
    public static void plainTransposed(GateLayout plain, MemorySegment packedSource, int outputs,
                                       MemorySegment packed) {
        int lanes = plain.lanes();
        int depth = plain.inputSize();
        int tileWidth = GateLayout.LSTM_GATES * lanes;
        GateLayout transposed = GateLayout.plain(outputs, depth, lanes);
        for (int q = 0; q < outputs; q++) {
            long sourceBase = (q / tileWidth) * plain.panelFloats(depth) + q % tileWidth;
            for (int k = 0; k < depth; k++) {
                float value = packedSource.getAtIndex(FLOAT, sourceBase + (long) k * tileWidth);
                long index = (k / tileWidth) * transposed.panelFloats(outputs) + (long) q * tileWidth + k % tileWidth;
                packed.setAtIndex(FLOAT, index, value);
            }
        }
    }

    private static long blockBase(GateLayout layout, int unit, int depth) {
        return (unit / layout.lanes()) * layout.panelFloats(depth);
    }
}
