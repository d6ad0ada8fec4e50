package dev.vlstm;

import static dev.vlstm.ParametersBadInputTest.message;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Every refusal of {@link Runner#forward}, {@link Runner#step} and {@link State}, for both cells: sizes below one or
 * above the runner's limits, arrays and segments of the wrong length (named with their shape, in P for a projected
 * LSTM), nulls, read-only outputs, a state of another model, segments of a closed or foreign arena, and closed
 * objects. A refused step leaves the state as it was.
 */
class RunnerBadInputTest {

    private static final int I = 3;
    private static final int H = 5;

    /** The refusal of an argument {@code name} of {@code shape} ({@code floats} floats) given {@code given}. */
    static String mustHold(String name, String shape, int floats, int given) {
        return name + " must hold " + shape + " = " + floats + " floats (" + 4 * floats + " bytes), but it holds "
                + given + " floats (" + 4 * given + " bytes)";
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void forwardArgumentsAreNamedWithTheirShape(Cell cell) {
        try (TestRnn model = new TestRnn(1, RnnShape.of(cell, I, H), Options.DEFAULT);
             Runner runner = model.runner(4, 2)) {
            float[] x = new float[2 * 3 * I];
            assertEquals("steps must be >= 1, got 0", message(IllegalArgumentException.class,
                    () -> runner.forward(new float[0], 0, 1, null, null, null, null, null)));
            assertEquals("batch must be >= 1, got 0", message(IllegalArgumentException.class,
                    () -> runner.forward(new float[0], 1, 0, null, null, null, null, null)));
            assertEquals(mustHold("x", "[T=2][B=3][I=3]", 18, 17), message(IllegalArgumentException.class,
                    () -> runner.forward(new float[17], 2, 3, null, null, null, null, null)));
            assertEquals(mustHold("h0", "[L*D=1][B=3][H=5]", 15, 14), message(IllegalArgumentException.class,
                    () -> runner.forward(x, 2, 3, new float[14], null, null, null, null)));
            assertEquals(mustHold("y", "[T=2][B=3][D*H=5]", 30, 29), message(IllegalArgumentException.class,
                    () -> runner.forward(x, 2, 3, null, null, new float[29], null, null)));
            assertEquals(mustHold("hT", "[L*D=1][B=3][H=5]", 15, 1), message(IllegalArgumentException.class,
                    () -> runner.forward(x, 2, 3, null, null, null, new float[1], null)));
            if (cell.hasCellState()) {
                assertEquals(mustHold("c0", "[L*D=1][B=3][H=5]", 15, 16), message(IllegalArgumentException.class,
                        () -> runner.forward(x, 2, 3, null, new float[16], null, null, null)));
                assertEquals(mustHold("cT", "[L*D=1][B=3][H=5]", 15, 1), message(IllegalArgumentException.class,
                        () -> runner.forward(x, 2, 3, null, null, null, null, new float[1])));
            }
            assertEquals("batch 5 exceeds this Runner's maxBatch 4 (Options.maxBatch)",
                    message(IllegalArgumentException.class,
                            () -> runner.forward(new float[2 * 5 * I], 2, 5, null, null, null, null, null)));
            assertEquals("x must not be null", message(NullPointerException.class,
                    () -> runner.forward((float[]) null, 2, 3, null, null, null, null, null)));
            assertEquals("x must not be null (expected [T=1][B=1][I=3] floats)", message(NullPointerException.class,
                    () -> runner.forward((MemorySegment) null, 1, 1, null, null, null, null, null)));
            MemorySegment one = MemorySegment.ofArray(new float[I]);
            assertEquals("y is an output but the segment is read-only", message(IllegalArgumentException.class,
                    () -> runner.forward(one, 1, 1, null, null, readOnly(H), null, null)));
            assertEquals("hT is an output but the segment is read-only", message(IllegalArgumentException.class,
                    () -> runner.forward(one, 1, 1, null, null, null, readOnly(H), null)));
            if (cell.hasCellState()) {
                assertEquals("cT is an output but the segment is read-only", message(IllegalArgumentException.class,
                        () -> runner.forward(one, 1, 1, null, null, null, null, readOnly(H))));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void aStacksForwardArgumentsAreNamedWithTheirShape(Cell cell) {
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(2).withDirection(Direction.BIDIRECTIONAL);
        try (TestRnn model = new TestRnn(1100, shape, Options.DEFAULT); Runner runner = model.runner(3, 4)) {
            float[] x = model.input(4, 3);
            assertEquals(mustHold("x", "[T=4][B=3][I=3]", 36, 35), message(IllegalArgumentException.class,
                    () -> runner.forward(new float[35], 4, 3, null, null, null, null, null)));
            assertEquals(mustHold("h0", "[L*D=4][B=3][H=5]", 60, 15), message(IllegalArgumentException.class,
                    () -> runner.forward(x, 4, 3, new float[15], null, null, null, null)));
            if (cell.hasCellState()) {
                assertEquals(mustHold("c0", "[L*D=4][B=3][H=5]", 60, 30), message(IllegalArgumentException.class,
                        () -> runner.forward(x, 4, 3, null, new float[30], null, null, null)));
            }
            assertEquals(mustHold("y", "[T=4][B=3][D*H=10]", 120, 60), message(IllegalArgumentException.class,
                    () -> runner.forward(x, 4, 3, null, null, new float[60], null, null)));
            assertEquals(mustHold("hT", "[L*D=4][B=3][H=5]", 60, 15), message(IllegalArgumentException.class,
                    () -> runner.forward(x, 4, 3, null, null, null, new float[15], null)));
            assertEquals("steps 5 exceeds this Runner's maxSteps 4 (Options.maxSteps)",
                    message(IllegalArgumentException.class,
                            () -> runner.forward(model.input(5, 3), 5, 3, null, null, null, null, null)));
            assertEquals("batch 4 exceeds this Runner's maxBatch 3 (Options.maxBatch)",
                    message(IllegalArgumentException.class,
                            () -> runner.forward(model.input(4, 4), 4, 4, null, null, null, null, null)));
            assertEquals("y is an output but the segment is read-only", message(IllegalArgumentException.class,
                    () -> runner.forward(MemorySegment.ofArray(x), 4, 3, null, null, readOnly(120), null, null)));
        }
    }

    /** One and three layers: the state's h is [L][B][H], a step's x and h are [B][I] and [B][H] of the top. */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void aStepWithBadArgumentsLeavesTheStateAsItWas(Cell cell) {
        for (int layers : new int[] {1, 3}) {
            RnnShape shape = RnnShape.of(cell, I, H).withLayers(layers);
            try (TestRnn model = new TestRnn(1101, shape, Options.DEFAULT);
                 TestRnn other = new TestRnn(1102, RnnShape.of(cell, I, H + 1), Options.DEFAULT);
                 Runner runner = model.runner(2, 1);
                 State state = model.model.newState(2);
                 State large = model.model.newState(3);
                 State foreign = other.model.newState(2)) {
                runner.step(model.input(1, 2), state, null);
                float[] hidden = state.hidden();
                float[] cell0 = cell.hasCellState() ? state.cell() : null;
                assertEquals(mustHold("h", "[B=2][H=5]", 10, 9), message(IllegalArgumentException.class,
                        () -> runner.step(model.input(1, 2), state, new float[9])));
                assertEquals(mustHold("x", "[B=2][I=3]", 6, 5), message(IllegalArgumentException.class,
                        () -> runner.step(new float[5], state, null)));
                assertEquals("h is an output but the segment is read-only", message(IllegalArgumentException.class,
                        () -> runner.step(MemorySegment.ofArray(model.input(1, 2)), state, readOnly(2 * H))));
                assertEquals("x must not be null", message(NullPointerException.class,
                        () -> runner.step((float[]) null, state, null)));
                assertEquals("x must not be null (expected [B=2][I=3] floats)", message(NullPointerException.class,
                        () -> runner.step((MemorySegment) null, state, null)));
                assertEquals("state must not be null", message(NullPointerException.class,
                        () -> runner.step(new float[2 * I], null, null)));
                assertEquals("state is for a model of " + other.shape + ", but this runner's is " + shape,
                        message(IllegalArgumentException.class, () -> runner.step(new float[2 * I], foreign, null)));
                String tooLarge = message(IllegalArgumentException.class,
                        () -> runner.step(model.input(1, 3), large, null));
                assertEquals("batch 3 exceeds this Runner's maxBatch 2 (Options.maxBatch)", tooLarge);
                assertEquals(mustHold("h", "[L=" + layers + "][B=2][H=5]", 10 * layers, 3),
                        message(IllegalArgumentException.class, () -> state.setHidden(new float[3])));
                assertEquals("h must not be null",
                        message(NullPointerException.class, () -> state.setHidden((float[]) null)));
                assertEquals(mustHold("out", "[L=" + layers + "][B=2][H=5]", 10 * layers, 10 * layers + 1),
                        message(IllegalArgumentException.class,
                                () -> state.copyHiddenTo(MemorySegment.ofArray(new float[10 * layers + 1]))));
                assertEquals("out is an output but the segment is read-only", message(IllegalArgumentException.class,
                        () -> state.copyHiddenTo(readOnly(10 * layers))));
                if (cell.hasCellState()) {
                    assertEquals(mustHold("c", "[L=" + layers + "][B=2][H=5]", 10 * layers, 10 * layers - 1),
                            message(IllegalArgumentException.class, () -> state.setCell(new float[10 * layers - 1])));
                    assertEquals("out is an output but the segment is read-only",
                            message(IllegalArgumentException.class, () -> state.copyCellTo(readOnly(10 * layers))));
                    assertArrayEquals(cell0, state.cell(), "c unchanged by refused calls");
                }
                assertArrayEquals(hidden, state.hidden(), "h unchanged by refused calls");
                assertEquals("batch must be >= 1, got -2",
                        message(IllegalArgumentException.class, () -> model.model.newState(-2)));
            }
        }
    }

    @Test
    void hiddenStatesOfAProjectedLstmHoldPNotH() {
        RnnShape plainShape = RnnShape.of(Cell.LSTM, I, H);
        RnnShape shape = plainShape.withProjection(2);
        try (TestRnn model = new TestRnn(1, shape, Options.DEFAULT);
             TestRnn plain = new TestRnn(3, plainShape, Options.DEFAULT);
             Runner runner = model.runner(2, 3);
             State state = model.model.newState(2);
             State plainState = plain.model.newState(1)) {
            float[] x = new float[3 * 2 * I];
            assertEquals(mustHold("h0", "[L*D=1][B=2][P=2]", 4, 10), message(IllegalArgumentException.class,
                    () -> runner.forward(x, 3, 2, new float[2 * H], null, null, null, null)));
            assertEquals(mustHold("c0", "[L*D=1][B=2][H=5]", 10, 4), message(IllegalArgumentException.class,
                    () -> runner.forward(x, 3, 2, null, new float[4], null, null, null)));
            assertEquals(mustHold("y", "[T=3][B=2][D*P=2]", 12, 30), message(IllegalArgumentException.class,
                    () -> runner.forward(x, 3, 2, null, null, new float[3 * 2 * H], null, null)));
            assertEquals(mustHold("hT", "[L*D=1][B=2][P=2]", 4, 10), message(IllegalArgumentException.class,
                    () -> runner.forward(x, 3, 2, null, null, null, new float[2 * H], null)));
            assertEquals(mustHold("y", "[B=2][T=3][D*P=2]", 12, 30), message(IllegalArgumentException.class,
                    () -> runner.forward(x, SequenceLayout.BATCH_FIRST, 3, 2, new int[] {3, 1}, null, null,
                            new float[3 * 2 * H], null, null)));
            assertEquals(mustHold("h", "[B=2][P=2]", 4, 10), message(IllegalArgumentException.class,
                    () -> runner.step(new float[2 * I], state, new float[2 * H])));
            assertEquals(mustHold("h", "[L=1][B=2][P=2]", 4, 10),
                    message(IllegalArgumentException.class, () -> state.setHidden(new float[2 * H])));
            assertEquals(mustHold("c", "[L=1][B=2][H=5]", 10, 4),
                    message(IllegalArgumentException.class, () -> state.setCell(new float[4])));
            assertEquals("state is for a model of " + plainShape + ", but this runner's is " + shape,
                    message(IllegalArgumentException.class, () -> runner.step(new float[I], plainState, null)));
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void segmentsOfAnotherThreadsConfinedArenaAreReported(Cell cell) throws InterruptedException {
        try (TestRnn model = new TestRnn(7, RnnShape.of(cell, I, H), Options.DEFAULT);
             Runner runner = model.runner(1, 1);
             Arena mine = Arena.ofConfined()) {
            MemorySegment x = mine.allocate((long) I * Float.BYTES);
            Throwable[] thrown = new Throwable[1];
            Thread other = new Thread(() -> {
                try {
                    runner.forward(x, 1, 1, null, null, null, null, null);
                } catch (Throwable e) {
                    thrown[0] = e;
                }
            });
            other.start();
            other.join();
            IllegalStateException e = assertInstanceOf(IllegalStateException.class, thrown[0]);
            assertTrue(e.getMessage().startsWith("x: this segment belongs to a confined arena of another thread"),
                    e.getMessage());
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void closedArenasStatesRunnersAndModelsAreReported(Cell cell) {
        TestRnn model = new TestRnn(4, RnnShape.of(cell, I, H), Options.DEFAULT);
        Runner runner = model.runner(1, 1);
        State state = model.model.newState(1);
        Arena arena = Arena.ofConfined();
        MemorySegment x = arena.allocate((long) I * Float.BYTES);
        arena.close();
        assertEquals("x: the arena of this segment is already closed", message(IllegalStateException.class,
                () -> runner.forward(x, 1, 1, null, null, null, null, null)));
        assertEquals("x: the arena of this segment is already closed",
                message(IllegalStateException.class, () -> runner.step(x, state, null)));
        state.close();
        assertEquals("this State is closed",
                message(IllegalStateException.class, () -> runner.step(new float[I], state, null)));
        assertEquals("this State is closed", message(IllegalStateException.class, () -> state.setHidden(new float[H])));
        runner.close();
        assertEquals("this Runner is closed", message(IllegalStateException.class,
                () -> runner.forward(new float[I], 1, 1, null, null, null, null, null)));
        try (Runner second = model.runner(1, 1)) {
            model.close();
            assertEquals("this Model is closed", message(IllegalStateException.class,
                    () -> second.forward(new float[I], 1, 1, null, null, null, null, null)));
            assertEquals("this Model is closed", message(IllegalStateException.class, () -> model.runner(1, 1)));
            assertEquals("this Model is closed", message(IllegalStateException.class, () -> model.model.newState(1)));
        }
        // Closing twice is harmless.
        runner.close();
        state.close();
        model.close();
        assertEquals(I, model.model.shape().inputSize());
    }

    private static MemorySegment readOnly(int floats) {
        return MemorySegment.ofArray(new float[floats]).asReadOnly();
    }
}
