package dev.vlstm;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.params.provider.Arguments;

import dev.vlstm.reference.ReferenceCell;
import dev.vlstm.reference.ReferenceGru;
import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/**
 * A seeded random LSTM, GRU or CIFG of any {@link RnnShape} (layers, directions, projection, peepholes), for tests: its
 * arrays in PyTorch's {@code _flat_weights} order, the {@link Parameters} made from them, the {@link Model} packed
 * from those, and the double-precision {@link ReferenceStack} of the values the model's precision stands for (W and U
 * as {@link WeightPrecision#BFLOAT16} or {@link WeightPrecision#INT8} store them, the rest float32) with the model's
 * clip. Weights are PyTorch's initialisation U(-1/sqrt(H), 1/sqrt(H)) times a scale; peepholes are U(-1, 1)
 * times that scale, so that the peephole terms weigh as much as the others; inputs, states and gradients are
 * U(-1, 1). Every layer and direction draws, in order, weight_ih, weight_hh, bias_ih, bias_hh, then weight_hr and
 * peephole where the shape has them.
 */
final class TestRnn implements AutoCloseable {

    final RnnShape shape;
    /** Per layer and direction: weight_ih, weight_hh, bias_ih, bias_hh (null without biases), weight_hr, peephole. */
    final float[][] flatWeights;
    final Parameters parameters;
    final Model model;
    final ReferenceStack reference;
    private final SplittableRandom random;

    /** Weights at PyTorch's scale, with biases, packed with {@code options}. */
    TestRnn(long seed, RnnShape shape, Options options) {
        this(seed, shape, options, true, 1f);
    }

    /**
     * @param bias        whether the model has biases; without, their arrays are null
     * @param weightScale times PyTorch's bound (and the peepholes' bound 1): large scales saturate the gates
     */
    TestRnn(long seed, RnnShape shape, Options options, boolean bias, float weightScale) {
        this.shape = shape;
        this.random = new SplittableRandom(seed);
        int hidden = shape.hiddenSize();
        int gateRows = shape.gates() * hidden;
        float bound = (float) (weightScale / Math.sqrt(hidden));
        List<float[]> flat = new ArrayList<>();
        ReferenceCell[] cells = new ReferenceCell[shape.stateCount()];
        for (int n = 0; n < cells.length; n++) {
            int inputSize = shape.layerInputSize(n / shape.direction().count());
            float[] weightIh = uniform(gateRows * inputSize, bound);
            float[] weightHh = uniform(gateRows * shape.hiddenStateSize(), bound);
            float[] biasIh = bias ? uniform(gateRows, bound) : null;
            float[] biasHh = bias ? uniform(gateRows, bound) : null;
            flat.addAll(Arrays.asList(weightIh, weightHh, biasIh, biasHh));
            float[] storedIh = CompressedWeightsTest.dequantised(weightIh, inputSize, options.precision());
            float[] storedHh = CompressedWeightsTest.dequantised(weightHh, shape.hiddenStateSize(),
                    options.precision());
            if (shape.cell() == Cell.GRU) {
                cells[n] = new ReferenceGru(inputSize, hidden, storedIh, storedHh, biasIh, biasHh)
                        .withCellClip(options.cellClip());
                continue;
            }
            float[] weightHr = null;
            if (shape.projectionSize() > 0) {
                weightHr = uniform(shape.projectionSize() * hidden, bound);
                flat.add(weightHr);
            }
            ReferenceLstm cell;
            if (shape.cell() == Cell.CIFG) {
                cell = ReferenceLstm.coupledInputForget(inputSize, hidden, shape.projectionSize(), storedIh, storedHh,
                        biasIh, biasHh, weightHr);
            } else if (weightHr != null) {
                cell = ReferenceLstm.projected(inputSize, hidden, shape.projectionSize(), storedIh, storedHh, biasIh,
                        biasHh, weightHr);
            } else {
                cell = new ReferenceLstm(inputSize, hidden, storedIh, storedHh, biasIh, biasHh);
            }
            if (shape.peepholes()) {
                float[] peepholes = uniform(shape.cell().peepholeVectors() * hidden, weightScale);
                flat.add(peepholes);
                cell = cell.withPeepholes(peepholes);
            }
            cells[n] = cell.withCellClip(options.cellClip());
        }
        this.flatWeights = flat.toArray(float[][]::new);
        this.reference = new ReferenceStack(shape.direction() == Direction.BIDIRECTIONAL, cells);
        this.parameters = Parameters.fromPyTorch(shape, flatWeights);
        try {
            this.model = Model.pack(parameters, options);
        } catch (RuntimeException | Error e) {
            parameters.close();
            throw e;
        }
    }

    /** {@return a runner of the model for up to {@code maxBatch} sequences of up to {@code maxSteps} steps} */
    Runner runner(int maxBatch, int maxSteps) {
        return model.runner(model.options().withMaxBatch(maxBatch).withMaxSteps(maxSteps));
    }

    /** {@return a trainer of the model for up to {@code maxBatch} sequences of up to {@code maxSteps} steps} */
    Trainer trainer(int maxBatch, int maxSteps) {
        return model.trainer(model.options().withMaxBatch(maxBatch).withMaxSteps(maxSteps));
    }

    /** {@return each of {@code cases} once per {@link Cell}, the cell put first: LSTM, then GRU, then CIFG cases} */
    static Stream<Arguments> forEveryCell(Stream<Arguments> cases) {
        List<Arguments> list = cases.toList();
        return Stream.of(Cell.values()).flatMap(cell -> list.stream().map(arguments -> {
            Object[] values = new Object[arguments.get().length + 1];
            values[0] = cell;
            System.arraycopy(arguments.get(), 0, values, 1, values.length - 1);
            return Arguments.of(values);
        }));
    }

    /** {@code length} values drawn uniformly from [-bound, bound). */
    float[] uniform(int length, float bound) {
        return uniform(random, length, bound);
    }

    /** {@code length} values drawn from {@code random} uniformly from [-bound, bound). */
    static float[] uniform(SplittableRandom random, int length, float bound) {
        float[] values = new float[length];
        for (int n = 0; n < length; n++) {
            values[n] = (float) ((random.nextDouble() * 2 - 1) * bound);
        }
        return values;
    }

    /** x, {@code [T][B][I]}. */
    float[] input(int steps, int batch) {
        return uniform(steps * batch * shape.inputSize(), 1f);
    }

    /** An initial h or its gradient, {@code [L·D][B][S]}. */
    float[] hiddenStates(int batch) {
        return uniform(shape.stateCount() * batch * shape.hiddenStateSize(), 1f);
    }

    /** An LSTM's or CIFG's initial c or its gradient, {@code [L·D][B][H]}; null for a GRU, which has no c. */
    float[] cellStates(int batch) {
        return shape.cell().hasCellState() ? uniform(shape.stateCount() * batch * shape.hiddenSize(), 1f) : null;
    }

    /** dy, {@code [T][B][D·S]}. */
    float[] outputGradient(int steps, int batch) {
        return uniform(steps * batch * shape.outputSize(), 1f);
    }

    /** Frees the model and the parameters. */
    @Override
    public void close() {
        model.close();
        parameters.close();
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

    /** Largest |actual - expected| over all elements (infinite for a NaN); fails on a length mismatch. */
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
