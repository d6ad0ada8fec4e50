package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
import static dev.vlstm.VariableLengthTest.fromLayout;
import static dev.vlstm.VariableLengthTest.toLayout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/**
 * Stacked and bidirectional models with projection (PyTorch's {@code proj_size} P): every layer's h has P features,
 * so layer k &ge; 1 reads D·P, y is {@code [T][B][D·P]}, h_n {@code [L·D][B][P]} and c_n {@code [L·D][B][H]}.
 * Against the double reference stack of projected cells (each checked by central differences in
 * ProjectionReferenceBackwardTest), max |error| &le; {@value ForwardVsReferenceTest#TOLERANCE} as
 * ForwardVsReferenceTest; streaming bit for bit the sequence forward; misfits refused by name. Training is
 * {@link ProjectionStackTrainingTest}'s.
 */
class StackProjectionTest {

    /** A random projected stack: packed weights and the reference, PyTorch's initialisation. */
    record Model(LstmStackShape shape, LstmStackWeights weights, ReferenceStack reference)
            implements AutoCloseable {

        static Model random(long seed, LstmStackShape shape, Backend backend) {
            SplittableRandom random = new SplittableRandom(seed);
            int hidden = shape.hiddenSize();
            int projection = shape.projectionSize();
            float bound = (float) (1 / Math.sqrt(hidden));
            LstmWeights[] packed = new LstmWeights[shape.stateCount()];
            ReferenceLstm[] cells = new ReferenceLstm[packed.length];
            for (int n = 0; n < packed.length; n++) {
                int input = shape.layerInputSize(n / shape.directions());
                float[] weightIh = TestModel.uniform(random, 4 * hidden * input, bound);
                float[] weightHh = TestModel.uniform(random, 4 * hidden * projection, bound);
                float[] biasIh = TestModel.uniform(random, 4 * hidden, bound);
                float[] biasHh = TestModel.uniform(random, 4 * hidden, bound);
                float[] weightHr = TestModel.uniform(random, projection * hidden, bound);
                packed[n] = LstmWeights.fromPyTorch(backend, WeightPrecision.FLOAT32, input, hidden, projection,
                        weightIh, weightHh, biasIh, biasHh, weightHr);
                cells[n] = ReferenceLstm.projected(input, hidden, projection, weightIh, weightHh, biasIh, biasHh,
                        weightHr);
            }
            return new Model(shape, LstmStackWeights.of(shape.bidirectional(), packed),
                    new ReferenceStack(shape.bidirectional(), cells));
        }

        @Override
        public void close() {
            weights.close();
        }
    }

