package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;

/**
 * The GRU's pointwise part on one vector of hidden units of one batch row, on the gate rows that a tile of
 * {@link FloatTiles} has just written (L1-hot): {@code r = σ(a_r + s_r)}, {@code z = σ(a_z + s_z)},
 * {@code m = s_n + b_hn}, {@code n = tanh(a_n + r*m)}, {@code h' = n + z*(h - n)}. Like {@link CellPointwise} it
 * takes no vector arguments, so it stays allocation-free whether or not C2 inlines it.
 */
final class GruPointwise {

    private GruPointwise() {
    }

    /**
     * @param inputGates       a_r, a_z, a_n of this block at {@code inputGatesOffset} bytes; a_n is replaced by m
     * @param gates            s_r, s_z, s_n at {@code gateOffset} bytes; replaced by r, z, n
     * @param recurrentBias    b_hn of this block at {@code biasOffset} bytes
     * @param hPrev            h before the step at {@code hPrevOffset} bytes
     * @param hNext            receives h after the step at {@code stateOffset} bytes
     */
    static void update(MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gateOffset,
                       MemorySegment recurrentBias, long biasOffset, MemorySegment hPrev, long hPrevOffset,
                       MemorySegment hNext, long stateOffset) {
        long updateOffset = gateOffset + VECTOR_BYTES;
        long candidateOffset = gateOffset + 2 * VECTOR_BYTES;
        long inputCandidateOffset = inputGatesOffset + 2 * VECTOR_BYTES;
        fromMemorySegment(SPECIES, gates, gateOffset, ORDER)
                .add(fromMemorySegment(SPECIES, inputGates, inputGatesOffset, ORDER))
                .intoMemorySegment(gates, gateOffset, ORDER);
        fromMemorySegment(SPECIES, gates, updateOffset, ORDER)
                .add(fromMemorySegment(SPECIES, inputGates, inputGatesOffset + VECTOR_BYTES, ORDER))
                .intoMemorySegment(gates, updateOffset, ORDER);
        VectorActivations.sigmoid(gates, gateOffset, gates, gateOffset);
        VectorActivations.sigmoid(gates, updateOffset, gates, updateOffset);
        FloatVector inputCandidate = fromMemorySegment(SPECIES, inputGates, inputCandidateOffset, ORDER);
        FloatVector recurrentCandidate = fromMemorySegment(SPECIES, gates, candidateOffset, ORDER)
                .add(fromMemorySegment(SPECIES, recurrentBias, biasOffset, ORDER));
        recurrentCandidate.intoMemorySegment(inputGates, inputCandidateOffset, ORDER);
        fromMemorySegment(SPECIES, gates, gateOffset, ORDER).fma(recurrentCandidate, inputCandidate)
                .intoMemorySegment(gates, candidateOffset, ORDER);
        VectorActivations.tanh(gates, candidateOffset, gates, candidateOffset);
        FloatVector candidate = fromMemorySegment(SPECIES, gates, candidateOffset, ORDER);
        FloatVector previous = fromMemorySegment(SPECIES, hPrev, hPrevOffset, ORDER);
        fromMemorySegment(SPECIES, gates, updateOffset, ORDER).fma(previous.sub(candidate), candidate)
                .intoMemorySegment(hNext, stateOffset, ORDER);
    }
}
