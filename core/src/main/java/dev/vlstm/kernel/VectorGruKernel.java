package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;

import java.lang.foreign.MemorySegment;

/**
 * The Vector API GRU kernel: its input projection is {@link VectorGemm}'s; its recurrent step drives the register
 * tiles of {@link GruProjectionTiles} with the accumulators from zero, each tile followed by {@link GruPointwise},
 * as {@link VectorLstmKernel} drives the LSTM's. Rows in groups of four run block by block; the rows left over run
 * one at a time over pairs of blocks. Every tile computes each output lane with the same single FMA chain in k
 * order, so results do not depend on how rows fall into tiles (a streaming step gives a sequence's bits).
 */
final class VectorGruKernel implements GruKernel {

    /** Bytes of one (block, k) step in a packed GRU panel: three gate vectors. */
    static final long GATE_GROUP_BYTES = GateLayout.GRU_GATES * VECTOR_BYTES;
    private static final int ROW_TILE = 4;

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
        int depth = layout.hiddenSize();
        long panelBytes = layout.panelFloats(depth) * Float.BYTES;
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        int tiledRows = batch - batch % ROW_TILE;
        for (int block = blockFrom; block < blockTo; block++) {
            long gateColumn = block * GATE_GROUP_BYTES;
            long stateColumn = block * VECTOR_BYTES;
            for (int row = 0; row < tiledRows; row += ROW_TILE) {
                GruProjectionTiles.rows4(packedRecurrent, block * panelBytes, depth, hPrev, row * stateRowBytes,
                        stateRowBytes, null, 0, gates, gatesOffset + row * gateRowBytes + gateColumn, gateRowBytes);
                for (int tileRow = row; tileRow < row + ROW_TILE; tileRow++) {
                    long gate = tileRow * gateRowBytes + gateColumn;
                    GruPointwise.update(inputGates, inputGatesOffset + gate, gates, gatesOffset + gate, recurrentBias,
                            stateColumn, hPrev, hNext, tileRow * stateRowBytes + stateColumn);
                }
            }
        }
        for (int row = tiledRows; row < batch; row++) {
            for (int block = blockFrom; block < blockTo; block += 2) {
                long gate = row * gateRowBytes + block * GATE_GROUP_BYTES;
                long stateColumn = block * VECTOR_BYTES;
                boolean twoBlocks = block + 2 <= blockTo;
                GruProjectionTiles.rows1(packedRecurrent, block * panelBytes, panelBytes, twoBlocks, depth, hPrev,
                        row * stateRowBytes, null, 0, gates, gatesOffset + gate);
                GruPointwise.update(inputGates, inputGatesOffset + gate, gates, gatesOffset + gate, recurrentBias,
                        stateColumn, hPrev, hNext, row * stateRowBytes + stateColumn);
                if (twoBlocks) {
                    GruPointwise.update(inputGates, inputGatesOffset + gate + GATE_GROUP_BYTES, gates,
                            gatesOffset + gate + GATE_GROUP_BYTES, recurrentBias, stateColumn + VECTOR_BYTES, hPrev,
                            hNext, row * stateRowBytes + stateColumn + VECTOR_BYTES);
                }
            }
        }
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
