package dev.vlstm;

/**
 * How a batch of sequences lies in memory: the order of the time and batch dimensions of x and y (and of their
 * gradients). Rows of I (or H) floats are contiguous in both layouts; states h0, c0, hT, cT are {@code [B][H]} in
 * both.
 */
public enum SequenceLayout {
    /** {@code [T][B][features]}: all batch rows of step 0, then of step 1, ... (PyTorch's default, ONNX layout 0). */
    TIME_MAJOR,
    /** {@code [B][T][features]}: all steps of sequence 0, then of sequence 1, ... (PyTorch's {@code batch_first}). */
    BATCH_FIRST;

    /** Index of the row of step {@code t} of sequence {@code b} among the {@code steps · batch} rows. */
    long row(int t, int b, int steps, int batch) {
        return this == TIME_MAJOR ? (long) t * batch + b : (long) b * steps + t;
    }

    /** Names and sizes of a sequence tensor's outer and inner dimensions, for messages: T, B or B, T. */
    String outerName() {
        return this == TIME_MAJOR ? "T" : "B";
    }

    String innerName() {
        return this == TIME_MAJOR ? "B" : "T";
    }

    int outerSize(int steps, int batch) {
        return this == TIME_MAJOR ? steps : batch;
    }

    int innerSize(int steps, int batch) {
        return this == TIME_MAJOR ? batch : steps;
    }
}
