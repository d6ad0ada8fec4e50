package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * Truncated backpropagation through time over a sequence longer than an {@link LstmTrainer}'s {@code maxSteps}, as
 * the 1997 LSTM trained and as DL4J's tBPTT does: the sequence runs in windows of {@code maxSteps} steps (the last
 * one may be shorter); each window's forward starts from the state the previous window ended in, and its backward
 * stops at the window's first step, so no gradient crosses a border.
 *
 * <p>The loss comes in per window: after each window's forward, {@link WindowLoss#gradient} reads that window's
 * outputs and writes dL/dy for them. After each window's backward, an optional {@link WindowEnd} runs, for example
 * to clip, step an optimizer and {@link LstmTrainer#updateWeights} (an update per window, DL4J's way); without one,
 * {@link GradientMode#ACCUMULATE} sums every window's gradients for one update after the whole sequence.
 *
 * <p>Owns scratch for one window's y and dy and the carried state, allocated up front. Not thread-safe, like its
 * trainer; layouts are row-major floats in native byte order.
 */
public final class TruncatedBptt implements AutoCloseable {

    /** The loss's part in each window. */
    @FunctionalInterface
    public interface WindowLoss {

        /**
         * Writes dL/dy for one window's outputs.
         *
         * @param start first time step of the window in the whole sequence
         * @param steps the window's length
         * @param y     the window's outputs, {@code [steps][B][H]} floats ({@code [steps][B][P]} with projection;
         *              read only)
         * @param dy    zeroed on entry; receives dL/dy, shaped as y
         */
        void gradient(int start, int steps, MemorySegment y, MemorySegment dy);
    }

    /** What runs after each window's backward. */
    @FunctionalInterface
    public interface WindowEnd {

        /**
         * Called with the window's first time step and length, once its gradients are in place.
         *
         * @param start first time step of the window in the whole sequence
         * @param steps the window's length, 1 to the trainer's {@code maxSteps}
         */
        void accept(int start, int steps);
    }

    private final LstmTrainer trainer;
    private final OffHeap memory;
    private final MemorySegment outputs;
    private final MemorySegment outputGradients;
    private final MemorySegment hidden;
    private final MemorySegment cell;

    /**
     * Truncated BPTT in windows of {@code trainer.maxSteps()} steps, for batches up to {@code trainer.maxBatch()}.
     *
     * @param trainer runs each window's forward and backward; not owned: {@link #close()} leaves it open
     */
    public TruncatedBptt(LstmTrainer trainer) {
        this.trainer = Checks.notNull("trainer", trainer);
        long state = (long) trainer.maxBatch() * trainer.weights().outputSize();
        this.memory = OffHeap.open();
        try {
            outputs = memory.floats(trainer.maxSteps() * state);
            outputGradients = memory.floats(trainer.maxSteps() * state);
            hidden = memory.floats(state);
            cell = memory.floats((long) trainer.maxBatch() * trainer.weights().hiddenSize());
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    /**
     * Trains over a whole sequence, window by window.
     *
     * @param x         input, {@code [T][B][I]} floats, any number of steps T &ge; 1
     * @param steps     T, time steps in {@code x}, &ge; 1
     * @param batch     B, sequences, 1 to the trainer's {@code maxBatch}
     * @param h0        initial hidden state {@code [B][H]} ({@code [B][P]} with projection), or null for zeros
     * @param c0        initial cell state {@code [B][H]}, or null for zeros
     * @param loss      writes each window's dL/dy
     * @param gradients receives every window's weight gradients
     * @param mode      how each window's gradients go into {@code gradients}: ACCUMULATE sums the windows;
     *                  OVERWRITE leaves each window's own gradients for {@code afterWindow}
     * @param afterWindow runs after each window's backward, or null
     * @param hT        output, {@code [B][H]} ({@code [B][P]} with projection): the hidden state after the last
     *                  step; null if not wanted
     * @param cT        output, {@code [B][H]}: the cell state after the last step; null if not wanted
     * @throws IllegalArgumentException for a size &lt; 1, a batch above the trainer's maximum, or a segment whose
     *                                  size does not match its shape
     * @throws IllegalStateException    if this object, its trainer or the trainer's weights are closed
     */
    public void run(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0, WindowLoss loss,
                    LstmGradients gradients, GradientMode mode, WindowEnd afterWindow, MemorySegment hT,
                    MemorySegment cT) {
        if (!memory.isOpen()) {
            throw new IllegalStateException("this TruncatedBptt is closed");
        }
        int inputSize = trainer.weights().inputSize();
        int hiddenSize = trainer.weights().hiddenSize();
        int outputSize = trainer.weights().outputSize();
        Checks.positive("steps", steps);
        Checks.positive("batch", batch);
        if (batch > trainer.maxBatch()) {
            throw new IllegalArgumentException("batch " + batch + " exceeds the trainer's maxBatch "
                    + trainer.maxBatch());
        }
        Checks.sequenceArguments(SequenceLayout.TIME_MAJOR, inputSize, hiddenSize, outputSize == hiddenSize ? "H" : "P",
                outputSize, x, steps, batch, h0, c0, null, hT, cT);
        Checks.notNull("loss", loss);
        Checks.notNull("gradients", gradients);
        Checks.notNull("mode", mode);

        long stateBytes = (long) batch * outputSize * Float.BYTES;
        long cellStateBytes = (long) batch * hiddenSize * Float.BYTES;
        MemorySegment state = hidden.asSlice(0, stateBytes);
        MemorySegment cellState = cell.asSlice(0, cellStateBytes);
        state.fill((byte) 0);
        cellState.fill((byte) 0);
        if (h0 != null) {
            MemorySegment.copy(h0, 0, state, 0, stateBytes);
        }
        if (c0 != null) {
            MemorySegment.copy(c0, 0, cellState, 0, cellStateBytes);
        }
        long inputStepBytes = (long) batch * inputSize * Float.BYTES;
        for (int start = 0; start < steps; start += trainer.maxSteps()) {
            int window = Math.min(trainer.maxSteps(), steps - start);
            MemorySegment y = outputs.asSlice(0, window * stateBytes);
            MemorySegment dy = outputGradients.asSlice(0, window * stateBytes);
            trainer.forward(x.asSlice(start * inputStepBytes, window * inputStepBytes), window, batch, state,
                    cellState, y, state, cellState);
            dy.fill((byte) 0);
            loss.gradient(start, window, y, dy);
            trainer.backward(dy, null, null, gradients, mode, null, null, null);
            if (afterWindow != null) {
                afterWindow.accept(start, window);
            }
        }
        if (hT != null) {
            MemorySegment.copy(state, 0, hT, 0, stateBytes);
        }
        if (cT != null) {
            MemorySegment.copy(cellState, 0, cT, 0, cellStateBytes);
        }
    }

    /** Frees the scratch (not the trainer). Closing twice is harmless. */
    @Override
    public void close() {
        memory.close();
    }
}
