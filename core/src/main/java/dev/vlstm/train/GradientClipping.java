package dev.vlstm.train;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import dev.vlstm.LstmGradients;
import dev.vlstm.LstmStackGradients;
import dev.vlstm.LstmStackShape;

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
        return clip(new LstmGradients[]{gradients}, maxNorm);
    }

    /**
     * Clips the gradients of a whole stacked model in place by one norm over every layer and direction together, as
     * {@code clip_grad_norm_(lstm.parameters(), maxNorm)} on the whole {@code nn.LSTM} (clipping each layer alone
     * would scale them differently).
     *
     * @param maxNorm largest allowed L2 norm, &gt; 0
     * @return the norm before clipping (NaN or infinite if a gradient is; then nothing is scaled)
     */
    public static double clipGlobalNorm(LstmStackGradients gradients, double maxNorm) {
        if (gradients == null) {
            throw new NullPointerException("gradients must not be null");
        }
        LstmStackShape shape = gradients.shape();
        LstmGradients[] parts = new LstmGradients[shape.stateCount()];
        for (int layer = 0; layer < shape.layers(); layer++) {
            for (int direction = 0; direction < shape.directions(); direction++) {
                parts[shape.index(layer, direction)] = gradients.layer(layer, direction);
            }
        }
        return clip(parts, maxNorm);
    }

    private static double clip(LstmGradients[] parts, double maxNorm) {
        if (!(maxNorm > 0)) {
            throw new IllegalArgumentException("maxNorm must be > 0, got " + maxNorm);
        }
        double sum = 0;
        for (LstmGradients part : parts) {
            sum += sumOfSquares(part.weightIh()) + sumOfSquares(part.weightHh()) + sumOfSquares(part.biasIh())
                    + sumOfSquares(part.biasHh());
        }
        double norm = Math.sqrt(sum);
        if (norm > maxNorm && Double.isFinite(norm)) {
            double scale = maxNorm / (norm + 1e-6);
            for (LstmGradients part : parts) {
                scale(part.weightIh(), scale);
                scale(part.weightHh(), scale);
                scale(part.biasIh(), scale);
                scale(part.biasHh(), scale);
            }
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
