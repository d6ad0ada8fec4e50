package dev.vlstm.kernel;

import java.nio.ByteOrder;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector every Vector API kernel computes with, in one leaf class that every tile, pointwise pass and GEMM
 * driver imports: its species, its lanes and bytes, and the byte order of every load and store. Loaded only where
 * the vector module is present ({@link Kernels} decides). Static finals, so that C2 folds them and intrinsifies
 * every operation on the species.
 */
final class VectorShape {

    /** The preferred species of this CPU, the same for every kernel. */
    static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    static final int LANES = SPECIES.length();
    static final long VECTOR_BYTES = (long) LANES * Float.BYTES;
    /** Bytes of one (block, k) group of a four-gate panel (LSTM): four gate vectors. */
    static final long GROUP4_BYTES = GateLayout.LSTM_GATES * VECTOR_BYTES;
    /** Bytes of one (block, k) group of a three-gate panel (GRU): three gate vectors. */
    static final long GROUP3_BYTES = GateLayout.GRU_GATES * VECTOR_BYTES;
    /** Byte order of every vector load and store: the buffers hold floats in the platform's order. */
    static final ByteOrder ORDER = ByteOrder.nativeOrder();

    private VectorShape() {
    }
}
