package dev.vlstm;

import java.lang.foreign.MemorySegment;

import dev.vlstm.kernel.GateLayout;
import dev.vlstm.kernel.GemmCall;
import dev.vlstm.kernel.Packing;
import dev.vlstm.engine.PackedLayer;
import dev.vlstm.kernel.Team;
import dev.vlstm.kernel.TensorKernel;
import dev.vlstm.kernel.WeightFormat;

/**
 * The backward of PyTorch's projection ({@code proj_size} = P, LSTMP), whose forward {@link LayerDriver} runs
 * ({@code h_t = m_t · W_hrᵀ}, keeping every step's cell output {@code m_t = o*tanh(c_t)}): the backward keeps every
 * step's {@code dh_t} (P wide), turns it into {@code dm_t = dh_t · W_hr} (H wide) for the cell backward, and after
 * the time loop makes {@code dW_hr = Σ_t dh_tᵀ · m_t} as one GEMM over all T·B rows, like the other weight
 * gradients. A {@link BackwardDriver} holds one of these only for a projected layer, so a layer without projection
 * runs none of this code and allocates none of this scratch.
 *
 * <p>Every GEMM here is a {@link dev.vlstm.kernel.PackedGemm#multiply} on a plain layout ({@link GateLayout#plain}),
 * run on the driver's {@link Team} (and so on its threads, if any), which each call is given: dm reads its left
 * operand by rows; dW_hr reads dhᵀ by rows, so that its output rows are the rows of W_hr. Scratch comes from the
 * owner's memory and is freed with it.
 */
final class ProjectionBackward {

    private final PackedLayer layer;
    private final TensorKernel tensors;
    /** The arguments of this part's GEMMs, set per call. */
    private final GemmCall call = new GemmCall();
    /** A zero row for the GEMMs without bias, at least {@link #widestRow} floats. */
    private final MemorySegment zeroBias;
    private final int hiddenSize;
    private final int projectionSize;
    /** The GEMM dm = dh · W_hr: depth P, H outputs. */
    private final GateLayout cellOutputGradientLayout;
    /** W_hr packed for {@link #cellOutputGradientLayout} (the panels of W_hrᵀ). */
    private final MemorySegment transposedProjectionWeights;
    /** dm of the current backward step, {@code [maxBatch][cellOutputGradientLayout.gateRowFloats()]}. */
    private final MemorySegment cellOutputGradient;
    /** dh of every step, in the packed row order, {@code [T·B][hiddenGradientRow]}. */
    private final MemorySegment hiddenGradients;
    private final long hiddenGradientRowBytes;
    /** The GEMM dW_hr = dhᵀ · M (H outputs); its depth, T·B, is given per call (the layout's is the most rows). */
    private final GateLayout weightGradientLayout;

    /**
     * @param layer             a projected float32 layer
     * @param memory            the owner's memory, which owns the scratch
     * @param hiddenGradientRow floats between rows of the driver's dh rows (its {@code dz·U} layout's gate row)
     * @param zeroBias          a zero row of at least {@link #widestRow} floats, the GEMMs' bias
     */
    ProjectionBackward(PackedLayer layer, TensorKernel tensors, OffHeap memory, int maxBatch, int maxSteps,
                       int hiddenGradientRow, MemorySegment zeroBias) {
        GateLayout layout = layer.layout();
        this.layer = layer;
        this.zeroBias = zeroBias;
        this.tensors = tensors;
        this.hiddenSize = layout.hiddenSize();
        this.projectionSize = layer.projectionSize();
        this.cellOutputGradientLayout = GateLayout.plain(projectionSize, hiddenSize, layout.lanes());
        this.weightGradientLayout = GateLayout.plain(Math.multiplyExact(maxBatch, maxSteps), hiddenSize,
                layout.lanes());
        this.transposedProjectionWeights = memory.floats(cellOutputGradientLayout.packedFloats(projectionSize));
        this.cellOutputGradient = memory.floats((long) maxBatch * cellOutputGradientLayout.gateRowFloats());
        this.hiddenGradientRowBytes = (long) hiddenGradientRow * Float.BYTES;
        this.hiddenGradients = memory.floats(Math.multiplyExact((long) maxBatch * maxSteps, hiddenGradientRow));
        repack();
    }

    /** Floats that the GEMMs here need of a zero bias row and of a weight-gradient panel row. */
    static int widestRow(PackedLayer layer) {
        return GateLayout.plain(layer.projectionSize(), layer.layout().hiddenSize(), layer.layout().lanes())
                .gateRowFloats();
    }

    /** Repacks W_hr for dm = dh · W_hr from the layer's packed W_hr (after it changed). */
    void repack() {
        Packing.plainTransposed(layer.projection().layout(), layer.projection().data(), projectionSize,
                transposedProjectionWeights);
    }

    /**
     * Keeps the {@code rows} rows of dh (the step's whole dL/dh, P wide, at the driver's dh stride) as packed rows
     * {@code firstRow..} for dW_hr, and makes {@code dm = dh · W_hr} of those rows.
     *
     * @return dm, {@code [rows][cellOutputGradientRow()]}, valid until the next call
     */
    MemorySegment cellOutputGradient(Team team, MemorySegment hiddenGradient, int firstRow, int rows) {
        MemorySegment.copy(hiddenGradient, 0, hiddenGradients, firstRow * hiddenGradientRowBytes,
                rows * hiddenGradientRowBytes);
        team.multiply(call.set(WeightFormat.FLOAT32, cellOutputGradientLayout, transposedProjectionWeights,
                projectionSize, zeroBias, hiddenGradient, 0, hiddenGradientRowBytes, rows,
                cellOutputGradient, 0));
        return cellOutputGradient;
    }

    /** Floats between rows of {@link #cellOutputGradient}'s result. */
    int cellOutputGradientRow() {
        return cellOutputGradientLayout.gateRowFloats();
    }

    /**
     * {@code dW_hr = dhᵀ · M} over all {@code rows} packed rows, written or added into {@code target}
     * ({@code [P][H]}), once the driver has packed M (the m rows, H wide) into {@code panels} as
     * {@code [tile][row][4·lanes]}. dh is transposed first and the GEMM reads dhᵀ row by row, as the driver does
     * with dz: read down its columns, a stride that is a multiple of 4 KiB (P = 1024) would miss L1 at every
     * broadcast.
     *
     * @param transposed scratch for dhᵀ, at least P·rows floats
     * @param result     scratch for the GEMM's result, at least P rows of {@link #widestRow} floats
     */
    void weightGradient(Team team, MemorySegment panels, int rows, MemorySegment transposed,
                        MemorySegment result, MemorySegment target, GradientMode mode) {
        tensors.transpose(hiddenGradients, 0, (int) (hiddenGradientRowBytes / Float.BYTES), rows, projectionSize,
                transposed, rows);
        team.multiply(call.set(WeightFormat.FLOAT32, weightGradientLayout, panels, rows, zeroBias, transposed, 0,
                (long) rows * Float.BYTES, projectionSize, result, 0));
        long resultRowBytes = (long) weightGradientLayout.gateRowFloats() * Float.BYTES;
        long targetRowBytes = (long) hiddenSize * Float.BYTES;
        for (int q = 0; q < projectionSize; q++) {
            if (mode == GradientMode.ACCUMULATE) {
                tensors.add(result, q * resultRowBytes, target, q * targetRowBytes, hiddenSize);
            } else {
                MemorySegment.copy(result, q * resultRowBytes, target, q * targetRowBytes, targetRowBytes);
            }
        }
    }
}
