package dev.vlstm.bench;

import java.util.SplittableRandom;

import dev.vlstm.Cell;
import dev.vlstm.Model;
import dev.vlstm.WeightPrecision;
import dev.vlstm.reference.ReferenceGru;

/**
 * A seeded random GRU layer and input of one {@link Shape}, as float arrays in PyTorch's layout (gates r, z, n):
 * weights and biases U(-1/√H, 1/√H) as {@code nn.GRU} initialises them, inputs U(-1, 1), drawn as
 * {@link RandomLstm} draws an LSTM's.
 *
 * @param x input {@code [steps][B][I]}
 */
record RandomGru(Shape shape, float[] weightIh, float[] weightHh, float[] biasIh, float[] biasHh, float[] x) {

    /** A model of {@code shape} with {@code steps} time steps of input. */
    static RandomGru create(Shape shape, int steps) {
        SplittableRandom random = new SplittableRandom(RandomLstm.SEED);
        int hidden = shape.size();
        float bound = (float) (1 / Math.sqrt(hidden));
        return new RandomGru(shape,
                RandomLstm.uniform(random, 3 * hidden * shape.size(), bound),
                RandomLstm.uniform(random, 3 * hidden * hidden, bound),
                RandomLstm.uniform(random, 3 * hidden, bound),
                RandomLstm.uniform(random, 3 * hidden, bound),
                RandomLstm.uniform(random, steps * shape.batch() * shape.size(), 1f));
    }

    /** The one-layer model of these weights for the preferred (vector) kernel; the caller closes it. */
    Model model() {
        return RandomLstm.pack(Cell.GRU, shape, WeightPrecision.FLOAT32, weightIh, weightHh, biasIh, biasHh);
    }

    ReferenceGru reference() {
        return new ReferenceGru(shape.size(), shape.size(), weightIh, weightHh, biasIh, biasHh);
    }
}
