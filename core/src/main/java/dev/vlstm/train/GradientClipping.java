package dev.vlstm.train;

import java.lang.foreign.MemorySegment;
import java.util.List;

import dev.vlstm.Gradients;
import dev.vlstm.LstmGradients;
import dev.vlstm.LstmStackGradients;
import dev.vlstm.LstmStackShape;
import dev.vlstm.kernel.Kernels;
import dev.vlstm.kernel.TensorKernel;

/**
 * Global gradient-norm clipping, the usual answer to exploding gradients, as PyTorch's
 * {@code clip_grad_norm_}: the norm is taken over all four gradient tensors together (both bias gradients count;
 * dW_hr too where a layer has a projection, and the peephole gradients where it has peepholes), and if it exceeds {@code maxNorm} every gradient is multiplied by {@code maxNorm / (norm + 1e-6)}.
 */
public final class GradientClipping {

    private static final TensorKernel KERNEL = Kernels.preferred().tensors();

    private GradientClipping() {
    }

    /**
     * Clips {@code gradients} in place.
     *
     * @param gradients one layer's tensors (four, and dW_hr and dp where it has them), scaled together if their norm
     *                  exceeds {@code maxNorm}
     * @param maxNorm   largest allowed L2 norm, &gt; 0
     * @return the norm before clipping (NaN or infinite if a gradient is; then nothing is scaled)
     */
    public static double clipGlobalNorm(LstmGradients gradients, double maxNorm) {
        if (gradients == null) {
            throw new NullPointerException("gradients must not be null");
        }
        checkMaxNorm(maxNorm);
        double norm = Math.sqrt(sumOfSquares(gradients));
        if (norm > maxNorm && Double.isFinite(norm)) {
            scale(gradients, maxNorm / (norm + 1e-6));
        }
        return norm;
    }

    /**
     * Clips the gradients of a whole stacked model in place by one norm over every layer and direction together, as
     * {@code clip_grad_norm_(lstm.parameters(), maxNorm)} on the whole {@code nn.LSTM} (clipping each layer alone
     * would scale them differently).
     *
     * @param gradients every layer's and direction's tensors, scaled together if their norm exceeds {@code maxNorm}
     * @param maxNorm   largest allowed L2 norm, &gt; 0
     * @return the norm before clipping (NaN or infinite if a gradient is; then nothing is scaled)
     */
    public static double clipGlobalNorm(LstmStackGradients gradients, double maxNorm) {
        if (gradients == null) {
            throw new NullPointerException("gradients must not be null");
        }
        checkMaxNorm(maxNorm);
        LstmStackShape shape = gradients.shape();
        double sum = 0;
        for (int layer = 0; layer < shape.layers(); layer++) {
            for (int direction = 0; direction < shape.directions(); direction++) {
                sum += sumOfSquares(gradients.layer(layer, direction));
            }
        }
        double norm = Math.sqrt(sum);
        if (norm > maxNorm && Double.isFinite(norm)) {
            double scale = maxNorm / (norm + 1e-6);
            for (int layer = 0; layer < shape.layers(); layer++) {
                for (int direction = 0; direction < shape.directions(); direction++) {
                    scale(gradients.layer(layer, direction), scale);
                }
            }
        }
        return norm;
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

    private static double sumOfSquares(LstmGradients gradients) {
        double sum = sumOfSquares(gradients.weightIh()) + sumOfSquares(gradients.weightHh())
                + sumOfSquares(gradients.biasIh()) + sumOfSquares(gradients.biasHh());
        if (gradients.weightHr() != null) {
            sum += sumOfSquares(gradients.weightHr());
        }
        return gradients.peepholes() == null ? sum : sum + sumOfSquares(gradients.peepholes());
    }

    private static void scale(LstmGradients gradients, double scale) {
        scale(gradients.weightIh(), scale);
        scale(gradients.weightHh(), scale);
        scale(gradients.biasIh(), scale);
        scale(gradients.biasHh(), scale);
        if (gradients.weightHr() != null) {
            scale(gradients.weightHr(), scale);
        }
        if (gradients.peepholes() != null) {
            scale(gradients.peepholes(), scale);
        }
    }

    private static double sumOfSquares(MemorySegment tensor) {
        return KERNEL.sumOfSquares(tensor, (int) (tensor.byteSize() / Float.BYTES));
    }

    private static void scale(MemorySegment tensor, double scale) {
        KERNEL.scale(tensor, (int) (tensor.byteSize() / Float.BYTES), (float) scale);
    }
}
