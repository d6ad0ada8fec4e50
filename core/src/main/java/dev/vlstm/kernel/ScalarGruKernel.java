package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Plain-Java GRU fallback on the same packed layout (8 lanes a block), used when the Vector API is absent or its
 * preferred vector is narrower than 128 bits. Float arithmetic and the activation approximations of
 * {@link Activations}, in the vector kernel's order (one FMA chain over k per output; the same adds and FMAs in the
 * pointwise part).
 */
final class ScalarGruKernel implements GruKernel {

    static final ScalarGruKernel INSTANCE = new ScalarGruKernel();
    private static final int LANES = ScalarGemm.LANES;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private ScalarGruKernel() {
    }

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public int lanes() {
        return LANES;
    }

    @Override
    public void projectInput(GateLayout layout, MemorySegment packedInput, MemorySegment inputBias, MemorySegment x,
                             long xOffset, int rows, MemorySegment gates, long gatesOffset, int blockFrom,
                             int blockTo) {
        ScalarGemm.multiply(WeightFormat.FLOAT32, layout, packedInput, layout.inputSize(), inputBias, x, xOffset,
                (long) layout.inputSize() * Float.BYTES, Float.BYTES, rows, gates, gatesOffset, blockFrom, blockTo);
    }

    @Override
    public void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, MemorySegment recurrentBias,
                              MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset,
                              MemorySegment hPrev, MemorySegment hNext, int batch, int blockFrom, int blockTo) {
        ScalarGemm.step(WeightFormat.FLOAT32, layout, packedRecurrent, layout.hiddenSize(), Postgemm.GRU,
                Float.POSITIVE_INFINITY, recurrentBias, inputGates, inputGatesOffset, gates, gatesOffset, hPrev,
                (long) layout.paddedHidden() * Float.BYTES, null, hNext, batch, blockFrom, blockTo);
    }

    @Override
    public LstmKernel gemm() {
        return ScalarLstmKernel.INSTANCE;
    }

    @Override
    public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment inputGates,
                             long inputGatesOffset, MemorySegment hPrev, MemorySegment dh, int dhRowFloats,
                             MemorySegment direct, int batch) {
        int stateRow = layout.paddedHidden();
        for (int row = 0; row < batch; row++) {
            long gateRow = gatesOffset / Float.BYTES + (long) row * layout.gateRowFloats();
            long inputRow = inputGatesOffset / Float.BYTES + (long) row * layout.gateRowFloats();
            for (int unit = 0; unit < stateRow; unit++) {
                long reset = layout.gateIndex(0, unit);
                long update = layout.gateIndex(1, unit);
                long candidate = layout.gateIndex(2, unit);
                float r = gates.getAtIndex(FLOAT, gateRow + reset);
                float z = gates.getAtIndex(FLOAT, gateRow + update);
                float n = gates.getAtIndex(FLOAT, gateRow + candidate);
                float m = inputGates.getAtIndex(FLOAT, inputRow + candidate);
                long state = (long) row * stateRow + unit;
                float hiddenGradient = dh.getAtIndex(FLOAT, (long) row * dhRowFloats + unit);
                float candidateGradient = hiddenGradient * (1 - z) * (1 - n * n);
                float resetGradient = candidateGradient * m * r * (1 - r);
                float updateGradient = hiddenGradient * (hPrev.getAtIndex(FLOAT, state) - n) * z * (1 - z);
                gates.setAtIndex(FLOAT, gateRow + reset, resetGradient);
                gates.setAtIndex(FLOAT, gateRow + update, updateGradient);
                gates.setAtIndex(FLOAT, gateRow + candidate, candidateGradient);
                inputGates.setAtIndex(FLOAT, inputRow + reset, resetGradient);
                inputGates.setAtIndex(FLOAT, inputRow + update, updateGradient);
                inputGates.setAtIndex(FLOAT, inputRow + candidate, candidateGradient * r);
                direct.setAtIndex(FLOAT, state, hiddenGradient * z);
            }
        }
    }
}
