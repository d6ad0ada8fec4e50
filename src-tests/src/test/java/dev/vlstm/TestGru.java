package dev.vlstm;

import java.util.SplittableRandom;

import dev.vlstm.reference.ReferenceGru;

/**
 * A seeded random GRU layer in PyTorch's layout, its packed weights and its scalar reference, for tests. Weights
 * follow PyTorch's initialisation U(-1/sqrt(H), 1/sqrt(H)) times {@code weightScale}; inputs and states are U(-1, 1).
 */
final class TestGru implements AutoCloseable {

    final int inputSize;
    final int hiddenSize;
    final float[] weightIh;
    final float[] weightHh;
    final float[] biasIh;
    final float[] biasHh;
    final GruWeights weights;
    final ReferenceGru reference;
    private final SplittableRandom random;

    TestGru(long seed, int inputSize, int hiddenSize, Backend backend) {
        this(seed, inputSize, hiddenSize, backend, 1f);
    }

    TestGru(long seed, int inputSize, int hiddenSize, Backend backend, float weightScale) {
        this.inputSize = inputSize;
        this.hiddenSize = hiddenSize;
        this.random = new SplittableRandom(seed);
        float bound = (float) (weightScale / Math.sqrt(hiddenSize));
        this.weightIh = TestModel.uniform(random, 3 * hiddenSize * inputSize, bound);
        this.weightHh = TestModel.uniform(random, 3 * hiddenSize * hiddenSize, bound);
        this.biasIh = TestModel.uniform(random, 3 * hiddenSize, bound);
        this.biasHh = TestModel.uniform(random, 3 * hiddenSize, bound);
        this.weights = GruWeights.fromPyTorch(backend, inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh);
        this.reference = new ReferenceGru(inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh);
    }

    float[] input(int steps, int batch) {
        return TestModel.uniform(random, steps * batch * inputSize, 1f);
    }

    float[] state(int batch) {
        return TestModel.uniform(random, batch * hiddenSize, 1f);
    }

    @Override
    public void close() {
        weights.close();
    }
}
