package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The gate-interleaved blocked layout that every kernel works on (docs/architecture.md, "Packed weights").
 *
 * <p>Hidden units are grouped in blocks of {@link #lanes()} units (the kernel's vector lane count); the hidden
 * size is padded with zero weights up to {@link #paddedHidden()} so that no kernel masks a load. For a weight
 * matrix with {@code depth} input columns (I for the input weights W, H for the recurrent weights U) the packed
 * form is {@code [block][k < depth][gate i,f,g,o][lane]} floats: one input value times four adjacent vectors
 * gives the four gate pre-activations of one block. Gate rows (bias, pre-activations) are
 * {@code [block][gate][lane]}; hidden and cell rows are {@code [paddedHidden]}.
 *
 * @param inputSize  I, columns of W
 * @param hiddenSize H, hidden units
 * @param lanes      V, hidden units per block
 */
public record GateLayout(int inputSize, int hiddenSize, int lanes) {

    /** Gates per LSTM cell, in PyTorch's order i, f, g, o. */
    public static final int GATES = 4;

    /** The gates that have peepholes, in the row order of a peephole tensor: i, f, o. */
    private static final int[] PEEPHOLE_GATES = {0, 1, 3};

    public GateLayout {
        if (inputSize < 1 || hiddenSize < 1 || lanes < 1) {
            throw new IllegalArgumentException("sizes must be >= 1: inputSize=" + inputSize
                    + ", hiddenSize=" + hiddenSize + ", lanes=" + lanes);
        }
        if ((long) GATES * (hiddenSize + lanes) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("hiddenSize " + hiddenSize + " is too large: a gate row of 4H floats"
                    + " must fit in an int");
        }
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
        return GATES * paddedHidden();
    }

    /** Floats of one block's packed panel for a weight matrix with {@code depth} columns. */
    public long panelFloats(int depth) {
        return (long) depth * GATES * lanes;
    }

    /** Floats of a whole packed weight matrix with {@code depth} columns. */
    public long packedFloats(int depth) {
        return blocks() * panelFloats(depth);
    }

    /**
     * Repacks a PyTorch-layout gate matrix {@code [4H][depth]} (row-major floats, gate order i,f,g,o) into
     * {@code packed}, which must be zero-filled and hold {@link #packedFloats(int)} floats.
     */
    public void packWeights(MemorySegment source, int depth, MemorySegment packed) {
        for (int gate = 0; gate < GATES; gate++) {
            for (int unit = 0; unit < hiddenSize; unit++) {
                long sourceRow = (long) (gate * hiddenSize + unit) * depth;
                long packedBase = blockBase(unit, depth) + (long) gate * lanes + unit % lanes;
                for (int k = 0; k < depth; k++) {
                    float value = source.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, sourceRow + k);
                    packed.setAtIndex(ValueLayout.JAVA_FLOAT, packedBase + (long) k * GATES * lanes, value);
                }
            }
        }
    }

    /**
     * Writes {@code biasIh + biasHh} (each {@code [4H]}, either may be null for a bias-free model) into
     * {@code packed}, a zero-filled gate row.
     */
    public void packBias(MemorySegment biasIh, MemorySegment biasHh, MemorySegment packed) {
        for (int gate = 0; gate < GATES; gate++) {
            for (int unit = 0; unit < hiddenSize; unit++) {
                long source = (long) gate * hiddenSize + unit;
                float sum = 0f;
                if (biasIh != null) {
                    sum += biasIh.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, source);
                }
                if (biasHh != null) {
                    sum += biasHh.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, source);
                }
                packed.setAtIndex(ValueLayout.JAVA_FLOAT, gateIndex(gate, unit), sum);
            }
        }
    }

    /**
     * Writes peephole weights {@code [3][H]} (p_i, p_f, p_o: vlstm's gate order without g) into {@code packed}, a
     * zero-filled gate row, at the slots of gates i, f and o; g's slots stay zero. A gate row puts each peephole
     * vector beside its gate's pre-activations, at the same offset within a block.
     *
     * @param source p_i, p_f, p_o, {@code [3][H]} floats, any alignment
     * @param packed the zero-filled target, {@link #gateRowFloats()} floats
     */
    public void packPeepholes(MemorySegment source, MemorySegment packed) {
        for (int peephole = 0; peephole < PEEPHOLE_GATES.length; peephole++) {
            for (int unit = 0; unit < hiddenSize; unit++) {
                float value = source.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, (long) peephole * hiddenSize + unit);
                packed.setAtIndex(ValueLayout.JAVA_FLOAT, gateIndex(PEEPHOLE_GATES[peephole], unit), value);
            }
        }
    }

    /**
     * The gate that each row of a peephole tensor {@code [3][H]} belongs to: p_i to i (0), p_f to f (1), p_o to
     * o (3).
     *
     * @param peephole the row, 0..2
     * @return the gate index in i, f, g, o order
     */
    public static int peepholeGate(int peephole) {
        return PEEPHOLE_GATES[peephole];
    }

    /**
     * The layout of the backward GEMM {@code d[r][k] = Σ_m dz[r][m] · S[m][k]} over a gate matrix S
     * {@code [4H][depth]}: its depth is this layout's gate row (m in packed order) and its outputs come in tiles of
     * {@code 4 * lanes} consecutive k, so that the forward projection kernel computes it unchanged from the panels
     * that {@link #packTransposed} writes. Output rows hold {@code k < depth} in natural order, zero-padded.
     */
    public GateLayout transposed(int depth) {
        int tiles = (depth + GATES * lanes - 1) / (GATES * lanes);
        return new GateLayout(gateRowFloats(), tiles * lanes, lanes);
    }

    /**
     * Repacks a gate matrix S {@code [4H][depth]}, given in this layout's packed form ({@link #packWeights}), for
     * {@link #transposed(int)}: panel {@code tile}, row m (a packed gate-row position), column q holds
     * {@code S[gate*H + unit][tile*4*lanes + q]}. The target must be zero-filled and hold
     * {@code transposed(depth).packedFloats(gateRowFloats())} floats.
     */
    public void packTransposed(MemorySegment packedSource, int depth, MemorySegment packed) {
        int tileWidth = GATES * lanes;
        int gateRow = gateRowFloats();
        for (int gate = 0; gate < GATES; gate++) {
            for (int unit = 0; unit < hiddenSize; unit++) {
                long sourceBase = blockBase(unit, depth) + (long) gate * lanes + unit % lanes;
                long m = gateIndex(gate, unit);
                for (int k = 0; k < depth; k++) {
                    float value = packedSource.getAtIndex(ValueLayout.JAVA_FLOAT, sourceBase + (long) k * tileWidth);
                    long index = ((long) (k / tileWidth) * gateRow + m) * tileWidth + k % tileWidth;
                    packed.setAtIndex(ValueLayout.JAVA_FLOAT, index, value);
                }
            }
        }
    }

    /**
     * The layout of a plain GEMM {@code out[r][q] = Σ_k in[r][k] · S[q][k]} with no gates, such as PyTorch's
     * projection {@code h = m · W_hrᵀ}: its depth is {@code depth}, and its {@code outputs} values come in tiles of
     * {@code 4 * lanes} consecutive q (the four "gates" of a block are four runs of lanes), so that the projection
     * kernel computes it unchanged from the panels that {@link #packPlain} writes. Output rows hold q in natural
     * order, zero-padded to {@link #gateRowFloats()}.
     *
     * @param depth   columns of S, &ge; 1
     * @param outputs rows of S, &ge; 1
     * @param lanes   the kernel's lanes
     * @return the layout, with {@code inputSize = depth}
     */
    public static GateLayout plain(int depth, int outputs, int lanes) {
        int tiles = (outputs + GATES * lanes - 1) / (GATES * lanes);
        return new GateLayout(depth, tiles * lanes, lanes);
    }

    /**
     * Packs a row-major {@code [outputs][inputSize]} matrix S for a layout made by {@link #plain}: panel
     * {@code tile}, row k, column q holds {@code S[tile*4*lanes + q][k]}. The target must be zero-filled and hold
     * {@code packedFloats(inputSize)} floats.
     *
     * @param source  S, {@code [outputs][inputSize]} floats, any alignment
     * @param outputs rows of S, at most {@link #gateRowFloats()}
     * @param packed  the zero-filled target
     */
    public void packPlain(MemorySegment source, int outputs, MemorySegment packed) {
        int tileWidth = GATES * lanes;
        for (int q = 0; q < outputs; q++) {
            long packedBase = (q / tileWidth) * panelFloats(inputSize) + q % tileWidth;
            for (int k = 0; k < inputSize; k++) {
                float value = source.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, (long) q * inputSize + k);
                packed.setAtIndex(ValueLayout.JAVA_FLOAT, packedBase + (long) k * tileWidth, value);
            }
        }
    }

    /**
     * Repacks S {@code [outputs][inputSize]}, given as {@link #packPlain} packed it for this plain layout, into the
     * panels of the plain layout of Sᵀ, {@code plain(outputs, inputSize, lanes)}: panel {@code tile}, row q, column
     * j holds {@code S[q][tile*4*lanes + j]}. The backward of a projection {@code h = m · W_hrᵀ} runs
     * {@code dm = dh · W_hr} through it. The positions it does not write must be zero (a zero-filled target, or
     * one it filled before), and it must hold
     * {@code plain(outputs, inputSize, lanes).packedFloats(outputs)} floats.
     *
     * @param packedSource S packed by {@link #packPlain} for this layout
     * @param outputs      rows of S, at most {@link #gateRowFloats()}
     * @param packed       the zero-filled target
     */
    public void packPlainTransposed(MemorySegment packedSource, int outputs, MemorySegment packed) {
        int tileWidth = GATES * lanes;
        GateLayout transposed = plain(outputs, inputSize, lanes);
        for (int q = 0; q < outputs; q++) {
            long sourceBase = (q / tileWidth) * panelFloats(inputSize) + q % tileWidth;
            for (int k = 0; k < inputSize; k++) {
                float value = packedSource.getAtIndex(ValueLayout.JAVA_FLOAT, sourceBase + (long) k * tileWidth);
                long index = (k / tileWidth) * transposed.panelFloats(outputs) + (long) q * tileWidth + k % tileWidth;
                packed.setAtIndex(ValueLayout.JAVA_FLOAT, index, value);
            }
        }
    }

    /** Index, in floats, of gate {@code gate} of hidden unit {@code unit} within a gate row. */
    public long gateIndex(int gate, int unit) {
        return (long) (unit / lanes) * GATES * lanes + (long) gate * lanes + unit % lanes;
    }

    private long blockBase(int unit, int depth) {
        return (unit / lanes) * panelFloats(depth);
    }
}
