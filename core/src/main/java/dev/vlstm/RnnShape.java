package dev.vlstm;

/**
 * The sizes of a whole {@code nn.LSTM}, {@code nn.GRU} or CIFG model ({@link Cell}): L stacked layers of D directions
 * ({@link Direction#count()}), each with H hidden units. S is the width of one direction's h
 * ({@link #hiddenStateSize()}): the projection size P when an LSTM or CIFG has one ({@code proj_size}), else H. Layer 0
 * reads the input, {@code [T][B][I]}; every layer writes {@code [T][B][D·S]} (forward direction first); layer k &ge; 1
 * reads what layer k-1 wrote. The states are h {@code [L·D][B][S]} and, for an LSTM or CIFG, c {@code [L·D][B][H]}, one
 * {@code [B][·]} block per layer and direction at index {@code layer·D + direction}, as PyTorch orders them.
 *
 * @param cell           the recurrent cell, not null
 * @param inputSize      I, features per input row of layer 0, &ge; 1
 * @param hiddenSize     H, hidden units of every layer and direction, &ge; 1
 * @param layers         L, stacked layers, &ge; 1
 * @param direction      whether each layer also runs over the time-reversed sequence, not null
 * @param projectionSize P, the features an LSTM's or CIFG's h is projected to ({@code proj_size}), 0 &le; P &lt; H; 0
 *                       for none
 * @param peepholes      whether an LSTM's or CIFG's gates also read the cell state (peephole connections)
 */
public record RnnShape(Cell cell, int inputSize, int hiddenSize, int layers, Direction direction, int projectionSize,
                       boolean peepholes) {

    /**
     * Checks the sizes and that the cell has the options asked for.
     *
     * @throws NullPointerException     for a null cell or direction
     * @throws IllegalArgumentException for a size below 1, a projection outside 0..H-1, or a GRU with projection or
     *                                  peepholes (naming it)
     */
    public RnnShape {
        Checks.notNull("cell", cell);
        Checks.notNull("direction", direction);
        Checks.positive("inputSize", inputSize);
        Checks.positive("hiddenSize", hiddenSize);
        Checks.positive("layers", layers);
        Checks.projectionSize(projectionSize, hiddenSize);
        if (cell == Cell.GRU && projectionSize != 0) {
            throw new IllegalArgumentException("a GRU has no projection (projectionSize " + projectionSize
                    + "): PyTorch's proj_size is an nn.LSTM option");
        }
        if (cell == Cell.GRU && peepholes) {
            throw new IllegalArgumentException("a GRU has no peephole connections: it has no cell state for its gates"
                    + " to read");
        }
    }

    /**
     * One forward layer without projection or peepholes.
     *
     * @param cell       the recurrent cell, not null
     * @param inputSize  I, &ge; 1
     * @param hiddenSize H, &ge; 1
     * @return {@code new RnnShape(cell, inputSize, hiddenSize, 1, Direction.FORWARD, 0, false)}
     * @throws IllegalArgumentException as the canonical constructor
     */
    public static RnnShape of(Cell cell, int inputSize, int hiddenSize) {
        return new RnnShape(cell, inputSize, hiddenSize, 1, Direction.FORWARD, 0, false);
    }

    /**
     * {@return this shape with L = {@code layers}}
     *
     * @param layers L, &ge; 1
     */
    public RnnShape withLayers(int layers) {
        return new RnnShape(cell, inputSize, hiddenSize, layers, direction, projectionSize, peepholes);
    }

    /**
     * {@return this shape with another direction}
     *
     * @param direction FORWARD or BIDIRECTIONAL, not null
     */
    public RnnShape withDirection(Direction direction) {
        return new RnnShape(cell, inputSize, hiddenSize, layers, direction, projectionSize, peepholes);
    }

    /**
     * {@return this shape with P = {@code projectionSize}}
     *
     * @param projectionSize P, 0 &le; P &lt; H (0: none); LSTM or CIFG only
     */
    public RnnShape withProjection(int projectionSize) {
        return new RnnShape(cell, inputSize, hiddenSize, layers, direction, projectionSize, peepholes);
    }

    /**
     * {@return this shape with or without peephole connections}
     *
     * @param peepholes whether the gates read the cell state; LSTM or CIFG only
     */
    public RnnShape withPeepholes(boolean peepholes) {
        return new RnnShape(cell, inputSize, hiddenSize, layers, direction, projectionSize, peepholes);
    }

    /** {@return G, the cell's gates: 4 for an LSTM, 3 for a GRU or CIFG} */
    public int gates() {
        return cell.gates();
    }

    /** {@return S, the features of one direction's h: P with projection, else H} */
    public int hiddenStateSize() {
        return projectionSize > 0 ? projectionSize : hiddenSize;
    }

    /** {@return D·S, the features of every layer's output row (the last dimension of y)} */
    public int outputSize() {
        return direction.count() * hiddenStateSize();
    }

    /** {@return L·D, the {@code [B][·]} blocks of the states h and c} */
    public int stateCount() {
        return layers * direction.count();
    }

    /**
     * {@return the features of an input row of {@code layer}: I for layer 0, D·S above it}
     *
     * @param layer 0 to L-1
     * @throws IndexOutOfBoundsException for a layer outside [0, L)
     */
    public int layerInputSize(int layer) {
        checkLayer(layer);
        return layer == 0 ? inputSize : outputSize();
    }

    /**
     * PyTorch's state_dict name of a tensor of {@code (layer, direction)}: {@code tensorName("weight_ih", 1, 1)} is
     * {@code "weight_ih_l1_reverse"}.
     *
     * @param tensor    the name's stem, e.g. {@code "weight_ih"}, {@code "bias_hh"} or {@code "weight_hr"}
     * @param layer     0 to L-1
     * @param direction 0 (forward), or 1 (reverse) in a bidirectional model
     * @return the name without any module prefix such as {@code "lstm."}
     * @throws IndexOutOfBoundsException for a layer or direction outside this shape
     */
    public String tensorName(String tensor, int layer, int direction) {
        checkLayer(layer);
        if (direction < 0 || direction >= this.direction.count()) {
            throw new IndexOutOfBoundsException("direction " + direction + " is outside [0, " + this.direction.count()
                    + ") for a " + (this.direction == Direction.BIDIRECTIONAL ? "bidirectional" : "unidirectional")
                    + " model");
        }
        return tensor + "_l" + layer + (direction == 1 ? "_reverse" : "");
    }

    private void checkLayer(int layer) {
        if (layer < 0 || layer >= layers) {
            throw new IndexOutOfBoundsException("layer " + layer + " is outside [0, " + layers + ")");
        }
    }
}
