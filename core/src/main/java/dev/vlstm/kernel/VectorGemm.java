package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.LANES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;

import java.lang.foreign.MemorySegment;

/**
 * The Vector API {@link PackedGemm}: one loop ({@link #sweep}) drives the register tiles of the matrix's (format,
 * gates) family, {@link FloatTiles}, {@link Bfloat16Tiles} or {@link Int8Tiles}, each for 4 gates (LSTM) and 3 (GRU,
 * CIFG), chosen once per call, for every GEMM and, with the cell's {@link Postgemm} after each tile, for every
 * recurrent step. Rows in groups of four run block by block, blocks outermost in pairs, so that a pair's panels stay
 * in cache while every row tile uses them; the rows left over (fewer than four) run one at a time on each pair right
 * after its tiles, while its panels are still in cache. With fewer than four rows in all, every row runs on a pair
 * of blocks before the next pair, so each panel comes from memory once per call. A one-row tile spans a pair of
 * blocks, which keeps eight (or six) FMA chains busy at batch 1. Every tile computes each output lane with the same
 * single FMA chain in k order, so results do not depend on how rows fall into tiles.
 *
 * <p>The loop holds no vectors and the tiles are too large to be inlined into it, so no vector crosses a call
 * that might not inline ({@link FloatTiles} says why that matters); the postgemm functions take segments and
 * offsets for the same reason.
 */
final class VectorGemm implements PackedGemm {

    /** The one instance; use it only where the vector module is known to be present. */
    static final VectorGemm INSTANCE = new VectorGemm();
    /** Rows per register tile: 4 rows x 4 gates = 16 accumulators, half of AVX-512's registers. */
    private static final int ROW_TILE = 4;
    /** Tile families, format x gates: {@link FloatTiles} on blocks of 4 gates. */
    private static final int FLOAT4 = 0;
    /** {@link FloatTiles} on blocks of 3 gates (GRU, CIFG). */
    private static final int FLOAT3 = 1;
    /** {@link Bfloat16Tiles} on blocks of 4 gates. */
    private static final int BFLOAT16_4 = 2;
    /** {@link Bfloat16Tiles} on blocks of 3 gates. */
    private static final int BFLOAT16_3 = 3;
    /** {@link Int8Tiles} on blocks of 4 gates. */
    private static final int INT8_4 = 4;
    /** {@link Int8Tiles} on blocks of 3 gates. */
    private static final int INT8_3 = 5;

    private VectorGemm() {
    }

    /**
     * The Vector API family, or null if this CPU's preferred vector is narrower than 128 bits; called reflectively by
     * {@link Kernels} only once the vector module is known to be present.
     */
    static Family familyIfUseful() {
        int bits = VectorShape.SPECIES.vectorBitSize();
        return bits < 128 ? null : new Family("vector-" + bits, LANES, INSTANCE, VectorPointwise.INSTANCE,
                VectorTensorKernel.INSTANCE);
    }

