package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * PyTorch's {@code nn.LSTM(dropout=p)} in training: the output of every layer but the last is multiplied, element by
 * element, by a fresh mask of 0 (probability p) and {@code 1/(1-p)} (inverted dropout, so that the expected value is
 * unchanged and inference needs no scaling). The masks come from one seeded generator, so a trainer's sequence of
 * forwards draws the same masks on every run; they are kept for the backward, which multiplies the gradients by
 * them.
 */
final class InterLayerDropout {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private final double probability;
    private final float scale;
    private final SplittableRandom random;
    /**
     * One mask per layer below the top, {@code [T][B][D·S]} multipliers each (S = P with projection, else H), for
     * the last forward.
     */
    private final MemorySegment[] masks;
    private long maskFloats;

    /**
     * @param probability p, in [0, 1)
     * @param layers      layers whose outputs are dropped: L - 1
     * @param maxFloats   floats of the largest layer output, {@code maxSteps · maxBatch · D·S}
     */
    InterLayerDropout(double probability, long seed, int layers, long maxFloats, OffHeap memory) {
        this.probability = Checks.dropout(probability);
        this.scale = (float) (1 / (1 - probability));
        this.random = new SplittableRandom(seed);
        this.masks = new MemorySegment[layers];
        for (int layer = 0; layer < layers; layer++) {
            masks[layer] = memory.floats(maxFloats);
        }
    }

    double probability() {
        return probability;
    }

    /** Draws a new mask for {@code layer}'s output and applies it to the first {@code floats} floats, in place. */
    void forward(int layer, MemorySegment output, long floats) {
        MemorySegment mask = masks[layer];
        for (long n = 0; n < floats; n++) {
            float keep = random.nextDouble() < probability ? 0f : scale;
            mask.setAtIndex(FLOAT, n, keep);
            output.setAtIndex(FLOAT, n, output.getAtIndex(FLOAT, n) * keep);
        }
        maskFloats = floats;
    }

    /** Multiplies the gradient reaching {@code layer}'s output by the mask the last forward applied. */
    void backward(int layer, MemorySegment gradient, long floats) {
        MemorySegment mask = masks[layer];
        for (long n = 0; n < floats; n++) {
            gradient.setAtIndex(FLOAT, n, gradient.getAtIndex(FLOAT, n) * mask.getAtIndex(FLOAT, n));
        }
    }

    /**
     * A copy of the multipliers the last forward applied to {@code layer}'s output.
     *
     * @throws IndexOutOfBoundsException for a layer outside [0, L-1): only the layers below the top are dropped
     * @throws IllegalStateException     before the first forward
     */
    float[] mask(int layer) {
        if (layer < 0 || layer >= masks.length) {
            throw new IndexOutOfBoundsException("layer " + layer + " is outside [0, " + masks.length
                    + "): only the layers below the top one are dropped");
        }
        if (maskFloats == 0) {
            throw new IllegalStateException("no dropout mask before the first forward");
        }
        return masks[layer].asSlice(0, maskFloats * Float.BYTES).toArray(FLOAT);
    }
}
