package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.LANES;

import java.lang.foreign.MemorySegment;

/**
 * The Vector API {@link PackedGemm}: drives the register tiles of the matrix's (format, gates) family,
 * {@link ProjectionTiles} (float, 4 gates), {@link GruProjectionTiles} (float, 3 gates), {@link Bfloat16Tiles} and
 * {@link Int8Tiles} (4 gates), chosen once per call. Rows in groups of four run block by block (blocks outermost,
 * so one block's panel stays in cache while every row tile uses it); the rows left over run one at a time over
 * pairs of blocks, which keeps eight (or six) FMA chains busy at batch 1. Every tile computes each output lane with
 * the same single FMA chain in k order, so results do not depend on how rows fall into tiles.
 *
 * <p>The loops hold no vectors and the tiles are too large to be inlined into them, so no vector crosses a call
 * that might not inline ({@link ProjectionTiles} says why that matters).
 */
final class VectorGemm implements PackedGemm {

    /** The one instance; use it only where the vector module is known to be present. */
    static final VectorGemm INSTANCE = new VectorGemm();
    /** Rows per register tile: 4 rows x 4 gates = 16 accumulators, half of AVX-512's registers. */
    private static final int ROW_TILE = 4;

    private VectorGemm() {
    }

    @Override
    public int lanes() {
        return LANES;
    }

    @Override
    public void multiply(GemmCall c, int blockFrom, int blockTo) {
        multiply(c.format, c.layout, c.b, c.depth, c.bias, c.a, c.aOffset, c.aRowBytes, c.aColumnBytes, c.rows, c.out,
                c.outOffset, blockFrom, blockTo);
    }

    /**
     * {@link #multiply(GemmCall, int, int)} with the call's arguments ({@link GemmCall#set}) passed one by one, for
     * the kernels' adapters, which are shared by every thread and so own no call object.
     *
     * @throws IllegalArgumentException for a combination of format and gates that has no tiles (compressed
     *                                  formats have 4 gates only), or 3 gates with {@code aColumnBytes} other than
     *                                  {@code Float.BYTES}
     */
    static void multiply(WeightFormat format, GateLayout layout, MemorySegment b, int depth, MemorySegment bias,
                         MemorySegment a, long aOffset, long aRowBytes, long aColumnBytes, int rows, MemorySegment out,
                         long outOffset, int blockFrom, int blockTo) {
        int gates = layout.gates();
        if (format == WeightFormat.FLOAT32 && gates == GateLayout.LSTM_GATES) {
            float4(layout, b, depth, bias, a, aOffset, aRowBytes, aColumnBytes, rows, out, outOffset, blockFrom,
                    blockTo);
        } else if (format == WeightFormat.FLOAT32 && gates == GateLayout.GRU_GATES && aColumnBytes == Float.BYTES) {
            float3(layout, b, depth, bias, a, aOffset, aRowBytes, rows, out, outOffset, blockFrom, blockTo);
        } else if (format != WeightFormat.FLOAT32 && gates == GateLayout.LSTM_GATES) {
            compressed4(format, layout, b, depth, bias, a, aOffset, aRowBytes, aColumnBytes, rows, out, outOffset,
                    blockFrom, blockTo);
        } else {
            throw new IllegalArgumentException("no " + format + " tiles for " + gates + " gates with columns "
                    + aColumnBytes + " bytes apart");
        }
    }

    /**
     * Float, 4 gates. A row left over from the 4-row tiles sweeps its pairs of blocks in the direction
     * {@link #descending} gives for its position in its buffer ({@code aOffset / aRowBytes + row}).
     */
    private static void float4(GateLayout layout, MemorySegment b, int depth, MemorySegment bias, MemorySegment a,
                               long aOffset, long aRowBytes, long aColumnBytes, int rows, MemorySegment out,
                               long outOffset, int blockFrom, int blockTo) {
        long panelBytes = layout.panelFloats(depth) * Float.BYTES;
        long outRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        long groupBytes = VectorLstmKernel.GATE_GROUP_BYTES;
        int tiledRows = rows - rows % ROW_TILE;
        for (int block = blockFrom; block < blockTo; block++) {
            long panel = block * panelBytes;
            long column = block * groupBytes;
            for (int row = 0; row < tiledRows; row += ROW_TILE) {
                ProjectionTiles.rows4(b, panel, depth, a, aOffset + row * aRowBytes, aRowBytes, aColumnBytes, bias,
                        column, out, outOffset + row * outRowBytes + column, outRowBytes);
            }
        }
        for (int row = tiledRows; row < rows; row++) {
            boolean descending = descending(aOffset / aRowBytes + row);
            for (int pair = 0; pair < (blockTo - blockFrom) / 2; pair++) {
                int block = pairStart(blockFrom, blockTo, pair, descending);
                long column = block * groupBytes;
                ProjectionTiles.rows1(b, block * panelBytes, panelBytes, true, depth, a, aOffset + row * aRowBytes,
                        aColumnBytes, bias, column, out, outOffset + row * outRowBytes + column);
            }
            if ((blockTo - blockFrom) % 2 != 0) {
                int block = blockTo - 1;
                long column = block * groupBytes;
                ProjectionTiles.rows1(b, block * panelBytes, panelBytes, false, depth, a, aOffset + row * aRowBytes,
                        aColumnBytes, bias, column, out, outOffset + row * outRowBytes + column);
            }
        }
    }

