package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.ORDER;
import static dev.vlstm.kernel.VectorShape.SPECIES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The pointwise part of one LSTM backward step on one vector of hidden units (see {@link Pointwise#lstmBackward}),
 * without peepholes ({@link #update}) or with ({@link #updateWithPeepholes}), with the forward's cell clip
 * ({@code +∞} for none). Like {@link CellPointwise}, it takes no vector arguments: tanh(c) goes through a one-vector
 * scratch, so nothing is boxed whether or not C2 inlines it.
 */
final class CellBackward {

    private CellBackward() {
    }

    static void update(MemorySegment gates, long gateOffset, MemorySegment cell, long cellOffset,
                       MemorySegment cellPrev, long cellPrevOffset, MemorySegment dh, long dhOffset,
                       MemorySegment dc, long dcOffset, MemorySegment scratch, float clip) {
        FloatVector cellValue = fromMemorySegment(SPECIES, cell, cellOffset, ORDER);
        cellValue.max(-clip).min(clip).intoMemorySegment(scratch, 0, ORDER);
        VectorActivations.tanh(scratch, 0, scratch, 0);
        FloatVector tanhCell = fromMemorySegment(SPECIES, scratch, 0, ORDER);
        FloatVector input = fromMemorySegment(SPECIES, gates, gateOffset, ORDER);
        FloatVector forget = fromMemorySegment(SPECIES, gates, gateOffset + VECTOR_BYTES, ORDER);
        FloatVector candidate = fromMemorySegment(SPECIES, gates, gateOffset + 2 * VECTOR_BYTES, ORDER);
        FloatVector output = fromMemorySegment(SPECIES, gates, gateOffset + 3 * VECTOR_BYTES, ORDER);
        FloatVector hiddenGradient = fromMemorySegment(SPECIES, dh, dhOffset, ORDER);
        FloatVector one = FloatVector.broadcast(SPECIES, 1f);
        // dc = dc_next + dh * o * (1 - tanh²(clip(c))), the middle term zero where the clip held c
        FloatVector throughTanh = hiddenGradient.mul(output).mul(one.sub(tanhCell.mul(tanhCell)));
        if (clip < Float.POSITIVE_INFINITY) {
            throughTanh = throughTanh.blend(FloatVector.zero(SPECIES),
                    cellValue.abs().compare(VectorOperators.GT, clip));
        }
        FloatVector cellGradient = throughTanh.add(fromMemorySegment(SPECIES, dc, dcOffset, ORDER));
        FloatVector previousCell = fromMemorySegment(SPECIES, cellPrev, cellPrevOffset, ORDER);
        cellGradient.mul(candidate).mul(input).mul(one.sub(input))
                .intoMemorySegment(gates, gateOffset, ORDER);
        cellGradient.mul(previousCell).mul(forget).mul(one.sub(forget))
                .intoMemorySegment(gates, gateOffset + VECTOR_BYTES, ORDER);
        cellGradient.mul(input).mul(one.sub(candidate.mul(candidate)))
                .intoMemorySegment(gates, gateOffset + 2 * VECTOR_BYTES, ORDER);
        hiddenGradient.mul(tanhCell).mul(output).mul(one.sub(output))
                .intoMemorySegment(gates, gateOffset + 3 * VECTOR_BYTES, ORDER);
        cellGradient.mul(forget).intoMemorySegment(dc, dcOffset, ORDER);
    }

    /**
     * {@link #update} with peephole connections: dz_o first, masked where the clip held z_o, reaches the cell through
     * p_o ({@code dc += dz_o*p_o}); dz_i and dz_f, masked likewise, reach the cell before the step through p_i and
     * p_f ({@code dc_prev = dc*f + dz_i*p_i + dz_f*p_f}); and {@code dp_i += dz_i*cPrev}, {@code dp_f += dz_f*cPrev},
     * {@code dp_o += dz_o*c} accumulate in a gate row. dz_g's clip is left to the caller, as in {@link #update}.
     *
     * @param preActivations the forward's z (peephole terms included) at {@code preActivationOffset}, same layout as
     *                       the gates, read for the clip
     * @param peepholes      the packed peepholes of this block, at {@code peepholeOffset} (gate slots i, f, o)
     * @param peepholeGradients dp accumulated at the same offset as the peepholes
     */
    static void updateWithPeepholes(MemorySegment gates, long gateOffset, MemorySegment preActivations,
                                    long preActivationOffset, MemorySegment cell, long cellOffset,
                                    MemorySegment cellPrev, long cellPrevOffset, MemorySegment dh, long dhOffset,
                                    MemorySegment dc, long dcOffset, MemorySegment scratch, float clip,
                                    MemorySegment peepholes, long peepholeOffset, MemorySegment peepholeGradients) {
        FloatVector cellValue = fromMemorySegment(SPECIES, cell, cellOffset, ORDER);
        cellValue.max(-clip).min(clip).intoMemorySegment(scratch, 0, ORDER);
        VectorActivations.tanh(scratch, 0, scratch, 0);
        FloatVector tanhCell = fromMemorySegment(SPECIES, scratch, 0, ORDER);
        cellValue = fromMemorySegment(SPECIES, cell, cellOffset, ORDER);
        FloatVector input = fromMemorySegment(SPECIES, gates, gateOffset, ORDER);
        FloatVector forget = fromMemorySegment(SPECIES, gates, gateOffset + VECTOR_BYTES, ORDER);
        FloatVector candidate = fromMemorySegment(SPECIES, gates, gateOffset + 2 * VECTOR_BYTES, ORDER);
        FloatVector output = fromMemorySegment(SPECIES, gates, gateOffset + 3 * VECTOR_BYTES, ORDER);
        FloatVector hiddenGradient = fromMemorySegment(SPECIES, dh, dhOffset, ORDER);
        FloatVector one = FloatVector.broadcast(SPECIES, 1f);
        FloatVector zero = FloatVector.zero(SPECIES);
        FloatVector throughTanh = hiddenGradient.mul(output).mul(one.sub(tanhCell.mul(tanhCell)));
        FloatVector outputGradient = hiddenGradient.mul(tanhCell).mul(output).mul(one.sub(output));
        if (clip < Float.POSITIVE_INFINITY) {
            throughTanh = throughTanh.blend(zero, cellValue.abs().compare(VectorOperators.GT, clip));
            outputGradient = outputGradient.blend(zero, fromMemorySegment(SPECIES, preActivations,
                    preActivationOffset + 3 * VECTOR_BYTES, ORDER).abs().compare(VectorOperators.GT, clip));
        }
        FloatVector cellGradient = fromMemorySegment(SPECIES, peepholes, peepholeOffset + 3 * VECTOR_BYTES, ORDER)
                .fma(outputGradient, throughTanh.add(fromMemorySegment(SPECIES, dc, dcOffset, ORDER)));
        FloatVector previousCell = fromMemorySegment(SPECIES, cellPrev, cellPrevOffset, ORDER);
        FloatVector inputGradient = cellGradient.mul(candidate).mul(input).mul(one.sub(input));
        FloatVector forgetGradient = cellGradient.mul(previousCell).mul(forget).mul(one.sub(forget));
        if (clip < Float.POSITIVE_INFINITY) {
            inputGradient = inputGradient.blend(zero, fromMemorySegment(SPECIES, preActivations,
                    preActivationOffset, ORDER).abs().compare(VectorOperators.GT, clip));
            forgetGradient = forgetGradient.blend(zero, fromMemorySegment(SPECIES, preActivations,
                    preActivationOffset + VECTOR_BYTES, ORDER).abs().compare(VectorOperators.GT, clip));
        }
        inputGradient.intoMemorySegment(gates, gateOffset, ORDER);
        forgetGradient.intoMemorySegment(gates, gateOffset + VECTOR_BYTES, ORDER);
        cellGradient.mul(input).mul(one.sub(candidate.mul(candidate)))
                .intoMemorySegment(gates, gateOffset + 2 * VECTOR_BYTES, ORDER);
        outputGradient.intoMemorySegment(gates, gateOffset + 3 * VECTOR_BYTES, ORDER);
        FloatVector throughForget = cellGradient.mul(forget);
        throughForget = fromMemorySegment(SPECIES, peepholes, peepholeOffset, ORDER).fma(inputGradient, throughForget);
        throughForget = fromMemorySegment(SPECIES, peepholes, peepholeOffset + VECTOR_BYTES, ORDER)
                .fma(forgetGradient, throughForget);
        throughForget.intoMemorySegment(dc, dcOffset, ORDER);
        inputGradient.fma(previousCell, fromMemorySegment(SPECIES, peepholeGradients, peepholeOffset, ORDER))
                .intoMemorySegment(peepholeGradients, peepholeOffset, ORDER);
        forgetGradient.fma(previousCell, fromMemorySegment(SPECIES, peepholeGradients,
                        peepholeOffset + VECTOR_BYTES, ORDER))
                .intoMemorySegment(peepholeGradients, peepholeOffset + VECTOR_BYTES, ORDER);
        outputGradient.fma(cellValue, fromMemorySegment(SPECIES, peepholeGradients,
                        peepholeOffset + 3 * VECTOR_BYTES, ORDER))
                .intoMemorySegment(peepholeGradients, peepholeOffset + 3 * VECTOR_BYTES, ORDER);
    }
}
