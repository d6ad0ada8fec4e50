package dev.vlstm.train;

import java.lang.foreign.MemorySegment;
import java.util.List;

import dev.vlstm.Gradients;
import dev.vlstm.kernel.Kernels;
import dev.vlstm.kernel.TensorKernel;

/**
 * Global gradient-norm clipping, the usual answer to exploding gradients, as PyTorch's
 * {@code clip_grad_norm_}: the norm is taken over every gradient tensor of the model together (both bias gradients
 * count; dW_hr too with a projection, and the peephole gradients with peepholes), and if it exceeds {@code maxNorm}
 * every gradient is multiplied by {@code maxNorm / (norm + 1e-6)}.
 */
public final class GradientClipping {

    private static final TensorKernel KERNEL = Kernels.preferred().tensors();

    private GradientClipping() {
    }

    /**
     * Clips the gradients of a whole LSTM or GRU in place by one norm over every tensor together, as
     * {@code clip_grad_norm_(module.parameters(), maxNorm)}.
     *
     * @param gradients every layer's and direction's tensors, scaled together if their norm exceeds {@code maxNorm}
     * @param maxNorm   largest allowed L2 norm, &gt; 0
     * @return the norm before clipping (NaN or infinite if a gradient is; then nothing is scaled)
     * @throws IllegalStateException if the gradients are closed
     */
    public static double clipGlobalNorm(Gradients gradients, double maxNorm) {
        if (gradients == null) {
            throw new NullPointerException("gradients must not be null");
        }
        checkMaxNorm(maxNorm);
        List<String> names = gradients.names();
        double sum = 0;
        for (int n = 0; n < names.size(); n++) {
            sum += sumOfSquares(gradients.tensor(names.get(n)));
        }
        double norm = Math.sqrt(sum);
        if (norm > maxNorm && Double.isFinite(norm)) {
            double scale = maxNorm / (norm + 1e-6);
            for (int n = 0; n < names.size(); n++) {
                scale(gradients.tensor(names.get(n)), scale);
            }
        }
        return norm;
    }

    private static void checkMaxNorm(double maxNorm) {
        if (!(maxNorm > 0)) {
            throw new IllegalArgumentException("maxNorm must be > 0, got " + maxNorm);
        }
    }

    private static double sumOfSquares(MemorySegment tensor) {
        return KERNEL.sumOfSquares(tensor, (int) (tensor.byteSize() / Float.BYTES));
    }

    private static void scale(MemorySegment tensor, double scale) {
        KERNEL.scale(tensor, (int) (tensor.byteSize() / Float.BYTES), (float) scale);
    }
}
