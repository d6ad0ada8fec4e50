package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Argument checks shared by the public API, each failing with a message that names the argument. */
final class Checks {

    private Checks() {
    }

    static int positive(String name, int value) {
        if (value < 1) {
            throw new IllegalArgumentException(name + " must be >= 1, got " + value);
        }
        return value;
    }

    /**
     * A trainer's {@code maxBatch × maxSteps}, the rows it keeps every step of, as an int (its weight-gradient
     * GEMMs run over that many rows).
     */
    static int trainingRows(int maxBatch, int maxSteps) {
        long rows = (long) maxBatch * maxSteps;
        if (rows > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("maxBatch × maxSteps = " + maxBatch + " × " + maxSteps + " = " + rows
                    + " rows, more than a trainer can keep (" + Integer.MAX_VALUE + "): train in shorter windows"
                    + " (TruncatedBptt) or smaller batches");
        }
        return (int) rows;
    }

    /** A runner's or trainer's thread count: 1 to {@link Options#MAX_THREADS}. */
    static int threads(int threads) {
        if (positive("threads", threads) > Options.MAX_THREADS) {
            throw new IllegalArgumentException("threads must be <= " + Options.MAX_THREADS + ", got " + threads);
        }
        return threads;
    }

    /** Refuses a GRU's cell-state argument {@code name} unless it is null. */
    static void refuseCellState(String name, MemorySegment value) {
        if (value != null) {
            throw new IllegalArgumentException(name + " must be null for a GRU model: a GRU has no cell state");
        }
    }

    /** Refuses weights a trainer cannot update: training needs float master weights. */
    static void trainable(WeightPrecision precision) {
        if (precision != WeightPrecision.FLOAT32) {
            throw new IllegalArgumentException("weights: packed as " + precision + ", but training needs "
                    + "FLOAT32 weights (it updates float master weights); pack a FLOAT32 copy to train");
        }
    }

    static float cellClip(float cellClip) {
        if (!(cellClip > 0)) {
            throw new IllegalArgumentException("cellClip must be > 0 (Float.POSITIVE_INFINITY for no clip), got "
                    + cellClip);
        }
        return cellClip;
    }

