package dev.vlstm;

import java.lang.foreign.MemorySegment;

/** Copies between the API's dense {@code [rows][width]} floats and the kernels' rows padded to a block width. */
final class PaddedRows {

    private PaddedRows() {
    }

    /** Copies {@code rows} dense rows of {@code width} floats into rows of {@code paddedWidth} floats. */
    static void copyIn(MemorySegment dense, long denseOffset, int width, MemorySegment padded, long paddedOffset,
                       int paddedWidth, int rows) {
        long denseBytes = (long) width * Float.BYTES;
        long paddedBytes = (long) paddedWidth * Float.BYTES;
        for (int row = 0; row < rows; row++) {
            MemorySegment.copy(dense, denseOffset + row * denseBytes, padded, paddedOffset + row * paddedBytes,
                    denseBytes);
        }
    }

    /** Copies the first {@code width} floats of {@code rows} padded rows into dense rows. */
    static void copyOut(MemorySegment padded, long paddedOffset, int paddedWidth, MemorySegment dense,
                        long denseOffset, int width, int rows) {
        long denseBytes = (long) width * Float.BYTES;
        long paddedBytes = (long) paddedWidth * Float.BYTES;
        for (int row = 0; row < rows; row++) {
            MemorySegment.copy(padded, paddedOffset + row * paddedBytes, dense, denseOffset + row * denseBytes,
                    denseBytes);
        }
    }
}
