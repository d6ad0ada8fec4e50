package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorLstmKernel.SPECIES;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;

/**
 * The LSTM cell's pointwise part ("postgemm") on one vector of hidden units, applied to gate pre-activations
 * that are still in registers: {@code c' = σ(f)*c + σ(i)*tanh(g)}, {@code h' = σ(o)*tanh(c')}.
 * Small on purpose, so that C2 inlines it into every tile and the vectors never escape.
 */
final class CellPointwise {

    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private CellPointwise() {
    }

    /** Updates {@code c} in place and writes {@code h} at the same byte offset of {@code hNext}. */
    static void update(FloatVector preI, FloatVector preF, FloatVector preG, FloatVector preO,
                       MemorySegment c, MemorySegment hNext, long offset) {
        FloatVector input = VectorActivations.sigmoid(preI);
        FloatVector forget = VectorActivations.sigmoid(preF);
        FloatVector candidate = VectorActivations.tanh(preG);
        FloatVector output = VectorActivations.sigmoid(preO);
        FloatVector previousCell = FloatVector.fromMemorySegment(SPECIES, c, offset, ORDER);
        FloatVector cell = forget.fma(previousCell, input.mul(candidate));
        cell.intoMemorySegment(c, offset, ORDER);
        output.mul(VectorActivations.tanh(cell)).intoMemorySegment(hNext, offset, ORDER);
    }
}
