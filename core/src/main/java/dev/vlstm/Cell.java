package dev.vlstm;

/**
 * The recurrent cell of a {@link Model}, in PyTorch's convention.
 */
public enum Cell {
    /** {@code nn.LSTM}: gates i, f, g, o (4H gate rows), a cell state c beside h; optional projection and peepholes. */
    LSTM(4),
    /** {@code nn.GRU}: gates r, z, n (3H gate rows), h only; no projection, peepholes or cell state. */
    GRU(3);

    private final int gates;

    Cell(int gates) {
        this.gates = gates;
    }

    /** {@return G, the gates of the cell: the gate rows of every weight matrix are G·H} */
    public int gates() {
        return gates;
    }
}
