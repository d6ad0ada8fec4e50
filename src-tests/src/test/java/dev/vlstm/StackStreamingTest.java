package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Streaming a unidirectional stack step by step gives what its sequence forward gives, bit for bit: every step's
 * top-layer h, and every layer's final h and c. A bidirectional model refuses to stream.
 */
class StackStreamingTest {

    @ParameterizedTest(name = "{6} I={0} H={1} L={2} T={3} B={4} initialState={5}")
    @CsvSource({
            "3, 5, 2, 7, 2, true, PREFERRED",
            "1, 1, 3, 4, 1, false, PREFERRED",
            "17, 33, 3, 6, 5, true, PREFERRED",
            "40, 20, 1, 5, 3, true, PREFERRED",
            "33, 17, 2, 5, 9, false, PREFERRED",
            "5, 9, 3, 4, 2, true, SCALAR"})
    void stepsEqualTheSequenceForwardBitForBit(int inputSize, int hiddenSize, int layers, int steps, int batch,
                                               boolean initialState, Backend backend) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, false);
        try (TestStack model = new TestStack(900 + hiddenSize, shape, backend, true);
             LstmStackRunner runner = new LstmStackRunner(model.weights, batch, steps);
             LstmStackState state = new LstmStackState(model.weights, batch)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.states(batch) : null;
            float[] c0 = initialState ? model.states(batch) : null;
            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[layers * batch * hiddenSize];
            float[] cT = new float[layers * batch * hiddenSize];
            runner.forward(x, steps, batch, h0, c0, y, hT, cT);

            if (initialState) {
                state.setHidden(h0);
                state.setCell(c0);
            }
            int frame = batch * inputSize;
            float[] h = new float[batch * hiddenSize];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * frame, (t + 1) * frame), state, h);
                assertArrayEquals(Arrays.copyOfRange(y, t * h.length, (t + 1) * h.length), h, "h after step " + t);
            }
            assertArrayEquals(hT, state.hidden(), "h_n");
            assertArrayEquals(cT, state.cell(), "c_n");
        }
    }

    @Test
    void nativeSegmentsStreamLikeArrays() {
        try (TestStack model = new TestStack(910, 6, 11, 3, false);
             LstmStackRunner runner = new LstmStackRunner(model.weights, 2, 1);
             LstmStackState arrays = new LstmStackState(model.weights, 2);
             LstmStackState segments = new LstmStackState(model.weights, 2);
             Arena arena = Arena.ofConfined()) {
            MemorySegment frame = arena.allocate(2 * 6 * Float.BYTES);
            MemorySegment h = arena.allocate(2 * 11 * Float.BYTES);
            float[] expected = new float[2 * 11];
            for (int t = 0; t < 5; t++) {
                float[] x = model.input(1, 2);
                MemorySegment.copy(x, 0, frame, ValueLayout.JAVA_FLOAT, 0, x.length);
                runner.step(x, arrays, expected);
                runner.step(frame, segments, h);
                assertArrayEquals(expected, h.toArray(ValueLayout.JAVA_FLOAT), "step " + t);
            }
            MemorySegment cells = arena.allocate(3 * 2 * 11 * Float.BYTES);
            segments.copyCellTo(cells);
            assertArrayEquals(arrays.cell(), cells.toArray(ValueLayout.JAVA_FLOAT));
        }
    }

    @Test
    void resetReturnsEveryLayerToZero() {
        try (TestStack model = new TestStack(911, 3, 4, 2, false);
             LstmStackRunner runner = new LstmStackRunner(model.weights, 2, 1);
             LstmStackState state = new LstmStackState(model.weights, 2)) {
            float[] x = model.input(1, 2);
            float[] first = new float[2 * 4];
            runner.step(x, state, first);
            runner.step(x, state, null);
            state.reset();
            assertArrayEquals(new float[2 * 2 * 4], state.hidden());
            assertArrayEquals(new float[2 * 2 * 4], state.cell());
            float[] again = new float[2 * 4];
            runner.step(x, state, again);
            assertArrayEquals(first, again);
        }
    }

    @Test
    void aBidirectionalModelRefusesToStreamAndSaysWhy() {
        try (TestStack model = new TestStack(912, 3, 4, 2, true)) {
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                    () -> new LstmStackState(model.weights, 1));
            assertTrue(thrown.getMessage().contains("a bidirectional model cannot be streamed")
                    && thrown.getMessage().contains("needs the whole sequence"), thrown.getMessage());
        }
    }
}
