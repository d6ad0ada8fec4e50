package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The pointwise part of one CIFG backward step on one vector of hidden units (see {@link Pointwise#lstmBackward}),
 * in {@link CellBackward}'s order of operations with f = 1 - i. Like {@link CellBackward}, it takes no vector
 * arguments: tanh(c) goes through a one-vector scratch, so nothing is boxed whether or not C2 inlines it.
 */
final class CifgBackward {

    private CifgBackward() {
    }

    /**
     * @param peepholes         the packed peepholes of this block at {@code peepholeOffset} (gate slots i and o), or
     *                          null for none
     * @param peepholeGradients dp accumulated at the same offset as the peepholes; unused without
     */
    static void update(MemorySegment gates, long gateOffset, MemorySegment preActivations, long preActivationOffset,
                       MemorySegment cell, long cellOffset, MemorySegment cellPrev, long cellPrevOffset,
                       MemorySegment dh, long dhOffset, MemorySegment dc, long dcOffset, MemorySegment scratch,
                       float clip, MemorySegment peepholes, long peepholeOffset, MemorySegment peepholeGradients) {
        FloatVector cellValue = fromMemorySegment(SPECIES, cell, cellOffset, ORDER);
        cellValue.max(-clip).min(clip).intoMemorySegment(scratch, 0, ORDER);
        VectorActivations.tanh(scratch, 0, scratch, 0);
        FloatVector tanhCell = fromMemorySegment(SPECIES, scratch, 0, ORDER);
        cellValue = fromMemorySegment(SPECIES, cell, cellOffset, ORDER);
        FloatVector input = fromMemorySegment(SPECIES, gates, gateOffset, ORDER);
        FloatVector candidate = fromMemorySegment(SPECIES, gates, gateOffset + VECTOR_BYTES, ORDER);
        FloatVector output = fromMemorySegment(SPECIES, gates, gateOffset + 2 * VECTOR_BYTES, ORDER);
        FloatVector hiddenGradient = fromMemorySegment(SPECIES, dh, dhOffset, ORDER);
        FloatVector one = FloatVector.broadcast(SPECIES, 1f);
        FloatVector zero = FloatVector.zero(SPECIES);
        FloatVector throughTanh = hiddenGradient.mul(output).mul(one.sub(tanhCell.mul(tanhCell)));
        FloatVector outputGradient = hiddenGradient.mul(tanhCell).mul(output).mul(one.sub(output));
        if (clip < Float.POSITIVE_INFINITY) {
            throughTanh = throughTanh.blend(zero, cellValue.abs().compare(VectorOperators.GT, clip));
            outputGradient = outputGradient.blend(zero, fromMemorySegment(SPECIES, preActivations,
                    preActivationOffset + 2 * VECTOR_BYTES, ORDER).abs().compare(VectorOperators.GT, clip));
        }
        FloatVector cellGradient = throughTanh.add(fromMemorySegment(SPECIES, dc, dcOffset, ORDER));
        if (peepholes != null) {
            cellGradient = fromMemorySegment(SPECIES, peepholes, peepholeOffset + 2 * VECTOR_BYTES, ORDER)
                    .fma(outputGradient, cellGradient);
        }
        FloatVector previousCell = fromMemorySegment(SPECIES, cellPrev, cellPrevOffset, ORDER);
        FloatVector forget = one.sub(input);
        FloatVector inputGradient = cellGradient.mul(candidate.sub(previousCell)).mul(input).mul(forget);
        if (clip < Float.POSITIVE_INFINITY) {
            inputGradient = inputGradient.blend(zero, fromMemorySegment(SPECIES, preActivations,
                    preActivationOffset, ORDER).abs().compare(VectorOperators.GT, clip));
        }
        inputGradient.intoMemorySegment(gates, gateOffset, ORDER);
        cellGradient.mul(input).mul(one.sub(candidate.mul(candidate)))
                .intoMemorySegment(gates, gateOffset + VECTOR_BYTES, ORDER);
        outputGradient.intoMemorySegment(gates, gateOffset + 2 * VECTOR_BYTES, ORDER);
        FloatVector throughForget = cellGradient.mul(forget);
        if (peepholes == null) {
            throughForget.intoMemorySegment(dc, dcOffset, ORDER);
            return;
        }
        fromMemorySegment(SPECIES, peepholes, peepholeOffset, ORDER).fma(inputGradient, throughForget)
                .intoMemorySegment(dc, dcOffset, ORDER);
        inputGradient.fma(previousCell, fromMemorySegment(SPECIES, peepholeGradients, peepholeOffset, ORDER))
                .intoMemorySegment(peepholeGradients, peepholeOffset, ORDER);
        outputGradient.fma(cellValue, fromMemorySegment(SPECIES, peepholeGradients,
                        peepholeOffset + 2 * VECTOR_BYTES, ORDER))
                .intoMemorySegment(peepholeGradients, peepholeOffset + 2 * VECTOR_BYTES, ORDER);
    }
}
