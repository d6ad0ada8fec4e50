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
 * {@code clip = +∞} is the unclipped cell exactly. Works on the gate rows that the tiles have just written
 * (L1-hot) and leaves the gate activations in the recurrent row; takes no vector arguments, so it stays
 * allocation-free whether or not C2 inlines it (see {@link VectorActivations}).
 */
final class CellPointwise {

    private CellPointwise() {
    }

    /**
     * @param inputGates       input pre-activations i, f, g, o of this block at {@code inputGatesOffset} bytes;
     *                         replaced by the whole pre-activations z (unclipped)
     * @param gates            recurrent pre-activations at {@code gateOffset} bytes; replaced by the activations
     *                         σ(i), σ(f), tanh(g), σ(o)
     * @param c                cell state, updated in place at {@code stateOffset} bytes
     * @param hNext            receives the new hidden state at {@code stateOffset} bytes
     * @param clip             the cell clip, {@code Float.POSITIVE_INFINITY} for none
     */
    static void update(MemorySegment inputGates, long inputGatesOffset, MemorySegment gates, long gateOffset, MemorySegment c,
                       MemorySegment hNext, long stateOffset, float clip) {
        long forgetOffset = gateOffset + VECTOR_BYTES;
        long candidateOffset = gateOffset + 2 * VECTOR_BYTES;
        long outputOffset = gateOffset + 3 * VECTOR_BYTES;
        for (int gate = 0; gate < GateLayout.LSTM_GATES; gate++) {
            long offset = gateOffset + gate * VECTOR_BYTES;
            long inputOffset = inputGatesOffset + gate * VECTOR_BYTES;
            FloatVector preActivation = FloatVector.fromMemorySegment(SPECIES, gates, offset, ORDER)
                    .add(FloatVector.fromMemorySegment(SPECIES, inputGates, inputOffset, ORDER));
            preActivation.intoMemorySegment(inputGates, inputOffset, ORDER);
            preActivation.max(-clip).min(clip).intoMemorySegment(gates, offset, ORDER);
        }
        VectorActivations.sigmoid(gates, gateOffset, gates, gateOffset);
        VectorActivations.sigmoid(gates, forgetOffset, gates, forgetOffset);
        VectorActivations.tanh(gates, candidateOffset, gates, candidateOffset);
        VectorActivations.sigmoid(gates, outputOffset, gates, outputOffset);
        FloatVector inputGate = FloatVector.fromMemorySegment(SPECIES, gates, gateOffset, ORDER);
        FloatVector forget = FloatVector.fromMemorySegment(SPECIES, gates, forgetOffset, ORDER);
        FloatVector candidate = FloatVector.fromMemorySegment(SPECIES, gates, candidateOffset, ORDER);
        FloatVector previousCell = FloatVector.fromMemorySegment(SPECIES, c, stateOffset, ORDER);
        FloatVector cell = forget.fma(previousCell, inputGate.mul(candidate));
        cell.intoMemorySegment(c, stateOffset, ORDER);
        cell.max(-clip).min(clip).intoMemorySegment(hNext, stateOffset, ORDER);
        VectorActivations.tanh(hNext, stateOffset, hNext, stateOffset);
        FloatVector output = FloatVector.fromMemorySegment(SPECIES, gates, outputOffset, ORDER);
        output.mul(FloatVector.fromMemorySegment(SPECIES, hNext, stateOffset, ORDER))
                .intoMemorySegment(hNext, stateOffset, ORDER);
    }

    /**
     * {@link #update} with peephole connections: {@code z_i += p_i*c}, {@code z_f += p_f*c} before their
     * activations and {@code z_o += p_o*c'} after the cell update (c the cell before, c' after), each as one FMA onto
     * the summed pre-activation, so that zero peepholes give {@link #update}'s bits. The stored z include these
     * terms, and they are what the clip bounds.
     *
     * @param peepholes      p_i, p_f, p_o packed as a gate row ({@link Packing#peepholes}) at
     *                       {@code peepholeOffset} bytes: the gate slots i, f and o of this block
     */
    static void updateWithPeepholes(MemorySegment inputGates, long inputGatesOffset, MemorySegment gates,
                                    long gateOffset, MemorySegment c, MemorySegment hNext, long stateOffset,
                                    float clip, MemorySegment peepholes, long peepholeOffset) {
        long forgetOffset = gateOffset + VECTOR_BYTES;
        long candidateOffset = gateOffset + 2 * VECTOR_BYTES;
        long outputOffset = gateOffset + 3 * VECTOR_BYTES;
        FloatVector previousCell = FloatVector.fromMemorySegment(SPECIES, c, stateOffset, ORDER);
        for (int gate = 0; gate < GateLayout.LSTM_GATES; gate++) {
            long offset = gateOffset + gate * VECTOR_BYTES;
            long inputOffset = inputGatesOffset + gate * VECTOR_BYTES;
            FloatVector preActivation = FloatVector.fromMemorySegment(SPECIES, gates, offset, ORDER)
                    .add(FloatVector.fromMemorySegment(SPECIES, inputGates, inputOffset, ORDER));
            if (gate < 2) {
                preActivation = FloatVector.fromMemorySegment(SPECIES, peepholes,
                        peepholeOffset + gate * VECTOR_BYTES, ORDER).fma(previousCell, preActivation);
            }
            preActivation.intoMemorySegment(inputGates, inputOffset, ORDER);
            preActivation.max(-clip).min(clip).intoMemorySegment(gates, offset, ORDER);
        }
        VectorActivations.sigmoid(gates, gateOffset, gates, gateOffset);
        VectorActivations.sigmoid(gates, forgetOffset, gates, forgetOffset);
        VectorActivations.tanh(gates, candidateOffset, gates, candidateOffset);
        FloatVector inputGate = FloatVector.fromMemorySegment(SPECIES, gates, gateOffset, ORDER);
        FloatVector forget = FloatVector.fromMemorySegment(SPECIES, gates, forgetOffset, ORDER);
        FloatVector candidate = FloatVector.fromMemorySegment(SPECIES, gates, candidateOffset, ORDER);
        FloatVector cell = forget.fma(FloatVector.fromMemorySegment(SPECIES, c, stateOffset, ORDER),
                inputGate.mul(candidate));
        cell.intoMemorySegment(c, stateOffset, ORDER);
        cell.max(-clip).min(clip).intoMemorySegment(hNext, stateOffset, ORDER);
        long outputInput = inputGatesOffset + 3 * VECTOR_BYTES;
        FloatVector outputPreActivation = FloatVector.fromMemorySegment(SPECIES, peepholes,
                        peepholeOffset + 3 * VECTOR_BYTES, ORDER)
                .fma(cell, FloatVector.fromMemorySegment(SPECIES, inputGates, outputInput, ORDER));
        outputPreActivation.intoMemorySegment(inputGates, outputInput, ORDER);
        outputPreActivation.max(-clip).min(clip).intoMemorySegment(gates, outputOffset, ORDER);
        VectorActivations.sigmoid(gates, outputOffset, gates, outputOffset);
        VectorActivations.tanh(hNext, stateOffset, hNext, stateOffset);
        FloatVector output = FloatVector.fromMemorySegment(SPECIES, gates, outputOffset, ORDER);
        output.mul(FloatVector.fromMemorySegment(SPECIES, hNext, stateOffset, ORDER))
                .intoMemorySegment(hNext, stateOffset, ORDER);
    }
}