    @Override
    public int lanes() {
        return LANES;
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException for a layout of other than 4 or 3 gates
     */
    @Override
    public void multiply(GemmCall c, int blockFrom, int blockTo) {
        sweep(family(c.format, c.layout.gates()), c.layout, c.b, c.format.scaleBytes(c.layout),
                c.format.panelBytes(c.layout, c.depth), c.depth, c.bias, c.a, c.aOffset, c.aRowBytes, c.rows, c.out,
                c.outOffset, c.aOffset / c.aRowBytes, blockFrom, blockTo, Postgemm.NONE, null, 0, null, null, 0f, null);
    }

    /**
     * {@inheritDoc}
     *
     * @throws IllegalArgumentException for a combination of format and gates that has no tiles
     */
    @Override
    public void step(StepCall c, int blockFrom, int blockTo) {
        long gateRowBytes = (long) c.layout.gateRowFloats() * Float.BYTES;
        sweep(family(c.format, c.layout.gates()), c.layout, c.u, c.format.scaleBytes(c.layout),
                c.format.panelBytes(c.layout, c.depth), c.depth, null, c.hPrev, 0, c.hPrevRowBytes, c.rows, c.sums,
                c.sumsOffset, c.inputsOffset / gateRowBytes, blockFrom, blockTo, c.cell, c.inputs,
                c.inputsOffset - c.sumsOffset, c.c, c.hNext, c.clip, c.cellRow);
    }

    /** The tile family of a matrix: its format and its gates per block, 4 or 3. */
    private static int family(WeightFormat format, int gates) {
        if (gates != GateLayout.LSTM_GATES && gates != GateLayout.GRU_GATES) {
            throw new IllegalArgumentException("no tiles for " + gates + " gates");
        }
        boolean four = gates == GateLayout.LSTM_GATES;
        return switch (format) {
            case FLOAT32 -> four ? FLOAT4 : FLOAT3;
            case BFLOAT16 -> four ? BFLOAT16_4 : BFLOAT16_3;
            case INT8 -> four ? INT8_4 : INT8_3;
        };
    }

    /**
     * The one loop of every GEMM and recurrent step. Rows in groups of four run block by block, pair of blocks by pair,
     * each pair's rows left over right after its tiles; with fewer than four rows, every row runs on each pair in
     * turn, the pairs in the direction {@link #descending} gives for {@code position / rows}. With a cell
     * ({@code cell != Postgemm.NONE}) each tile is followed by {@link Postgemm#forward} on the rows and blocks it
     * has just stored: then {@code out} holds the step's sums, {@code a} is hPrev, and the input pre-activations
     * are {@code inputs}, {@code inputsDelta} bytes further than the sums in their own buffer.
     *
     * @param panels byte offset of the first panel in b (the INT8 scales come first)
     */
    private static void sweep(int family, GateLayout layout, MemorySegment b, long panels, long panelBytes, int depth,
                              MemorySegment bias, MemorySegment a, long aOffset, long aRowBytes, int rows,
                              MemorySegment out, long outOffset, long position, int blockFrom, int blockTo,
                              int cell, MemorySegment inputs, long inputsDelta, MemorySegment c, MemorySegment hNext,
                              float clip, MemorySegment cellRow) {
        long outRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        long groupBytes = layout.gates() * VECTOR_BYTES;
        int tiledRows = rows - rows % ROW_TILE;
        int pairs = (blockTo - blockFrom + 1) / 2;
        if (tiledRows == 0) {
            boolean descending = descending(rows == 0 ? 0 : position / rows);
            for (int pair = 0; pair < pairs; pair++) {
                int block = pairStart(blockFrom, blockTo, pair, descending);
                for (int row = 0; row < rows; row++) {
                    oneRow(family, b, panels, panelBytes, depth, bias, a, aOffset, aRowBytes, row, out,
                            outOffset, outRowBytes, groupBytes, stateRowBytes, block, block + 1 < blockTo, cell,
                            inputs, inputsDelta, c, hNext, clip, cellRow);
                }
            }
            return;
        }
        for (int pair = 0; pair < pairs; pair++) {
            int first = blockFrom + 2 * pair;
            boolean twoBlocks = first + 1 < blockTo;
            for (int block = first; block <= (twoBlocks ? first + 1 : first); block++) {
                long panel = panels + block * panelBytes;
                long column = block * groupBytes;
                for (int row = 0; row < tiledRows; row += ROW_TILE) {
                    long aRow = aOffset + row * aRowBytes;
                    long outRow = outOffset + row * outRowBytes + column;
                    tile4(family, b, panel, column, depth, a, aRow, aRowBytes, bias, out, outRow, outRowBytes);
                    for (int tileRow = row; cell != Postgemm.NONE && tileRow < row + ROW_TILE; tileRow++) {
                        long sum = outOffset + tileRow * outRowBytes + column;
                        Postgemm.forward(cell, inputs, sum + inputsDelta, out, sum, a,
                                aOffset + tileRow * aRowBytes + block * VECTOR_BYTES, c, hNext,
                                tileRow * stateRowBytes + block * VECTOR_BYTES, clip, cellRow, block);
                    }
                }
            }
            for (int row = tiledRows; row < rows; row++) {
                oneRow(family, b, panels, panelBytes, depth, bias, a, aOffset, aRowBytes, row, out, outOffset,
                        outRowBytes, groupBytes, stateRowBytes, first, twoBlocks, cell, inputs,
                        inputsDelta, c, hNext, clip, cellRow);
            }
        }
    }

    /**
     * Row {@code row} of {@code block} (and of the next block, with {@code twoBlocks}) through the family's one-row
     * tile, then the cell's postgemm on what it stored, as {@link #sweep} does for a tile of four rows.
     */
    private static void oneRow(int family, MemorySegment b, long panels, long panelBytes, int depth,
                               MemorySegment bias, MemorySegment a, long aOffset, long aRowBytes, int row,
                               MemorySegment out, long outOffset, long outRowBytes, long groupBytes,
                               long stateRowBytes, int block, boolean twoBlocks, int cell, MemorySegment inputs,
                               long inputsDelta, MemorySegment c, MemorySegment hNext, float clip,
                               MemorySegment cellRow) {
        long aRow = aOffset + row * aRowBytes;
        long column = block * groupBytes;
        long outRow = outOffset + row * outRowBytes + column;
        tile1(family, b, panels + block * panelBytes, panelBytes, column, twoBlocks, depth, a, aRow, bias, out,
                outRow);
        for (int next = block; cell != Postgemm.NONE && next <= (twoBlocks ? block + 1 : block); next++) {
            long sum = outRow + (next - block) * groupBytes;
            Postgemm.forward(cell, inputs, sum + inputsDelta, out, sum, a, aRow + next * VECTOR_BYTES, c, hNext,
                    row * stateRowBytes + next * VECTOR_BYTES, clip, cellRow, next);
        }
    }

    /** Four rows of one block through the family's tile; {@code column} is the block's offset in a gate row. */
    private static void tile4(int family, MemorySegment b, long panel, long column, int depth, MemorySegment a,
                              long aRow, long aRowBytes, MemorySegment bias, MemorySegment out, long outRow,
                              long outRowBytes) {
        switch (family) {
            case FLOAT4 -> FloatTiles.rows4Gates4(b, panel, depth, a, aRow, aRowBytes, bias, column, out, outRow,
                    outRowBytes);
            case FLOAT3 -> FloatTiles.rows4Gates3(b, panel, depth, a, aRow, aRowBytes, bias, column, out, outRow,
                    outRowBytes);
            case BFLOAT16_4 -> Bfloat16Tiles.rows4Gates4(b, panel, depth, a, aRow, aRowBytes, bias, column, out,
                    outRow, outRowBytes);
            case BFLOAT16_3 -> Bfloat16Tiles.rows4Gates3(b, panel, depth, a, aRow, aRowBytes, bias, column, out,
                    outRow, outRowBytes);
            case INT8_4 -> Int8Tiles.rows4Gates4(b, panel, column, depth, a, aRow, aRowBytes, Float.BYTES, bias,
                    column, out, outRow, outRowBytes);
            default -> Int8Tiles.rows4Gates3(b, panel, column, depth, a, aRow, aRowBytes, bias, column, out,
                    outRow, outRowBytes);
        }
    }

    /**
     * One row of one block, or of two adjacent ones, through the family's tile. The 4-gate one-row tiles (and
     * {@link #tile4}'s INT8 4-gate tile) take x's column stride as a parameter, always {@code Float.BYTES} here:
     * gen_tiles.py in this directory says why.
     */
    private static void tile1(int family, MemorySegment b, long panel, long panelBytes, long column,
                              boolean twoBlocks, int depth, MemorySegment a, long aRow, MemorySegment bias,
                              MemorySegment out, long outRow) {
        switch (family) {
            case FLOAT4 -> FloatTiles.rows1Gates4(b, panel, panelBytes, twoBlocks, depth, a, aRow, Float.BYTES,
                    bias, column, out, outRow);
            case FLOAT3 -> FloatTiles.rows1Gates3(b, panel, panelBytes, twoBlocks, depth, a, aRow, bias, column, out,
                    outRow);
            case BFLOAT16_4 -> Bfloat16Tiles.rows1Gates4(b, panel, panelBytes, twoBlocks, depth, a, aRow,
                    Float.BYTES, bias, column, out, outRow);
            case BFLOAT16_3 -> Bfloat16Tiles.rows1Gates3(b, panel, panelBytes, twoBlocks, depth, a, aRow, bias, column,
                    out, outRow);
            case INT8_4 -> Int8Tiles.rows1Gates4(b, panel, panelBytes, column, twoBlocks, depth, a, aRow,
                    Float.BYTES, bias, column, out, outRow);
            default -> Int8Tiles.rows1Gates3(b, panel, panelBytes, column, twoBlocks, depth, a, aRow, bias, column,
                    out, outRow);
        }
    }

    /**
     * Whether a call of fewer than four rows sweeps the pairs of blocks from the last down. At batch 1 a sequence
     * reads all of U (1 MiB at H = 256, as large as this machine kind's L2) once per step; sweeping it the same way
     * every step evicts each block just before it is needed again, while alternating directions starts each step on
     * the blocks the previous one read last, still in L2. {@code position} is the call's first row's index in its
     * buffer of pre-activations (or of dz) divided by its rows: the step within the input chunk when every step has
     * the same rows (with variable lengths the directions need not alternate). The order changes no result, as
     * every block is computed on its own.
     */
    static boolean descending(long position) {
        return (position & 1) != 0;
    }

    /**
     * The first block of pair {@code pair} of the range, counted from its start or from its end; with an odd
     * number of blocks the last pair is the range's last block alone, whichever the direction.
     */
    private static int pairStart(int blockFrom, int blockTo, int pair, boolean descending) {
        int pairs = (blockTo - blockFrom) / 2;
        return blockFrom + 2 * (descending && pair < pairs ? pairs - 1 - pair : pair);
    }
}
