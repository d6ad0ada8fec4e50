package dev.vlstm.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The plain-Java {@link Pointwise}, on the scalar family's packing (blocks of {@link ScalarGemm#LANES} lanes): the
 * same float operations as {@link VectorPointwise}, in the same order, with the activation approximations of
 * {@link Activations}, so both give the same bits.
 */
final class ScalarPointwise implements Pointwise {

    static final ScalarPointwise INSTANCE = new ScalarPointwise();
    private static final int LANES = ScalarGemm.LANES;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private ScalarPointwise() {
    }

    @Override
    public void lstmBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment cell,
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
    public void lstmPeepholeBackward(GateLayout layout, MemorySegment gates, long gatesOffset,
                                     MemorySegment preActivations, long preActivationsOffset, MemorySegment cell,
                                     long cellOffset, MemorySegment cellPrev, long cellPrevOffset, MemorySegment dh,
                                     int dhRowFloats, MemorySegment dc, MemorySegment scratch, int batch, float clip,
                                     MemorySegment peepholes, MemorySegment peepholeGradients) {
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

    @Override
    public void cifgBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment preActivations,
                             long preActivationsOffset, MemorySegment cell, long cellOffset, MemorySegment cellPrev,
                             long cellPrevOffset, MemorySegment dh, int dhRowFloats, MemorySegment dc,
                             MemorySegment scratch, int batch, float clip, MemorySegment peepholes,
                             MemorySegment peepholeGradients) {
        int stateRow = layout.paddedHidden();
        for (int row = 0; row < batch; row++) {
            for (int unit = 0; unit < stateRow; unit++) {
                long at = (long) row * stateRow + unit;
                long slot = (long) (unit / LANES) * GateLayout.CIFG_GATES * LANES + unit % LANES;
                long gate = gatesOffset / Float.BYTES + (long) row * layout.gateRowFloats() + slot;
                long preActivation = preActivationsOffset / Float.BYTES + (long) row * layout.gateRowFloats() + slot;
                float input = gates.getAtIndex(FLOAT, gate);
                float candidate = gates.getAtIndex(FLOAT, gate + LANES);
                float output = gates.getAtIndex(FLOAT, gate + 2 * LANES);
                float cellValue = cell.getAtIndex(FLOAT, cellOffset / Float.BYTES + at);
                float tanhCell = Activations.tanh(ScalarPostgemm.clip(cellValue, clip));
                float hiddenGradient = dh.getAtIndex(FLOAT, (long) row * dhRowFloats + unit);
                float throughTanh = hiddenGradient * output * (1 - tanhCell * tanhCell);
                float outputGradient = hiddenGradient * tanhCell * output * (1 - output);
                if (clip < Float.POSITIVE_INFINITY && Math.abs(cellValue) > clip) {
                    throughTanh = 0f;
                }
                outputGradient = passed(preActivations, preActivation + 2 * LANES, clip, outputGradient);
                float cellGradient = throughTanh + dc.getAtIndex(FLOAT, at);
                if (peepholes != null) {
                    cellGradient = Math.fma(peepholes.getAtIndex(FLOAT, slot + 2 * LANES), outputGradient,
                            cellGradient);
                }
                float previousCell = cellPrev.getAtIndex(FLOAT, cellPrevOffset / Float.BYTES + at);
                float forget = 1 - input;
                float inputGradient = passed(preActivations, preActivation, clip,
                        cellGradient * (candidate - previousCell) * input * forget);
                gates.setAtIndex(FLOAT, gate, inputGradient);
                gates.setAtIndex(FLOAT, gate + LANES, cellGradient * input * (1 - candidate * candidate));
                gates.setAtIndex(FLOAT, gate + 2 * LANES, outputGradient);
                float throughForget = cellGradient * forget;
                if (peepholes == null) {
                    dc.setAtIndex(FLOAT, at, throughForget);
                    continue;
                }
                dc.setAtIndex(FLOAT, at, Math.fma(peepholes.getAtIndex(FLOAT, slot), inputGradient, throughForget));
                accumulate(peepholeGradients, slot, inputGradient, previousCell);
                accumulate(peepholeGradients, slot + 2 * LANES, outputGradient, cellValue);
            }
        }
    }

    @Override
    public void gruBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment inputGates,
                            long inputGatesOffset, MemorySegment hPrev, MemorySegment dh, int dhRowFloats,
                            MemorySegment direct, int batch) {
        int stateRow = layout.paddedHidden();
        for (int row = 0; row < batch; row++) {
            long gateRow = gatesOffset / Float.BYTES + (long) row * layout.gateRowFloats();
            long inputRow = inputGatesOffset / Float.BYTES + (long) row * layout.gateRowFloats();
            for (int unit = 0; unit < stateRow; unit++) {
                long reset = layout.gateIndex(0, unit);
                long update = layout.gateIndex(1, unit);
                long candidate = layout.gateIndex(2, unit);
                float r = gates.getAtIndex(FLOAT, gateRow + reset);
                float z = gates.getAtIndex(FLOAT, gateRow + update);
                float n = gates.getAtIndex(FLOAT, gateRow + candidate);
                float m = inputGates.getAtIndex(FLOAT, inputRow + candidate);
                long state = (long) row * stateRow + unit;
                float hiddenGradient = dh.getAtIndex(FLOAT, (long) row * dhRowFloats + unit);
                float candidateGradient = hiddenGradient * (1 - z) * (1 - n * n);
                float resetGradient = candidateGradient * m * r * (1 - r);
                float updateGradient = hiddenGradient * (hPrev.getAtIndex(FLOAT, state) - n) * z * (1 - z);
                gates.setAtIndex(FLOAT, gateRow + reset, resetGradient);
                gates.setAtIndex(FLOAT, gateRow + update, updateGradient);
                gates.setAtIndex(FLOAT, gateRow + candidate, candidateGradient);
                inputGates.setAtIndex(FLOAT, inputRow + reset, resetGradient);
                inputGates.setAtIndex(FLOAT, inputRow + update, updateGradient);
                inputGates.setAtIndex(FLOAT, inputRow + candidate, candidateGradient * r);
                direct.setAtIndex(FLOAT, state, hiddenGradient * z);
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
