package dev.vlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import dev.vlstm.Cell;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.WeightPrecision;
import dev.vlstm.reference.ReferenceLstm;

/**
 * A seeded random LSTM layer and input of one {@link Shape}, as float arrays in PyTorch's layout: weights and
 * biases U(-1/√H, 1/√H) as {@code nn.LSTM} initialises them, inputs U(-1, 1). The same seed gives both
 * implementations the same problem.
 *
 * @param x input {@code [steps][B][I]}
 */
record RandomLstm(Shape shape, float[] weightIh, float[] weightHh, float[] biasIh, float[] biasHh, float[] x) {

    /** The seed of every random model of the benchmarks: the same problem in every run and both builds. */
    static final long SEED = 20_25_11_22L;

    /** A model of {@code shape} with {@code steps} time steps of input. */
    static RandomLstm create(Shape shape, int steps) {
        SplittableRandom random = new SplittableRandom(SEED);
        int hidden = shape.size();
        float bound = (float) (1 / Math.sqrt(hidden));
        return new RandomLstm(shape,
                uniform(random, 4 * hidden * shape.size(), bound),
                uniform(random, 4 * hidden * hidden, bound),
                uniform(random, 4 * hidden, bound),
                uniform(random, 4 * hidden, bound),
                uniform(random, steps * shape.batch() * shape.size(), 1f));
    }

    /** The one-layer model of these weights for the preferred (vector) kernel in the shape's precision. */
    Model model() {
        return model(shape.precision());
    }

    /**
     * The one-layer model of these weights for the preferred (vector) kernel in {@code precision}; the caller closes
     * it.
     */
    Model model(WeightPrecision precision) {
        return pack(Cell.LSTM, shape, precision, weightIh, weightHh, biasIh, biasHh);
    }

    /**
     * The one-layer, one-direction model of {@code cell}, I = H = {@code shape.size()}, of {@code flatWeights} (in
     * {@link Parameters#fromPyTorch}'s order), packed for the preferred kernel in {@code precision}; the caller
     * closes it.
     */
    static Model pack(Cell cell, Shape shape, WeightPrecision precision, float[]... flatWeights) {
        try (Parameters parameters = Parameters.fromPyTorch(RnnShape.of(cell, shape.size(), shape.size()),
                flatWeights)) {
            return Model.pack(parameters, Options.DEFAULT.withPrecision(precision));
        }
    }

    ReferenceLstm reference() {
        return new ReferenceLstm(shape.size(), shape.size(), weightIh, weightHh, biasIh, biasHh);
    }

    /** A 64-byte aligned native copy of {@code values} in {@code arena}. */
    static MemorySegment toNative(Arena arena, float[] values) {
        MemorySegment segment = floats(arena, values.length);
        MemorySegment.copy(values, 0, segment, ValueLayout.JAVA_FLOAT, 0, values.length);
        return segment;
    }

    /** A 64-byte aligned, zeroed native buffer of {@code count} floats in {@code arena}. */
    static MemorySegment floats(Arena arena, long count) {
        return arena.allocate(count * Float.BYTES, 64);
    }

    /** {@code count} values drawn uniformly from (-bound, bound). */
    static float[] uniform(SplittableRandom random, int count, float bound) {
        float[] values = new float[count];
        for (int n = 0; n < count; n++) {
            values[n] = (float) random.nextDouble(-bound, bound);
        }
        return values;
    }
}
