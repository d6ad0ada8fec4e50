package dev.vlstm.engine;

import java.lang.foreign.MemorySegment;
import java.util.function.LongFunction;

import dev.vlstm.kernel.GateLayout;
import dev.vlstm.kernel.PackedMatrix;
import dev.vlstm.kernel.Packing;
import dev.vlstm.kernel.Postgemm;
import dev.vlstm.kernel.WeightFormat;

/**
 * One direction of one layer, packed once for a kernel family: W and U in the gate-interleaved blocked layout of
 * the cell's {@link GateLayout} ({@code [block][k][gate][lane]}), the input bias row the input GEMM adds, the
 * cell's extra row (LSTM or CIFG peepholes, the GRU's b_hn) and, for an LSTM or CIFG with PyTorch's projection, W_hr
 * in the layout of a plain GEMM. Made from PyTorch-layout tensors (row-major floats, gate order i, f, g, o; r, z, n;
 * or CIFG's i, g, o) by {@link #lstm}, {@link #gru} or {@link #cifg}, which also fix the layer's {@link Postgemm}
 * code ({@link #cellCode()}); {@link #repackLstm} (LSTM and CIFG) and {@link #repackGru} write new values in place,
 * so that what a runner or trainer holds stays valid. Checks no values: its callers check the tensors' sizes and
 * finiteness first.
 *
 * <p>Holds no memory of its own: the buffers come from its owner's allocator and live as long as the owner's.
 */
public final class PackedLayer {

    private final GateLayout layout;
    /** The layer's {@link Postgemm} code. */
    private final int cellCode;
    private final PackedMatrix input;
    private final PackedMatrix recurrent;
    private final MemorySegment inputBias;
    /**
     * LSTM and CIFG: the peepholes as a gate row ({@link Packing#peepholes}), or null; GRU: b_hn,
     * {@code [paddedHidden]}.
     */
    private final MemorySegment cellRow;
    /** The projection's plain GEMM (depth H, P outputs), W_hr packed for it, and its zero bias; null without. */
    private final PackedMatrix projection;
    private final MemorySegment projectionBias;
    /** P, or 0 without projection. */
    private final int projectionSize;

    private PackedLayer(GateLayout layout, int cellCode, PackedMatrix input, PackedMatrix recurrent,
                        MemorySegment inputBias, MemorySegment cellRow, PackedMatrix projection,
                        MemorySegment projectionBias, int projectionSize) {
        this.layout = layout;
        this.cellCode = cellCode;
        this.input = input;
        this.recurrent = recurrent;
        this.inputBias = inputBias;
        this.cellRow = cellRow;
        this.projection = projection;
        this.projectionBias = projectionBias;
        this.projectionSize = projectionSize;
    }

    /**
     * Allocates an LSTM layer and packs its tensors into it.
     *
     * @param floats         the owner's allocator of zeroed, 64-byte aligned buffers of that many floats
     * @param lanes          hidden units per block of the kernel family
     * @param format         how W and U are stored (W_hr and the peepholes are always float32)
     * @param inputSize      I
     * @param hiddenSize     H
     * @param projectionSize P, or 0 without projection
     * @param weightIh       {@code [4H][I]}
     * @param weightHh       {@code [4H][P]} with projection, else {@code [4H][H]}
     * @param biasIh         {@code [4H]}, or null for zeros
     * @param biasHh         {@code [4H]}, or null for zeros
     * @param weightHr       {@code [P][H]}, or null without projection
     * @param peepholes      {@code [3][H]} (p_i, p_f, p_o), or null for none
     * @return the packed layer
     */
    public static PackedLayer lstm(LongFunction<MemorySegment> floats, int lanes, WeightFormat format, int inputSize,
                                   int hiddenSize, int projectionSize, MemorySegment weightIh, MemorySegment weightHh,
                                   MemorySegment biasIh, MemorySegment biasHh, MemorySegment weightHr,
                                   MemorySegment peepholes) {
        return withCellState(floats, GateLayout.lstm(inputSize, hiddenSize, lanes),
                peepholes == null ? Postgemm.LSTM : Postgemm.LSTM_PEEPHOLES, format, projectionSize, weightIh,
                weightHh, biasIh, biasHh, weightHr, peepholes);
    }

