package dev.vlstm;

import java.util.SplittableRandom;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/**
 * A seeded random stacked (and possibly bidirectional) LSTM in PyTorch's layout, its packed weights and its scalar
 * reference, for tests. Weights follow PyTorch's initialisation U(-1/sqrt(H), 1/sqrt(H)); inputs and states are
 * U(-1, 1). Per-layer arrays are indexed as {@link LstmStackShape#index}.
 */
final class TestStack implements AutoCloseable {

    final LstmStackShape shape;
    final float[][] weightIh;
    final float[][] weightHh;
    /** Null entries for a bias-free model. */
    final float[][] biasIh;
    final float[][] biasHh;
    final LstmStackWeights weights;
    final ReferenceStack reference;
    private final SplittableRandom random;

    TestStack(long seed, LstmStackShape shape, Backend backend, boolean bias) {
        this.shape = shape;
        this.random = new SplittableRandom(seed);
        int parts = shape.stateCount();
        int gateRows = 4 * shape.hiddenSize();
        float bound = (float) (1 / Math.sqrt(shape.hiddenSize()));
        weightIh = new float[parts][];
        weightHh = new float[parts][];
        biasIh = new float[parts][];
        biasHh = new float[parts][];
        LstmWeights[] packed = new LstmWeights[parts];
        ReferenceLstm[] cells = new ReferenceLstm[parts];
        for (int n = 0; n < parts; n++) {
            int inputSize = shape.layerInputSize(n / shape.directions());
            weightIh[n] = uniform(gateRows * inputSize, bound);
            weightHh[n] = uniform(gateRows * shape.hiddenSize(), bound);
            biasIh[n] = bias ? uniform(gateRows, bound) : null;
            biasHh[n] = bias ? uniform(gateRows, bound) : null;
            packed[n] = LstmWeights.fromPyTorch(backend, inputSize, shape.hiddenSize(), weightIh[n], weightHh[n],
                    biasIh[n], biasHh[n]);
            cells[n] = new ReferenceLstm(inputSize, shape.hiddenSize(), weightIh[n], weightHh[n], biasIh[n], biasHh[n]);
        }
        this.weights = LstmStackWeights.of(shape.bidirectional(), packed);
        this.reference = new ReferenceStack(shape.bidirectional(), cells);
    }

    TestStack(long seed, int inputSize, int hiddenSize, int layers, boolean bidirectional) {
        this(seed, new LstmStackShape(inputSize, hiddenSize, layers, bidirectional), Backend.PREFERRED, true);
    }

    float[] uniform(int length, float bound) {
        return TestModel.uniform(random, length, bound);
    }

    /** x, {@code [T][B][I]}. */
    float[] input(int steps, int batch) {
        return uniform(steps * batch * shape.inputSize(), 1f);
    }

    /** An initial state or a state gradient, {@code [L·D][B][H]}. */
    float[] states(int batch) {
        return uniform(shape.stateCount() * batch * shape.hiddenSize(), 1f);
    }

    /** dy, {@code [T][B][D·H]}. */
    float[] outputGradient(int steps, int batch) {
        return uniform(steps * batch * shape.outputSize(), 1f);
    }

    @Override
    public void close() {
        weights.close();
    }
}
