package dev.vlstm.kernel;

/**
 * The gate-interleaved blocked layout that every kernel works on (docs/architecture.md, "Packed weights"), for a
 * cell of {@link #gates()} gates: 4 for the LSTM (i, f, g, o), 3 for the GRU (r, z, n) in PyTorch's order, and 3 for
 * the CIFG (i, g, o).
 *
 * <p>Hidden units are grouped in blocks of {@link #lanes()} units (the kernel's vector lane count); the hidden
 * size is padded with zero weights up to {@link #paddedHidden()} so that no kernel masks a load. For a weight
 * matrix with {@code depth} input columns (I for the input weights W, H for the recurrent weights U) the packed
 * form is {@code [block][k < depth][gate][lane]} floats: one input value times G adjacent vectors gives the G gate
 * pre-activations of one block. Gate rows (bias, pre-activations) are {@code [block][gate][lane]}; hidden and cell
 * rows are {@code [paddedHidden]}. {@link Packing} writes these layouts.
 *
 * @param gates      G, gates per hidden unit, &ge; 1
 * @param inputSize  I, columns of W
 * @param hiddenSize H, hidden units
 * @param lanes      V, hidden units per block
 */
public record GateLayout(int gates, int inputSize, int hiddenSize, int lanes) {

    /** Gates per LSTM cell, in PyTorch's order i, f, g, o; also the gates of {@link #transposed} and {@link #plain}. */
    public static final int LSTM_GATES = 4;

    /** Gates per GRU cell, in PyTorch's order r, z, n. */
    public static final int GRU_GATES = 3;

    /** Gates per CIFG cell (an LSTM whose forget gate is 1 - i), in the order i, g, o. */
    public static final int CIFG_GATES = 3;

    /**
     * Checks the sizes.
     *
     * @throws IllegalArgumentException for a size &lt; 1 or a gate row that would not fit in an int
     */
    public GateLayout {
        if (gates < 1 || inputSize < 1 || hiddenSize < 1 || lanes < 1) {
            throw new IllegalArgumentException("sizes must be >= 1: gates=" + gates + ", inputSize=" + inputSize
                    + ", hiddenSize=" + hiddenSize + ", lanes=" + lanes);
        }
        if ((long) gates * (hiddenSize + lanes) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("hiddenSize " + hiddenSize + " is too large: a gate row of " + gates
                    + "H floats must fit in an int");
        }
    }

    /** {@return the layout of an LSTM cell's weights: four gates i, f, g, o} */
    public static GateLayout lstm(int inputSize, int hiddenSize, int lanes) {
        return new GateLayout(LSTM_GATES, inputSize, hiddenSize, lanes);
    }

    /** {@return the layout of a GRU cell's weights: three gates r, z, n} */
    public static GateLayout gru(int inputSize, int hiddenSize, int lanes) {
        return new GateLayout(GRU_GATES, inputSize, hiddenSize, lanes);
    }

    /** {@return the layout of a CIFG cell's weights: three gates i, g, o} */
    public static GateLayout cifg(int inputSize, int hiddenSize, int lanes) {
        return new GateLayout(CIFG_GATES, inputSize, hiddenSize, lanes);
    }

    /** Number of hidden-unit blocks. */
    public int blocks() {
        return (hiddenSize + lanes - 1) / lanes;
    }

    /** Hidden size rounded up to a whole number of blocks. */
    public int paddedHidden() {
        return blocks() * lanes;
    }

    /** Floats in one gate row: bias or pre-activations of all gates of all blocks. */
    public int gateRowFloats() {
        return gates * paddedHidden();
    }

    /** Floats of one block's packed panel for a weight matrix with {@code depth} columns. */
    public long panelFloats(int depth) {
        return (long) depth * gates * lanes;
    }

    /** Floats of a whole packed weight matrix with {@code depth} columns. */
    public long packedFloats(int depth) {
        return blocks() * panelFloats(depth);
    }

    /**
     * The layout of the backward GEMM {@code d[r][k] = Σ_m dz[r][m] · S[m][k]} over a gate matrix S
     * {@code [G·H][depth]} of this layout: its depth is this layout's gate row (m in packed order) and its outputs
     * come in tiles of {@code 4 * lanes} consecutive k, so that the LSTM kernel's four-gate GEMM computes it
     * unchanged from the panels that {@link Packing#transposed} writes. Output rows hold {@code k < depth} in
     * natural order, zero-padded.
     *
     * @param depth columns of S
     * @return a four-gate layout whose "gate rows" are rows of {@code depth} outputs rounded up to whole tiles
     */
    public GateLayout transposed(int depth) {
        int tiles = (depth + LSTM_GATES * lanes - 1) / (LSTM_GATES * lanes);
        return lstm(gateRowFloats(), tiles * lanes, lanes);
    }

    /**
     * The layout of a plain GEMM {@code out[r][q] = Σ_k in[r][k] · S[q][k]} with no gates, such as PyTorch's
     * projection {@code h = m · W_hrᵀ}: its depth is {@code depth}, and its {@code outputs} values come in tiles of
     * {@code 4 * lanes} consecutive q (the four "gates" of a block are four runs of lanes), so that the LSTM
     * kernel's four-gate GEMM computes it unchanged from the panels that {@link Packing#plain} writes. Output rows
     * hold q in natural order, zero-padded to {@link #gateRowFloats()}.
     *
     * @param depth   columns of S, &ge; 1
     * @param outputs rows of S, &ge; 1
     * @param lanes   the kernel's lanes
     * @return the four-gate layout, with {@code inputSize = depth}
     */
    public static GateLayout plain(int depth, int outputs, int lanes) {
        int tiles = (outputs + LSTM_GATES * lanes - 1) / (LSTM_GATES * lanes);
        return lstm(depth, tiles * lanes, lanes);
    }

    /**
     * Index, in floats, of a gate of a hidden unit within a gate row.
     *
     * @param gate 0 &le; gate &lt; G
     * @param unit hidden unit, 0 &le; unit &lt; paddedHidden
     * @return {@code block * G * lanes + gate * lanes + lane}
     */
    public long gateIndex(int gate, int unit) {
        return (long) (unit / lanes) * gates * lanes + (long) gate * lanes + unit % lanes;
    }
}
