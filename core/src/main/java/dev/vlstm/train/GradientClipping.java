package dev.vlstm.train;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import dev.vlstm.LstmGradients;

/**
 * Global gradient-norm clipping, the usual answer to exploding gradients, as PyTorch's
 * {@code clip_grad_norm_}: the norm is taken over all four gradient tensors together (both bias gradients count),
 * and if it exceeds {@code maxNorm} every gradient is multiplied by {@code maxNorm / (norm + 1e-6)}.
 */
public final class GradientClipping {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private GradientClipping() {
    }

    /**
     * Clips {@code gradients} in place.
     *
     * @param maxNorm largest allowed L2 norm, &gt; 0
     * @return the norm before clipping (NaN or infinite if a gradient is; then nothing is scaled)
     */
    public static double clipGlobalNorm(LstmGradients gradients, double maxNorm) {
        if (gradients == null) {
            throw new NullPointerException("gradients must not be null");
        }
        if (!(maxNorm > 0)) {
            throw new IllegalArgumentException("maxNorm must be > 0, got " + maxNorm);
        }
        double norm = Math.sqrt(sumOfSquares(gradients.weightIh()) + sumOfSquares(gradients.weightHh())
                + sumOfSquares(gradients.biasIh()) + sumOfSquares(gradients.biasHh()));
        if (norm > maxNorm && Double.isFinite(norm)) {
            double scale = maxNorm / (norm + 1e-6);
            scale(gradients.weightIh(), scale);
            scale(gradients.weightHh(), scale);
            scale(gradients.biasIh(), scale);
            scale(gradients.biasHh(), scale);
        }
        return norm;
    }

    private static double sumOfSquares(MemorySegment tensor) {
        double sum = 0;
        for (long i = 0; i < tensor.byteSize() / Float.BYTES; i++) {
            double value = tensor.getAtIndex(FLOAT, i);
            sum += value * value;
        }
        return sum;
    }

    private static void scale(MemorySegment tensor, double scale) {
        for (long i = 0; i < tensor.byteSize() / Float.BYTES; i++) {
            tensor.setAtIndex(FLOAT, i, (float) (tensor.getAtIndex(FLOAT, i) * scale));
        }
    }
}
