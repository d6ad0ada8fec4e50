package dev.vlstm;

import java.lang.foreign.MemorySegment;

/**
 * Truncated backpropagation through time over a sequence longer than a {@link Trainer}'s {@code maxSteps}, as
 * the 1997 LSTM trained and as DL4J's tBPTT does: the sequence runs in windows of {@code maxSteps} steps (the last
 * one may be shorter); each window's forward starts from the state the previous window ended in, and its backward
 * stops at the window's first step, so no gradient crosses a border.
 *
 * <p>The loss comes in per window: after each window's forward, {@link WindowLoss#gradient} reads that window's
 * outputs and writes dL/dy for them. After each window's backward, an optional {@link WindowEnd} runs, for example
 * to clip, step an optimizer and {@link Trainer#updateWeights} (an update per window, DL4J's way); without one,
 * {@link GradientMode#ACCUMULATE} sums every window's gradients for one update after the whole sequence.
 *
 * <p>For a unidirectional model of any cell, layers, projection and peepholes; a bidirectional one is refused,
 * because its reverse direction would start each window from the window's end instead of the sequence's.
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
         * @param y     the window's outputs, {@code [steps][B][S]} floats (S = P with projection, else H; read
         *              only)
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

    private final Trainer trainer;
    private final RnnShape shape;
    private final OffHeap memory;
    private final MemorySegment outputs;
    private final MemorySegment outputGradients;
    private final MemorySegment hidden;
    private final MemorySegment cell;

    /**
     * Truncated BPTT in windows of {@code trainer.maxSteps()} steps, for batches up to {@code trainer.maxBatch()}.
     *
     * @param trainer runs each window's forward and backward; not owned: {@link #close()} leaves it open
     * @throws IllegalArgumentException for a trainer of a bidirectional model
     */
    public TruncatedBptt(Trainer trainer) {
        this.trainer = Checks.notNull("trainer", trainer);
        this.shape = trainer.model().shape();
        if (shape.direction() != Direction.FORWARD) {
            throw new IllegalArgumentException("truncated BPTT needs a unidirectional model: the reverse direction of a"
                    + " bidirectional one reads each window from its end, not the sequence's");
        }
        long rows = (long) shape.stateCount() * trainer.maxBatch();
        this.memory = OffHeap.open();
        try {
            outputs = memory.floats((long) trainer.maxSteps() * trainer.maxBatch() * shape.outputSize());
            outputGradients = memory.floats((long) trainer.maxSteps() * trainer.maxBatch() * shape.outputSize());
            hidden = memory.floats(rows * shape.hiddenStateSize());
            cell = shape.cell().hasCellState() ? memory.floats(rows * shape.hiddenSize()) : null;
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    /**
     * Trains over a whole sequence, window by window. Shapes as in {@link Trainer}, with L layers and S = P with
     * projection, else H.
     *
     * @param x         input, {@code [T][B][I]} floats, any number of steps T &ge; 1
     * @param steps     T, time steps in {@code x}, &ge; 1
     * @param batch     B, sequences, 1 to the trainer's {@code maxBatch}
     * @param h0        initial hidden states {@code [L][B][S]}, or null for zeros
     * @param c0        initial cell states {@code [L][B][H]}, or null for zeros; null for a GRU
     * @param loss      writes each window's dL/dy
     * @param gradients receives every window's weight gradients
     * @param mode      how each window's gradients go into {@code gradients}: ACCUMULATE sums the windows;
     *                  OVERWRITE leaves each window's own gradients for {@code afterWindow}
     * @param afterWindow runs after each window's backward, or null
     * @param hT        output, {@code [L][B][S]}: the hidden states after the last step; null if not wanted
     * @param cT        output, {@code [L][B][H]}: the cell states after the last step; null if not wanted; null for
     *                  a GRU
     * @throws IllegalArgumentException for a size &lt; 1, a batch above the trainer's maximum, a segment whose size
     *                                  does not match its shape, or a c0 or cT given for a GRU
     * @throws IllegalStateException    if this object, its trainer or its model are closed
     */
    public void run(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0, WindowLoss loss,
                    Gradients gradients, GradientMode mode, WindowEnd afterWindow, MemorySegment hT,
                    MemorySegment cT) {
        if (!memory.isOpen()) {
            throw new IllegalStateException("this TruncatedBptt is closed");
        }
        Checks.positive("steps", steps);
        Checks.positive("batch", batch);
        if (batch > trainer.maxBatch()) {
            throw new IllegalArgumentException("batch " + batch + " exceeds the trainer's maxBatch "
                    + trainer.maxBatch());
        }
        if (cell == null) {
            Checks.refuseCellState("c0", c0);
            Checks.refuseCellState("cT", cT);
        }
        int states = shape.stateCount();
        String width = shape.projectionSize() > 0 ? "P" : "H";
        Checks.floats("x", x, "T", steps, "B", batch, "I", shape.inputSize());
        Checks.optionalFloats("h0", h0, "L", states, "B", batch, width, shape.hiddenStateSize());
        Checks.optionalFloats("c0", c0, "L", states, "B", batch, "H", shape.hiddenSize());
        Checks.optionalOutput("hT", hT, "L", states, "B", batch, width, shape.hiddenStateSize());
        Checks.optionalOutput("cT", cT, "L", states, "B", batch, "H", shape.hiddenSize());
        Checks.notNull("loss", loss);
        Checks.notNull("gradients", gradients);
        Checks.notNull("mode", mode);

        MemorySegment state = carried(hidden, h0, (long) states * batch * shape.hiddenStateSize());
        MemorySegment cellState = cell == null ? null : carried(cell, c0, (long) states * batch * shape.hiddenSize());
        long outputStepBytes = (long) batch * shape.outputSize() * Float.BYTES;
        long inputStepBytes = (long) batch * shape.inputSize() * Float.BYTES;
        for (int start = 0; start < steps; start += trainer.maxSteps()) {
            int window = Math.min(trainer.maxSteps(), steps - start);
            MemorySegment y = outputs.asSlice(0, window * outputStepBytes);
            MemorySegment dy = outputGradients.asSlice(0, window * outputStepBytes);
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
            MemorySegment.copy(state, 0, hT, 0, state.byteSize());
        }
        if (cT != null) {
            MemorySegment.copy(cellState, 0, cT, 0, cellState.byteSize());
        }
    }

    /** The first {@code floats} of {@code scratch}, holding {@code initial}, or zeros for null. */
    private static MemorySegment carried(MemorySegment scratch, MemorySegment initial, long floats) {
        MemorySegment state = scratch.asSlice(0, floats * Float.BYTES);
        if (initial == null) {
            state.fill((byte) 0);
        } else {
            MemorySegment.copy(initial, 0, state, 0, state.byteSize());
        }
        return state;
    }

    /** Frees the scratch (not the trainer). Closing twice is harmless. */
    @Override
    public void close() {
        memory.close();
    }
}
