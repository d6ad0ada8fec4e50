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

import dev.vlstm.reference.ReferenceLstm;

/**
 * Truncated BPTT windows ({@link TruncatedBptt}) over an {@link LstmTrainer}, against the reference of each window
 * alone from the carried state; one window is full backpropagation through time, bit for bit, also with PyTorch's
 * projection (h of width P, c of width H carried). TruncatedBptt takes an {@link LstmTrainer}, not a
 * {@link Trainer}, so these tests drive one.
 */
class TruncatedBpttTest {

    @Test
    void truncatedWindowsCarryTheStateAndCutTheGradientAtTheirBorder() {
        int window = 4;
        int steps = 10;
        try (TestModel model = new TestModel(701, 3, 7);
             LstmTrainer trainer = new LstmTrainer(model.weights, 2, window);
             TruncatedBptt truncated = new TruncatedBptt(trainer);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            float[] x = model.input(steps, 2);
            float[] dy = model.uniform(steps * 2 * 7, 1f);
            float[] h0 = model.uniform(2 * 7, 0.5f);
            float[] hT = new float[2 * 7];
            List<int[]> windows = new ArrayList<>();
            truncated.run(MemorySegment.ofArray(x), steps, 2, MemorySegment.ofArray(h0), null,
                    (start, length, y, windowDy) -> MemorySegment.copy(MemorySegment.ofArray(dy),
                            (long) start * 2 * 7 * Float.BYTES, windowDy, 0, windowDy.byteSize()),
                    gradients, GradientMode.ACCUMULATE, (start, length) -> windows.add(new int[]{start, length}),
                    MemorySegment.ofArray(hT), null);
            assertEquals(List.of("0+4", "4+4", "8+2"), windows.stream().map(w -> w[0] + "+" + w[1]).toList());

            // The reference of each window alone, from the carried state: nothing flows across a border.
            double[] expectedWeightIh = new double[4 * 7 * 3];
            double[] expectedWeightHh = new double[4 * 7 * 7];
            double[] expectedBias = new double[4 * 7];
            double[] h = doubles(h0);
            double[] c = new double[2 * 7];
            for (int start = 0; start < steps; start += window) {
                int length = Math.min(window, steps - start);
                double[] windowX = doubles(Arrays.copyOfRange(x, start * 2 * 3, (start + length) * 2 * 3));
                double[] windowDy = doubles(Arrays.copyOfRange(dy, start * 2 * 7, (start + length) * 2 * 7));
                ReferenceLstm.Gradients reference = model.reference.backward(windowX, length, 2, h, c, windowDy,
                        null, null);
                add(expectedWeightIh, reference.weightIh());
                add(expectedWeightHh, reference.weightHh());
                add(expectedBias, reference.biasIh());
                ReferenceLstm.Result carried = model.reference.forward(windowX, length, 2, h, c);
                h = carried.hT();
                c = carried.cT();
            }
            ForwardVsReferenceTest.assertWithin("hT after the last window", hT, h);
            TrainerVsReferenceTest.assertClose("weightIh summed over windows", floats(gradients.weightIh()),
                    expectedWeightIh);
            TrainerVsReferenceTest.assertClose("weightHh summed over windows", floats(gradients.weightHh()),
                    expectedWeightHh);
            TrainerVsReferenceTest.assertClose("biasIh summed over windows", floats(gradients.biasIh()),
                    expectedBias);
        }
    }

    @Test
    void oneTruncatedWindowIsFullBackpropagationThroughTime() {
        try (TestModel model = new TestModel(702, 5, 9);
             LstmTrainer trainer = new LstmTrainer(model.weights, 3, 6);
             TruncatedBptt truncated = new TruncatedBptt(trainer);
             LstmGradients windowed = new LstmGradients(model.weights);
             LstmGradients full = new LstmGradients(model.weights)) {
            MemorySegment x = MemorySegment.ofArray(model.input(6, 3));
            float[] dy = model.uniform(6 * 3 * 9, 1f);
            truncated.run(x, 6, 3, null, null, (start, length, y, windowDy) ->
                    MemorySegment.copy(MemorySegment.ofArray(dy), 0, windowDy, 0, windowDy.byteSize()),
                    windowed, GradientMode.OVERWRITE, null, null, null);
            trainer.forward(x, 6, 3, null, null, null, null, null);
            trainer.backward(MemorySegment.ofArray(dy), null, null, full, GradientMode.OVERWRITE, null, null, null);
            assertArrayEquals(floats(full.weightIh()), floats(windowed.weightIh()));
            assertArrayEquals(floats(full.weightHh()), floats(windowed.weightHh()));
            assertArrayEquals(floats(full.biasHh()), floats(windowed.biasHh()));
        }
    }

