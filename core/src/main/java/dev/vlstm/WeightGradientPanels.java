package dev.vlstm;

import java.lang.foreign.MemorySegment;

import dev.vlstm.kernel.GateLayout;

/**
 * The right operand of a trainer's weight-gradient GEMMs (X, H_prev, or m for dW_hr): the rows its forward ran,
 * packed as {@code [tile][packed row][4·lanes]} panels, the layout the projection kernel reads its weights in.
 */
final class WeightGradientPanels {

    private WeightGradientPanels() {
    }

    /**
     * Copies the rows that a forward ran, in its packed order (step t, sorted rows 0..activeAt(t)-1, step t's first
     * packed row being {@code stepStart[t]}), into {@code panels}. The source row (t, r) is at
     * {@code (stepStart[t] + r) * rowBytes} if {@code packed}, else at {@code t * stepBytes + r * rowBytes}.
     * Columns past {@code width} in the last tile keep whatever they held: they only reach output columns that are
     * never read.
     *
     * @param width     floats of a source row
     * @param stepStart first packed row of each step, {@code [steps + 1]}, the last entry being the row count
     * @param lanes     the kernel's lanes: a tile is {@code 4·lanes} columns
     */
    static void pack(MemorySegment source, long stepBytes, long rowBytes, boolean packed, int width, int[] stepStart,
                     int steps, int lanes, MemorySegment panels) {
        int tileWidth = GateLayout.LSTM_GATES * lanes;
        long tileBytes = (long) tileWidth * Float.BYTES;
        long rows = stepStart[steps];
        for (int tile = 0; tile * tileWidth < width; tile++) {
            long chunkBytes = (long) Math.min(tileWidth, width - tile * tileWidth) * Float.BYTES;
            for (int t = 0; t < steps; t++) {
                int active = stepStart[t + 1] - stepStart[t];
                for (int r = 0; r < active; r++) {
                    long from = packed ? (stepStart[t] + r) * rowBytes : t * stepBytes + r * rowBytes;
                    MemorySegment.copy(source, from + tile * tileBytes, panels,
                            (tile * rows + stepStart[t] + r) * tileBytes, chunkBytes);
                }
            }
        }
    }
}
