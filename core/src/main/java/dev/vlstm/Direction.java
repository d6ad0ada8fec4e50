package dev.vlstm;

/**
 * Which way the layers of a {@link Model} read a sequence (PyTorch's {@code bidirectional}).
 */
public enum Direction {
    /** Every layer reads the sequence from step 0 on. */
    FORWARD(1),
    /**
     * Every layer also runs a second, reverse direction over the time-reversed sequence; a layer's output holds the
     * forward direction's h in its first S columns and the reverse direction's in the next S.
     */
    BIDIRECTIONAL(2);

    private final int count;

    Direction(int count) {
        this.count = count;
    }

    /** {@return D, the directions each layer runs: 1 or 2} */
    public int count() {
        return count;
    }
}
