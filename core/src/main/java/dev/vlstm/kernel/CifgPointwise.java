package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;

/**
 * The CIFG cell's pointwise part ("postgemm") on one vector of hidden units of one batch row, gates i, g, o: as
 * {@link CellPointwise} with the forget gate {@code f = 1 - σ(i)}, so {@code c' = fma(1 - i, c, i*g)} and
 * {@code h' = σ(o)*tanh(clip(c'))}; with peepholes {@code z_i += p_i*c} before i's activation and
 * {@code z_o += p_o*c'} after the cell update, each as one FMA onto the summed pre-activation, so that zero
 * peepholes give the bits of none. z (peephole terms included, unclipped) stays in the input row for the backward,
 * and the clip bounds z and the input of tanh(c') as the LSTM's. Takes no vector arguments, so it stays
 * allocation-free whether or not C2 inlines it.
 */
final class CifgPointwise {

    private CifgPointwise() {
    }

    /**
     * @param inputGates     input pre-activations i, g, o of this block at {@code inputGatesOffset} bytes; replaced by
     *                       the whole pre-activations z (unclipped)
     * @param gates          recurrent pre-activations at {@code gateOffset} bytes; replaced by the activations σ(i),
     *                       tanh(g), σ(o)
     * @param c              cell state, updated in place at {@code stateOffset} bytes
     * @param hNext          receives the new hidden state at {@code stateOffset} bytes
     * @param clip           the cell clip, {@code Float.POSITIVE_INFINITY} for none
     * @param peepholes      p_i, p_o packed as a gate row ({@link Packing#peepholes}: the slots of i and o), or null
     *                       for none
     * @param peepholeOffset byte offset of this block in {@code peepholes}
     */
    static void update(MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gateOffset,
                       MemorySegment c, MemorySegment hNext, long stateOffset, float clip, MemorySegment peepholes,
                       long peepholeOffset) {
        long candidateOffset = gateOffset + VECTOR_BYTES;
        long outputOffset = gateOffset + 2 * VECTOR_BYTES;
        FloatVector previousCell = FloatVector.fromMemorySegment(SPECIES, c, stateOffset, ORDER);
        for (int gate = 0; gate < GateLayout.CIFG_GATES; gate++) {
            long offset = gateOffset + gate * VECTOR_BYTES;
            long inputOffset = inputGatesOffset + gate * VECTOR_BYTES;
            FloatVector preActivation = FloatVector.fromMemorySegment(SPECIES, gates, offset, ORDER)
                    .add(FloatVector.fromMemorySegment(SPECIES, inputGates, inputOffset, ORDER));
            if (gate == 0 && peepholes != null) {
                preActivation = FloatVector.fromMemorySegment(SPECIES, peepholes, peepholeOffset, ORDER)
                        .fma(previousCell, preActivation);
            }
            preActivation.intoMemorySegment(inputGates, inputOffset, ORDER);
            preActivation.max(-clip).min(clip).intoMemorySegment(gates, offset, ORDER);
        }
        VectorActivations.sigmoid(gates, gateOffset, gates, gateOffset);
        VectorActivations.tanh(gates, candidateOffset, gates, candidateOffset);
        FloatVector inputGate = FloatVector.fromMemorySegment(SPECIES, gates, gateOffset, ORDER);
        FloatVector candidate = FloatVector.fromMemorySegment(SPECIES, gates, candidateOffset, ORDER);
        FloatVector forget = FloatVector.broadcast(SPECIES, 1f).sub(inputGate);
        FloatVector cell = forget.fma(previousCell, inputGate.mul(candidate));
        cell.intoMemorySegment(c, stateOffset, ORDER);
        cell.max(-clip).min(clip).intoMemorySegment(hNext, stateOffset, ORDER);
        if (peepholes != null) {
            long outputInput = inputGatesOffset + 2 * VECTOR_BYTES;
            FloatVector outputPreActivation = FloatVector.fromMemorySegment(SPECIES, peepholes,
                            peepholeOffset + 2 * VECTOR_BYTES, ORDER)
                    .fma(cell, FloatVector.fromMemorySegment(SPECIES, inputGates, outputInput, ORDER));
            outputPreActivation.intoMemorySegment(inputGates, outputInput, ORDER);
            outputPreActivation.max(-clip).min(clip).intoMemorySegment(gates, outputOffset, ORDER);
        }
        VectorActivations.sigmoid(gates, outputOffset, gates, outputOffset);
        VectorActivations.tanh(hNext, stateOffset, hNext, stateOffset);
        FloatVector output = FloatVector.fromMemorySegment(SPECIES, gates, outputOffset, ORDER);
        output.mul(FloatVector.fromMemorySegment(SPECIES, hNext, stateOffset, ORDER))
                .intoMemorySegment(hNext, stateOffset, ORDER);
    }
}
