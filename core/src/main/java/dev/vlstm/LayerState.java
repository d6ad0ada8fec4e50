package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * The recurrent state of one layer and direction for {@code batch} rows, in the kernels' padded rows: h double-
 * buffered (the fused step reads one buffer and writes the other, which must not overlap) and, for an LSTM, c
 * updated in place. h rows are {@code hiddenStride} floats apart ({@code paddedHidden}, or the projection's padded
 * width P'), of which the first {@code outputSize} (H, or P) are values; c rows are {@code paddedHidden} floats of
 * which H are values. The buffers come from the owner's memory and are freed with it; not thread-safe (the owner's
 * guard covers it).
 */
final class LayerState {

    private final int outputSize;
    private final int hiddenStride;
    private final int hiddenSize;
    private final int paddedHidden;
    private final MemorySegment[] hidden = new MemorySegment[2];
    /** c, or null for a GRU. */
    private final MemorySegment cell;
    private int current;

    /**
     * @param cellState    whether the cell has a c (LSTM) or not (GRU)
     * @param outputSize   values per h row, S
     * @param hiddenStride floats between h rows, &ge; S
     * @param hiddenSize   values per c row, H
     * @param paddedHidden floats between c rows, &ge; H
     */
    LayerState(OffHeap memory, int batch, boolean cellState, int outputSize, int hiddenStride, int hiddenSize,
               int paddedHidden) {
        this.outputSize = outputSize;
        this.hiddenStride = hiddenStride;
        this.hiddenSize = hiddenSize;
        this.paddedHidden = paddedHidden;
        this.cell = cellState ? memory.floats((long) batch * paddedHidden) : null;
        this.hidden[0] = memory.floats((long) batch * hiddenStride);
        this.hidden[1] = memory.floats((long) batch * hiddenStride);
    }

    /** Zeros h (and c): the state before the first step. */
    void reset() {
        if (cell != null) {
            cell.fill((byte) 0);
        }
        hidden[current].fill((byte) 0);
    }

    /** {@return S, the values per h row} */
    int outputSize() {
        return outputSize;
    }

    /** {@return floats between h rows} */
    int hiddenStride() {
        return hiddenStride;
    }

    /** {@return bytes between h rows} */
    long hiddenRowBytes() {
        return (long) hiddenStride * Float.BYTES;
    }

    /** {@return bytes between c rows} */
    long cellRowBytes() {
        return (long) paddedHidden * Float.BYTES;
    }

    /** {@return h before the next step} */
    MemorySegment currentHidden() {
        return hidden[current];
    }

    /** {@return the buffer the next step writes h into} */
    MemorySegment nextHidden() {
        return hidden[1 - current];
    }

    /** {@return c, updated in place by each step; null for a GRU} */
    MemorySegment cell() {
        return cell;
    }

    /** Makes the h the last step wrote the current one. */
    void advance() {
        current = 1 - current;
    }

    /** Copies dense {@code [rows][S]} h rows from {@code source} into the first rows. */
    void copyHiddenIn(MemorySegment source, int rows) {
        PaddedRows.copyIn(source, 0, outputSize, hidden[current], 0, hiddenStride, rows);
    }

    /** Copies dense {@code [rows][H]} c rows from {@code source} into the first rows. */
    void copyCellIn(MemorySegment source, int rows) {
        PaddedRows.copyIn(source, 0, hiddenSize, cell, 0, paddedHidden, rows);
    }

    /** Copies the first {@code rows} h rows, dense {@code [rows][S]}, to {@code target} from {@code offset} bytes. */
    void copyHiddenOut(MemorySegment target, long offset, int rows) {
        PaddedRows.copyOut(hidden[current], 0, hiddenStride, target, offset, outputSize, rows);
    }

    /** Copies the first {@code rows} c rows, dense {@code [rows][H]}, to {@code target} from {@code offset} bytes. */
    void copyCellOut(MemorySegment target, long offset, int rows) {
        PaddedRows.copyOut(cell, 0, paddedHidden, target, offset, hiddenSize, rows);
    }
}
