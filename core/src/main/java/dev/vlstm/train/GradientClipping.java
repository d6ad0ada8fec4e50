package dev.vlstm.train;

import java.lang.foreign.MemorySegment;

import dev.vlstm.LstmGradients;
import dev.vlstm.kernel.Kernels;
import dev.vlstm.kernel.TensorKernel;

/**
 * Global gradient-norm clipping, the usual answer to exploding gradients, as PyTorch's
 * {@code clip_grad_norm_}: the norm is taken over all four gradient tensors together (both bias gradients count),
 * and if it exceeds {@code maxNorm} every gradient is multiplied by {@code maxNorm / (norm + 1e-6)}.
 */
public final class GradientClipping {

    private static final TensorKernel KERNEL = Kernels.preferred().tensors();

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
        return KERNEL.sumOfSquares(tensor, (int) (tensor.byteSize() / Float.BYTES));
    }

    private static void scale(MemorySegment tensor, double scale) {
        KERNEL.scale(tensor, (int) (tensor.byteSize() / Float.BYTES), (float) scale);
    }
}
