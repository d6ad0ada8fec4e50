package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The pointwise part of one LSTM or CIFG backward step on one vector of hidden units (see
 * {@link Pointwise#lstmBackward}), with the forward's cell clip ({@code +∞} for none). Like {@link CellPointwise}, it
 * takes no vector arguments and keeps no vector live across the activation call: tanh(c) goes through a one-vector
 * scratch, so nothing is boxed whether or not C2 inlines it.
 */
final class CellBackward {

    private CellBackward() {
    }

    /**
     * @param coupled           true for the CIFG (gates i, g, o; f = 1 - i), false for the LSTM (gates i, f, g, o)
     * @param gates             the activations of this block at {@code gateOffset}; replaced by dz
     * @param preActivations    the forward's z (peephole terms included) at {@code preActivationOffset}, same layout
     *                          as the gates, read for the clip
     * @param peepholes         the packed peepholes of this block at {@code peepholeOffset}, or null for none
     * @param peepholeGradients dp accumulated at the same offset as the peepholes; unused without
     */
    static void update(boolean coupled, MemorySegment gates, long gateOffset, MemorySegment preActivations,
                       long preActivationOffset, MemorySegment cell, long cellOffset, MemorySegment cellPrev,
                       long cellPrevOffset, MemorySegment dh, long dhOffset, MemorySegment dc, long dcOffset,
                       MemorySegment scratch, float clip, MemorySegment peepholes, long peepholeOffset,
                       MemorySegment peepholeGradients) {
        long candidateSlot = (coupled ? 1 : 2) * VECTOR_BYTES;
        long outputSlot = candidateSlot + VECTOR_BYTES;
        boolean clipped = clip < Float.POSITIVE_INFINITY;
        fromMemorySegment(SPECIES, cell, cellOffset, ORDER).max(-clip).min(clip).intoMemorySegment(scratch, 0, ORDER);
        VectorActivations.tanh(scratch, 0, scratch, 0);
        FloatVector tanhCell = fromMemorySegment(SPECIES, scratch, 0, ORDER);
        FloatVector cellValue = fromMemorySegment(SPECIES, cell, cellOffset, ORDER);
        FloatVector input = fromMemorySegment(SPECIES, gates, gateOffset, ORDER);
        FloatVector candidate = fromMemorySegment(SPECIES, gates, gateOffset + candidateSlot, ORDER);
        FloatVector output = fromMemorySegment(SPECIES, gates, gateOffset + outputSlot, ORDER);
        FloatVector hiddenGradient = fromMemorySegment(SPECIES, dh, dhOffset, ORDER);
        FloatVector one = FloatVector.broadcast(SPECIES, 1f);
        FloatVector zero = FloatVector.zero(SPECIES);
        FloatVector forget = coupled ? one.sub(input)
                : fromMemorySegment(SPECIES, gates, gateOffset + VECTOR_BYTES, ORDER);
        // dc = dc_next + dh * o * (1 - tanh²(clip(c))), the middle term zero where the clip held c
        FloatVector throughTanh = hiddenGradient.mul(output).mul(one.sub(tanhCell.mul(tanhCell)));
        FloatVector outputGradient = hiddenGradient.mul(tanhCell).mul(output).mul(one.sub(output));
        if (clipped) {
            throughTanh = throughTanh.blend(zero, cellValue.abs().compare(VectorOperators.GT, clip));
            outputGradient = outputGradient.blend(zero, fromMemorySegment(SPECIES, preActivations,
                    preActivationOffset + outputSlot, ORDER).abs().compare(VectorOperators.GT, clip));
        }
        FloatVector cellGradient = throughTanh.add(fromMemorySegment(SPECIES, dc, dcOffset, ORDER));
        if (peepholes != null) {
            cellGradient = fromMemorySegment(SPECIES, peepholes, peepholeOffset + outputSlot, ORDER)
                    .fma(outputGradient, cellGradient);
        }
        FloatVector previousCell = fromMemorySegment(SPECIES, cellPrev, cellPrevOffset, ORDER);
        FloatVector inputGradient = coupled ? cellGradient.mul(candidate.sub(previousCell)).mul(input).mul(forget)
                : cellGradient.mul(candidate).mul(input).mul(one.sub(input));
        FloatVector candidateGradient = cellGradient.mul(input).mul(one.sub(candidate.mul(candidate)));
        if (clipped) {
            inputGradient = inputGradient.blend(zero, fromMemorySegment(SPECIES, preActivations,
                    preActivationOffset, ORDER).abs().compare(VectorOperators.GT, clip));
            candidateGradient = candidateGradient.blend(zero, fromMemorySegment(SPECIES, preActivations,
                    preActivationOffset + candidateSlot, ORDER).abs().compare(VectorOperators.GT, clip));
        }
        inputGradient.intoMemorySegment(gates, gateOffset, ORDER);
        candidateGradient.intoMemorySegment(gates, gateOffset + candidateSlot, ORDER);
        outputGradient.intoMemorySegment(gates, gateOffset + outputSlot, ORDER);
        FloatVector throughForget = cellGradient.mul(forget);
        if (peepholes != null) {
            throughForget = fromMemorySegment(SPECIES, peepholes, peepholeOffset, ORDER)
                    .fma(inputGradient, throughForget);
            inputGradient.fma(previousCell, fromMemorySegment(SPECIES, peepholeGradients, peepholeOffset, ORDER))
                    .intoMemorySegment(peepholeGradients, peepholeOffset, ORDER);
            outputGradient.fma(cellValue, fromMemorySegment(SPECIES, peepholeGradients, peepholeOffset + outputSlot,
                    ORDER)).intoMemorySegment(peepholeGradients, peepholeOffset + outputSlot, ORDER);
        }
        if (!coupled) {
            FloatVector forgetGradient = cellGradient.mul(previousCell).mul(forget).mul(one.sub(forget));
            if (clipped) {
                forgetGradient = forgetGradient.blend(zero, fromMemorySegment(SPECIES, preActivations,
                        preActivationOffset + VECTOR_BYTES, ORDER).abs().compare(VectorOperators.GT, clip));
            }
            forgetGradient.intoMemorySegment(gates, gateOffset + VECTOR_BYTES, ORDER);
            if (peepholes != null) {
                throughForget = fromMemorySegment(SPECIES, peepholes, peepholeOffset + VECTOR_BYTES, ORDER)
                        .fma(forgetGradient, throughForget);
                forgetGradient.fma(previousCell, fromMemorySegment(SPECIES, peepholeGradients,
                        peepholeOffset + VECTOR_BYTES, ORDER))
                        .intoMemorySegment(peepholeGradients, peepholeOffset + VECTOR_BYTES, ORDER);
            }
        }
        throughForget.intoMemorySegment(dc, dcOffset, ORDER);
    }
}
