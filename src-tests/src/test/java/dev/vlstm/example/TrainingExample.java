package dev.vlstm.example;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import dev.vlstm.Cell;
import dev.vlstm.GradientMode;
import dev.vlstm.Gradients;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.Trainer;
import dev.vlstm.train.Adam;
import dev.vlstm.train.GradientClipping;

/**
 * docs/training.md's training example, compiled and run by ReadmeExampleTest; the page quotes the marked region. The
 * task: at every step, hidden unit 0 should repeat the previous step's input (a one-step memory), for sequences of
 * T = 20 values in [-0.5, 0.5].
 */
public final class TrainingExample {

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    private TrainingExample() {
    }

    /** Trains for {@code updates} Adam steps; returns each update's mean squared error, before its step. */
    public static double[] train(int updates) {
        int inputSize = 1, hiddenSize = 16, steps = 20, batch = 8;
        double[] losses = new double[updates];
        SplittableRandom random = new SplittableRandom(7);
        // README-BEGIN
        // Parameters in PyTorch's layout, initialised as nn.LSTM does (forget-gate bias +1), and packed once.
        RnnShape shape = RnnShape.of(Cell.LSTM, inputSize, hiddenSize);
        try (Parameters parameters = Parameters.initialize(shape, 42);
             Model model = Model.pack(parameters, Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps));
             Trainer trainer = model.trainer();                         // up to B rows of T steps
             Gradients gradients = new Gradients(shape);                // weight_ih_l0, ..., bias_hh_l0
             Adam adam = new Adam(parameters, gradients, 0.01);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);   // [T][B][I]
            MemorySegment y = arena.allocate((long) steps * batch * hiddenSize * Float.BYTES);  // [T][B][H]
            MemorySegment dy = arena.allocate(y.byteSize());                                    // dL/dy, like y
            for (int update = 0; update < updates; update++) {
                fillBatch(random, x);
                trainer.forward(x, steps, batch, null, null, y, null, null);       // keeps what backward needs
                losses[update] = lossAndGradient(x, y, dy, steps, batch, hiddenSize);
                trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
                GradientClipping.clipGlobalNorm(gradients, 1.0);                   // as clip_grad_norm_
                adam.step();                                                       // updates parameters
                trainer.updateWeights(parameters);                                 // repacks them in place
            }
        }
        // README-END
        return losses;
    }

    /** Inputs drawn uniformly from [-0.5, 0.5]. */
    private static void fillBatch(SplittableRandom random, MemorySegment x) {
        for (long offset = 0; offset < x.byteSize(); offset += Float.BYTES) {
            x.set(FLOAT, offset, (float) (random.nextDouble() - 0.5));
        }
    }

    /**
     * The mean over steps 1..T-1 and rows of (y[t][b][0] - x[t-1][b][0])², and its gradient with respect to y into
     * {@code dy} (zero for every other unit and for step 0).
     */
    private static double lossAndGradient(MemorySegment x, MemorySegment y, MemorySegment dy, int steps, int batch,
                                          int hiddenSize) {
        dy.fill((byte) 0);
        int count = (steps - 1) * batch;
        double sum = 0;
        for (int t = 1; t < steps; t++) {
            for (int b = 0; b < batch; b++) {
                long unit = ((long) t * batch + b) * hiddenSize * Float.BYTES;
                double error = y.get(FLOAT, unit) - x.get(FLOAT, ((long) (t - 1) * batch + b) * Float.BYTES);
                sum += error * error;
                dy.set(FLOAT, unit, (float) (2 * error / count));
            }
        }
        return sum / count;
    }
}
