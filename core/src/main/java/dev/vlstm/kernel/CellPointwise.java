package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;

/**
 * The LSTM cell's pointwise part ("postgemm") on one vector of hidden units of one batch row: adds the input
 * and recurrent pre-activations into z (kept in the input row, for the backward of a clip), clips z to
 * {@code [-clip, clip]}, then {@code c' = σ(f)*c + σ(i)*tanh(g)}, {@code h' = σ(o)*tanh(clip(c'))} (ONNX's cell
 * clip, which bounds the input of every activation but not the stored c). Min and max with ±∞ change no bit, so
 * {@code clip = +∞} is the unclipped cell exactly.
 *
 * <p>The CIFG is the same cell with the forget gate coupled, {@code f = 1 - σ(i)}: gates i, g, o, and
 * {@code c' = fma(1 - σ(i), c, σ(i)*tanh(g))}. With peepholes, {@code z_i += p_i*c} and {@code z_f += p_f*c} before
 * their activations and {@code z_o += p_o*c'} after the cell update, each as one FMA onto the summed pre-activation,
 * so that zero peepholes give the bits of none; the stored z include these terms, and they are what the clip bounds.
 *
 * <p>Works on the gate rows that the tiles have just written (L1-hot) and leaves the gate activations in the
 * recurrent row. It takes no vector arguments and keeps no vector live across an activation call, so it stays
 * allocation-free whether or not C2 inlines it (see {@link VectorActivations}); {@link Postgemm}'s arms pass
 * {@code coupled} and {@code peepholes} as constants, which C2 folds once it inlines this method.
 */
final class CellPointwise {

    private CellPointwise() {
    }

    /**
     * @param coupled        true for the CIFG (gates i, g, o), false for the LSTM (gates i, f, g, o)
     * @param inputGates     input pre-activations of this block at {@code inputGatesOffset} bytes; replaced by the
     *                       whole pre-activations z (unclipped)
     * @param gates          recurrent pre-activations at {@code gateOffset} bytes; replaced by the activations
     * @param c              cell state, updated in place at {@code stateOffset} bytes
     * @param hNext          receives the new hidden state at {@code stateOffset} bytes
     * @param clip           the cell clip, {@code Float.POSITIVE_INFINITY} for none
     * @param peepholes      the peepholes packed as a gate row ({@link Packing#peepholes}: the slots of i, f and o),
     *                       or null for none
     * @param peepholeOffset byte offset of this block in {@code peepholes}
     */
    static void update(boolean coupled, MemorySegment inputGates, long inputGatesOffset, MemorySegment gates,
                       long gateOffset, MemorySegment c, MemorySegment hNext, long stateOffset, float clip,
                       MemorySegment peepholes, long peepholeOffset) {
        int gateCount = coupled ? GateLayout.CIFG_GATES : GateLayout.LSTM_GATES;
        long candidateSlot = (gateCount - 2) * VECTOR_BYTES;
        long outputSlot = (gateCount - 1) * VECTOR_BYTES;
        for (int gate = 0; gate < gateCount; gate++) {
            long offset = gateOffset + gate * VECTOR_BYTES;
            long inputOffset = inputGatesOffset + gate * VECTOR_BYTES;
            FloatVector preActivation = FloatVector.fromMemorySegment(SPECIES, gates, offset, ORDER)
                    .add(FloatVector.fromMemorySegment(SPECIES, inputGates, inputOffset, ORDER));
            if (peepholes != null && gate < gateCount - 2) {
                preActivation = FloatVector.fromMemorySegment(SPECIES, peepholes,
                                peepholeOffset + gate * VECTOR_BYTES, ORDER)
                        .fma(FloatVector.fromMemorySegment(SPECIES, c, stateOffset, ORDER), preActivation);
            }
            preActivation.intoMemorySegment(inputGates, inputOffset, ORDER);
            preActivation.max(-clip).min(clip).intoMemorySegment(gates, offset, ORDER);
        }
        VectorActivations.sigmoid(gates, gateOffset, gates, gateOffset);
        if (!coupled) {
            VectorActivations.sigmoid(gates, gateOffset + VECTOR_BYTES, gates, gateOffset + VECTOR_BYTES);
        }
        VectorActivations.tanh(gates, gateOffset + candidateSlot, gates, gateOffset + candidateSlot);
        FloatVector inputGate = FloatVector.fromMemorySegment(SPECIES, gates, gateOffset, ORDER);
        FloatVector forget = coupled ? FloatVector.broadcast(SPECIES, 1f).sub(inputGate)
                : FloatVector.fromMemorySegment(SPECIES, gates, gateOffset + VECTOR_BYTES, ORDER);
        FloatVector candidate = FloatVector.fromMemorySegment(SPECIES, gates, gateOffset + candidateSlot, ORDER);
        FloatVector cell = forget.fma(FloatVector.fromMemorySegment(SPECIES, c, stateOffset, ORDER),
                inputGate.mul(candidate));
        cell.intoMemorySegment(c, stateOffset, ORDER);
        cell.max(-clip).min(clip).intoMemorySegment(hNext, stateOffset, ORDER);
        if (peepholes != null) {
            long outputInput = inputGatesOffset + outputSlot;
            FloatVector outputPreActivation = FloatVector.fromMemorySegment(SPECIES, peepholes,
                            peepholeOffset + outputSlot, ORDER)
                    .fma(cell, FloatVector.fromMemorySegment(SPECIES, inputGates, outputInput, ORDER));
            outputPreActivation.intoMemorySegment(inputGates, outputInput, ORDER);
            outputPreActivation.max(-clip).min(clip).intoMemorySegment(gates, gateOffset + outputSlot, ORDER);
        }
        VectorActivations.sigmoid(gates, gateOffset + outputSlot, gates, gateOffset + outputSlot);
        VectorActivations.tanh(hNext, stateOffset, hNext, stateOffset);
        FloatVector output = FloatVector.fromMemorySegment(SPECIES, gates, gateOffset + outputSlot, ORDER);
        output.mul(FloatVector.fromMemorySegment(SPECIES, hNext, stateOffset, ORDER))
                .intoMemorySegment(hNext, stateOffset, ORDER);
    }
}