    /**
     * Allocates a CIFG layer and packs its tensors into it: the LSTM's packing on three gates i, g, o, the summed
     * bias, and p_i, p_o at the slots of i and o.
     *
     * @param floats         the owner's allocator of zeroed, 64-byte aligned buffers of that many floats
     * @param lanes          hidden units per block of the kernel family
     * @param format         how W and U are stored (W_hr and the peepholes are always float32)
     * @param inputSize      I
     * @param hiddenSize     H
     * @param projectionSize P, or 0 without projection
     * @param weightIh       {@code [3H][I]}
     * @param weightHh       {@code [3H][P]} with projection, else {@code [3H][H]}
     * @param biasIh         {@code [3H]}, or null for zeros
     * @param biasHh         {@code [3H]}, or null for zeros
     * @param weightHr       {@code [P][H]}, or null without projection
     * @param peepholes      {@code [2][H]} (p_i, p_o), or null for none
     * @return the packed layer
     */
    public static PackedLayer cifg(LongFunction<MemorySegment> floats, int lanes, WeightFormat format, int inputSize,
                                   int hiddenSize, int projectionSize, MemorySegment weightIh, MemorySegment weightHh,
                                   MemorySegment biasIh, MemorySegment biasHh, MemorySegment weightHr,
                                   MemorySegment peepholes) {
        return withCellState(floats, GateLayout.cifg(inputSize, hiddenSize, lanes),
                peepholes == null ? Postgemm.CIFG : Postgemm.CIFG_PEEPHOLES, format, projectionSize,
                weightIh, weightHh, biasIh, biasHh, weightHr, peepholes);
    }

    /** An LSTM or CIFG layer of {@code layout}: allocated, then packed by {@link #repackLstm}. */
    private static PackedLayer withCellState(LongFunction<MemorySegment> floats, GateLayout layout, int cellCode,
                                             WeightFormat format, int projectionSize, MemorySegment weightIh,
                                             MemorySegment weightHh, MemorySegment biasIh, MemorySegment biasHh,
                                             MemorySegment weightHr, MemorySegment peepholes) {
        int hiddenSize = layout.hiddenSize();
        PackedMatrix input = matrix(floats, format, layout, layout.inputSize());
        PackedMatrix recurrent = matrix(floats, format, layout, projectionSize > 0 ? projectionSize : hiddenSize);
        MemorySegment inputBias = floats.apply(layout.gateRowFloats());
        PackedMatrix projection = null;
        MemorySegment projectionBias = null;
        if (projectionSize > 0) {
            GateLayout plain = GateLayout.plain(hiddenSize, projectionSize, layout.lanes());
            projection = matrix(floats, WeightFormat.FLOAT32, plain, hiddenSize);
            projectionBias = floats.apply(plain.gateRowFloats());
        }
        MemorySegment packedPeepholes = peepholes == null ? null : floats.apply(layout.gateRowFloats());
        PackedLayer layer = new PackedLayer(layout, cellCode, input, recurrent, inputBias, packedPeepholes,
                projection, projectionBias, projectionSize);
        layer.repackLstm(weightIh, weightHh, biasIh, biasHh, weightHr, peepholes);
        return layer;
    }

    /**
     * Allocates a GRU layer and packs its tensors into it. b_hn goes to the cell row, the other biases into
     * the input bias row ({@link Packing#linearBeforeResetBias}).
     *
     * @param floats     the owner's allocator of zeroed, 64-byte aligned buffers of that many floats
     * @param lanes      hidden units per block of the kernel family
     * @param format     how W and U are stored
     * @param inputSize  I
     * @param hiddenSize H
     * @param weightIh   {@code [3H][I]}
     * @param weightHh   {@code [3H][H]}
     * @param biasIh     {@code [3H]}, or null for zeros
     * @param biasHh     {@code [3H]}, or null for zeros
     * @return the packed layer
     */
    public static PackedLayer gru(LongFunction<MemorySegment> floats, int lanes, WeightFormat format, int inputSize,
                                  int hiddenSize, MemorySegment weightIh, MemorySegment weightHh,
                                  MemorySegment biasIh, MemorySegment biasHh) {
        GateLayout layout = GateLayout.gru(inputSize, hiddenSize, lanes);
        PackedMatrix input = matrix(floats, format, layout, inputSize);
        PackedMatrix recurrent = matrix(floats, format, layout, hiddenSize);
        MemorySegment inputBias = floats.apply(layout.gateRowFloats());
        PackedLayer layer = new PackedLayer(layout, Postgemm.GRU, input, recurrent, inputBias,
                floats.apply(layout.paddedHidden()), null, null, 0);
        layer.repackGru(weightIh, weightHh, biasIh, biasHh);
        return layer;
    }

