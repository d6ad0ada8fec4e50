package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;

/**
 * The arguments of one {@link PackedGemm#step} call, one fused recurrent step of {@code rows} rows: per output
 * block, the recurrent sums {@code s = hPrev · Uᵀ} (from +0.0, no bias) into the step's sums rows, then at once,
 * while they are in L1, the cell's pointwise forward ({@link Postgemm}) on those sums and the input
 * pre-activations. Mutable and reused like {@link GemmCall}: its owner sets it before each call, and the shares of
 * a split call (each on its own blocks) read the same object.
 */
public final class StepCall {

    WeightFormat format;
    GateLayout layout;
    MemorySegment u;
    int depth;
    int cell;
    float clip;
    MemorySegment cellRow;
    MemorySegment inputs;
    long inputsOffset;
    MemorySegment sums;
    long sumsOffset;
    MemorySegment hPrev;
    long hPrevRowBytes;
    MemorySegment c;
    MemorySegment hNext;
    int rows;

    /**
     * Sets every argument of the next call.
     *
     * @param format        how U's values are stored
     * @param layout        U's packing, and the gate rows of {@code inputs} and {@code sums}
     * @param u             U, packed as {@code [block][k < depth][gate][lane]} in {@code format}
     * @param depth         columns of U and floats per row of {@code hPrev}, &ge; 1 (H, or P with a projection)
     * @param cell          the cell's pointwise forward: {@link Postgemm#LSTM}, {@link Postgemm#LSTM_PEEPHOLES},
     *                      {@link Postgemm#GRU}, {@link Postgemm#CIFG} or {@link Postgemm#CIFG_PEEPHOLES}
     * @param clip          the clip of the activations' inputs (an LSTM's or CIFG's cell clip, a GRU's clip), &gt; 0,
     *                      {@code Float.POSITIVE_INFINITY} for none
     * @param cellRow       the cell's extra row: LSTM or CIFG peepholes packed as a gate row
     *                      ({@link Packing#peepholes}), the GRU's b_hn as {@code [paddedHidden]} floats
     *                      ({@link Packing#linearBeforeResetBias}), or null for an LSTM or CIFG without peepholes
     * @param inputs        input pre-activations, {@code [rows][gateRowFloats]} from {@code inputsOffset} bytes;
     *                      left holding what the backward reads (LSTM and CIFG: z; GRU: m in the n slots, and
     *                      with a {@code c} the summed pre-activations of r and z in their slots)
     * @param inputsOffset  byte offset of row 0 of {@code inputs}; below four rows its row index, divided by the
     *                      rows, decides the sweep's direction ({@link VectorGemm#descending})
     * @param sums          {@code [rows][gateRowFloats]} floats from {@code sumsOffset} bytes: receives the
     *                      recurrent sums, then the gate activations
     * @param sumsOffset    byte offset of row 0 of {@code sums}
     * @param hPrev         h before the step, {@code [rows]} rows of {@code depth} floats {@code hPrevRowBytes}
     *                      apart from byte 0, read only
     * @param hPrevRowBytes bytes between rows of {@code hPrev}
     * @param c             LSTM and CIFG: the cell state, {@code [rows][paddedHidden]}, updated in place; GRU:
     *                      null, or {@code [rows][paddedHidden]} receiving n's pre-activation {@code a_n + r*m}
     *                      (what a training forward with a finite clip keeps for the backward)
     * @param hNext         h after the step (with a projection: m, to be projected), {@code [rows][paddedHidden]};
     *                      must not overlap {@code hPrev}
     * @param rows          rows, &ge; 0
     * @return this call
     */
    public StepCall set(WeightFormat format, GateLayout layout, MemorySegment u, int depth, int cell, float clip,
                        MemorySegment cellRow, MemorySegment inputs, long inputsOffset, MemorySegment sums,
                        long sumsOffset, MemorySegment hPrev, long hPrevRowBytes, MemorySegment c, MemorySegment hNext,
                        int rows) {
        this.format = format;
        this.layout = layout;
        this.u = u;
        this.depth = depth;
        this.cell = cell;
        this.clip = clip;
        this.cellRow = cellRow;
        this.inputs = inputs;
        this.inputsOffset = inputsOffset;
        this.sums = sums;
        this.sumsOffset = sumsOffset;
        this.hPrev = hPrev;
        this.hPrevRowBytes = hPrevRowBytes;
        this.c = c;
        this.hNext = hNext;
        this.rows = rows;
        return this;
    }

    /**
     * Sets the next call to step with the packed recurrent matrix {@code u} (its format, layout and depth); the
     * other arguments as {@link #set(WeightFormat, GateLayout, MemorySegment, int, int, float, MemorySegment,
     * MemorySegment, long, MemorySegment, long, MemorySegment, long, MemorySegment, MemorySegment, int)}.
     *
     * @return this call
     */
    public StepCall set(PackedMatrix u, int cell, float clip, MemorySegment cellRow, MemorySegment inputs,
                        long inputsOffset, MemorySegment sums, long sumsOffset, MemorySegment hPrev, long hPrevRowBytes,
                        MemorySegment c, MemorySegment hNext, int rows) {
        return set(u.format(), u.layout(), u.data(), u.depth(), cell, clip, cellRow, inputs, inputsOffset, sums,
                sumsOffset, hPrev, hPrevRowBytes, c, hNext, rows);
    }
}
