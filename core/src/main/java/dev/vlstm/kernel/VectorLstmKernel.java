package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.LANES;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;

import java.lang.foreign.MemorySegment;

/**
 * The Vector API kernel: its GEMM is {@link VectorGemm}'s; its recurrent step drives the register tiles of
 * {@link ProjectionTiles} with the accumulators from zero, each tile followed by {@link CellPointwise}. Rows in
 * groups of four run block by block (outer, so one block's weight panel stays in cache while every row tile uses
 * it); the rows left over run one at a time over pairs of blocks, which keeps eight FMA chains busy at batch 1,
 * in the direction {@link VectorGemm#descending} gives. Every tile computes each output lane with the same single
 * FMA chain in k order, so results do not depend on how rows fall into tiles.
 */
final class VectorLstmKernel implements LstmKernel {

    /** Bytes of one (block, k) step in a packed panel: four gate vectors. */
    static final long GATE_GROUP_BYTES = GateLayout.LSTM_GATES * VECTOR_BYTES;
    /** Rows per register tile: 4 rows x 4 gates = 16 accumulators, half of AVX-512's registers. */
    private static final int ROW_TILE = 4;

    /** The one instance; use it only where the vector module is known to be present. */
    static final VectorLstmKernel INSTANCE = new VectorLstmKernel();

    private VectorLstmKernel() {
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
        return WeightFormat.FLOAT32;
    }

    @Override
    public LstmKernel withWeightFormat(WeightFormat format) {
        return CompressedVectorKernel.of(this, format);
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
        VectorGemm.multiply(WeightFormat.FLOAT32, layout, packedInput, depth, packedBias, x, xOffset, xRowBytes,
                xColumnBytes, rows, gates, gatesOffset, blockFrom, blockTo);
    }

    @Override
    public void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, int depth, MemorySegment inputGates,
                              long inputGatesOffset, MemorySegment gates, long gatesOffset, MemorySegment hPrev,
                              long hPrevRowBytes, MemorySegment c, MemorySegment hNext, int batch, float clip,
                              MemorySegment peepholes, int blockFrom, int blockTo) {
        long panelBytes = layout.panelFloats(depth) * Float.BYTES;
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        int tiledRows = batch - batch % ROW_TILE;
        for (int block = blockFrom; block < blockTo; block++) {
            long gateColumn = block * GATE_GROUP_BYTES;
            long stateColumn = block * VECTOR_BYTES;
            for (int row = 0; row < tiledRows; row += ROW_TILE) {
                ProjectionTiles.rows4(packedRecurrent, block * panelBytes, depth, hPrev, row * hPrevRowBytes,
                        hPrevRowBytes, Float.BYTES, null, 0, gates, gatesOffset + row * gateRowBytes + gateColumn,
                        gateRowBytes);
                for (int tileRow = row; tileRow < row + ROW_TILE; tileRow++) {
                    long gate = tileRow * gateRowBytes + gateColumn;
                    cellUpdate(inputGates, inputGatesOffset + gate, gates, gatesOffset + gate, c, hNext,
                            tileRow * stateRowBytes + stateColumn, clip, peepholes, gateColumn);
                }
            }
        }
        for (int row = tiledRows; row < batch; row++) {
            boolean descending = VectorGemm.descending(inputGatesOffset / gateRowBytes + row);
            for (int pair = 0; pair < (blockTo - blockFrom) / 2; pair++) {
                int block = VectorGemm.pairStart(blockFrom, blockTo, pair, descending);
                long gate = row * gateRowBytes + block * GATE_GROUP_BYTES;
                long state = row * stateRowBytes + block * VECTOR_BYTES;
                ProjectionTiles.rows1(packedRecurrent, block * panelBytes, panelBytes, true, depth, hPrev,
                        row * hPrevRowBytes, Float.BYTES, null, 0, gates, gatesOffset + gate);
                cellUpdate(inputGates, inputGatesOffset + gate, gates, gatesOffset + gate, c, hNext, state, clip,
                        peepholes, block * GATE_GROUP_BYTES);
                cellUpdate(inputGates, inputGatesOffset + gate + GATE_GROUP_BYTES, gates,
                        gatesOffset + gate + GATE_GROUP_BYTES, c, hNext, state + VECTOR_BYTES, clip, peepholes,
                        (block + 1) * GATE_GROUP_BYTES);
            }
            if ((blockTo - blockFrom) % 2 != 0) {
                int block = blockTo - 1;
                long gate = row * gateRowBytes + block * GATE_GROUP_BYTES;
                ProjectionTiles.rows1(packedRecurrent, block * panelBytes, panelBytes, false, depth, hPrev,
                        row * hPrevRowBytes, Float.BYTES, null, 0, gates, gatesOffset + gate);
                cellUpdate(inputGates, inputGatesOffset + gate, gates, gatesOffset + gate, c, hNext,
                        row * stateRowBytes + block * VECTOR_BYTES, clip, peepholes, block * GATE_GROUP_BYTES);
            }
        }
    }

    /**
     * The cell of one row over one block, on the recurrent sums a tile has just stored at {@code gatesOffset}
     * (L1-hot): {@link CellPointwise#update}, or {@link CellPointwise#updateWithPeepholes} with this block's
     * peepholes at {@code peepholeOffset} when {@code peepholes} is not null. Takes no vectors, so it allocates
     * nothing whether or not C2 inlines it.
     */
    private static void cellUpdate(MemorySegment inputGates, long inputGatesOffset, MemorySegment gates,
                                   long gatesOffset, MemorySegment c, MemorySegment hNext, long stateOffset,
                                   float clip, MemorySegment peepholes, long peepholeOffset) {
        if (peepholes == null) {
            CellPointwise.update(inputGates, inputGatesOffset, gates, gatesOffset, c, hNext, stateOffset, clip);
        } else {
            CellPointwise.updateWithPeepholes(inputGates, inputGatesOffset, gates, gatesOffset, c, hNext,
                    stateOffset, clip, peepholes, peepholeOffset);
        }
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
