package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceLstm;

/** Streaming one step at a time with a carried {@link LstmState} equals the sequence forward, bit for bit. */
class StreamingTest {

    @ParameterizedTest(name = "{5} I={0} H={1} T={2} B={3} initialState={4}")
    @CsvSource({
            "1, 1, 7, 1, false, PREFERRED",
            "17, 33, 12, 1, true, PREFERRED",
            "33, 17, 9, 3, false, PREFERRED",
            "100, 100, 20, 4, true, PREFERRED",
            "3, 257, 5, 9, true, PREFERRED",
            "257, 3, 6, 6, false, PREFERRED",
            "17, 33, 12, 1, true, SCALAR",
            "33, 17, 9, 5, true, SCALAR"})
    void steppingEqualsSequenceForward(int inputSize, int hiddenSize, int steps, int batch, boolean initialState,
                                       Backend backend) {
        try (TestModel model = new TestModel(99 + hiddenSize, inputSize, hiddenSize, backend);
             LstmRunner runner = new LstmRunner(model.weights, batch);
             LstmState state = new LstmState(model.weights, batch)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.state(batch) : null;
            float[] c0 = initialState ? model.state(batch) : null;
            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[batch * hiddenSize];
            float[] cT = new float[batch * hiddenSize];
            runner.forward(x, steps, batch, h0, c0, y, hT, cT);

            if (initialState) {
                state.setHidden(h0);
                state.setCell(c0);
            }
            int frame = batch * inputSize;
            float[] h = new float[batch * hiddenSize];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * frame, (t + 1) * frame), state, h);
                float[] expected = Arrays.copyOfRange(y, t * batch * hiddenSize, (t + 1) * batch * hiddenSize);
                assertArrayEquals(expected, h, "h after step " + t);
            }
            assertArrayEquals(hT, state.hidden(), "hT");
            assertArrayEquals(cT, state.cell(), "cT");
        }
    }

    @ParameterizedTest(name = "H={0}")
    @CsvSource({"1", "33", "256"})
    void nativeSegmentsStreamLikeArraysAndMatchReference(int hiddenSize) {
        int inputSize = 5;
        int steps = 4;
        try (TestModel model = new TestModel(5, inputSize, hiddenSize);
             LstmRunner runner = new LstmRunner(model.weights, 1);
             LstmState state = new LstmState(model.weights, 1);
             Arena arena = Arena.ofConfined()) {
            float[] x = model.input(steps, 1);
            MemorySegment frame = arena.allocate((long) inputSize * Float.BYTES);
            MemorySegment h = arena.allocate((long) hiddenSize * Float.BYTES);
            for (int t = 0; t < steps; t++) {
                MemorySegment.copy(x, t * inputSize, frame, ValueLayout.JAVA_FLOAT, 0, inputSize);
                runner.step(frame, state, h);
            }
            ReferenceLstm.Result expected = model.reference.forward(x, steps, 1, null, null);
            float[] last = h.toArray(ValueLayout.JAVA_FLOAT);
            ForwardVsReferenceTest.assertWithin("h", last, expected.hT());
            assertArrayEquals(last, state.hidden());
        }
    }

    @ParameterizedTest(name = "H={0}")
    @CsvSource({"1", "20"})
    void resetReturnsToZeroState(int hiddenSize) {
        try (TestModel model = new TestModel(8, 3, hiddenSize);
             LstmRunner runner = new LstmRunner(model.weights, 2);
             LstmState state = new LstmState(model.weights, 2)) {
            float[] x = model.input(1, 2);
            float[] first = new float[2 * hiddenSize];
            runner.step(x, state, first);
            runner.step(x, state, null);
            state.reset();
            assertArrayEquals(new float[2 * hiddenSize], state.hidden());
            assertArrayEquals(new float[2 * hiddenSize], state.cell());
            float[] again = new float[2 * hiddenSize];
            runner.step(x, state, again);
            assertArrayEquals(first, again);
            assertEquals(2, state.batch());
        }
    }
}