    /** Float, 3 gates, a's columns contiguous; the rows left over sweep their pairs of blocks upwards. */
    private static void float3(GateLayout layout, MemorySegment b, int depth, MemorySegment bias, MemorySegment a,
                               long aOffset, long aRowBytes, int rows, MemorySegment out, long outOffset,
                               int blockFrom, int blockTo) {
        long panelBytes = layout.panelFloats(depth) * Float.BYTES;
        long outRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        long groupBytes = VectorGruKernel.GATE_GROUP_BYTES;
        int tiledRows = rows - rows % ROW_TILE;
        for (int block = blockFrom; block < blockTo; block++) {
            long panel = block * panelBytes;
            long column = block * groupBytes;
            for (int row = 0; row < tiledRows; row += ROW_TILE) {
                GruProjectionTiles.rows4(b, panel, depth, a, aOffset + row * aRowBytes, aRowBytes, bias, column, out,
                        outOffset + row * outRowBytes + column, outRowBytes);
            }
        }
        for (int row = tiledRows; row < rows; row++) {
            for (int block = blockFrom; block < blockTo; block += 2) {
                long column = block * groupBytes;
                GruProjectionTiles.rows1(b, block * panelBytes, panelBytes, block + 2 <= blockTo, depth, a,
                        aOffset + row * aRowBytes, bias, column, out, outOffset + row * outRowBytes + column);
            }
        }
    }

    /** Bfloat16 or int8, 4 gates; the rows left over sweep their pairs of blocks upwards. */
    private static void compressed4(WeightFormat format, GateLayout layout, MemorySegment b, int depth,
                                    MemorySegment bias, MemorySegment a, long aOffset, long aRowBytes,
                                    long aColumnBytes, int rows, MemorySegment out, long outOffset, int blockFrom,
                                    int blockTo) {
        long panelBytes = format.panelBytes(layout, depth);
        long panels = format.scaleBytes(layout);
        long outRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        long groupBytes = VectorLstmKernel.GATE_GROUP_BYTES;
        int tiledRows = rows - rows % ROW_TILE;
        for (int block = blockFrom; block < blockTo; block++) {
            long panel = panels + block * panelBytes;
            long column = block * groupBytes;
            for (int row = 0; row < tiledRows; row += ROW_TILE) {
                long aRow = aOffset + row * aRowBytes;
                long outRow = outOffset + row * outRowBytes + column;
                if (format == WeightFormat.BFLOAT16) {
                    Bfloat16Tiles.rows4(b, panel, depth, a, aRow, aRowBytes, aColumnBytes, bias, column, out, outRow,
                            outRowBytes);
                } else {
                    Int8Tiles.rows4(b, panel, column, depth, a, aRow, aRowBytes, aColumnBytes, bias, column, out,
                            outRow, outRowBytes);
                }
            }
        }
        for (int row = tiledRows; row < rows; row++) {
            for (int block = blockFrom; block < blockTo; block += 2) {
                boolean twoBlocks = block + 2 <= blockTo;
                long panel = panels + block * panelBytes;
                long column = block * groupBytes;
                long aRow = aOffset + row * aRowBytes;
                long outRow = outOffset + row * outRowBytes + column;
                if (format == WeightFormat.BFLOAT16) {
                    Bfloat16Tiles.rows1(b, panel, panelBytes, twoBlocks, depth, a, aRow, aColumnBytes, bias, column,
                            out, outRow);
                } else {
                    Int8Tiles.rows1(b, panel, panelBytes, column, twoBlocks, depth, a, aRow, aColumnBytes, bias,
                            column, out, outRow);
                }
            }
        }
    }

    /**
     * Whether a single row sweeps the pairs of blocks from the last down. At batch 1 a sequence reads all of U
     * (1 MiB at H = 256, as large as this machine kind's L2) once per step; sweeping it the same way every step
     * evicts each block just before it is needed again, while alternating directions starts each step on the
     * blocks the previous one read last, still in L2. {@code position}
     * is the row's index in its buffer of pre-activations (or of dz), which at batch 1 is the step; the order
     * changes no result, as every block is computed on its own.
     */
    static boolean descending(long position) {
        return (position & 1) != 0;
    }

    /** The first block of pair {@code pair} of the range, counted from its start or from its end. */
    static int pairStart(int blockFrom, int blockTo, int pair, boolean descending) {
        int pairs = (blockTo - blockFrom) / 2;
        return blockFrom + 2 * (descending ? pairs - 1 - pair : pair);
    }
}
