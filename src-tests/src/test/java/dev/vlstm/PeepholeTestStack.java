package dev.vlstm;

import java.util.SplittableRandom;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/**
 * A seeded random stacked (possibly bidirectional, possibly projected) LSTM in which the layers and directions named
 * by a mask have peephole connections, packed for a backend and precision, and its double-precision reference with
 * a cell clip, for tests. Weights follow PyTorch's initialisation U(-1/sqrt(H), 1/sqrt(H)); peepholes, inputs and
 * states are U(-1, 1), so that the peephole terms weigh as much as the others. Per-part arrays are indexed as
 * {@link LstmStackShape#index}.
 */
final class PeepholeTestStack implements AutoCloseable {

    final LstmStackShape shape;
    final float[][] weightIh;
    final float[][] weightHh;
    final float[][] biasIh;
    final float[][] biasHh;
    /** Null entries without projection. */
    final float[][] weightHr;
    /** Null entries for the parts without peepholes. */
    final float[][] peepholes;
    final LstmStackWeights weights;
    /** The reference of the values the precision stands for (W and U as stored), with the cell clip. */
    final ReferenceStack reference;
    private final SplittableRandom random;

    /**
     * @param peepholeMask one character per part in index order, '1' for a part with peepholes, '0' without
     * @param cellClip     the reference cells' clip, {@code Double.POSITIVE_INFINITY} for none
     */
    PeepholeTestStack(long seed, LstmStackShape shape, String peepholeMask, Backend backend,
                      WeightPrecision precision, double cellClip) {
        if (peepholeMask.length() != shape.stateCount()) {
            throw new IllegalArgumentException("one mask character per part: " + shape.stateCount());
        }
        this.shape = shape;
        this.random = new SplittableRandom(seed);
        int parts = shape.stateCount();
        int hiddenSize = shape.hiddenSize();
        int projectionSize = shape.projectionSize();
        int gateRows = 4 * hiddenSize;
        float bound = (float) (1 / Math.sqrt(hiddenSize));
        weightIh = new float[parts][];
        weightHh = new float[parts][];
        biasIh = new float[parts][];
        biasHh = new float[parts][];
        weightHr = new float[parts][];
        peepholes = new float[parts][];
        LstmWeights[] packed = new LstmWeights[parts];
        ReferenceLstm[] cells = new ReferenceLstm[parts];
        for (int n = 0; n < parts; n++) {
            int inputSize = shape.layerInputSize(n / shape.directions());
            weightIh[n] = uniform(gateRows * inputSize, bound);
            weightHh[n] = uniform(gateRows * shape.hiddenStateSize(), bound);
            biasIh[n] = uniform(gateRows, bound);
            biasHh[n] = uniform(gateRows, bound);
            weightHr[n] = projectionSize > 0 ? uniform(projectionSize * hiddenSize, bound) : null;
            peepholes[n] = peepholeMask.charAt(n) == '1' ? uniform(3 * hiddenSize, 1f) : null;
            packed[n] = LstmWeights.fromPyTorch(backend, precision, inputSize, hiddenSize, projectionSize,
                    weightIh[n], weightHh[n], biasIh[n], biasHh[n], weightHr[n], peepholes[n]);
            float[] storedIh = CompressedWeightsTest.dequantised(weightIh[n], inputSize, precision);
            float[] storedHh = CompressedWeightsTest.dequantised(weightHh[n], shape.hiddenStateSize(), precision);
            ReferenceLstm cell = projectionSize > 0
                    ? ReferenceLstm.projected(inputSize, hiddenSize, projectionSize, storedIh, storedHh, biasIh[n],
                    biasHh[n], weightHr[n])
                    : new ReferenceLstm(inputSize, hiddenSize, storedIh, storedHh, biasIh[n], biasHh[n]);
            cell = cell.withCellClip(cellClip);
            cells[n] = peepholes[n] == null ? cell : cell.withPeepholes(peepholes[n]);
        }
        this.weights = LstmStackWeights.of(shape.bidirectional(), packed);
        this.reference = new ReferenceStack(shape.bidirectional(), cells);
    }

    /** Float32 weights for the preferred kernel. */
    PeepholeTestStack(long seed, LstmStackShape shape, String peepholeMask, double cellClip) {
        this(seed, shape, peepholeMask, Backend.PREFERRED, WeightPrecision.FLOAT32, cellClip);
    }

    /** The same values as trainable parameters, for the caller to close. */
    LstmStackParameters parameters() {
        LstmParameters[] parts = new LstmParameters[shape.stateCount()];
        for (int n = 0; n < parts.length; n++) {
            parts[n] = LstmParameters.fromPyTorch(shape.layerInputSize(n / shape.directions()), shape.hiddenSize(),
                    shape.projectionSize(), weightIh[n], weightHh[n], biasIh[n], biasHh[n], weightHr[n],
                    peepholes[n]);
        }
        return LstmStackParameters.of(shape.bidirectional(), parts);
    }

    float[] uniform(int length, float bound) {
        return TestModel.uniform(random, length, bound);
    }

    /** x, {@code [T][B][I]}. */
    float[] input(int steps, int batch) {
        return uniform(steps * batch * shape.inputSize(), 1f);
    }

    /** An initial h or its gradient, {@code [L·D][B][S]}. */
    float[] hidden(int batch) {
        return uniform(shape.stateCount() * batch * shape.hiddenStateSize(), 1f);
    }

    /** An initial c or its gradient, {@code [L·D][B][H]}. */
    float[] cells(int batch) {
        return uniform(shape.stateCount() * batch * shape.hiddenSize(), 1f);
    }

    /** dy, {@code [T][B][D·S]}. */
    float[] outputGradient(int steps, int batch) {
        return uniform(steps * batch * shape.outputSize(), 1f);
    }

    @Override
    public void close() {
        weights.close();
    }
}
