package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The GRU's gate-interleaved blocked layout: {@link GateLayout}'s idea with three gates, r, z, n (PyTorch's order).
 *
 * <p>Hidden units are grouped in blocks of {@link #lanes()} units, padded with zero weights up to
 * {@link #paddedHidden()}. A weight matrix with {@code depth} input columns (I for W_ih, H for W_hh) is packed as
 * {@code [block][k < depth][gate r,z,n][lane]} floats: one input value times three adjacent vectors gives the three
 * gate sums of one block. Gate rows (input pre-activations, activations) are {@code [block][gate][lane]}; hidden rows
 * are {@code [paddedHidden]}.
 *
 * <p>Biases are split as linear-before-reset requires: r and z take {@code b_ih + b_hh} in the input gate row,
 * n takes {@code b_in} there, and {@code b_hn} stays apart ({@code [paddedHidden]}), added to the recurrent sum
 * before the reset gate multiplies it.
 *
 * @param inputSize  I, columns of W_ih
 * @param hiddenSize H, hidden units
 * @param lanes      V, hidden units per block
 */
public record GruLayout(int inputSize, int hiddenSize, int lanes) {

    /** Gates per GRU cell, in PyTorch's order r, z, n. */
    public static final int GATES = 3;

    /**
     * Checks the sizes.
     *
     * @throws IllegalArgumentException for a size &lt; 1 or a gate row that would not fit in an int
     */
    public GruLayout {
        if (inputSize < 1 || hiddenSize < 1 || lanes < 1) {
            throw new IllegalArgumentException("sizes must be >= 1: inputSize=" + inputSize
                    + ", hiddenSize=" + hiddenSize + ", lanes=" + lanes);
        }
        if ((long) GATES * (hiddenSize + lanes) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("hiddenSize " + hiddenSize + " is too large: a gate row of 3H floats"
                    + " must fit in an int");
        }
    }

    /** {@return the number of hidden-unit blocks} */
    public int blocks() {
        return (hiddenSize + lanes - 1) / lanes;
    }

    /** {@return the hidden size rounded up to a whole number of blocks} */
    public int paddedHidden() {
        return blocks() * lanes;
    }

    /** {@return the floats in one gate row: the three gates of every block} */
    public int gateRowFloats() {
        return GATES * paddedHidden();
    }

    /**
     * Floats of one block's packed panel.
     *
     * @param depth columns of the packed matrix
     * @return {@code depth * 3 * lanes}
     */
    public long panelFloats(int depth) {
        return (long) depth * GATES * lanes;
    }

    /**
     * Floats of a whole packed matrix.
     *
     * @param depth columns of the packed matrix
     * @return {@code blocks * panelFloats(depth)}
     */
    public long packedFloats(int depth) {
        return blocks() * panelFloats(depth);
    }

    /**
     * Repacks a PyTorch-layout gate matrix {@code [3H][depth]} (row-major floats, gate order r, z, n) into
     * {@code packed}.
     *
     * @param source {@code [3H][depth]} floats, any alignment
     * @param depth  columns of the matrix
     * @param packed zero-filled, {@link #packedFloats(int)} floats
     */
    public void packWeights(MemorySegment source, int depth, MemorySegment packed) {
        for (int gate = 0; gate < GATES; gate++) {
            for (int unit = 0; unit < hiddenSize; unit++) {
                long sourceRow = (long) (gate * hiddenSize + unit) * depth;
                long packedBase = (unit / lanes) * panelFloats(depth) + (long) gate * lanes + unit % lanes;
                for (int k = 0; k < depth; k++) {
                    float value = source.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, sourceRow + k);
                    packed.setAtIndex(ValueLayout.JAVA_FLOAT, packedBase + (long) k * GATES * lanes, value);
                }
            }
        }
    }

    /**
     * Splits PyTorch's biases (each {@code [3H]}, either may be null for none) as the class comment says.
     *
     * @param biasIh         {@code b_ih}, {@code [3H]} floats, or null
     * @param biasHh         {@code b_hh}, {@code [3H]} floats, or null
     * @param inputBias      zero-filled gate row: receives {@code b_ir + b_hr}, {@code b_iz + b_hz}, {@code b_in}
     * @param recurrentBias  zero-filled {@code [paddedHidden]}: receives {@code b_hn}
     */
    public void packBias(MemorySegment biasIh, MemorySegment biasHh, MemorySegment inputBias,
                         MemorySegment recurrentBias) {
        for (int gate = 0; gate < GATES; gate++) {
            for (int unit = 0; unit < hiddenSize; unit++) {
                long source = (long) gate * hiddenSize + unit;
                float input = biasIh == null ? 0f : biasIh.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, source);
                float recurrent = biasHh == null ? 0f : biasHh.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, source);
                if (gate == 2) {
                    inputBias.setAtIndex(ValueLayout.JAVA_FLOAT, gateIndex(gate, unit), input);
                    recurrentBias.setAtIndex(ValueLayout.JAVA_FLOAT, unit, recurrent);
                } else {
                    inputBias.setAtIndex(ValueLayout.JAVA_FLOAT, gateIndex(gate, unit), input + recurrent);
                }
            }
        }
    }

    /**
     * The layout of a backward GEMM {@code d[r][k] = Σ_m g[r][m] · S[m][k]} over a gate matrix S {@code [3H][depth]}
     * for the LSTM kernel's GEMM ({@link LstmKernel#projectInput}), as {@link GateLayout#transposed} is for the LSTM:
     * its depth is this layout's gate row (m in packed order), its outputs come in tiles of
     * {@code GateLayout.GATES * lanes} consecutive k, in natural order, zero-padded.
     *
     * @param depth columns of S
     * @return a four-gate layout whose "gate rows" are rows of {@code depth} outputs rounded up to whole tiles
     */
    public GateLayout transposed(int depth) {
        int tileWidth = GateLayout.GATES * lanes;
        int tiles = (depth + tileWidth - 1) / tileWidth;
        return new GateLayout(gateRowFloats(), tiles * lanes, lanes);
    }

    /**
     * Repacks a gate matrix S {@code [3H][depth]}, given in this layout's packed form ({@link #packWeights}), for
     * {@link #transposed(int)}: panel {@code tile}, row m (a packed gate-row position), column q holds
     * {@code S[gate*H + unit][tile * tileWidth + q]}.
     *
     * @param packedSource S as {@link #packWeights} wrote it
     * @param depth        columns of S
     * @param packed       zero-filled, {@code transposed(depth).packedFloats(gateRowFloats())} floats
     */
    public void packTransposed(MemorySegment packedSource, int depth, MemorySegment packed) {
        int tileWidth = GateLayout.GATES * lanes;
        int gateRow = gateRowFloats();
        for (int gate = 0; gate < GATES; gate++) {
            for (int unit = 0; unit < hiddenSize; unit++) {
                long sourceBase = (unit / lanes) * panelFloats(depth) + (long) gate * lanes + unit % lanes;
                long m = gateIndex(gate, unit);
                for (int k = 0; k < depth; k++) {
                    float value = packedSource.getAtIndex(ValueLayout.JAVA_FLOAT,
                            sourceBase + (long) k * GATES * lanes);
                    long index = ((long) (k / tileWidth) * gateRow + m) * tileWidth + k % tileWidth;
                    packed.setAtIndex(ValueLayout.JAVA_FLOAT, index, value);
                }
            }
        }
    }

    /**
     * Index, in floats, of a gate of a hidden unit within a gate row.
     *
     * @param gate 0, 1, 2 for r, z, n
     * @param unit hidden unit, 0 &le; unit &lt; paddedHidden
     * @return {@code block * 3 * lanes + gate * lanes + lane}
     */
    public long gateIndex(int gate, int unit) {
        return (long) (unit / lanes) * GATES * lanes + (long) gate * lanes + unit % lanes;
    }
}
