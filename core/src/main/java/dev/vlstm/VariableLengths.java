package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * One batch call of a stack: its layout, T, B and the lengths of its sequences, and the order in which the kernels
 * run its rows: longest first (stable among equal lengths), so that the rows still running at step t are always a
 * prefix, of {@link #activeAt(int)} rows, as in PyTorch's packed sequences. Sorted row r is the caller's row
 * {@link #callerRow(int)}. Sized once for a maximum batch; {@link #set} and {@link #setFull} allocate nothing.
 */
final class VariableLengths {

    private final int[] lengths;
    private final int[] order;
    private SequenceLayout layout = SequenceLayout.TIME_MAJOR;
    private int batch;
    private int steps;
    private boolean full;

    VariableLengths(int maxBatch) {
        this.lengths = new int[maxBatch];
        this.order = new int[maxBatch];
    }

    /**
     * Checks the caller's lengths: not null, {@code batch} of them, each in 0..steps. Changes nothing.
     *
     * @throws IllegalArgumentException naming {@code lengths} and the first bad index
     */
    static void check(int[] lengths, int steps, int batch) {
        if (lengths == null) {
            throw new IllegalArgumentException("lengths must not be null: give one length per batch row (B=" + batch
                    + "), each in 0..T=" + steps);
        }
        if (lengths.length != batch) {
            throw new IllegalArgumentException("lengths must hold one length per batch row, B=" + batch
                    + ", but it holds " + lengths.length);
        }
        for (int b = 0; b < batch; b++) {
            if (lengths[b] < 0 || lengths[b] > steps) {
                throw new IllegalArgumentException("lengths[" + b + "] = " + lengths[b] + " is outside 0..T=" + steps);
            }
        }
    }

    /** A time-major call without lengths: every row runs all {@code steps} steps, in the caller's order. */
    void setFull(int steps, int batch) {
        this.layout = SequenceLayout.TIME_MAJOR;
        this.steps = steps;
        this.batch = batch;
        this.full = true;
        for (int b = 0; b < batch; b++) {
            lengths[b] = steps;
            order[b] = b;
        }
    }

    /**
     * A call with lengths, in {@code layout}: copies the checked lengths (see {@link #check}) and sorts the rows
     * longest first, stably (insertion sort).
     */
    void set(SequenceLayout layout, int[] callerLengths, int steps, int batch) {
        this.layout = layout;
        this.steps = steps;
        this.batch = batch;
        boolean allFull = true;
        for (int b = 0; b < batch; b++) {
            int length = callerLengths[b];
            lengths[b] = length;
            allFull &= length == steps;
            int at = b;
            while (at > 0 && lengths[order[at - 1]] < length) {
                order[at] = order[at - 1];
                at--;
            }
            order[at] = b;
        }
        this.full = allFull;
    }

    /** {@return the layout of the call's x and y: time-major for a call without lengths} */
    SequenceLayout layout() {
        return layout;
    }

    int batch() {
        return batch;
    }

    int steps() {
        return steps;
    }

    /**
     * True when every row runs every step of a time-major call, so that the sorted order is the caller's and its
     * T·B rows are the packed rows themselves: they can be copied as whole blocks.
     */
    boolean contiguous() {
        return full && layout == SequenceLayout.TIME_MAJOR;
    }

    /** The caller's batch row of sorted row {@code sorted}. */
    int callerRow(int sorted) {
        return order[sorted];
    }

    /** Length of the caller's batch row {@code b}. */
    int length(int b) {
        return lengths[b];
    }

    /** Index of the row of step {@code t} of sequence {@code b} among the call's T·B rows, in its layout. */
    long row(int t, int b) {
        return layout.row(t, b, steps, batch);
    }

    /** How many sorted rows have more than {@code t} steps: the rows that run step t. */
    int activeAt(int t) {
        int low = 0;
        int high = batch;
        while (low < high) {
            int middle = (low + high) >>> 1;
            if (lengths[order[middle]] > t) {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        return low;
    }

    /**
     * Copies the input rows that run at steps {@code from..to-1} (each step's first {@link #activeAt} sorted rows)
     * from the caller's {@code x}, in the call's layout, to consecutive rows of {@code target} from byte
     * {@code targetOffset}, step after step: the packed rows that the input projection reads.
     *
     * @return the rows copied
     */
    int gatherRows(MemorySegment x, long rowBytes, int from, int to, MemorySegment target, long targetOffset) {
        int rows = 0;
        for (int t = from; t < to; t++) {
            int active = activeAt(t);
            for (int r = 0; r < active; r++) {
                MemorySegment.copy(x, row(t, order[r]) * rowBytes, target,
                        targetOffset + (rows + r) * rowBytes, rowBytes);
            }
            rows += active;
        }
        return rows;
    }

    /**
     * Writes step t's rows of the caller's output {@code y} (in the call's layout, {@code rowBytes} a row): the
     * sorted rows still running from {@code source} (rows {@code sourceRowBytes} apart), zeros from {@code zeroRow}
     * for the sequences that have ended.
     */
    void scatterStep(int t, MemorySegment source, long sourceRowBytes, long rowBytes, MemorySegment zeroRow,
                     MemorySegment y) {
        int active = activeAt(t);
        for (int r = 0; r < batch; r++) {
            long target = row(t, order[r]) * rowBytes;
            if (r < active) {
                MemorySegment.copy(source, r * sourceRowBytes, y, target, rowBytes);
            } else {
                MemorySegment.copy(zeroRow, 0, y, target, rowBytes);
            }
        }
    }
}