    private static PackedMatrix matrix(LongFunction<MemorySegment> floats, WeightFormat format, GateLayout layout,
                                       int depth) {
        return new PackedMatrix(floats.apply(format.packedBytes(layout, depth) / Float.BYTES), format, layout, depth);
    }

    /**
     * Packs new LSTM or CIFG values over the old, with the shapes this layer was made for.
     *
     * @param weightIh  as in {@link #lstm} or {@link #cifg}
     * @param weightHh  as in {@link #lstm} or {@link #cifg}
     * @param biasIh    as in {@link #lstm} or {@link #cifg}
     * @param biasHh    as in {@link #lstm} or {@link #cifg}
     * @param weightHr  as in {@link #lstm} or {@link #cifg}; read only with projection
     * @param peepholes as in {@link #lstm} or {@link #cifg}; read only if the layer was made with peepholes
     */
    public void repackLstm(MemorySegment weightIh, MemorySegment weightHh, MemorySegment biasIh, MemorySegment biasHh,
                           MemorySegment weightHr, MemorySegment peepholes) {
        repackGates(weightIh, weightHh);
        Packing.summedBias(layout, biasIh, biasHh, inputBias);
        if (projection != null) {
            Packing.plain(projection.layout(), weightHr, projectionSize, projection.data());
        }
        if (cellRow != null) {
            Packing.peepholes(layout, peepholes, cellRow);
        }
    }

    /**
     * Packs new GRU values over the old, with the shapes this layer was made for.
     *
     * @param weightIh as in {@link #gru}
     * @param weightHh as in {@link #gru}
     * @param biasIh   as in {@link #gru}
     * @param biasHh   as in {@link #gru}
     */
    public void repackGru(MemorySegment weightIh, MemorySegment weightHh, MemorySegment biasIh, MemorySegment biasHh) {
        repackGates(weightIh, weightHh);
        Packing.linearBeforeResetBias(layout, biasIh, biasHh, inputBias, cellRow);
    }

    private void repackGates(MemorySegment weightIh, MemorySegment weightHh) {
        Packing.gates(layout, input.format(), "weightIh", weightIh, input.depth(), input.data());
        Packing.gates(layout, recurrent.format(), "weightHh", weightHh, recurrent.depth(), recurrent.data());
    }

    /**
     * {@return the cell's pointwise forward, a {@link Postgemm} code: LSTM or LSTM_PEEPHOLES, GRU, CIFG or
     * CIFG_PEEPHOLES}
     */
    public int cellCode() {
        return cellCode;
    }

    /** {@return the gate layout of W, U and the gate rows} */
    public GateLayout layout() {
        return layout;
    }

    /** {@return W packed, depth I} */
    public PackedMatrix input() {
        return input;
    }

    /** {@return U packed, depth H (P with projection)} */
    public PackedMatrix recurrent() {
        return recurrent;
    }

    /**
     * {@return the gate row the input GEMM adds: LSTM and CIFG b_ih + b_hh; GRU b_ih + b_hh for r and z, b_in for n}
     */
    public MemorySegment inputBias() {
        return inputBias;
    }

    /** {@return the LSTM's or CIFG's packed peepholes (null without), or the GRU's b_hn} */
    public MemorySegment cellRow() {
        return cellRow;
    }

    /** {@return W_hr packed for a plain GEMM of depth H and P outputs, float32; null without projection} */
    public PackedMatrix projection() {
        return projection;
    }

    /** {@return P, PyTorch's {@code proj_size}; 0 without projection} */
    public int projectionSize() {
        return projectionSize;
    }

    /** {@return a zero bias row for the projection GEMM; null without projection} */
    public MemorySegment projectionBias() {
        return projectionBias;
    }

    /** {@return the off-heap bytes of every packed buffer} */
    public long packedBytes() {
        long bytes = input.data().byteSize() + recurrent.data().byteSize() + inputBias.byteSize();
        bytes += cellRow == null ? 0 : cellRow.byteSize();
        return bytes + (projection == null ? 0 : projection.data().byteSize() + projectionBias.byteSize());
    }
}
