package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;

/**
 * The pointwise part of one GRU backward step on one vector of hidden units (see {@link Pointwise#gruBackward}).
 * Like {@link CellBackward}, it takes no vector arguments, so nothing is boxed whether or not C2 inlines it.
 */
final class GruBackward {

    private GruBackward() {
    }

    static void update(MemorySegment gates, long gateOffset, MemorySegment inputGates, long inputGateOffset,
                       MemorySegment hPrev, long hPrevOffset, MemorySegment dh, long dhOffset,
                       MemorySegment direct, long directOffset) {
        FloatVector reset = fromMemorySegment(SPECIES, gates, gateOffset, ORDER);
        FloatVector update = fromMemorySegment(SPECIES, gates, gateOffset + VECTOR_BYTES, ORDER);
        FloatVector candidate = fromMemorySegment(SPECIES, gates, gateOffset + 2 * VECTOR_BYTES, ORDER);
        FloatVector recurrentCandidate = fromMemorySegment(SPECIES, inputGates, inputGateOffset + 2 * VECTOR_BYTES,
                ORDER);
        FloatVector previous = fromMemorySegment(SPECIES, hPrev, hPrevOffset, ORDER);
        FloatVector hiddenGradient = fromMemorySegment(SPECIES, dh, dhOffset, ORDER);
        FloatVector one = FloatVector.broadcast(SPECIES, 1f);
        FloatVector candidateGradient = hiddenGradient.mul(one.sub(update))
                .mul(one.sub(candidate.mul(candidate)));
        FloatVector resetGradient = candidateGradient.mul(recurrentCandidate).mul(reset).mul(one.sub(reset));
        FloatVector updateGradient = hiddenGradient.mul(previous.sub(candidate)).mul(update).mul(one.sub(update));
        resetGradient.intoMemorySegment(gates, gateOffset, ORDER);
        updateGradient.intoMemorySegment(gates, gateOffset + VECTOR_BYTES, ORDER);
        candidateGradient.intoMemorySegment(gates, gateOffset + 2 * VECTOR_BYTES, ORDER);
        resetGradient.intoMemorySegment(inputGates, inputGateOffset, ORDER);
        updateGradient.intoMemorySegment(inputGates, inputGateOffset + VECTOR_BYTES, ORDER);
        candidateGradient.mul(reset).intoMemorySegment(inputGates, inputGateOffset + 2 * VECTOR_BYTES, ORDER);
        hiddenGradient.mul(update).intoMemorySegment(direct, directOffset, ORDER);
    }
}
