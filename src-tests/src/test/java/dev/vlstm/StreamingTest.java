package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * Streaming a unidirectional LSTM or GRU one step at a time with a carried {@link State} gives what its sequence
 * forward gives, bit for bit: every step's top-layer h, and every layer's final h and (LSTM) c; from arrays and from
 * native segments alike. A bidirectional model refuses to stream.
 */
class StreamingTest {

    static Stream<Arguments> streams() {
        Stream<Arguments> listed = Stream.of(
                Arguments.of(Backend.PREFERRED, 1, 1, 1, 7, 1, false),
                Arguments.of(Backend.PREFERRED, 17, 33, 1, 12, 1, true),
                Arguments.of(Backend.PREFERRED, 33, 17, 1, 9, 3, false),
                Arguments.of(Backend.PREFERRED, 100, 100, 1, 20, 4, true),
                Arguments.of(Backend.PREFERRED, 3, 257, 1, 5, 9, true),
                Arguments.of(Backend.PREFERRED, 257, 3, 1, 6, 6, false),
                Arguments.of(Backend.PREFERRED, 40, 20, 1, 5, 3, true),
                Arguments.of(Backend.PREFERRED, 40, 3, 1, 5, 3, true),
                Arguments.of(Backend.PREFERRED, 3, 5, 2, 7, 2, true),
                Arguments.of(Backend.PREFERRED, 1, 1, 3, 4, 1, false),
                Arguments.of(Backend.PREFERRED, 17, 33, 3, 6, 5, true),
                Arguments.of(Backend.PREFERRED, 33, 17, 2, 5, 9, false),
                Arguments.of(Backend.SCALAR, 17, 33, 1, 12, 1, true),
                Arguments.of(Backend.SCALAR, 33, 17, 1, 9, 5, true),
                Arguments.of(Backend.SCALAR, 5, 9, 3, 4, 2, true));
        Stream<Arguments> oneLayer = ForwardVsReferenceTest.oneLayerSizes().map(sizes -> Arguments.of(
                Backend.PREFERRED, sizes.inputSize(), sizes.hiddenSize(), 1, sizes.steps(), sizes.batch(),
                sizes.initialState()));
        return TestRnn.forEveryCell(Stream.concat(listed, oneLayer));
    }

    @ParameterizedTest(name = "{0} {1} I={2} H={3} L={4} T={5} B={6} initialState={7}")
    @MethodSource("streams")
    void stepsEqualTheSequenceForwardBitForBit(Cell cell, Backend backend, int inputSize, int hiddenSize, int layers,
                                               int steps, int batch, boolean initialState) {
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers);
        try (TestRnn rnn = new TestRnn(900 + hiddenSize, shape, Options.DEFAULT.withBackend(backend));
             Runner runner = rnn.runner(batch, steps);
             State state = rnn.model.newState(batch)) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = initialState ? rnn.hiddenStates(batch) : null;
            float[] c0 = initialState ? rnn.cellStates(batch) : null;
            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[layers * batch * hiddenSize];
            float[] cT = cell.hasCellState() ? new float[hT.length] : null;
            runner.forward(x, steps, batch, h0, c0, y, hT, cT);

