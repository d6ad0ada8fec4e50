package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Heap copies of a model's packed matrices for {@link ColdGemm}: each matrix's operands ({@link WeightFormat#operand},
 * widened exactly to float) in panels of {@link #PANEL} outputs, {@code [panel][k][output]}, the outputs of a gate
 * row in its order {@code [block][gate][lane]} and zero past its end; and an INT8 matrix's scales as one gate row.
 * A panel's operands for one k fill one 64-byte cache line, and one run of FMA chains reads a panel from start to
 * end, whatever the gates and lanes. Read only once made, so every runner of the model may read them at once. Found
 * by the identity of the packed data's segment, which a {@link GemmCall} or {@link StepCall} names.
 */
public final class ColdWeights {

    /** Outputs per panel: the FMA chains {@link ColdGemm} runs at once. */
    static final int PANEL = 16;

    private final Map<MemorySegment, Copy> copies = new IdentityHashMap<>();

    /**
     * One matrix's copy.
     *
     * @param operands the operands, {@code [panel][k < depth][PANEL]}
     * @param scales   INT8's scales, one gate row; null for the other formats
     */
    record Copy(float[] operands, float[] scales) {
    }

    private ColdWeights(List<PackedMatrix> matrices) {
        for (PackedMatrix matrix : matrices) {
            copies.put(matrix.data(), copy(matrix));
        }
    }

    /**
     * Copies {@code matrices} to the heap.
     *
     * @param matrices the packed matrices a model's forward multiplies by
     * @return their copies
     */
    public static ColdWeights of(List<PackedMatrix> matrices) {
        return new ColdWeights(matrices);
    }

    /**
     * {@return the heap bytes {@link #of} keeps for {@code matrices}: four for each operand (a gate row rounded up to
     * whole panels, times the depth) and scale; making them takes as many again for a while}
     */
    public static long bytes(List<PackedMatrix> matrices) {
        long floats = 0;
        for (PackedMatrix matrix : matrices) {
            floats += (long) outputs(matrix.layout()) * matrix.depth();
            if (matrix.format().scaled()) {
                floats += matrix.layout().gateRowFloats();
            }
        }
        return floats * Float.BYTES;
    }

    /** {@return the copy of the matrix whose packed data is {@code data}, or null if it has none} */
    Copy copyOf(MemorySegment data) {
        return copies.get(data);
    }

    /** {@return the outputs of a gate row of {@code layout}, rounded up to whole panels} */
    static int outputs(GateLayout layout) {
        return (layout.gateRowFloats() + PANEL - 1) / PANEL * PANEL;
    }

    private static Copy copy(PackedMatrix matrix) {
        GateLayout layout = matrix.layout();
        if ((long) outputs(layout) * matrix.depth() > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a matrix of " + layout.gateRowFloats() + " x " + matrix.depth()
                    + " weights is too large for a heap copy");
        }
        float[] operands = new float[(int) layout.packedFloats(matrix.depth())];
        MemorySegment data = matrix.data();
        float[] scales = null;
        switch (matrix.format()) {
            case FLOAT32 -> MemorySegment.copy(data, ValueLayout.JAVA_FLOAT, 0, operands, 0, operands.length);
            case BFLOAT16 -> widenBfloat16(data, layout, matrix.depth(), operands);
            case INT8 -> {
                long scaleBytes = WeightFormat.INT8.scaleBytes(layout);
                byte[] quanta = new byte[operands.length];
                MemorySegment.copy(data, ValueLayout.JAVA_BYTE, scaleBytes, quanta, 0, quanta.length);
                for (int n = 0; n < quanta.length; n++) {
                    operands[n] = quanta[n];
                }
                scales = new float[layout.gateRowFloats()];
                MemorySegment.copy(data, ValueLayout.JAVA_FLOAT, 0, scales, 0, scales.length);
            }
        }
        return new Copy(panels(operands, layout, matrix.depth()), scales);
    }

    /** The operands of the packed order {@code [block][k][gate][lane]} in panels, {@code [panel][k][PANEL]}. */
    private static float[] panels(float[] packed, GateLayout layout, int depth) {
        int group = layout.gates() * layout.lanes();
        float[] panels = new float[outputs(layout) * depth];
        int from = 0;
        for (int block = 0; block < layout.blocks(); block++) {
            for (int k = 0; k < depth; k++) {
                for (int q = block * group; q < (block + 1) * group; q++) {
                    panels[(q / PANEL * depth + k) * PANEL + q % PANEL] = packed[from++];
                }
            }
        }
        return panels;
    }

    /** BFLOAT16's ints hold the gate pairs (2p, 2p + 1) of a lane in their low and high halves. */
    private static void widenBfloat16(MemorySegment data, GateLayout layout, int depth, float[] operands) {
        int gates = layout.gates();
        int lanes = layout.lanes();
        int pairs = (gates + 1) / 2;
        int[] packed = new int[operands.length / gates * pairs];
        MemorySegment.copy(data, ValueLayout.JAVA_INT, 0, packed, 0, packed.length);
        int from = 0;
        for (int group = 0; group < layout.blocks() * depth; group++) {
            int to = group * gates * lanes;
            for (int pair = 0; pair < pairs; pair++) {
                for (int lane = 0; lane < lanes; lane++) {
                    int bits = packed[from++];
                    operands[to + 2 * pair * lanes + lane] = WeightFormat.fromBfloat16(bits & 0xFFFF);
                    if (2 * pair + 1 < gates) {
                        operands[to + (2 * pair + 1) * lanes + lane] = WeightFormat.fromBfloat16(bits >>> Short.SIZE);
                    }
                }
            }
        }
    }
}
