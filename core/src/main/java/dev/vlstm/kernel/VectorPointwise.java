package dev.vlstm.kernel;

import static dev.vlstm.kernel.VectorShape.GROUP3_BYTES;
import static dev.vlstm.kernel.VectorShape.VECTOR_BYTES;

import java.lang.foreign.MemorySegment;

/**
 * The Vector API {@link Pointwise}: each row and block of a step through {@link CellBackward} (LSTM),
 * {@link CifgBackward} or {@link GruBackward}, one vector of hidden units at a time.
 */
final class VectorPointwise implements Pointwise {

    /** The one instance; use it only where the vector module is known to be present. */
    static final VectorPointwise INSTANCE = new VectorPointwise();

    private VectorPointwise() {
    }

    @Override
    public void lstmBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment preActivations,
                             long preActivationsOffset, MemorySegment cell, long cellOffset, MemorySegment cellPrev,
                             long cellPrevOffset, MemorySegment dh, int dhRowFloats, MemorySegment dc,
                             MemorySegment scratch, int batch, float clip, MemorySegment peepholes,
                             MemorySegment peepholeGradients) {
        long groupBytes = (long) layout.gates() * VECTOR_BYTES;
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        long dhRowBytes = (long) dhRowFloats * Float.BYTES;
        // One loop per cell variant, each calling its own method: one method for all of them would see every
        // variant in its profile once a JVM runs several, and C2 then boxed vectors in it.
        if (layout.gates() == GateLayout.CIFG_GATES) {
            for (int row = 0; row < batch; row++) {
                for (int block = 0; block < layout.blocks(); block++) {
                    long state = row * stateRowBytes + block * VECTOR_BYTES;
                    long gate = row * gateRowBytes + block * groupBytes;
                    CifgBackward.update(gates, gatesOffset + gate, preActivations, preActivationsOffset + gate, cell,
                            cellOffset + state, cellPrev, cellPrevOffset + state, dh,
                            row * dhRowBytes + block * VECTOR_BYTES, dc, state, scratch, clip, peepholes,
                            block * groupBytes, peepholeGradients);
                }
            }
        } else if (peepholes == null) {
            for (int row = 0; row < batch; row++) {
                for (int block = 0; block < layout.blocks(); block++) {
                    long state = row * stateRowBytes + block * VECTOR_BYTES;
                    CellBackward.update(gates, gatesOffset + row * gateRowBytes + block * groupBytes,
                            cell, cellOffset + state, cellPrev, cellPrevOffset + state,
                            dh, row * dhRowBytes + block * VECTOR_BYTES, dc, state, scratch, clip);
                }
            }
        } else {
            for (int row = 0; row < batch; row++) {
                for (int block = 0; block < layout.blocks(); block++) {
                    long state = row * stateRowBytes + block * VECTOR_BYTES;
                    long gate = row * gateRowBytes + block * groupBytes;
                    CellBackward.updateWithPeepholes(gates, gatesOffset + gate, preActivations,
                            preActivationsOffset + gate, cell, cellOffset + state, cellPrev, cellPrevOffset + state,
                            dh, row * dhRowBytes + block * VECTOR_BYTES, dc, state, scratch, clip, peepholes,
                            block * groupBytes, peepholeGradients);
                }
            }
        }
    }

    @Override
    public void gruBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment inputGates,
                            long inputGatesOffset, MemorySegment hPrev, MemorySegment candidatePreActivations,
                            MemorySegment dh, int dhRowFloats, MemorySegment direct, int batch, float clip) {
        long gateRowBytes = (long) layout.gateRowFloats() * Float.BYTES;
        long stateRowBytes = (long) layout.paddedHidden() * Float.BYTES;
        long dhRowBytes = (long) dhRowFloats * Float.BYTES;
        for (int row = 0; row < batch; row++) {
            for (int block = 0; block < layout.blocks(); block++) {
                long gateColumn = row * gateRowBytes + block * GROUP3_BYTES;
                long state = row * stateRowBytes + block * VECTOR_BYTES;
                GruBackward.update(gates, gatesOffset + gateColumn, inputGates, inputGatesOffset + gateColumn, hPrev,
                        state, candidatePreActivations, dh, row * dhRowBytes + block * VECTOR_BYTES, direct, clip);
            }
        }
    }
}