    /** A dropout probability p: in [0, 1) (p = 1 would drop everything and scale by 1/0). */
    static double dropout(double dropout) {
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("dropout must be in [0, 1), got " + dropout);
        }
        return dropout;
    }

    /** PyTorch's projection size alone: 0 (no projection) or 1..H-1. */
    static void projectionSize(int projectionSize, int hiddenSize) {
        if (projectionSize < 0) {
            throw new IllegalArgumentException("projectionSize must be >= 0 (0 for no projection), got "
                    + projectionSize);
        }
        if (projectionSize >= hiddenSize) {
            throw new IllegalArgumentException("projectionSize must be < hiddenSize (PyTorch's proj_size <"
                    + " hidden_size): projectionSize=" + projectionSize + ", hiddenSize=" + hiddenSize);
        }
    }

    static <T> T notNull(String name, T value) {
        if (value == null) {
            throw new NullPointerException(name + " must not be null");
        }
        return value;
    }

    /** Checks that {@code segment} is usable here and holds a {@code [d1]} float tensor; the message shows the shape. */
    static MemorySegment floats(String name, MemorySegment segment, String d1, long n1) {
        return check(name, segment, d1, n1, null, 1, null, 1);
    }

    /** Checks that {@code segment} is usable here and holds a {@code [d1][d2]} float tensor. */
    static MemorySegment floats(String name, MemorySegment segment, String d1, long n1, String d2, long n2) {
        return check(name, segment, d1, n1, d2, n2, null, 1);
    }

    /** Checks that {@code segment} is usable here and holds a {@code [d1][d2][d3]} float tensor. */
    static MemorySegment floats(String name, MemorySegment segment, String d1, long n1, String d2, long n2,
                                String d3, long n3) {
        return check(name, segment, d1, n1, d2, n2, d3, n3);
    }

    /** A one-dimensional output: as {@link #floats(String, MemorySegment, String, long)}, and writable. */
    static MemorySegment output(String name, MemorySegment segment, String d1, long n1) {
        return writable(name, check(name, segment, d1, n1, null, 1, null, 1));
    }

    /** An output: as {@link #floats(String, MemorySegment, String, long, String, long)}, and writable. */
    static MemorySegment output(String name, MemorySegment segment, String d1, long n1, String d2, long n2) {
        return writable(name, check(name, segment, d1, n1, d2, n2, null, 1));
    }

    /** A three-dimensional output: as the three-dimensional {@code floats}, and writable. */
    static MemorySegment output(String name, MemorySegment segment, String d1, long n1, String d2, long n2, String d3,
                                long n3) {
        return writable(name, check(name, segment, d1, n1, d2, n2, d3, n3));
    }

    /** An optional output: null, or as {@link #output(String, MemorySegment, String, long, String, long)}. */
    static MemorySegment optionalOutput(String name, MemorySegment segment, String d1, long n1, String d2, long n2) {
        return segment == null ? null : output(name, segment, d1, n1, d2, n2);
    }

    /** An optional three-dimensional output. */
    static MemorySegment optionalOutput(String name, MemorySegment segment, String d1, long n1, String d2, long n2,
                                        String d3, long n3) {
        return segment == null ? null : writable(name, check(name, segment, d1, n1, d2, n2, d3, n3));
    }

    /** As {@link #floats(String, MemorySegment, String, long, String, long)}, but null is allowed. */
    static MemorySegment optionalFloats(String name, MemorySegment segment, String d1, long n1, String d2, long n2) {
        return segment == null ? null : check(name, segment, d1, n1, d2, n2, null, 1);
    }

    /** As the three-dimensional {@code floats}, but null is allowed. */
    static MemorySegment optionalFloats(String name, MemorySegment segment, String d1, long n1, String d2, long n2,
                                        String d3, long n3) {
        return segment == null ? null : check(name, segment, d1, n1, d2, n2, d3, n3);
    }

    /**
     * Checks that {@code segment} is open and accessible from this thread, for the checks above and for tensors
     * whose size is checked elsewhere.
     */
    static MemorySegment usable(String name, MemorySegment segment) {
        if (!segment.scope().isAlive()) {
            throw new IllegalStateException(name + ": the arena of this segment is already closed");
        }
        if (!segment.isAccessibleBy(Thread.currentThread())) {
            Thread current = Thread.currentThread();
            throw new IllegalStateException(name + ": this segment belongs to a confined arena of another thread, so"
                    + " thread \"" + current.getName() + "\" (id " + current.threadId() + ") may not access it;"
                    + " allocate it on this thread, or from a shared arena (Arena.ofShared) to pass it between"
                    + " threads");
        }
        return segment;
    }

    // The shape text is built only on failure: these checks run on every forward and step, which must not allocate.
    private static MemorySegment check(String name, MemorySegment segment, String d1, long n1, String d2, long n2,
                                       String d3, long n3) {
        if (segment == null) {
            throw new NullPointerException(name + " must not be null (expected " + shape(d1, n1, d2, n2, d3, n3)
                    + " floats)");
        }
        usable(name, segment);
        long floats;
        long expectedBytes;
        try {
            floats = Math.multiplyExact(Math.multiplyExact(n1, n2), n3);
            expectedBytes = Math.multiplyExact(floats, Float.BYTES);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(name + ": the shape " + shape(d1, n1, d2, n2, d3, n3)
                    + " has more bytes than a long can count");
        }
        if (segment.byteSize() != expectedBytes) {
            throw new IllegalArgumentException(name + " must hold " + shape(d1, n1, d2, n2, d3, n3) + " = " + floats
                    + " floats (" + expectedBytes + " bytes), but it holds " + describeSize(segment.byteSize()));
        }
        return segment;
    }

    private static MemorySegment writable(String name, MemorySegment segment) {
        if (segment.isReadOnly()) {
            throw new IllegalArgumentException(name + " is an output but the segment is read-only");
        }
        return segment;
    }

    /** Throws if any element is NaN or infinite, naming the tensor and the element as {@code name[row][column]}. */
    static void finite(String name, MemorySegment segment, int columns) {
        long count = segment.byteSize() / Float.BYTES;
        for (long index = 0; index < count; index++) {
            float value = segment.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, index);
            if (!Float.isFinite(value)) {
                String where = columns > 0 ? "[" + index / columns + "][" + index % columns + "]" : "[" + index + "]";
                throw new IllegalArgumentException(name + where + " is " + value
                        + ": weights must be finite (flat index " + index + ")");
            }
        }
    }

    /**
     * For {@link NonFiniteInputs#REJECT}: throws at the first NaN or infinity among {@code rows} rows of
     * {@code columns} floats that start {@code rowStride} floats apart, naming it {@code name[t][b][j]} when
     * {@code rowsPerStep > 0} (rows of {@code [T][B][.]}, or of any {@code [N][B][.]}) and {@code name[b][j]}
     * otherwise, and the class that rejects it, {@code owner} (e.g. "Runner").
     */
    static void finiteInput(String owner, String name, MemorySegment segment, long rows, int rowsPerStep,
                            int columns, long rowStride) {
        for (long row = 0; row < rows; row++) {
            for (int column = 0; column < columns; column++) {
                float value = segment.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, row * rowStride + column);
                if (!Float.isFinite(value)) {
                    String where = rowsPerStep > 0 ? "[" + row / rowsPerStep + "][" + row % rowsPerStep + "]"
                            : "[" + row + "]";
                    throw new IllegalArgumentException(name + where + "[" + column + "] is " + value
                            + ": this " + owner + " rejects NaN and infinite inputs (NonFiniteInputs.REJECT)");
                }
            }
        }
    }

    /**
     * For {@link NonFiniteInputs#REJECT}: throws at the first NaN or infinity among {@code columns} floats from
     * float index {@code start}, naming it {@code name[outer][inner][j]} and {@code owner}.
     */
    static void finiteRow(String owner, String name, int outer, int inner, MemorySegment segment, long start,
                          int columns) {
        int column = firstNonFinite(segment, start, columns);
        if (column >= 0) {
            throw nonFinite(owner, name + "[" + outer + "][" + inner + "][" + column + "]",
                    segment.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, start + column));
        }
    }

    /**
     * For {@link NonFiniteInputs#REJECT}: throws at the first NaN or infinity among the {@code columns} floats of
     * {@code segment}, row {@code row} of a tensor {@code name}, naming it {@code name[row][j]} and {@code owner}.
     */
    static void finiteRow(String owner, String name, int row, MemorySegment segment, int columns) {
        int column = firstNonFinite(segment, 0, columns);
        if (column >= 0) {
            throw nonFinite(owner, name + "[" + row + "][" + column + "]",
                    segment.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, column));
        }
    }

    /** {@return the first of {@code columns} floats from float index {@code start} that is NaN or infinite, or -1} */
    private static int firstNonFinite(MemorySegment segment, long start, int columns) {
        for (int column = 0; column < columns; column++) {
            if (!Float.isFinite(segment.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, start + column))) {
                return column;
            }
        }
        return -1;
    }

    private static IllegalArgumentException nonFinite(String owner, String element, float value) {
        return new IllegalArgumentException(element + " is " + value + ": this " + owner
                + " rejects NaN and infinite inputs (NonFiniteInputs.REJECT)");
    }

    /**
     * For {@link NonFiniteInputs#REJECT} in a variable-length forward: checks the rows of x that are read, the first
     * {@code lengths[b]} steps of each sequence b, with x in {@code order}, naming an element as
     * {@link #finiteRow} does (in x's own index order).
     */
    static void finiteSequences(String owner, MemorySegment x, SequenceLayout order, int steps, int batch,
                                int[] lengths, int inputSize) {
        boolean timeMajor = order == SequenceLayout.TIME_MAJOR;
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < lengths[b]; t++) {
                finiteRow(owner, "x", timeMajor ? t : b, timeMajor ? b : t, x, order.row(t, b, steps, batch)
                        * inputSize, inputSize);
            }
        }
    }

    private static String shape(String d1, long n1, String d2, long n2, String d3, long n3) {
        return "[" + d1 + "=" + n1 + "]" + (d2 == null ? "" : "[" + d2 + "=" + n2 + "]")
                + (d3 == null ? "" : "[" + d3 + "=" + n3 + "]");
    }

    private static String describeSize(long bytes) {
        return bytes % Float.BYTES == 0 ? bytes / Float.BYTES + " floats (" + bytes + " bytes)"
                : bytes + " bytes, not a whole number of floats";
    }

    /** Refuses steps or a batch beyond the limits of {@code owner}, a Runner or Trainer, naming the option. */
    static void limits(String owner, int steps, int maxSteps, int batch, int maxBatch) {
        if (steps > maxSteps) {
            throw new IllegalArgumentException("steps " + steps + " exceeds this " + owner + "'s maxSteps " + maxSteps
                    + " (Options.maxSteps)");
        }
        if (batch > maxBatch) {
            throw new IllegalArgumentException("batch " + batch + " exceeds this " + owner + "'s maxBatch " + maxBatch
                    + " (Options.maxBatch)");
        }
    }
}
