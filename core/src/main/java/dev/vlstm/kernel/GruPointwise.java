package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;

/**
 * The GRU's pointwise part on one vector of hidden units of one batch row, on the gate rows that a tile of
 * {@link FloatTiles} has just written (L1-hot), with ONNX's clip on the input of every activation:
 * {@code r = σ(clip(a_r + s_r))}, {@code z = σ(clip(a_z + s_z))}, {@code m = s_n + b_hn},
 * {@code n = tanh(clip(a_n + r*m))}, {@code h' = n + z*(h - n)}, where {@code clip} bounds to
 * {@code [-clip, clip]} (as ONNX Runtime's GRU with linear_before_reset = 1: m itself is not clipped). Min and max
 * with ±∞ change no bit, so {@code clip = +∞} is the unclipped GRU exactly. Like {@link CellPointwise} it takes no
 * vector arguments, so it stays allocation-free whether or not C2 inlines it.
 */
final class GruPointwise {

    private GruPointwise() {
    }

    /**
     * @param inputGates       a_r, a_z, a_n of this block at {@code inputGatesOffset} bytes; a_n is replaced by m,
     *                         and with {@code candidatePreActivations} a_r and a_z by the summed pre-activations
     * @param gates            s_r, s_z, s_n at {@code gateOffset} bytes; replaced by r, z, n
     * @param recurrentBias    b_hn of this block at {@code biasOffset} bytes
     * @param hPrev            h before the step at {@code hPrevOffset} bytes
     * @param candidatePreActivations receives n's pre-activation {@code a_n + r*m} at {@code stateOffset} bytes,
     *                         for the backward of a clip; null to keep no pre-activation
     * @param hNext            receives h after the step at {@code stateOffset} bytes
     * @param clip             the clip, {@code Float.POSITIVE_INFINITY} for none
     */
    static void update(MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gateOffset,
                       MemorySegment recurrentBias, long biasOffset, MemorySegment hPrev, long hPrevOffset,
                       MemorySegment candidatePreActivations, MemorySegment hNext, long stateOffset, float clip) {
        long candidateOffset = gateOffset + 2 * VECTOR_BYTES;
        long inputCandidateOffset = inputGatesOffset + 2 * VECTOR_BYTES;
        for (int gate = 0; gate < 2; gate++) {
            long offset = gateOffset + gate * VECTOR_BYTES;
            long inputOffset = inputGatesOffset + gate * VECTOR_BYTES;
            FloatVector preActivation = fromMemorySegment(SPECIES, gates, offset, ORDER)
                    .add(fromMemorySegment(SPECIES, inputGates, inputOffset, ORDER));
            if (candidatePreActivations != null) {
                preActivation.intoMemorySegment(inputGates, inputOffset, ORDER);
            }
            preActivation.max(-clip).min(clip).intoMemorySegment(gates, offset, ORDER);
        }
        VectorActivations.sigmoid(gates, gateOffset, gates, gateOffset);
        VectorActivations.sigmoid(gates, gateOffset + VECTOR_BYTES, gates, gateOffset + VECTOR_BYTES);
        FloatVector inputCandidate = fromMemorySegment(SPECIES, inputGates, inputCandidateOffset, ORDER);
        FloatVector recurrentCandidate = fromMemorySegment(SPECIES, gates, candidateOffset, ORDER)
                .add(fromMemorySegment(SPECIES, recurrentBias, biasOffset, ORDER));
        recurrentCandidate.intoMemorySegment(inputGates, inputCandidateOffset, ORDER);
        FloatVector candidatePreActivation = fromMemorySegment(SPECIES, gates, gateOffset, ORDER)
                .fma(recurrentCandidate, inputCandidate);
        if (candidatePreActivations != null) {
            candidatePreActivation.intoMemorySegment(candidatePreActivations, stateOffset, ORDER);
        }
        candidatePreActivation.max(-clip).min(clip).intoMemorySegment(gates, candidateOffset, ORDER);
        VectorActivations.tanh(gates, candidateOffset, gates, candidateOffset);
        FloatVector candidate = fromMemorySegment(SPECIES, gates, candidateOffset, ORDER);
        FloatVector previous = fromMemorySegment(SPECIES, hPrev, hPrevOffset, ORDER);
        fromMemorySegment(SPECIES, gates, gateOffset + VECTOR_BYTES, ORDER).fma(previous.sub(candidate), candidate)
                .intoMemorySegment(hNext, stateOffset, ORDER);
    }
}
