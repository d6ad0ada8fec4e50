package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * The recurrent state of one layer and direction for {@code batch} rows, in the kernels' padded rows. h rows are
 * {@code hiddenStride} floats apart ({@code paddedHidden}, or the projection's padded width P'), of which the first
 * {@code outputSize} (H, or P) are values; c rows (an LSTM's) are {@code paddedHidden} floats of which H are values.
 *
 * <p>Two kinds, for the two uses of a forward. An inference state ({@link #LayerState}) holds h twice (the fused
 * step reads one buffer and writes the other, which must not overlap) and c once, updated in place. A training
 * state ({@link #history}) keeps h and c before and after every step, {@code [steps + 1][batch][row]} each, which
 * the backward reads: step t reads h and c of position t and writes position t + 1 (its c first copied from t, then
 * updated in place). The buffers come from the owner's memory and are freed with it; not thread-safe (the owner's
 * guard covers it).
 */
final class LayerState {

    private final int outputSize;
    private final int hiddenStride;
    private final int hiddenSize;
    private final int paddedHidden;
    /** h buffers: two that alternate, or one per position of a training state. */
    private final MemorySegment[] hidden;
    /** c buffers: one, or one per position of a training state; null for a GRU. */
    private final MemorySegment[] cell;
    /** Whether this keeps every position (training) rather than alternating two h buffers. */
    private final boolean history;
    /** The whole h history, {@code [steps + 1][batch][hiddenStride]}; null for an inference state. */
    private final MemorySegment hiddenHistory;
    private int current;

    /**
     * An inference state.
     *
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
        this.history = false;
        this.hiddenHistory = null;
        this.cell = cellState ? new MemorySegment[] {memory.floats((long) batch * paddedHidden)} : null;
        this.hidden = new MemorySegment[] {memory.floats((long) batch * hiddenStride),
                memory.floats((long) batch * hiddenStride)};
    }

    private LayerState(OffHeap memory, int batch, int steps, boolean cellState, int outputSize, int hiddenStride,
                       int hiddenSize, int paddedHidden) {
        this.outputSize = outputSize;
        this.hiddenStride = hiddenStride;
        this.hiddenSize = hiddenSize;
        this.paddedHidden = paddedHidden;
        this.history = true;
        long hiddenStepBytes = (long) batch * hiddenStride * Float.BYTES;
        long cellStepBytes = (long) batch * paddedHidden * Float.BYTES;
        this.hiddenHistory = memory.floats((steps + 1L) * batch * hiddenStride);
        MemorySegment cells = cellState ? memory.floats((steps + 1L) * batch * paddedHidden) : null;
        this.hidden = new MemorySegment[steps + 1];
        this.cell = cellState ? new MemorySegment[steps + 1] : null;
        for (int t = 0; t <= steps; t++) {
            hidden[t] = hiddenHistory.asSlice(t * hiddenStepBytes, hiddenStepBytes);
            if (cells != null) {
                cell[t] = cells.asSlice(t * cellStepBytes, cellStepBytes);
            }
        }
    }

    /**
     * A training state of up to {@code steps} steps, with the sizes of {@link #LayerState}.
     */
    static LayerState history(OffHeap memory, int batch, int steps, boolean cellState, int outputSize,
                              int hiddenStride, int hiddenSize, int paddedHidden) {
        return new LayerState(memory, batch, steps, cellState, outputSize, hiddenStride, hiddenSize, paddedHidden);
    }

    /** Zeros h (and c) of the first position: the state before the first step. */
    void reset() {
        if (history) {
            current = 0;
        }
        if (cell != null) {
            cell[history ? current : 0].fill((byte) 0);
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
        return hidden[history ? current + 1 : 1 - current];
    }

    /** {@return c before the next step; null for a GRU} */
    MemorySegment cell() {
        return cell == null ? null : cell[history ? current : 0];
    }

    /**
     * The c that the next step of {@code rows} rows updates in place: the current one, or, in a training state, the
     * next position's, into which the current rows are copied first. Null for a GRU.
     */
    MemorySegment nextCell(int rows) {
        if (cell == null) {
            return null;
        }
        if (!history) {
            return cell[0];
        }
        MemorySegment.copy(cell[current], 0, cell[current + 1], 0, rows * cellRowBytes());
        return cell[current + 1];
    }

    /** Makes the h (and c) the last step wrote the current ones. */
    void advance() {
        current = history ? current + 1 : 1 - current;
    }

    /** {@return h at position {@code t} of a training state} */
    MemorySegment hiddenAt(int t) {
        return hidden[t];
    }

    /** {@return c at position {@code t} of a training state} */
    MemorySegment cellAt(int t) {
        return cell[t];
    }

    /** {@return every position's h of a training state, {@code [steps + 1][batch][hiddenStride]}} */
    MemorySegment hiddenHistory() {
        return hiddenHistory;
    }

    /** Copies dense {@code [rows][S]} h rows from {@code source}, from {@code offset} bytes, into the first rows. */
    void copyHiddenIn(MemorySegment source, long offset, int rows) {
        PaddedRows.copyIn(source, offset, outputSize, hidden[current], 0, hiddenStride, rows);
    }

    /** Copies dense {@code [rows][H]} c rows from {@code source}, from {@code offset} bytes, into the first rows. */
    void copyCellIn(MemorySegment source, long offset, int rows) {
        PaddedRows.copyIn(source, offset, hiddenSize, cell(), 0, paddedHidden, rows);
    }

    /** Copies the first {@code rows} h rows, dense {@code [rows][S]}, to {@code target} from {@code offset} bytes. */
    void copyHiddenOut(MemorySegment target, long offset, int rows) {
        PaddedRows.copyOut(hidden[current], 0, hiddenStride, target, offset, outputSize, rows);
    }

    /** Copies the first {@code rows} c rows, dense {@code [rows][H]}, to {@code target} from {@code offset} bytes. */
    void copyCellOut(MemorySegment target, long offset, int rows) {
        PaddedRows.copyOut(cell(), 0, paddedHidden, target, offset, hiddenSize, rows);
    }
}
