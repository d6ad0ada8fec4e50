package dev.vlstm.example;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
import dev.vlstm.Vlstm;

/** docs/service-guide.md's one-call loading example, compiled and run by ReadmeExampleTest; the page quotes it. */
public final class ModelExample {

    private ModelExample() {
    }

    /**
     * Runs an nn.LSTM or nn.GRU saved as safetensors on {@code x [T][B][I]}; returns y {@code [T][B][D·S]}.
     * {@code c0} is null for a GRU.
     */
    public static float[] run(Path path, float[] x, float[] h0, float[] c0, int steps, int batch,
                              Duration warmUpLimit) throws IOException {
        // README-BEGIN
        // Any nn.LSTM or nn.GRU state_dict: the cell, layers, directions and proj_size come from the tensors.
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps);   // also precision, threads, ...
        try (Model model = Vlstm.load(path, options);   // reads, packs and closes the file; shared by all threads
             Runner runner = model.runner()) {          // one per thread: scratch for B rows of T steps
            runner.warmUp(warmUpLimit);                 // compiles the kernels before the first request
            RnnShape shape = model.shape();
            float[] y = new float[steps * batch * shape.outputSize()];           // [T][B][D·S]
            runner.forward(x, steps, batch, h0, c0, y, null, null);               // c0 and cT: null for a GRU
            return y;
        }
        // README-END
    }
}
