package dev.vlstm.example;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

import dev.vlstm.Model;
import dev.vlstm.NonFiniteInputs;
import dev.vlstm.Options;
import dev.vlstm.Runner;
import dev.vlstm.State;
import dev.vlstm.Vlstm;

/** The README's quickstart, compiled and run by ReadmeExampleTest; the README quotes the marked region. */
public final class QuickstartExample {

    private QuickstartExample() {
    }

    /**
     * Streams {@code frames} (T frames of I floats, one stream) through the unidirectional model saved at
     * {@code path}, one step per frame; returns the top layer's h after the last frame, {@code [S]}.
     */
    public static float[] run(Path path, float[][] frames) throws IOException {
        // README-BEGIN
        // Once per process: load and pack the model, an nn.LSTM or nn.GRU state_dict (the cell, layers, directions
        // and proj_size come from the tensors); every thread shares it.
        Model model = Vlstm.load(path, Options.DEFAULT.withNonFiniteInputs(NonFiniteInputs.REJECT));
        int inputSize = model.shape().inputSize(), outputSize = model.shape().outputSize();

        // Once per worker thread: a runner, its scratch allocated up front, warmed before it takes traffic.
        Runner runner = model.runner();
        runner.warmUp();                                 // compiles the kernels; returns a WarmUp report
        Arena arena = Arena.ofConfined();
        MemorySegment x = arena.allocate((long) inputSize * Float.BYTES);    // [B=1][I]
        MemorySegment h = arena.allocate((long) outputSize * Float.BYTES);   // [B=1][S]: H, or P with proj_size

        // Once per stream (a session, a device): every layer's h (and an LSTM's c), zero at first.
        State stream = model.newState(1);

        // Per request: one frame in, the top layer's new h out; nothing is allocated once warm.
        for (float[] frame : frames) {
            MemorySegment.copy(frame, 0, x, ValueLayout.JAVA_FLOAT, 0, inputSize);
            runner.step(x, stream, h);
        }
        float[] last = h.toArray(ValueLayout.JAVA_FLOAT);   // the last frame's output, on the heap

        // When done: close() frees off-heap memory, which the GC never does.
        stream.close();
        runner.close();
        arena.close();
        model.close();
        // README-END
        return last;
    }
}