            if (h0 != null) {
                state.setHidden(h0);
            }
            if (c0 != null) {
                state.setCell(c0);
            }
            int frame = batch * inputSize;
            float[] h = new float[batch * hiddenSize];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * frame, (t + 1) * frame), state, h);
                assertArrayEquals(Arrays.copyOfRange(y, t * h.length, (t + 1) * h.length), h, "h after step " + t);
            }
            assertArrayEquals(hT, state.hidden(), "h_n");
            if (cT != null) {
                assertArrayEquals(cT, state.cell(), "c_n");
            }
        }
    }

    @ParameterizedTest(name = "{0} L={1} H={2} B={3}")
    @CsvSource({"LSTM, 1, 1, 1", "LSTM, 1, 33, 1", "LSTM, 1, 256, 1", "LSTM, 3, 11, 2",
            "GRU, 1, 1, 1", "GRU, 1, 33, 1", "GRU, 1, 256, 1", "GRU, 3, 11, 2"})
    void nativeSegmentsStreamLikeArraysAndMatchTheReference(Cell cell, int layers, int hiddenSize, int batch) {
        int inputSize = 6;
        int steps = 5;
        try (TestRnn rnn = new TestRnn(910 + hiddenSize, RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers),
                Options.DEFAULT);
             Runner runner = rnn.runner(batch, 1);
             State arrays = rnn.model.newState(batch);
             State segments = rnn.model.newState(batch);
             Arena arena = Arena.ofConfined()) {
            float[] x = rnn.input(steps, batch);
            int frame = batch * inputSize;
            MemorySegment frameSegment = arena.allocate((long) frame * Float.BYTES);
            MemorySegment h = arena.allocate((long) batch * hiddenSize * Float.BYTES);
            float[] expected = new float[batch * hiddenSize];
            for (int t = 0; t < steps; t++) {
                MemorySegment.copy(x, t * frame, frameSegment, ValueLayout.JAVA_FLOAT, 0, frame);
                runner.step(Arrays.copyOfRange(x, t * frame, (t + 1) * frame), arrays, expected);
                runner.step(frameSegment, segments, h);
                assertArrayEquals(expected, h.toArray(ValueLayout.JAVA_FLOAT), "step " + t);
            }
            ReferenceStack.Result reference = rnn.reference.forward(x, steps, batch, null, null);
            MemorySegment hidden = arena.allocate((long) layers * batch * hiddenSize * Float.BYTES);
            segments.copyHiddenTo(hidden);
            assertArrayEquals(arrays.hidden(), hidden.toArray(ValueLayout.JAVA_FLOAT));
            ForwardVsReferenceTest.assertWithin("h_n", hidden.toArray(ValueLayout.JAVA_FLOAT), reference.hT());
            if (cell.hasCellState()) {
                MemorySegment cells = arena.allocate((long) layers * batch * hiddenSize * Float.BYTES);
                segments.copyCellTo(cells);
                assertArrayEquals(arrays.cell(), cells.toArray(ValueLayout.JAVA_FLOAT));
                ForwardVsReferenceTest.assertWithin("c_n", cells.toArray(ValueLayout.JAVA_FLOAT), reference.cT());
            }
        }
    }

    @ParameterizedTest(name = "{0} L={1} H={2}")
    @CsvSource({"LSTM, 1, 1", "LSTM, 1, 20", "LSTM, 2, 4", "GRU, 1, 1", "GRU, 1, 20", "GRU, 2, 4"})
    void resetReturnsEveryLayerToZero(Cell cell, int layers, int hiddenSize) {
        try (TestRnn rnn = new TestRnn(911, RnnShape.of(cell, 3, hiddenSize).withLayers(layers), Options.DEFAULT);
             Runner runner = rnn.runner(2, 1);
             State state = rnn.model.newState(2)) {
            float[] x = rnn.input(1, 2);
            float[] first = new float[2 * hiddenSize];
            runner.step(x, state, first);
            runner.step(x, state, null);
            state.reset();
            assertArrayEquals(new float[layers * 2 * hiddenSize], state.hidden());
            if (cell.hasCellState()) {
                assertArrayEquals(new float[layers * 2 * hiddenSize], state.cell());
            }
            float[] again = new float[2 * hiddenSize];
            runner.step(x, state, again);
            assertArrayEquals(first, again);
            assertEquals(2, state.batch());
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void aBidirectionalModelRefusesToStreamAndSaysWhy(Cell cell) {
        RnnShape shape = RnnShape.of(cell, 3, 4).withLayers(2).withDirection(Direction.BIDIRECTIONAL);
        try (TestRnn rnn = new TestRnn(912, shape, Options.DEFAULT)) {
            IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                    () -> rnn.model.newState(1));
            assertTrue(thrown.getMessage().contains("a bidirectional model cannot be streamed")
                    && thrown.getMessage().contains("reads the sequence from the last step back")
                    && thrown.getMessage().contains("Runner.forward"), thrown.getMessage());
        }
    }
}
