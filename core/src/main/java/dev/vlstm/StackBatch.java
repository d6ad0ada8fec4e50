package dev.vlstm;

/**
 * The shape of one call through a stack: the layout of its sequence tensors, T, B, and each sequence's length
 * (T for all of them in a call without lengths). A stack keeps one, sized for its largest batch, and sets it per
 * forward, so that the backward can still see the lengths after the caller's array is gone. Allocates nothing
 * after construction.
 */
final class StackBatch {

    private final int[] lengths;
    private SequenceLayout layout = SequenceLayout.TIME_MAJOR;
    private int steps;
    private int batch;
    private boolean variable;

    StackBatch(int maxBatch) {
        this.lengths = new int[maxBatch];
    }

    /** A time-major call in which every sequence runs all {@code steps}. */
    void setFull(int steps, int batch) {
        this.layout = SequenceLayout.TIME_MAJOR;
        this.steps = steps;
        this.batch = batch;
        this.variable = false;
        for (int b = 0; b < batch; b++) {
            lengths[b] = steps;
        }
    }

    /** A call in {@code layout} with checked lengths (see {@link VariableLengths#check}), copied. */
    void setVariable(SequenceLayout layout, int steps, int batch, int[] callerLengths) {
        this.layout = layout;
        this.steps = steps;
        this.batch = batch;
        this.variable = true;
        System.arraycopy(callerLengths, 0, lengths, 0, batch);
    }

    SequenceLayout layout() {
        return layout;
    }

    int steps() {
        return steps;
    }

    int batch() {
        return batch;
    }

    /** True if the call gave lengths (even if all of them are T); false for the plain time-major call. */
    boolean variable() {
        return variable;
    }

    /** The length of sequence {@code b}: T in a call without lengths. */
    int length(int b) {
        return lengths[b];
    }

    /** Index of the row of step {@code t} of sequence {@code b} among the T·B rows. */
    long row(int t, int b) {
        return layout.row(t, b, steps, batch);
    }

    /** Names and sizes of a sequence tensor's outer and inner dimensions, for messages: T, B or B, T. */
    String outerName() {
        return layout == SequenceLayout.TIME_MAJOR ? "T" : "B";
    }

    String innerName() {
        return layout == SequenceLayout.TIME_MAJOR ? "B" : "T";
    }

    int outerSize() {
        return layout == SequenceLayout.TIME_MAJOR ? steps : batch;
    }

    int innerSize() {
        return layout == SequenceLayout.TIME_MAJOR ? batch : steps;
    }
}
