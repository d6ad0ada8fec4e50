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
    public void lstmBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment preActivations,
                             long preActivationsOffset, MemorySegment cell, long cellOffset, MemorySegment cellPrev,
                             long cellPrevOffset, MemorySegment dh, int dhRowFloats, MemorySegment dc,
                             MemorySegment scratch, int batch, float clip, MemorySegment peepholes,
                             MemorySegment peepholeGradients) {
        boolean coupled = layout.gates() == GateLayout.CIFG_GATES;
        int candidateSlot = (coupled ? 1 : 2) * LANES;
        int outputSlot = candidateSlot + LANES;
        int stateRow = layout.paddedHidden();
        for (int row = 0; row < batch; row++) {
            for (int unit = 0; unit < stateRow; unit++) {
                long at = (long) row * stateRow + unit;
                long slot = (long) (unit / LANES) * layout.gates() * LANES + unit % LANES;
                long gate = gatesOffset / Float.BYTES + (long) row * layout.gateRowFloats() + slot;
                long preActivation = preActivationsOffset / Float.BYTES + (long) row * layout.gateRowFloats() + slot;
                float input = gates.getAtIndex(FLOAT, gate);
                float candidate = gates.getAtIndex(FLOAT, gate + candidateSlot);
                float output = gates.getAtIndex(FLOAT, gate + outputSlot);
                float forget = coupled ? 1 - input : gates.getAtIndex(FLOAT, gate + LANES);
                float cellValue = cell.getAtIndex(FLOAT, cellOffset / Float.BYTES + at);
                float tanhCell = Activations.tanh(ScalarPostgemm.clip(cellValue, clip));
                float hiddenGradient = dh.getAtIndex(FLOAT, (long) row * dhRowFloats + unit);
                float throughTanh = hiddenGradient * output * (1 - tanhCell * tanhCell);
                if (clip < Float.POSITIVE_INFINITY && Math.abs(cellValue) > clip) {
                    throughTanh = 0f;
                }
                float outputGradient = passed(preActivations, preActivation + outputSlot, clip,
                        hiddenGradient * tanhCell * output * (1 - output));
                float cellGradient = throughTanh + dc.getAtIndex(FLOAT, at);
                if (peepholes != null) {
                    cellGradient = Math.fma(peepholes.getAtIndex(FLOAT, slot + outputSlot), outputGradient,
                            cellGradient);
                }
                float previousCell = cellPrev.getAtIndex(FLOAT, cellPrevOffset / Float.BYTES + at);
                float inputGradient = passed(preActivations, preActivation, clip, coupled
                        ? cellGradient * (candidate - previousCell) * input * forget
                        : cellGradient * candidate * input * (1 - input));
                gates.setAtIndex(FLOAT, gate, inputGradient);
                gates.setAtIndex(FLOAT, gate + candidateSlot, passed(preActivations, preActivation + candidateSlot,
                        clip, cellGradient * input * (1 - candidate * candidate)));
                gates.setAtIndex(FLOAT, gate + outputSlot, outputGradient);
                float throughForget = cellGradient * forget;
                if (peepholes != null) {
                    throughForget = Math.fma(peepholes.getAtIndex(FLOAT, slot), inputGradient, throughForget);
                    accumulate(peepholeGradients, slot, inputGradient, previousCell);
                    accumulate(peepholeGradients, slot + outputSlot, outputGradient, cellValue);
                }
                if (!coupled) {
                    float forgetGradient = passed(preActivations, preActivation + LANES, clip,
                            cellGradient * previousCell * forget * (1 - forget));
                    gates.setAtIndex(FLOAT, gate + LANES, forgetGradient);
                    if (peepholes != null) {
                        throughForget = Math.fma(peepholes.getAtIndex(FLOAT, slot + LANES), forgetGradient,
                                throughForget);
                        accumulate(peepholeGradients, slot + LANES, forgetGradient, previousCell);
                    }
                }
                dc.setAtIndex(FLOAT, at, throughForget);
            }
        }
    }

    @Override
    public void gruBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment inputGates,
                            long inputGatesOffset, MemorySegment hPrev, MemorySegment candidatePreActivations,
                            MemorySegment dh, int dhRowFloats, MemorySegment direct, int batch, float clip) {
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
                float candidateGradient = passed(candidatePreActivations, state, clip,
                        hiddenGradient * (1 - z) * (1 - n * n));
                float resetGradient = passed(inputGates, inputRow + reset, clip, candidateGradient * m * r * (1 - r));
                float updateGradient = passed(inputGates, inputRow + update, clip,
                        hiddenGradient * (hPrev.getAtIndex(FLOAT, state) - n) * z * (1 - z));
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
