package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Streams of a million steps (H = 8, about a second each) stay finite and within their bounds after every step:
 * |h| &le; 1, since an LSTM's h = o·tanh(c) with o in [0, 1] and a GRU's h = (1 - z)·n + z·h with z in [0, 1] and
 * |n| &le; 1; an LSTM's |c_t| &le; t, since c_t = f·c_{t-1} + i·g with f, i in [0, 1] and |g| &le; 1. A model whose
 * gates are all held open drives c towards that bound.
 */
class LongRunTest {

    private static final int STEPS = 1_000_000;
    private static final int INPUT = 4;
    private static final int HIDDEN = 8;
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    @ParameterizedTest
    @EnumSource(Cell.class)
    void aMillionStepsOfARandomModelWithLargeInputsStayFiniteAndBounded(Cell cell) {
        try (TestRnn rnn = new TestRnn(980, RnnShape.of(cell, INPUT, HIDDEN), Options.DEFAULT, true, 3f)) {
            // A prime number of random frames, repeated: no period of the model lines up with it.
            float[] frames = TestRnn.uniform(new SplittableRandom(981), 1009 * INPUT, 100f);
            run(rnn.model, frames);
        }
    }

    @Test
    void aMillionStepsWithEveryGateHeldOpenStayFiniteAndBounded() {
        try (Model model = gatesHeldOpen()) {
            float[] ones = new float[INPUT];
            Arrays.fill(ones, 1f);
            run(model, ones);
        }
    }

    @Test
    void aCellWhoseGatesAreHeldOpenCountsEveryStep() {
        // Exactly, c_T = T within 1e-5 (the gates are 1 within 1e-17). In float, σ(40) and tanh(40) round to 1, so
        // c_T = T as well; a forget gate that saturates below 1 leaks a fraction of c every step.
        try (Model model = gatesHeldOpen();
             State state = model.newState(1)) {
            float[] ones = new float[INPUT];
            Arrays.fill(ones, 1f);
            try (Runner runner = model.runner()) {
                for (int step = 0; step < STEPS; step++) {
                    runner.step(ones, state, null);
                }
            }
            for (float c : state.cell()) {
                assertEquals(STEPS, c, 1, "c after " + STEPS + " steps that each add 1");
            }
        }
    }

    /**
     * An LSTM of zero weights, b_ih 40 and b_hh zero: σ(i), σ(f), σ(o) and tanh(g) are 1 within 1e-17, so c grows by
     * 1 a step.
     */
    private static Model gatesHeldOpen() {
        float[] bias = new float[4 * HIDDEN];
        Arrays.fill(bias, 40f);
        RnnShape shape = RnnShape.of(Cell.LSTM, INPUT, HIDDEN);
        try (Parameters parameters = Parameters.fromPyTorch(shape, new float[4 * HIDDEN * INPUT],
                new float[4 * HIDDEN * HIDDEN], bias, null)) {
            return Model.pack(parameters, Options.DEFAULT);
        }
    }

    /**
     * Streams {@link #STEPS} steps of batch 1 over {@code frames} again and again, checking h and (LSTM) c after
     * each.
     */
    private static void run(Model model, float[] frames) {
        boolean lstm = model.shape().cell().hasCellState();
        try (Runner runner = model.runner();
             State state = model.newState(1);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) frames.length * Float.BYTES);
            MemorySegment.copy(frames, 0, x, FLOAT, 0, frames.length);
            long frameBytes = (long) INPUT * Float.BYTES;
            int frameCount = frames.length / INPUT;
            MemorySegment h = arena.allocate((long) HIDDEN * Float.BYTES);
            MemorySegment c = arena.allocate((long) HIDDEN * Float.BYTES);
            for (int step = 1; step <= STEPS; step++) {
                runner.step(x.asSlice(step % frameCount * frameBytes, frameBytes), state, h);
                if (lstm) {
                    state.copyCellTo(c);
                }
                for (int j = 0; j < HIDDEN; j++) {
                    float hj = h.getAtIndex(FLOAT, j);
                    float cj = c.getAtIndex(FLOAT, j);
                    if (!(Math.abs(hj) <= 1f && Math.abs(cj) <= step)) {
                        throw new AssertionError("step " + step + ", unit " + j + ": h = " + hj + ", c = " + cj
                                + " (expected |h| <= 1 and |c| <= " + step + ")");
                    }
                }
            }
        }
    }
}
