package dev.vlstm;

import static dev.vlstm.TestRnn.doubles;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * Truncated BPTT windows ({@link TruncatedBptt}) over a {@link Trainer}, against the reference of each window alone
 * from the carried state, for LSTM and GRU stacks; one window is full backpropagation through time, bit for bit,
 * also with PyTorch's projection and with peepholes (h of width P, c of width H carried).
 */
class TruncatedBpttTest {

    private static final int INPUT = 3;
    private static final int HIDDEN = 7;
    private static final int BATCH = 2;

    @ParameterizedTest
    @EnumSource(Cell.class)
    void truncatedWindowsCarryTheStateAndCutTheGradientAtTheirBorder(Cell cell) {
        int window = 4;
        int steps = 10;
        RnnShape shape = RnnShape.of(cell, INPUT, HIDDEN).withLayers(2);
        boolean lstm = cell.hasCellState();
        try (TestRnn rnn = new TestRnn(701, shape, Options.DEFAULT.withMaxBatch(BATCH).withMaxSteps(window));
             Trainer trainer = rnn.model.trainer();
             TruncatedBptt truncated = new TruncatedBptt(trainer);
             Gradients gradients = new Gradients(shape)) {
            float[] x = rnn.input(steps, BATCH);
            float[] dy = rnn.uniform(steps * BATCH * HIDDEN, 1f);
            float[] h0 = rnn.hiddenStates(BATCH);
            float[] c0 = lstm ? rnn.cellStates(BATCH) : null;
            float[] hT = new float[h0.length];
            float[] cT = lstm ? new float[c0.length] : null;
            List<String> windows = new ArrayList<>();
            truncated.run(MemorySegment.ofArray(x), steps, BATCH, MemorySegment.ofArray(h0),
                    TrainerVsReferenceTest.segment(c0),
                    (start, length, y, windowDy) -> MemorySegment.copy(MemorySegment.ofArray(dy),
                            (long) start * BATCH * HIDDEN * Float.BYTES, windowDy, 0, windowDy.byteSize()),
                    gradients, GradientMode.ACCUMULATE, (start, length) -> windows.add(start + "+" + length),
                    MemorySegment.ofArray(hT), TrainerVsReferenceTest.segment(cT));
            assertEquals(List.of("0+4", "4+4", "8+2"), windows);

            // The reference of each window alone, from the carried state: nothing flows across a border.
            List<ReferenceStack.Gradients> perWindow = new ArrayList<>();
            double[] h = doubles(h0);
            double[] c = lstm ? doubles(c0) : null;
            for (int start = 0; start < steps; start += window) {
                int length = Math.min(window, steps - start);
                double[] windowX = doubles(Arrays.copyOfRange(x, start * BATCH * INPUT, (start + length) * BATCH * INPUT));
                double[] windowDy = doubles(Arrays.copyOfRange(dy, start * BATCH * HIDDEN,
                        (start + length) * BATCH * HIDDEN));
                perWindow.add(rnn.reference.backward(windowX, length, BATCH, h, c, null, windowDy, null, null));
                ReferenceStack.Result carried = rnn.reference.forward(windowX, length, BATCH, h, c, null);
                h = carried.hT();
                c = carried.cT();
            }
            ForwardVsReferenceTest.assertWithin("hT after the last window", hT, h);
            if (lstm) {
                ForwardVsReferenceTest.assertWithin("cT after the last window", cT, c);
            }
            for (int layer = 0; layer < 2; layer++) {
                int part = layer;
                assertSummed(gradients, shape.tensorName("weight_ih", layer, 0), perWindow, g -> g.weightIh()[part]);
                assertSummed(gradients, shape.tensorName("weight_hh", layer, 0), perWindow, g -> g.weightHh()[part]);
                assertSummed(gradients, shape.tensorName("bias_ih", layer, 0), perWindow, g -> g.biasIh()[part]);
                assertSummed(gradients, shape.tensorName("bias_hh", layer, 0), perWindow, g -> g.biasHh()[part]);
            }
        }
    }

