package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorLstmKernel.GATE_GROUP_BYTES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;

import java.lang.foreign.MemorySegment;

/**
 * The Vector API kernel on compressed weights ({@link WeightFormat#BFLOAT16} or {@link WeightFormat#INT8}): its
 * GEMM is {@link VectorGemm}'s, over the tiles of {@link Bfloat16Tiles} or {@link Int8Tiles}. Its recurrent step
 * runs that GEMM, {@code hPrev · Uᵀ} from +0.0, over every block into the gates buffer and then the cell update
 * ({@link CellPointwise}) block by block: the same operations in the same order as the float kernel, so bfloat16
 * weights give the float kernel's bits on the rounded weights. Only forward inference: training refuses these
 * weights before it gets here, so {@link #cellBackward} is the float kernel's (it reads no weights).
 */
final class CompressedVectorKernel implements LstmKernel {

    private static final CompressedVectorKernel BFLOAT16 = new CompressedVectorKernel(WeightFormat.BFLOAT16);
    private static final CompressedVectorKernel INT8 = new CompressedVectorKernel(WeightFormat.INT8);

    private final WeightFormat format;

    private CompressedVectorKernel(WeightFormat format) {
        this.format = format;
    }

    /** The kernel for weights in {@code format}: this family's float kernel for {@link WeightFormat#FLOAT32}. */
    static LstmKernel of(LstmKernel floatKernel, WeightFormat format) {
        return switch (format) {
            case FLOAT32 -> floatKernel;
            case BFLOAT16 -> BFLOAT16;
            case INT8 -> INT8;
        };
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
    public WeightFormat weightFormat() {
        return format;
    }

    @Override
    public LstmKernel withWeightFormat(WeightFormat weightFormat) {
        return of(VectorLstmKernel.INSTANCE, weightFormat);
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
    public void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, int recurrentDepth,
                              MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset,
                              MemorySegment hPrev, long hPrevRowBytes, MemorySegment c, MemorySegment hNext, int batch,
                              float clip, MemorySegment peepholes, int blockFrom, int blockTo) {
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        VectorGemm.multiply(format, layout, packedRecurrent, recurrentDepth, null, hPrev, 0, hPrevRowBytes,
                Float.BYTES, batch, gates, gatesOffset, blockFrom, blockTo);
        for (int row = 0; row < batch; row++) {
            for (int block = blockFrom; block < blockTo; block++) {
                long gateColumn = row * gateRowBytes + block * GATE_GROUP_BYTES;
                long stateColumn = row * stateRowBytes + block * VECTOR_BYTES;
                if (peepholes == null) {
                    CellPointwise.update(inputGates, inputGatesOffset + gateColumn, gates, gatesOffset + gateColumn,
                            c, hNext, stateColumn, clip);
                } else {
                    CellPointwise.updateWithPeepholes(inputGates, inputGatesOffset + gateColumn, gates,
                            gatesOffset + gateColumn, c, hNext, stateColumn, clip, peepholes, block * GATE_GROUP_BYTES);
                }
            }
        }
    }

    @Override
    public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment cell,
                             long cellOffset, MemorySegment cellPrev, long cellPrevOffset, MemorySegment dh,
                             int dhRowFloats, MemorySegment dc, MemorySegment scratch, int batch, float clip) {
        VectorLstmKernel.INSTANCE.cellBackward(layout, gates, gatesOffset, cell, cellOffset, cellPrev, cellPrevOffset,
                dh, dhRowFloats, dc, scratch, batch, clip);
    }

    @Override
    public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment preActivations,
                             long preActivationsOffset, MemorySegment cell, long cellOffset, MemorySegment cellPrev,
                             long cellPrevOffset, MemorySegment dh, int dhRowFloats, MemorySegment dc,
                             MemorySegment scratch, int batch, float clip, MemorySegment peepholes,
                             MemorySegment peepholeGradients) {
        VectorLstmKernel.INSTANCE.cellBackward(layout, gates, gatesOffset, preActivations, preActivationsOffset, cell,
                cellOffset, cellPrev, cellPrevOffset, dh, dhRowFloats, dc, scratch, batch, clip, peepholes,
                peepholeGradients);
    }
}