    @ParameterizedTest(name = "{7} I={0} H={1} P={2} L={3} bidirectional={4} T={5} B={6}")
    @CsvSource({
            "3, 5, 2, 2, true, 6, 4, PREFERRED",
            "17, 33, 16, 2, true, 5, 7, PREFERRED",
            "5, 20, 1, 3, false, 4, 3, PREFERRED",
            "7, 17, 5, 2, true, 5, 9, SCALAR"})
    void forwardMatchesTheReferenceAlsoWithLengthsInBothLayouts(int inputSize, int hiddenSize, int projection,
                                                                int layers, boolean bidirectional, int steps,
                                                                int batch, Backend backend) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, bidirectional, projection);
        try (Model model = Model.random(900 + 10L * hiddenSize + projection, shape, backend);
             LstmStackRunner runner = new LstmStackRunner(model.weights(), batch, steps)) {
            SplittableRandom random = new SplittableRandom(910 + batch);
            int states = shape.stateCount() * batch;
            float[] x = TestModel.uniform(random, steps * batch * inputSize, 1f);
            float[] h0 = TestModel.uniform(random, states * projection, 1f);
            float[] c0 = TestModel.uniform(random, states * hiddenSize, 1f);
            float[] y = new float[steps * batch * shape.outputSize()];
            float[] hT = new float[h0.length];
            float[] cT = new float[c0.length];
            runner.forward(x, steps, batch, h0, c0, y, hT, cT);
            ReferenceStack.Result expected = model.reference().forward(doubles(x), steps, batch, doubles(h0),
                    doubles(c0), null);
            ForwardVsReferenceTest.assertWithin("y", y, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());

            int[] lengths = VariableLengthTest.lengths(batch * 7L + steps, steps, batch);
            ReferenceStack.Result expectedPacked = model.reference().forward(doubles(x), steps, batch, lengths,
                    doubles(h0), doubles(c0), null);
            for (SequenceLayout layout : SequenceLayout.values()) {
                float[] packedY = new float[y.length];
                runner.forward(toLayout(x, layout, steps, batch, inputSize), layout, steps, batch, lengths, h0, c0,
                        packedY, hT, cT);
                ForwardVsReferenceTest.assertWithin(layout + " y",
                        fromLayout(packedY, layout, steps, batch, shape.outputSize()), expectedPacked.y());
                ForwardVsReferenceTest.assertWithin(layout + " hT", hT, expectedPacked.hT());
                ForwardVsReferenceTest.assertWithin(layout + " cT", cT, expectedPacked.cT());
            }
        }
    }

    @Test
    void streamingIsTheSequenceForwardBitForBitWithPWideHiddenStates() {
        int steps = 6;
        int batch = 3;
        LstmStackShape shape = new LstmStackShape(4, 9, 3, false, 4);
        try (Model model = Model.random(920, shape, Backend.PREFERRED);
             LstmStackRunner runner = new LstmStackRunner(model.weights(), batch, steps);
             LstmStackState state = new LstmStackState(model.weights(), batch)) {
            SplittableRandom random = new SplittableRandom(921);
            float[] x = TestModel.uniform(random, steps * batch * 4, 1f);
            float[] h0 = TestModel.uniform(random, 3 * batch * 4, 1f);
            float[] c0 = TestModel.uniform(random, 3 * batch * 9, 1f);
            float[] y = new float[steps * batch * 4];
            float[] hT = new float[h0.length];
            float[] cT = new float[c0.length];
            runner.forward(x, steps, batch, h0, c0, y, hT, cT);
            state.setHidden(h0);
            state.setCell(c0);
            float[] h = new float[batch * 4];
            for (int t = 0; t < steps; t++) {
                runner.step(Arrays.copyOfRange(x, t * batch * 4, (t + 1) * batch * 4), state, h);
                assertArrayEquals(Arrays.copyOfRange(y, t * batch * 4, (t + 1) * batch * 4), h, "y at step " + t);
            }
            assertArrayEquals(hT, state.hidden(), "h_n, [L][B][P]");
            assertArrayEquals(cT, state.cell(), "c_n, [L][B][H]");
            Throwable wrongWidth = assertThrows(IllegalArgumentException.class,
                    () -> state.setHidden(new float[3 * batch * 9]));
            assertTrue(wrongWidth.getMessage().contains("[L=3][B=3][P=4]"), wrongWidth.getMessage());
        }
    }

    @Test
    void misfitsAreRefusedByName() {
        LstmStackShape shape = new LstmStackShape(3, 6, 2, true, 2);
        assertEquals(4, shape.outputSize());
        assertEquals(4, shape.layerInputSize(1));
        assertEquals(2, shape.hiddenStateSize());
        Throwable tooWide = assertThrows(IllegalArgumentException.class, () -> new LstmStackShape(3, 6, 2, true, 6));
        assertTrue(tooWide.getMessage().contains("projectionSize 6 is outside 0..hiddenSize-1"), tooWide.getMessage());
        try (Model model = Model.random(930, shape, Backend.PREFERRED);
             LstmStackRunner runner = new LstmStackRunner(model.weights(), 2, 3)) {
            assertEquals(shape, model.weights().shape());
            Throwable hiddenOfH = assertThrows(IllegalArgumentException.class, () -> runner.forward(new float[3 * 2 * 3],
                    3, 2, new float[4 * 2 * 6], null, null, null, null));
            assertTrue(hiddenOfH.getMessage().contains("h0 must hold [L*D=4][B=2][P=2]"), hiddenOfH.getMessage());
        }
        try (Model projected = Model.random(931, new LstmStackShape(3, 6, 1, false, 2), Backend.PREFERRED);
             Model other = Model.random(932, new LstmStackShape(2, 6, 1, false, 3), Backend.PREFERRED)) {
            Throwable mixed = assertThrows(IllegalArgumentException.class, () -> LstmStackWeights.of(false,
                    projected.weights().layer(0, 0), other.weights().layer(0, 0)));
            assertTrue(mixed.getMessage().contains("layers[1] has projectionSize 3, but layers[0] has 2"),
                    mixed.getMessage());
        }
    }
}
