package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorLstmKernel.ORDER;
import static dev.vlstm.kernel.VectorLstmKernel.SPECIES;
import static dev.vlstm.kernel.VectorLstmKernel.VECTOR_BYTES;
import static jdk.incubator.vector.FloatVector.fromMemorySegment;

import java.lang.foreign.MemorySegment;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The pointwise part of one backward step on one vector of hidden units (see
 * {@link LstmKernel#cellBackward}), with the forward's cell clip ({@code +∞} for none). Like {@link CellPointwise}, it takes no vector arguments: tanh(c) goes
 * through a one-vector scratch, so nothing is boxed whether or not C2 inlines it.
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
}