    /** One window of truncated BPTT is full BPTT, bit for bit, with h of width P and c of width H carried. */
    @Test
    void oneWindowOfAProjectedLstmIsFullBackpropagationThroughTime() {
        int steps = 6;
        int batch = 3;
        try (ProjectedTestModel model = new ProjectedTestModel(1250, 4, 9, 4);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch, steps);
             TruncatedBptt truncated = new TruncatedBptt(trainer);
             LstmGradients windowed = new LstmGradients(model.weights);
             LstmGradients full = new LstmGradients(model.weights)) {
            MemorySegment x = MemorySegment.ofArray(model.input(steps, batch));
            MemorySegment h0 = MemorySegment.ofArray(model.hidden(batch));
            MemorySegment c0 = MemorySegment.ofArray(model.cell(batch));
            float[] dy = model.uniform(steps * batch * 4, 1f);
            float[] hT = new float[batch * 4];
            float[] cT = new float[batch * 9];
            truncated.run(x, steps, batch, h0, c0, (start, length, y, windowDy) ->
                    MemorySegment.copy(MemorySegment.ofArray(dy), 0, windowDy, 0, windowDy.byteSize()),
                    windowed, GradientMode.OVERWRITE, null, MemorySegment.ofArray(hT), MemorySegment.ofArray(cT));
            float[] fullHT = new float[batch * 4];
            float[] fullCT = new float[batch * 9];
            trainer.forward(x, steps, batch, h0, c0, null, MemorySegment.ofArray(fullHT),
                    MemorySegment.ofArray(fullCT));
            trainer.backward(MemorySegment.ofArray(dy), null, null, full, GradientMode.OVERWRITE, null, null, null);
            assertArrayEquals(fullHT, hT);
            assertArrayEquals(fullCT, cT);
            assertArrayEquals(floats(full.weightIh()), floats(windowed.weightIh()));
            assertArrayEquals(floats(full.weightHh()), floats(windowed.weightHh()));
            assertArrayEquals(floats(full.weightHr()), floats(windowed.weightHr()));
            assertArrayEquals(floats(full.biasHh()), floats(windowed.biasHh()));
        }
    }

    @Test
    void truncatedBpttRefusesBadInputByName() {
        try (TestModel model = new TestModel(703, 2, 3);
             LstmTrainer trainer = new LstmTrainer(model.weights, 2, 4);
             TruncatedBptt truncated = new TruncatedBptt(trainer);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            MemorySegment x = MemorySegment.ofArray(model.input(9, 2));
            TruncatedBptt.WindowLoss loss = (start, length, y, dy) -> { };
            IllegalArgumentException tooBig = assertThrows(IllegalArgumentException.class, () ->
                    truncated.run(MemorySegment.ofArray(model.input(9, 3)), 9, 3, null, null, loss, gradients,
                            GradientMode.OVERWRITE, null, null, null));
            assertTrue(tooBig.getMessage().contains("maxBatch"), tooBig.getMessage());
            IllegalArgumentException shortX = assertThrows(IllegalArgumentException.class, () ->
                    truncated.run(x, 10, 2, null, null, loss, gradients, GradientMode.OVERWRITE, null, null, null));
            assertTrue(shortX.getMessage().startsWith("x "), shortX.getMessage());
            assertThrows(NullPointerException.class, () ->
                    truncated.run(x, 9, 2, null, null, null, gradients, GradientMode.OVERWRITE, null, null, null));
            truncated.close();
            assertThrows(IllegalStateException.class, () ->
                    truncated.run(x, 9, 2, null, null, loss, gradients, GradientMode.OVERWRITE, null, null, null));
        }
    }

    private static void add(double[] sum, double[] values) {
        for (int n = 0; n < sum.length; n++) {
            sum[n] += values[n];
        }
    }
}
