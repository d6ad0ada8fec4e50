package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Plain-Java fallback on the same packed layout (8 lanes a block), used when the Vector API is absent or its
 * preferred vector is narrower than 128 bits. Float arithmetic and the same activation approximations as the
 * vector kernel, in the same order (one FMA chain over k per output), so both give the same bits. One instance
 * per {@link WeightFormat}: compressed weights are widened ({@link WeightFormat#operand}) exactly as the vector
 * tiles widen them, and INT8 sums are multiplied by their row's scale before the bias or input is added.
 */
final class ScalarLstmKernel implements LstmKernel {

    static final ScalarLstmKernel INSTANCE = new ScalarLstmKernel(WeightFormat.FLOAT32);
    private static final ScalarLstmKernel BFLOAT16 = new ScalarLstmKernel(WeightFormat.BFLOAT16);
    private static final ScalarLstmKernel INT8 = new ScalarLstmKernel(WeightFormat.INT8);
    private static final int LANES = ScalarGemm.LANES;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private final WeightFormat format;

    private ScalarLstmKernel(WeightFormat format) {
        this.format = format;
    }

    @Override
    public String name() {
        return "scalar";
    }

    @Override
    public int lanes() {
        return LANES;
    }

    @Override
    public WeightFormat weightFormat() {
        return format;
    }

    @Override
    public LstmKernel withWeightFormat(WeightFormat weightFormat) {
        return switch (weightFormat) {
            case FLOAT32 -> INSTANCE;
            case BFLOAT16 -> BFLOAT16;
            case INT8 -> INT8;
        };
    }

    @Override
    public TensorKernel tensors() {
        return ScalarTensorKernel.INSTANCE;
    }

    @Override
    public PackedGemm packedGemm() {
        return ScalarGemm.INSTANCE;
    }

    @Override
    public void projectInput(GateLayout layout, int depth, MemorySegment packedInput, MemorySegment packedBias,
                             MemorySegment x, long xOffset, long xRowBytes, long xColumnBytes, int rows,
                             MemorySegment gates, long gatesOffset, int blockFrom, int blockTo) {
        ScalarGemm.multiply(format, layout, packedInput, depth, packedBias, x, xOffset, xRowBytes, xColumnBytes, rows,
                gates, gatesOffset, blockFrom, blockTo);
    }

    @Override
    public void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, int recurrentDepth,
                              MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gatesOffset,
                              MemorySegment hPrev, long hPrevRowBytes, MemorySegment c, MemorySegment hNext, int batch,
                              float clip, MemorySegment peepholes, int blockFrom, int blockTo) {
        ScalarGemm.step(format, layout, packedRecurrent, recurrentDepth,
                peepholes == null ? Postgemm.LSTM : Postgemm.LSTM_PEEPHOLES, clip, peepholes, inputGates,
                inputGatesOffset, gates, gatesOffset, hPrev, hPrevRowBytes, c, hNext, batch, blockFrom, blockTo);
    }

    @Override
    public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment cell,
                             long cellOffset, MemorySegment cellPrev, long cellPrevOffset, MemorySegment dh,
                             int dhRowFloats, MemorySegment dc, MemorySegment scratch, int batch, float clip) {
        int stateRow = layout.paddedHidden();
        for (int row = 0; row < batch; row++) {
            for (int unit = 0; unit < stateRow; unit++) {
                long at = (long) row * stateRow + unit;
                long gate = gatesOffset / Float.BYTES + (long) row * layout.gateRowFloats()
                        + (long) (unit / LANES) * GateLayout.LSTM_GATES * LANES + unit % LANES;
                float input = gates.getAtIndex(FLOAT, gate);
                float forget = gates.getAtIndex(FLOAT, gate + LANES);
                float candidate = gates.getAtIndex(FLOAT, gate + 2 * LANES);
                float output = gates.getAtIndex(FLOAT, gate + 3 * LANES);
                float cellValue = cell.getAtIndex(FLOAT, cellOffset / Float.BYTES + at);
                float tanhCell = Activations.tanh(ScalarPostgemm.clip(cellValue, clip));
                float hiddenGradient = dh.getAtIndex(FLOAT, (long) row * dhRowFloats + unit);
                float throughTanh = hiddenGradient * output * (1 - tanhCell * tanhCell);
                if (clip < Float.POSITIVE_INFINITY && Math.abs(cellValue) > clip) {
                    throughTanh = 0f;
                }
                float cellGradient = throughTanh + dc.getAtIndex(FLOAT, at);
                float previousCell = cellPrev.getAtIndex(FLOAT, cellPrevOffset / Float.BYTES + at);
                gates.setAtIndex(FLOAT, gate, cellGradient * candidate * input * (1 - input));
                gates.setAtIndex(FLOAT, gate + LANES, cellGradient * previousCell * forget * (1 - forget));
                gates.setAtIndex(FLOAT, gate + 2 * LANES, cellGradient * input * (1 - candidate * candidate));
                gates.setAtIndex(FLOAT, gate + 3 * LANES, hiddenGradient * tanhCell * output * (1 - output));
                dc.setAtIndex(FLOAT, at, cellGradient * forget);
            }
        }
    }

    @Override
    public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment preActivations,
                             long preActivationsOffset, MemorySegment cell, long cellOffset, MemorySegment cellPrev,
                             long cellPrevOffset, MemorySegment dh, int dhRowFloats, MemorySegment dc,
                             MemorySegment scratch, int batch, float clip, MemorySegment peepholes,
                             MemorySegment peepholeGradients) {
        int stateRow = layout.paddedHidden();
        for (int row = 0; row < batch; row++) {
            for (int unit = 0; unit < stateRow; unit++) {
                long at = (long) row * stateRow + unit;
                long slot = (long) (unit / LANES) * GateLayout.LSTM_GATES * LANES + unit % LANES;
                long gate = gatesOffset / Float.BYTES + (long) row * layout.gateRowFloats() + slot;
                long preActivation = preActivationsOffset / Float.BYTES + (long) row * layout.gateRowFloats() + slot;
                float input = gates.getAtIndex(FLOAT, gate);
                float forget = gates.getAtIndex(FLOAT, gate + LANES);
                float candidate = gates.getAtIndex(FLOAT, gate + 2 * LANES);
                float output = gates.getAtIndex(FLOAT, gate + 3 * LANES);
                float cellValue = cell.getAtIndex(FLOAT, cellOffset / Float.BYTES + at);
                float tanhCell = Activations.tanh(ScalarPostgemm.clip(cellValue, clip));
                float hiddenGradient = dh.getAtIndex(FLOAT, (long) row * dhRowFloats + unit);
                float throughTanh = hiddenGradient * output * (1 - tanhCell * tanhCell);
                float outputGradient = hiddenGradient * tanhCell * output * (1 - output);
                if (clip < Float.POSITIVE_INFINITY && Math.abs(cellValue) > clip) {
                    throughTanh = 0f;
                }
                outputGradient = passed(preActivations, preActivation + 3 * LANES, clip, outputGradient);
                float cellGradient = Math.fma(peepholes.getAtIndex(FLOAT, slot + 3 * LANES), outputGradient,
                        throughTanh + dc.getAtIndex(FLOAT, at));
                float previousCell = cellPrev.getAtIndex(FLOAT, cellPrevOffset / Float.BYTES + at);
                float inputGradient = passed(preActivations, preActivation, clip,
                        cellGradient * candidate * input * (1 - input));
                float forgetGradient = passed(preActivations, preActivation + LANES, clip,
                        cellGradient * previousCell * forget * (1 - forget));
                gates.setAtIndex(FLOAT, gate, inputGradient);
                gates.setAtIndex(FLOAT, gate + LANES, forgetGradient);
                gates.setAtIndex(FLOAT, gate + 2 * LANES, cellGradient * input * (1 - candidate * candidate));
                gates.setAtIndex(FLOAT, gate + 3 * LANES, outputGradient);
                float throughForget = Math.fma(peepholes.getAtIndex(FLOAT, slot), inputGradient,
                        cellGradient * forget);
                dc.setAtIndex(FLOAT, at, Math.fma(peepholes.getAtIndex(FLOAT, slot + LANES), forgetGradient,
                        throughForget));
                accumulate(peepholeGradients, slot, inputGradient, previousCell);
                accumulate(peepholeGradients, slot + LANES, forgetGradient, previousCell);
                accumulate(peepholeGradients, slot + 3 * LANES, outputGradient, cellValue);
            }
        }
    }

    /** {@code gradient}, or 0 where the clip held the pre-activation at float {@code index}. */
    private static float passed(MemorySegment preActivations, long index, float clip, float gradient) {
        return clip < Float.POSITIVE_INFINITY && Math.abs(preActivations.getAtIndex(FLOAT, index)) > clip
                ? 0f : gradient;
    }

    /** {@code sums[index] += gradient * value}, as one FMA like the vector kernel's. */
    private static void accumulate(MemorySegment sums, long index, float gradient, float value) {
        sums.setAtIndex(FLOAT, index, Math.fma(gradient, value, sums.getAtIndex(FLOAT, index)));
    }
}
