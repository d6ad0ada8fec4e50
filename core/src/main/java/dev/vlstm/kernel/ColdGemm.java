package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * The GEMM and fused step that a {@link Team} runs while its {@link ColdStart} is active: plain loops over heap
 * arrays, which C1 compiles within milliseconds into code that is fast without C2, unlike vector code (which
 * boxes every vector until C2 has compiled it) and unlike element-wise {@link MemorySegment} access (a call
 * through the segment's var handle each, until C2 inlines it). Each row's operand and outputs are copied between
 * the call's segments and this object's arrays in bulk, and the weights are read from {@link ColdWeights}.
 *
 * <p>Every output is the bias (or +0.0), then one FMA chain over k in order on the same operands, then (INT8) the
 * row's scale and the bias, as {@link ScalarGemm} computes it; the step's pointwise part is {@link ScalarPostgemm}.
 * So a call gives the vector kernels' bits, and a stream may cross from this kernel to those at any call. A matrix
 * without a copy runs on {@link ScalarGemm}, with the same bits.
 * Holds scratch arrays: one thread at a time, over every block of each call.
 */
final class ColdGemm {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    /** One row of the left operand. */
    private float[] row = new float[0];
    /** One row of the outputs: a gate row, rounded up to whole panels. */
    private float[] out = new float[0];
    /** The bias's gate row. */
    private float[] bias = new float[0];

    /** {@link PackedGemm#multiply} over every block of {@code c}, with the weights of {@code weights}. */
    void multiply(ColdWeights weights, GemmCall c) {
        ColdWeights.Copy copy = weights.copyOf(c.b);
        if (copy == null) {
            ScalarGemm.INSTANCE.multiply(c, 0, c.layout.blocks());
            return;
        }
        int gateRow = c.layout.gateRowFloats();
        float[] start = null;
        if (c.bias != null) {
            start = bias = fit(bias, gateRow);
            MemorySegment.copy(c.bias, FLOAT, 0, start, 0, gateRow);
        }
        rows(copy, c.layout, c.depth, start, c.a, c.aOffset, c.aRowBytes, c.rows, c.out, c.outOffset);
    }

    /** {@link PackedGemm#step} over every block of {@code c}, with the weights of {@code weights}. */
    void step(ColdWeights weights, StepCall c) {
        ColdWeights.Copy copy = weights.copyOf(c.u);
        int blocks = c.layout.blocks();
        if (copy == null) {
            ScalarGemm.INSTANCE.step(c, 0, blocks);
            return;
        }
        rows(copy, c.layout, c.depth, null, c.hPrev, 0, c.hPrevRowBytes, c.rows, c.sums, c.sumsOffset);
        ScalarPostgemm.forward(c.cell, c.layout, c.inputs, c.inputsOffset, c.sums, c.sumsOffset, c.hPrev,
                c.hPrevRowBytes, c.c, c.hNext, c.clip, c.cellRow, c.rows, 0, blocks);
    }

    /**
     * {@code out(r, q) = start(q) + Σ_k a(r, k)·B(q, k)} for every row and output of {@code layout} (INT8: the sum
     * times the row's scale, then the start), {@code start} null for +0.0; a's rows hold {@code depth} contiguous
     * floats {@code aRowBytes} apart from {@code aOffset}, out's rows are whole gate rows from {@code outOffset}.
     */
    private void rows(ColdWeights.Copy copy, GateLayout layout, int depth, float[] start, MemorySegment a,
                      long aOffset, long aRowBytes, int rows, MemorySegment target, long outOffset) {
        int gateRow = layout.gateRowFloats();
        int outputs = ColdWeights.outputs(layout);
        float[] operands = copy.operands();
        float[] scales = copy.scales();
        float[] x = row = fit(row, depth);
        float[] sums = out = fit(out, outputs);
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(a, FLOAT, aOffset + r * aRowBytes, x, 0, depth);
            if (start == null || scales != null) {
                Arrays.fill(sums, 0, outputs, 0f);
            } else {
                System.arraycopy(start, 0, sums, 0, gateRow);
                Arrays.fill(sums, gateRow, outputs, 0f);
            }
            for (int q = 0; q < outputs; q += ColdWeights.PANEL) {
                chains(x, depth, operands, q * depth, sums, q);
            }
            if (scales != null) {
                for (int q = 0; q < gateRow; q++) {
                    float scaled = sums[q] * scales[q];
                    sums[q] = start == null ? scaled : scaled + start[q];
                }
            }
            MemorySegment.copy(sums, 0, target, FLOAT, outOffset + (long) r * gateRow * Float.BYTES, gateRow);
        }
    }

    /**
     * The FMA chains of the panel of outputs {@code q..q+15} over k, from {@code sums}' values, in locals: the
     * panel's operands from {@code at}, sixteen for each k.
     */
    private static void chains(float[] x, int depth, float[] operands, int at, float[] sums, int q) {
        float s0 = sums[q + 0];
        float s1 = sums[q + 1];
        float s2 = sums[q + 2];
        float s3 = sums[q + 3];
        float s4 = sums[q + 4];
        float s5 = sums[q + 5];
        float s6 = sums[q + 6];
        float s7 = sums[q + 7];
        float s8 = sums[q + 8];
        float s9 = sums[q + 9];
        float s10 = sums[q + 10];
        float s11 = sums[q + 11];
        float s12 = sums[q + 12];
        float s13 = sums[q + 13];
        float s14 = sums[q + 14];
        float s15 = sums[q + 15];
        for (int k = 0; k < depth; k++, at += ColdWeights.PANEL) {
            float value = x[k];
            s0 = Math.fma(value, operands[at + 0], s0);
            s1 = Math.fma(value, operands[at + 1], s1);
            s2 = Math.fma(value, operands[at + 2], s2);
            s3 = Math.fma(value, operands[at + 3], s3);
            s4 = Math.fma(value, operands[at + 4], s4);
            s5 = Math.fma(value, operands[at + 5], s5);
            s6 = Math.fma(value, operands[at + 6], s6);
            s7 = Math.fma(value, operands[at + 7], s7);
            s8 = Math.fma(value, operands[at + 8], s8);
            s9 = Math.fma(value, operands[at + 9], s9);
            s10 = Math.fma(value, operands[at + 10], s10);
            s11 = Math.fma(value, operands[at + 11], s11);
            s12 = Math.fma(value, operands[at + 12], s12);
            s13 = Math.fma(value, operands[at + 13], s13);
            s14 = Math.fma(value, operands[at + 14], s14);
            s15 = Math.fma(value, operands[at + 15], s15);
        }
        sums[q + 0] = s0;
        sums[q + 1] = s1;
        sums[q + 2] = s2;
        sums[q + 3] = s3;
        sums[q + 4] = s4;
        sums[q + 5] = s5;
        sums[q + 6] = s6;
        sums[q + 7] = s7;
        sums[q + 8] = s8;
        sums[q + 9] = s9;
        sums[q + 10] = s10;
        sums[q + 11] = s11;
        sums[q + 12] = s12;
        sums[q + 13] = s13;
        sums[q + 14] = s14;
        sums[q + 15] = s15;
    }

    /** {@code array} if it holds {@code length} floats, else a new array that does. */
    private static float[] fit(float[] array, int length) {
        return array.length >= length ? array : new float[length];
    }
}
