package dev.vlstm;

import java.util.SplittableRandom;

import dev.vlstm.reference.ReferenceLstm;

/**
 * A seeded random LSTM layer with PyTorch's projection ({@code proj_size} = P) in PyTorch's layout, packed for a
 * backend and precision, and its double-precision reference, for tests. Weights follow PyTorch's initialisation
 * U(-1/sqrt(H), 1/sqrt(H)) (also W_hr); inputs and states are U(-1, 1).
 */
final class ProjectedTestModel implements AutoCloseable {

    final int inputSize;
    final int hiddenSize;
    final int projectionSize;
    final float[] weightIh;
    final float[] weightHh;
    final float[] biasIh;
    final float[] biasHh;
    final float[] weightHr;
    final LstmWeights weights;
    final ReferenceLstm reference;
    private final SplittableRandom random;

    ProjectedTestModel(long seed, int inputSize, int hiddenSize, int projectionSize, Backend backend,
                       WeightPrecision precision) {
        this.inputSize = inputSize;
        this.hiddenSize = hiddenSize;
        this.projectionSize = projectionSize;
        this.random = new SplittableRandom(seed);
        float bound = (float) (1 / Math.sqrt(hiddenSize));
        this.weightIh = uniform(4 * hiddenSize * inputSize, bound);
        this.weightHh = uniform(4 * hiddenSize * projectionSize, bound);
        this.biasIh = uniform(4 * hiddenSize, bound);
        this.biasHh = uniform(4 * hiddenSize, bound);
        this.weightHr = uniform(projectionSize * hiddenSize, bound);
        this.weights = LstmWeights.fromPyTorch(backend, precision, inputSize, hiddenSize, projectionSize, weightIh,
                weightHh, biasIh, biasHh, weightHr);
        // The reference of the values the precision stands for: W and U as stored, W_hr always float32.
        this.reference = ReferenceLstm.projected(inputSize, hiddenSize, projectionSize,
                CompressedWeightsTest.dequantised(weightIh, inputSize, precision),
                CompressedWeightsTest.dequantised(weightHh, projectionSize, precision), biasIh, biasHh, weightHr);
    }

    ProjectedTestModel(long seed, int inputSize, int hiddenSize, int projectionSize) {
        this(seed, inputSize, hiddenSize, projectionSize, Backend.PREFERRED, WeightPrecision.FLOAT32);
    }

    float[] uniform(int length, float bound) {
        return TestModel.uniform(random, length, bound);
    }

    float[] input(int steps, int batch) {
        return uniform(steps * batch * inputSize, 1f);
    }

    /** An h0: {@code [B][P]}. */
    float[] hidden(int batch) {
        return uniform(batch * projectionSize, 1f);
    }

    /** A c0: {@code [B][H]}. */
    float[] cell(int batch) {
        return uniform(batch * hiddenSize, 1f);
    }

    @Override
    public void close() {
        weights.close();
    }
}
