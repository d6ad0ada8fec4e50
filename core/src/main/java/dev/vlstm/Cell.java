package dev.vlstm;

/**
 * The recurrent cell of a {@link Model}, in PyTorch's convention.
 */
public enum Cell {
    /** {@code nn.LSTM}: gates i, f, g, o (4H gate rows), a cell state c beside h; optional projection and peepholes. */
    LSTM(4, 3, true),
    /** {@code nn.GRU}: gates r, z, n (3H gate rows), h only; no projection, peepholes or cell state. */
    GRU(3, 0, false),
    /**
     * The LSTM with a coupled input-forget gate (CIFG; ONNX's {@code input_forget = 1}): gates i, g, o (3H gate rows)
     * and f = 1 - i, so {@code c' = (1 - i)·c + i·g}; a cell state c beside h; optional projection, peepholes (p_i on
     * c, p_o on c', {@code [2][H]}) and cell clip, as the LSTM's. Float32 weights only.
     */
    CIFG(3, 2, true);

    private final int gates;
    private final int peepholeVectors;
    private final boolean cellState;

    Cell(int gates, int peepholeVectors, boolean cellState) {
        this.gates = gates;
        this.peepholeVectors = peepholeVectors;
        this.cellState = cellState;
    }

    /** {@return G, the gates of the cell: the gate rows of every weight matrix are G·H} */
    public int gates() {
        return gates;
    }

    /**
     * {@return the H-vectors of a peephole tensor {@code [n][H]} of this cell: 3 for an LSTM (p_i, p_f, p_o), 2 for
     * CIFG (p_i, p_o), 0 for a GRU, which has none}
     */
    public int peepholeVectors() {
        return peepholeVectors;
    }

    /** {@return whether the cell carries a cell state c beside h (LSTM and CIFG; not a GRU)} */
    public boolean hasCellState() {
        return cellState;
    }
}
