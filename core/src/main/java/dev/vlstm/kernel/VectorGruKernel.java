package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;

import java.lang.foreign.MemorySegment;

/**
 * The Vector API GRU kernel: its input projection and its fused recurrent step are {@link VectorGemm}'s (the
 * step's pointwise part is {@link GruPointwise}); its backward pointwise part is {@link GruBackward}.
 */
final class VectorGruKernel implements GruKernel {

    /** Bytes of one (block, k) step in a packed GRU panel: three gate vectors. */
    static final long GATE_GROUP_BYTES = GateLayout.GRU_GATES * VECTOR_BYTES;

    /** The one instance; {@link Kernels} reaches it only once the vector module is known to be present. */
    static final VectorGruKernel INSTANCE = new VectorGruKernel();

    private VectorGruKernel() {
    }

    @Override
    public String name() {
        return VectorLstmKernel.INSTANCE.name();
    }

    @Override
    public int lanes() {
        return VectorShape.LANES;
    }

    @Override
    public void projectInput(GateLayout layout, MemorySegment packedInput, MemorySegment inputBias, MemorySegment x,
                             long xOffset, int rows, MemorySegment gates, long gatesOffset, int blockFrom,
                             int blockTo) {
        VectorGemm.multiply(WeightFormat.FLOAT32, layout, packedInput, layout.inputSize(), inputBias, x, xOffset,
                (long) layout.inputSize() * Float.BYTES, Float.BYTES, rows, gates, gatesOffset, blockFrom, blockTo);
    }

    @Override
    public void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, MemorySegment recurrentBias,
                              MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset,
                              MemorySegment hPrev, MemorySegment hNext, int batch, int blockFrom, int blockTo) {
        VectorGemm.step(WeightFormat.FLOAT32, layout, packedRecurrent, layout.hiddenSize(), Postgemm.GRU,
                Float.POSITIVE_INFINITY, recurrentBias, inputGates, inputGatesOffset, gates, gatesOffset, hPrev,
                (long) layout.paddedHidden() * Float.BYTES, null, hNext, batch, blockFrom, blockTo);
    }

    @Override
    public LstmKernel gemm() {
        return VectorLstmKernel.INSTANCE;
    }

    @Override
    public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment inputGates,
                             long inputGatesOffset, MemorySegment hPrev, MemorySegment dh, int dhRowFloats,
                             MemorySegment direct, int batch) {
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        long dhRowBytes = (long) dhRowFloats * Float.BYTES;
        for (int row = 0; row < batch; row++) {
            for (int block = 0; block < layout.blocks(); block++) {
                long gateColumn = row * gateRowBytes + block * GATE_GROUP_BYTES;
                long state = row * stateRowBytes + block * VECTOR_BYTES;
                GruBackward.update(gates, gatesOffset + gateColumn, inputGates, inputGatesOffset + gateColumn, hPrev,
                        state, dh, row * dhRowBytes + block * VECTOR_BYTES, direct, state);
            }
        }
    }
}