    /** One window is full BPTT, bit for bit, for every tensor, hT and cT. */
    @ParameterizedTest
    @EnumSource(OneWindow.class)
    void oneTruncatedWindowIsFullBackpropagationThroughTime(OneWindow model) {
        int steps = 6;
        int batch = 3;
        RnnShape shape = model.shape;
        boolean lstm = shape.cell().hasCellState();
        try (TestRnn rnn = new TestRnn(702, shape, Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps));
             Trainer trainer = rnn.model.trainer();
             TruncatedBptt truncated = new TruncatedBptt(trainer);
             Gradients windowed = new Gradients(shape);
             Gradients full = new Gradients(shape)) {
            MemorySegment x = MemorySegment.ofArray(rnn.input(steps, batch));
            MemorySegment h0 = MemorySegment.ofArray(rnn.hiddenStates(batch));
            MemorySegment c0 = lstm ? MemorySegment.ofArray(rnn.cellStates(batch)) : null;
            float[] dy = rnn.uniform(steps * batch * shape.outputSize(), 1f);
            float[] hT = new float[(int) (h0.byteSize() / Float.BYTES)];
            float[] cT = lstm ? new float[(int) (c0.byteSize() / Float.BYTES)] : null;
            truncated.run(x, steps, batch, h0, c0, (start, length, y, windowDy) ->
                    MemorySegment.copy(MemorySegment.ofArray(dy), 0, windowDy, 0, windowDy.byteSize()),
                    windowed, GradientMode.OVERWRITE, null, MemorySegment.ofArray(hT),
                    TrainerVsReferenceTest.segment(cT));
            float[] fullHT = new float[hT.length];
            float[] fullCT = lstm ? new float[cT.length] : null;
            trainer.forward(x, steps, batch, h0, c0, null, MemorySegment.ofArray(fullHT),
                    TrainerVsReferenceTest.segment(fullCT));
            trainer.backward(MemorySegment.ofArray(dy), null, null, full, GradientMode.OVERWRITE, null, null, null);
            assertArrayEquals(fullHT, hT);
            if (lstm) {
                assertArrayEquals(fullCT, cT);
            }
            for (String name : full.names()) {
                assertArrayEquals(floats(full.tensor(name)), floats(windowed.tensor(name)), name);
            }
        }
    }

    @Test
    void truncatedBpttRefusesBadInputByName() {
        RnnShape shape = RnnShape.of(Cell.LSTM, 2, 3);
        try (TestRnn rnn = new TestRnn(703, shape, Options.DEFAULT.withMaxBatch(2).withMaxSteps(4));
             Trainer trainer = rnn.model.trainer();
             TruncatedBptt truncated = new TruncatedBptt(trainer);
             Gradients gradients = new Gradients(shape)) {
            MemorySegment x = MemorySegment.ofArray(rnn.input(9, 2));
            TruncatedBptt.WindowLoss loss = (start, length, y, dy) -> { };
            IllegalArgumentException tooBig = assertThrows(IllegalArgumentException.class, () ->
                    truncated.run(MemorySegment.ofArray(rnn.input(9, 3)), 9, 3, null, null, loss, gradients,
                            GradientMode.OVERWRITE, null, null, null));
            assertTrue(tooBig.getMessage().contains("maxBatch"), tooBig.getMessage());
            IllegalArgumentException shortX = assertThrows(IllegalArgumentException.class, () ->
                    truncated.run(x, 10, 2, null, null, loss, gradients, GradientMode.OVERWRITE, null, null, null));
            assertTrue(shortX.getMessage().startsWith("x "), shortX.getMessage());
            IllegalArgumentException shortH0 = assertThrows(IllegalArgumentException.class, () ->
                    truncated.run(x, 9, 2, MemorySegment.ofArray(new float[5]), null, loss, gradients,
                            GradientMode.OVERWRITE, null, null, null));
            assertTrue(shortH0.getMessage().startsWith("h0 "), shortH0.getMessage());
            assertThrows(NullPointerException.class, () ->
                    truncated.run(x, 9, 2, null, null, null, gradients, GradientMode.OVERWRITE, null, null, null));
            truncated.close();
            assertThrows(IllegalStateException.class, () ->
                    truncated.run(x, 9, 2, null, null, loss, gradients, GradientMode.OVERWRITE, null, null, null));
        }
    }

    @Test
    void truncatedBpttRefusesABidirectionalModelAndAGrusCellState() {
        RnnShape bidirectional = RnnShape.of(Cell.LSTM, 2, 3).withDirection(Direction.BIDIRECTIONAL);
        try (TestRnn rnn = new TestRnn(704, bidirectional, Options.DEFAULT.withMaxBatch(2).withMaxSteps(4));
             Trainer trainer = rnn.model.trainer()) {
            IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                    () -> new TruncatedBptt(trainer));
            assertTrue(refused.getMessage().contains("unidirectional"), refused.getMessage());
        }
        RnnShape gru = RnnShape.of(Cell.GRU, 2, 3);
        try (TestRnn rnn = new TestRnn(705, gru, Options.DEFAULT.withMaxBatch(2).withMaxSteps(4));
             Trainer trainer = rnn.model.trainer();
             TruncatedBptt truncated = new TruncatedBptt(trainer);
             Gradients gradients = new Gradients(gru)) {
            MemorySegment x = MemorySegment.ofArray(rnn.input(5, 2));
            IllegalArgumentException c0 = assertThrows(IllegalArgumentException.class, () -> truncated.run(x, 5, 2,
                    null, MemorySegment.ofArray(new float[6]), (start, length, y, dy) -> { }, gradients,
                    GradientMode.OVERWRITE, null, null, null));
            assertEquals("c0 must be null for a GRU model: a GRU has no cell state", c0.getMessage());
        }
    }

    /** The models whose one window is checked against full BPTT. */
    enum OneWindow {
        LSTM(RnnShape.of(Cell.LSTM, 5, 9)),
        LSTM_PROJECTED_PEEPHOLES(RnnShape.of(Cell.LSTM, 4, 9).withProjection(4).withPeepholes(true).withLayers(2)),
        GRU_STACK(RnnShape.of(Cell.GRU, 5, 9).withLayers(2));

        final RnnShape shape;

        OneWindow(RnnShape shape) {
            this.shape = shape;
        }
    }

    /** Checks gradient {@code name} against the sum over windows of the reference's {@code tensor}. */
    private static void assertSummed(Gradients gradients, String name, List<ReferenceStack.Gradients> windows,
                                     java.util.function.Function<ReferenceStack.Gradients, double[]> tensor) {
        double[] sum = new double[tensor.apply(windows.get(0)).length];
        for (ReferenceStack.Gradients window : windows) {
            double[] values = tensor.apply(window);
            for (int n = 0; n < sum.length; n++) {
                sum[n] += values[n];
            }
        }
        TrainerVsReferenceTest.assertClose(name + " summed over windows", floats(gradients.tensor(name)), sum);
    }
}
