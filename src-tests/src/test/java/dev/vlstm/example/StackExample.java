package dev.vlstm.example;

import java.io.IOException;
import java.nio.file.Path;

import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
import dev.vlstm.Vlstm;

/** docs/models.md's stacked-model example, compiled and run by ReadmeExampleTest; the page quotes the marked region. */
public final class StackExample {

    private StackExample() {
    }

    /** Runs a whole nn.LSTM saved as safetensors on {@code x [T][B][I]}; returns y {@code [T][B][D·H]}. */
    public static float[] run(Path model, float[] x, float[] h0, float[] c0, int steps, int batch) throws IOException {
        // README-BEGIN
        // A state_dict of nn.LSTM(input_size, hidden_size, num_layers=L, bidirectional=True), e.g. from
        // safetensors.torch.save_file(lstm.state_dict(), path); the configuration is read from the names.
        try (Model lstm = Vlstm.load(model, Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps));
             Runner runner = lstm.runner()) {                                       // up to B rows of T steps
            RnnShape shape = lstm.shape();
            // y [T][B][D·H]: each row holds the forward direction's h, then the reverse direction's.
            float[] y = new float[steps * batch * shape.outputSize()];
            // h0, c0, h_n, c_n [L·D][B][H]: layer by layer, forward then reverse, as PyTorch's h_n.
            float[] hn = new float[shape.stateCount() * batch * shape.hiddenSize()];
            runner.forward(x, steps, batch, h0, c0, y, hn, null);
            return y;
        }
        // README-END
    }
}
