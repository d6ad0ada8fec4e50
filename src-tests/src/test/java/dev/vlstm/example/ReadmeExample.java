package dev.vlstm.example;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import dev.vlstm.Cell;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
import dev.vlstm.State;

/** docs/models.md's one-layer example, compiled and run by ReadmeExampleTest; the page quotes the marked region. */
public final class ReadmeExample {

    private ReadmeExample() {
    }

    /** Runs the example on the given PyTorch-layout weights and 100 frames of 40 inputs; returns h [1][256]. */
    public static float[] run(float[] weightIh, float[] weightHh, float[] biasIh, float[] biasHh, float[] frames) {
        // README-BEGIN
        int inputSize = 40, hiddenSize = 256, steps = 100, batch = 1;
        // PyTorch nn.LSTM layout: weight_ih_l0 [4H][I], weight_hh_l0 [4H][H], bias_ih_l0/bias_hh_l0 [4H].
        RnnShape shape = RnnShape.of(Cell.LSTM, inputSize, hiddenSize);
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps);
        try (Parameters parameters = Parameters.fromPyTorch(shape, weightIh, weightHh, biasIh, biasHh);
             Model model = Model.pack(parameters, options);   // packed once, shared by all threads
             Runner runner = model.runner();                  // one per thread: scratch for B rows of T steps
             Arena arena = Arena.ofConfined()) {
            // A whole sequence: x [T][B][I] -> y [T][B][H], hT and cT [B][H] (row-major floats).
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(frames), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * hiddenSize * Float.BYTES);
            MemorySegment hT = arena.allocate((long) batch * hiddenSize * Float.BYTES);
            runner.forward(x, steps, batch, null, null, y, hT, null);   // null h0/c0: zeros

            // A stream, one frame per request: the state carries h and c between calls.
            try (State state = model.newState(batch)) {
                MemorySegment h = arena.allocate((long) batch * hiddenSize * Float.BYTES);
                for (int t = 0; t < steps; t++) {
                    runner.step(x.asSlice((long) t * batch * inputSize * Float.BYTES,
                            (long) batch * inputSize * Float.BYTES), state, h);
                }
                // h now equals hT, bit for bit.
                return h.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT);
            }
        }
        // README-END
    }
}
