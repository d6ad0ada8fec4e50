package dev.vlstm.example;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

import dev.vlstm.Backend;
import dev.vlstm.GradientMode;
import dev.vlstm.GruGradients;
import dev.vlstm.GruRunner;
import dev.vlstm.GruState;
import dev.vlstm.GruTrainer;
import dev.vlstm.GruWeights;
import dev.vlstm.io.PyTorchGru;
import dev.vlstm.io.SafeTensors;

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
        // weight_hh_l0 [3H][H], bias_ih_l0 and bias_hh_l0 [3H], gate order r, z, n.
        try (SafeTensors file = SafeTensors.open(model);
             GruWeights weights = PyTorchGru.load(file, null, Backend.PREFERRED);   // or GruWeights.fromPyTorch(...)
             GruRunner runner = new GruRunner(weights, batch);                      // one per thread
             GruState state = new GruState(weights, batch)) {
            int inputSize = weights.inputSize();
            int hiddenSize = weights.hiddenSize();
            // A whole sequence: x [T][B][I], h0 [B][H] (null: zeros) -> y [T][B][H], hT [B][H].
            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[batch * hiddenSize];
            runner.forward(x, steps, batch, h0, y, hT);

            // The same sequence as a stream, one frame a call: h ends equal to hT, bit for bit.
            state.setHidden(h0);
            float[] h = new float[batch * hiddenSize];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * batch * inputSize, (t + 1) * batch * inputSize), state, h);
            }

            // Gradients of sum(y * dy) + sum(hT * dhT): every parameter in PyTorch's layout, and x and h0.
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * hiddenSize];
            try (GruTrainer trainer = new GruTrainer(weights, batch, steps);
                 GruGradients gradients = new GruGradients(weights)) {
                trainer.forward(x, steps, batch, h0, y, hT);
                trainer.backward(dy, dhT, gradients, GradientMode.OVERWRITE, dx, dh0);
                // gradients.weightIh() [3H][I], weightHh() [3H][H], biasIh() and biasHh() [3H]: off-heap segments.
            }
            return new float[][]{y, h, hT, dx};
        }
        // README-END
    }
}
