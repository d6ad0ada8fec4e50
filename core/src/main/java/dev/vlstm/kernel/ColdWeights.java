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
     * whole panels, times the depth) and scale; {@code Long.MAX_VALUE} if a matrix has more operands than a Java
     * array holds}
     */
    public static long bytes(List<PackedMatrix> matrices) {
        long floats = 0;
        for (PackedMatrix matrix : matrices) {
            long operands = (long) outputs(matrix.layout()) * matrix.depth();
            if (operands > Integer.MAX_VALUE) {
                return Long.MAX_VALUE;
            }
            floats += operands;
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
        int depth = matrix.depth();
        if ((long) outputs(layout) * depth > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("a matrix of " + layout.gateRowFloats() + " x " + depth
                    + " weights is too large for a heap copy");
        }
        int group = layout.gates() * layout.lanes();
        float[] panels = new float[outputs(layout) * depth];
        BlockReader reader = new BlockReader(matrix);
        float[] block = new float[depth * group];
        for (int b = 0; b < layout.blocks(); b++) {
            reader.read(b, block);
            int from = 0;
            for (int k = 0; k < depth; k++) {
                for (int q = b * group; q < (b + 1) * group; q++) {
                    panels[(q / PANEL * depth + k) * PANEL + q % PANEL] = block[from++];
                }
            }
        }
        float[] scales = null;
        if (matrix.format().scaled()) {
            scales = new float[layout.gateRowFloats()];
            MemorySegment.copy(matrix.data(), ValueLayout.JAVA_FLOAT, 0, scales, 0, scales.length);
        }
        return new Copy(panels, scales);
    }

    /**
     * Reads one block's operands at a time, widened, in the packed order {@code [k][gate][lane]}, through one bulk
     * copy of its panel: the copies are made right after loading, before the JIT has compiled much, so no
     * element-wise segment access, and no heap array bigger than a block's besides the copy itself.
     */
    private static final class BlockReader {

        private final PackedMatrix matrix;
        private final int gates;
        private final int lanes;
        private final long panelBytes;
        /** BFLOAT16's ints or INT8's bytes of one panel; null for FLOAT32. */
        private final int[] pairs;
        private final byte[] quanta;

        BlockReader(PackedMatrix matrix) {
            this.matrix = matrix;
            GateLayout layout = matrix.layout();
            this.gates = layout.gates();
            this.lanes = layout.lanes();
            this.panelBytes = matrix.format().panelBytes(layout, matrix.depth());
            this.pairs = matrix.format() == WeightFormat.BFLOAT16 ? new int[(int) (panelBytes / Integer.BYTES)] : null;
            this.quanta = matrix.format() == WeightFormat.INT8 ? new byte[(int) panelBytes] : null;
        }

        void read(int block, float[] operands) {
            MemorySegment data = matrix.data();
            long offset = matrix.format().scaleBytes(matrix.layout()) + block * panelBytes;
            switch (matrix.format()) {
                case FLOAT32 -> MemorySegment.copy(data, ValueLayout.JAVA_FLOAT, offset, operands, 0, operands.length);
                case INT8 -> {
                    MemorySegment.copy(data, ValueLayout.JAVA_BYTE, offset, quanta, 0, quanta.length);
                    for (int n = 0; n < quanta.length; n++) {
                        operands[n] = quanta[n];
                    }
                }
                case BFLOAT16 -> {
                    MemorySegment.copy(data, ValueLayout.JAVA_INT, offset, pairs, 0, pairs.length);
                    widenBfloat16(operands);
                }
            }
        }

        /** BFLOAT16's ints hold the gate pairs (2p, 2p + 1) of a lane in their low and high halves. */
        private void widenBfloat16(float[] operands) {
            int perK = (gates + 1) / 2;
            int from = 0;
            for (int to = 0; to < operands.length; to += gates * lanes) {
                for (int pair = 0; pair < perK; pair++) {
                    for (int lane = 0; lane < lanes; lane++) {
                        int bits = pairs[from++];
                        operands[to + 2 * pair * lanes + lane] = WeightFormat.fromBfloat16(bits & 0xFFFF);
                        if (2 * pair + 1 < gates) {
                            operands[to + (2 * pair + 1) * lanes + lane] =
                                    WeightFormat.fromBfloat16(bits >>> Short.SIZE);
                        }
                    }
                }
            }
        }
    }
}
