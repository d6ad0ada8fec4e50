package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.LANES;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;

import java.lang.foreign.MemorySegment;

/**
 * The Vector API kernel, one instance per {@link WeightFormat}: its GEMM and its fused recurrent step are
 * {@link VectorGemm}'s, on the tiles of the weights' format; its backward pointwise part is {@link CellBackward}.
 * Bfloat16 weights give the float kernel's bits on the rounded weights. Only float weights train: training refuses
 * the others before it gets here, and {@link #cellBackward} reads no weights.
 */
final class VectorLstmKernel implements LstmKernel {

    /** Bytes of one (block, k) step in a packed panel: four gate vectors. */
    static final long GATE_GROUP_BYTES = GateLayout.LSTM_GATES * VECTOR_BYTES;

    /** The float kernel; use it only where the vector module is known to be present. */
    static final VectorLstmKernel INSTANCE = new VectorLstmKernel(WeightFormat.FLOAT32);
    private static final VectorLstmKernel BFLOAT16 = new VectorLstmKernel(WeightFormat.BFLOAT16);
    private static final VectorLstmKernel INT8 = new VectorLstmKernel(WeightFormat.INT8);

    private final WeightFormat format;

    private VectorLstmKernel(WeightFormat format) {
        this.format = format;
    }

    /** Called reflectively by {@link Kernels} only once the vector module is known to be present. */
    static LstmKernel createIfUseful() {
        return SPECIES.vectorBitSize() >= 128 ? INSTANCE : null;
    }

    @Override
    public String name() {
        return "vector-" + SPECIES.vectorBitSize();
    }

    @Override
    public int lanes() {
        return LANES;
    }

    @Override
    public WeightFormat weightFormat() {
        return format;
    }

    @Override
    public LstmKernel withWeightFormat(WeightFormat weightFormat) {
        return switch (weightFormat) {
            case FLOAT32 -> INSTANCE;
            case BFLOAT16 -> BFLOAT16;
            case INT8 -> INT8;
        };
    }

    @Override
    public TensorKernel tensors() {
        return VectorTensorKernel.INSTANCE;
    }

    @Override
    public PackedGemm packedGemm() {
        return VectorGemm.INSTANCE;
    }

    @Override
    public void projectInput(GateLayout layout, int depth, MemorySegment packedInput, MemorySegment packedBias,
                             MemorySegment x, long xOffset, long xRowBytes, long xColumnBytes, int rows,
                             MemorySegment gates, long gatesOffset, int blockFrom, int blockTo) {
        VectorGemm.multiply(format, layout, packedInput, depth, packedBias, x, xOffset, xRowBytes, xColumnBytes, rows,
                gates, gatesOffset, blockFrom, blockTo);
    }

    @Override
    public void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, int depth, MemorySegment inputGates,
                              long inputGatesOffset, MemorySegment gates, long gatesOffset, MemorySegment hPrev,
                              long hPrevRowBytes, MemorySegment c, MemorySegment hNext, int batch, float clip,
                              MemorySegment peepholes, int blockFrom, int blockTo) {
        VectorGemm.step(format, layout, packedRecurrent, depth,
                peepholes == null ? Postgemm.LSTM : Postgemm.LSTM_PEEPHOLES, clip, peepholes, inputGates,
                inputGatesOffset, gates, gatesOffset, hPrev, hPrevRowBytes, c, hNext, batch, blockFrom, blockTo);
    }

    @Override
    public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment cell,
                             long cellOffset, MemorySegment cellPrev, long cellPrevOffset, MemorySegment dh,
                             int dhRowFloats, MemorySegment dc, MemorySegment scratch, int batch, float clip) {
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        long dhRowBytes = (long) dhRowFloats * Float.BYTES;
        for (int row = 0; row < batch; row++) {
            for (int block = 0; block < layout.blocks(); block++) {
                long state = row * stateRowBytes + block * VECTOR_BYTES;
                CellBackward.update(gates, gatesOffset + row * gateRowBytes + block * GATE_GROUP_BYTES,
                        cell, cellOffset + state, cellPrev, cellPrevOffset + state,
                        dh, row * dhRowBytes + block * VECTOR_BYTES, dc, state, scratch, clip);
            }
        }
    }

    @Override
    public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment preActivations,
                             long preActivationsOffset, MemorySegment cell, long cellOffset, MemorySegment cellPrev,
                             long cellPrevOffset, MemorySegment dh, int dhRowFloats, MemorySegment dc,
                             MemorySegment scratch, int batch, float clip, MemorySegment peepholes,
                             MemorySegment peepholeGradients) {
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        long dhRowBytes = (long) dhRowFloats * Float.BYTES;
        for (int row = 0; row < batch; row++) {
            for (int block = 0; block < layout.blocks(); block++) {
                long state = row * stateRowBytes + block * VECTOR_BYTES;
                long gate = row * gateRowBytes + block * GATE_GROUP_BYTES;
                CellBackward.updateWithPeepholes(gates, gatesOffset + gate, preActivations,
                        preActivationsOffset + gate, cell, cellOffset + state, cellPrev, cellPrevOffset + state,
                        dh, row * dhRowBytes + block * VECTOR_BYTES, dc, state, scratch, clip, peepholes,
                        block * GATE_GROUP_BYTES, peepholeGradients);
            }
        }
    }
}
