package dev.vlstm.example;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

import dev.vlstm.GradientMode;
import dev.vlstm.Gradients;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Runner;
import dev.vlstm.State;
import dev.vlstm.Trainer;
import dev.vlstm.Vlstm;

/** docs/models.md's GRU example, compiled and run by GruReadmeExampleTest; the page quotes the marked region. */
public final class GruExample {

    private GruExample() {
    }

    /**
     * Runs the example on a saved nn.GRU and time-major inputs.
     *
     * @return y {@code [T][B][H]}, the streamed h {@code [B][H]}, hT {@code [B][H]} and dx {@code [T][B][I]}
     */
    public static float[][] run(Path model, float[] x, float[] h0, float[] dy, float[] dhT, int steps, int batch)
            throws IOException {
        // README-BEGIN
        // A one-layer nn.GRU, saved with safetensors' save_file(gru.state_dict(), path): weight_ih_l0 [3H][I],
        // weight_hh_l0 [3H][H], bias_ih_l0 and bias_hh_l0 [3H], gate order r, z, n. A GRU has no c: pass null.
        try (Model gru = Vlstm.load(model, Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps));
             Runner runner = gru.runner();                                          // one per thread
             State state = gru.newState(batch)) {
            int inputSize = gru.shape().inputSize();
            int hiddenSize = gru.shape().hiddenSize();
            // A whole sequence: x [T][B][I], h0 [B][H] (null: zeros) -> y [T][B][H], hT [B][H].
            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[batch * hiddenSize];
            runner.forward(x, steps, batch, h0, null, y, hT, null);

            // The same sequence as a stream, one frame a call: h ends equal to hT, bit for bit.
            state.setHidden(h0);
            float[] h = new float[batch * hiddenSize];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * batch * inputSize, (t + 1) * batch * inputSize), state, h);
            }

            // Gradients of sum(y * dy) + sum(hT * dhT): every parameter in PyTorch's layout, and x and h0.
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * hiddenSize];
            try (Trainer trainer = gru.trainer();
                 Gradients gradients = new Gradients(gru.shape())) {
                trainer.forward(x, steps, batch, h0, null, y, hT, null);
                trainer.backward(dy, dhT, null, gradients, GradientMode.OVERWRITE, dx, dh0, null);
                // gradients.tensor("weight_ih_l0") [3H][I], and so on by PyTorch's names: off-heap segments.
            }
            return new float[][]{y, h, hT, dx};
        }
        // README-END
    }
}
