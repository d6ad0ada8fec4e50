package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The pointwise part of one GRU backward step on one vector of hidden units (see {@link Pointwise#gruBackward}),
 * with the forward's clip ({@code +∞} for none). Like {@link CellBackward}, it takes no vector arguments, so nothing
 * is boxed whether or not C2 inlines it.
 */
final class GruBackward {

    private GruBackward() {
    }

    /**
     * @param inputGates              m in the n slot and, with a finite clip, the pre-activations of r and z in
     *                                theirs, at {@code inputGateOffset}; replaced by {@code (da_r, da_z, dm)}
     * @param candidatePreActivations n's pre-activation at {@code stateOffset}; read only with a finite clip
     * @param stateOffset             byte offset of this block in {@code hPrev}, {@code candidatePreActivations}
     *                                and {@code direct}
     */
    static void update(MemorySegment gates, long gateOffset, MemorySegment inputGates, long inputGateOffset,
                       MemorySegment hPrev, long stateOffset, MemorySegment candidatePreActivations,
                       MemorySegment dh, long dhOffset, MemorySegment direct, float clip) {
        FloatVector reset = fromMemorySegment(SPECIES, gates, gateOffset, ORDER);
        FloatVector update = fromMemorySegment(SPECIES, gates, gateOffset + VECTOR_BYTES, ORDER);
        FloatVector candidate = fromMemorySegment(SPECIES, gates, gateOffset + 2 * VECTOR_BYTES, ORDER);
        FloatVector recurrentCandidate = fromMemorySegment(SPECIES, inputGates, inputGateOffset + 2 * VECTOR_BYTES,
                ORDER);
        FloatVector previous = fromMemorySegment(SPECIES, hPrev, stateOffset, ORDER);
        FloatVector hiddenGradient = fromMemorySegment(SPECIES, dh, dhOffset, ORDER);
        FloatVector one = FloatVector.broadcast(SPECIES, 1f);
        FloatVector candidateGradient = hiddenGradient.mul(one.sub(update))
                .mul(one.sub(candidate.mul(candidate)));
        boolean clipped = clip < Float.POSITIVE_INFINITY;
        FloatVector zero = FloatVector.zero(SPECIES);
        if (clipped) {
            candidateGradient = candidateGradient.blend(zero, fromMemorySegment(SPECIES, candidatePreActivations,
                    stateOffset, ORDER).abs().compare(VectorOperators.GT, clip));
        }
        FloatVector resetGradient = candidateGradient.mul(recurrentCandidate).mul(reset).mul(one.sub(reset));
        FloatVector updateGradient = hiddenGradient.mul(previous.sub(candidate)).mul(update).mul(one.sub(update));
        if (clipped) {
            resetGradient = resetGradient.blend(zero, fromMemorySegment(SPECIES, inputGates, inputGateOffset, ORDER)
                    .abs().compare(VectorOperators.GT, clip));
            updateGradient = updateGradient.blend(zero, fromMemorySegment(SPECIES, inputGates,
                    inputGateOffset + VECTOR_BYTES, ORDER).abs().compare(VectorOperators.GT, clip));
        }
        resetGradient.intoMemorySegment(gates, gateOffset, ORDER);
        updateGradient.intoMemorySegment(gates, gateOffset + VECTOR_BYTES, ORDER);
        candidateGradient.intoMemorySegment(gates, gateOffset + 2 * VECTOR_BYTES, ORDER);
        resetGradient.intoMemorySegment(inputGates, inputGateOffset, ORDER);
        updateGradient.intoMemorySegment(inputGates, inputGateOffset + VECTOR_BYTES, ORDER);
        candidateGradient.mul(reset).intoMemorySegment(inputGates, inputGateOffset + 2 * VECTOR_BYTES, ORDER);
        hiddenGradient.mul(update).intoMemorySegment(direct, stateOffset, ORDER);
    }
}
