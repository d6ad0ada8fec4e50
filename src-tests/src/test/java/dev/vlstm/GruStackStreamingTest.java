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
 * Streaming a unidirectional GRU stack step by step gives what its sequence forward gives, bit for bit: every step's
 * top-layer h, and every layer's final h. A bidirectional model refuses to stream.
 */
class GruStackStreamingTest {

    @ParameterizedTest(name = "{6} I={0} H={1} L={2} T={3} B={4} initialState={5}")
    @CsvSource({
            "3, 5, 2, 7, 2, true, PREFERRED",
            "1, 1, 3, 4, 1, false, PREFERRED",
            "17, 33, 3, 6, 5, true, PREFERRED",
            "40, 3, 1, 5, 3, true, PREFERRED",
            "33, 17, 2, 5, 9, false, PREFERRED",
            "5, 9, 3, 4, 2, true, SCALAR"})
    void stepsEqualTheSequenceForwardBitForBit(int inputSize, int hiddenSize, int layers, int steps, int batch,
                                               boolean initialState, Backend backend) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, false);
        try (TestGruStack model = new TestGruStack(950 + hiddenSize, shape, backend, true);
             GruStackRunner runner = new GruStackRunner(model.weights, batch, steps);
             GruStackState state = new GruStackState(model.weights, batch)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.states(batch) : null;
            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[layers * batch * hiddenSize];
            runner.forward(x, steps, batch, h0, y, hT);

            if (initialState) {
                state.setHidden(h0);
            }
            int frame = batch * inputSize;
            float[] h = new float[batch * hiddenSize];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * frame, (t + 1) * frame), state, h);
                assertArrayEquals(Arrays.copyOfRange(y, t * h.length, (t + 1) * h.length), h, "h after step " + t);
            }
            assertArrayEquals(hT, state.hidden(), "h_n");
        }
    }

    @Test
    void nativeSegmentsStreamLikeArrays() {
        try (TestGruStack model = new TestGruStack(960, 6, 11, 3, false);
             GruStackRunner runner = new GruStackRunner(model.weights, 2, 1);
             GruStackState arrays = new GruStackState(model.weights, 2);
             GruStackState segments = new GruStackState(model.weights, 2);
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
            MemorySegment hidden = arena.allocate(3 * 2 * 11 * Float.BYTES);
            segments.copyHiddenTo(hidden);
            assertArrayEquals(arrays.hidden(), hidden.toArray(ValueLayout.JAVA_FLOAT));
        }
    }

    @Test
    void resetReturnsEveryLayerToZero() {
        try (TestGruStack model = new TestGruStack(961, 3, 4, 2, false);
             GruStackRunner runner = new GruStackRunner(model.weights, 2, 1);
             GruStackState state = new GruStackState(model.weights, 2)) {
            float[] x = model.input(1, 2);
            float[] first = new float[2 * 4];
            runner.step(x, state, first);
            runner.step(x, state, null);
            state.reset();
            assertArrayEquals(new float[2 * 2 * 4], state.hidden());
            float[] again = new float[2 * 4];
            runner.step(x, state, again);
            assertArrayEquals(first, again);
        }
    }

    @Test
    void aBidirectionalModelRefusesToStreamAndSaysWhy() {
        try (TestGruStack model = new TestGruStack(962, 3, 4, 2, true)) {
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                    () -> new GruStackState(model.weights, 1));
            assertTrue(thrown.getMessage().contains("a bidirectional model cannot be streamed")
                    && thrown.getMessage().contains("GruStackRunner.forward"), thrown.getMessage());
        }
    }
}
