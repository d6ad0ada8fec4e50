package dev.vlstm;

import java.util.SplittableRandom;

import dev.vlstm.reference.ReferenceLstm;

/**
 * A seeded random LSTM layer in PyTorch's layout, its packed weights and its scalar reference, for tests.
 * Weights follow PyTorch's initialisation U(-1/sqrt(H), 1/sqrt(H)); inputs and states are U(-1, 1).
 */
final class TestModel implements AutoCloseable {

    final int inputSize;
    final int hiddenSize;
    final float[] weightIh;
    final float[] weightHh;
    final float[] biasIh;
    final float[] biasHh;
    final LstmWeights weights;
    final ReferenceLstm reference;
    private final SplittableRandom random;

    TestModel(long seed, int inputSize, int hiddenSize, Backend backend) {
        this(seed, inputSize, hiddenSize, backend, 1f);
    }

    /** Weights scaled by {@code weightScale} times PyTorch's bound: large scales saturate the gates. */
    TestModel(long seed, int inputSize, int hiddenSize, float weightScale) {
        this(seed, inputSize, hiddenSize, Backend.PREFERRED, weightScale);
    }

    private TestModel(long seed, int inputSize, int hiddenSize, Backend backend, float weightScale) {
        this.inputSize = inputSize;
        this.hiddenSize = hiddenSize;
        this.random = new SplittableRandom(seed);
        float bound = (float) (weightScale / Math.sqrt(hiddenSize));
        this.weightIh = uniform(4 * hiddenSize * inputSize, bound);
        this.weightHh = uniform(4 * hiddenSize * hiddenSize, bound);
        this.biasIh = uniform(4 * hiddenSize, bound);
        this.biasHh = uniform(4 * hiddenSize, bound);
        this.weights = LstmWeights.fromPyTorch(backend, inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh);
        this.reference = new ReferenceLstm(inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh);
    }

    TestModel(long seed, int inputSize, int hiddenSize) {
        this(seed, inputSize, hiddenSize, Backend.PREFERRED);
    }

    float[] uniform(int length, float bound) {
        return uniform(random, length, bound);
    }

    /** {@code length} floats drawn uniformly from [-bound, bound), as {@link TestRnn#uniform} draws them. */
    static float[] uniform(SplittableRandom random, int length, float bound) {
        return TestRnn.uniform(random, length, bound);
    }

    float[] input(int steps, int batch) {
        return uniform(steps * batch * inputSize, 1f);
    }

    float[] state(int batch) {
        return uniform(batch * hiddenSize, 1f);
    }

    @Override
    public void close() {
        weights.close();
    }

    /** The values as doubles, or null for null. */
    static double[] doubles(float[] values) {
        if (values == null) {
            return null;
        }
        double[] result = new double[values.length];
        for (int n = 0; n < values.length; n++) {
            result[n] = values[n];
        }
        return result;
    }

    /** Largest |actual - expected| over all elements; fails on a length mismatch. */
    static double maxAbsError(float[] actual, double[] expected) {
        if (actual.length != expected.length) {
            throw new AssertionError("length " + actual.length + " != " + expected.length);
        }
        double worst = 0;
        for (int n = 0; n < actual.length; n++) {
            double error = Math.abs(actual[n] - expected[n]);
            if (!(error <= worst)) {
                worst = Double.isNaN(error) ? Double.POSITIVE_INFINITY : error;
            }
        }
        return worst;
    }
}
