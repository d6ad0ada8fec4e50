package dev.vlstm;

import java.util.SplittableRandom;

import dev.vlstm.reference.ReferenceLstm;

/**
 * A seeded random LSTM layer with peephole connections (and optionally PyTorch's projection, P = 0 for none) in
 * PyTorch's layout, packed for a backend and precision, and its double-precision reference, for tests. Weights
 * follow PyTorch's initialisation U(-1/sqrt(H), 1/sqrt(H)); the peepholes p_i, p_f, p_o ({@code [3][H]}), inputs
 * and states are U(-1, 1), so that the peephole terms weigh as much as the others.
 */
final class PeepholeTestModel implements AutoCloseable {

    final int inputSize;
    final int hiddenSize;
    final int projectionSize;
    final float[] weightIh;
    final float[] weightHh;
    final float[] biasIh;
    final float[] biasHh;
    /** W_hr {@code [P][H]}, or null without projection. */
    final float[] weightHr;
    final float[] peepholes;
    final LstmWeights weights;
    final ReferenceLstm reference;
    private final SplittableRandom random;

    PeepholeTestModel(long seed, int inputSize, int hiddenSize, int projectionSize, Backend backend,
                      WeightPrecision precision) {
        this.inputSize = inputSize;
        this.hiddenSize = hiddenSize;
        this.projectionSize = projectionSize;
        this.random = new SplittableRandom(seed);
        float bound = (float) (1 / Math.sqrt(hiddenSize));
        int output = outputSize();
        this.weightIh = uniform(4 * hiddenSize * inputSize, bound);
        this.weightHh = uniform(4 * hiddenSize * output, bound);
        this.biasIh = uniform(4 * hiddenSize, bound);
        this.biasHh = uniform(4 * hiddenSize, bound);
        this.weightHr = projectionSize > 0 ? uniform(projectionSize * hiddenSize, bound) : null;
        this.peepholes = uniform(3 * hiddenSize, 1f);
        this.weights = LstmWeights.fromPyTorch(backend, precision, inputSize, hiddenSize, projectionSize, weightIh,
                weightHh, biasIh, biasHh, weightHr, peepholes);
        // The reference of the values the precision stands for: W and U as stored, the rest float32.
        float[] storedIh = CompressedWeightsTest.dequantised(weightIh, inputSize, precision);
        float[] storedHh = CompressedWeightsTest.dequantised(weightHh, output, precision);
        ReferenceLstm plain = projectionSize > 0
                ? ReferenceLstm.projected(inputSize, hiddenSize, projectionSize, storedIh, storedHh, biasIh, biasHh,
                weightHr)
                : new ReferenceLstm(inputSize, hiddenSize, storedIh, storedHh, biasIh, biasHh);
        this.reference = plain.withPeepholes(peepholes);
    }

    PeepholeTestModel(long seed, int inputSize, int hiddenSize, Backend backend) {
        this(seed, inputSize, hiddenSize, 0, backend, WeightPrecision.FLOAT32);
    }

    /** {@return P with projection, else H: the width of h} */
    int outputSize() {
        return projectionSize > 0 ? projectionSize : hiddenSize;
    }

    /** The same layer packed without peepholes, for the caller to close. */
    LstmWeights withoutPeepholes(Backend backend, WeightPrecision precision) {
        return LstmWeights.fromPyTorch(backend, precision, inputSize, hiddenSize, projectionSize, weightIh, weightHh,
                biasIh, biasHh, weightHr, null);
    }

    float[] uniform(int length, float bound) {
        return TestModel.uniform(random, length, bound);
    }

    float[] input(int steps, int batch) {
        return uniform(steps * batch * inputSize, 1f);
    }

    /** An h0: {@code [B][P or H]}. */
    float[] hidden(int batch) {
        return uniform(batch * outputSize(), 1f);
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
