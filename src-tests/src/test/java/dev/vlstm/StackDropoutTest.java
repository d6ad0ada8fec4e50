package dev.vlstm;

import static dev.vlstm.TrainerVsReferenceTest.floats;
import static dev.vlstm.TrainerVsReferenceTest.segment;
import static dev.vlstm.TestModel.doubles;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * Dropout between layers, as {@code nn.LSTM(dropout=p)} in training: p = 0 changes nothing, masks are 0 or
 * 1/(1-p) with the expected share of zeros and reproducible from the seed, and the forward and every gradient through
 * the masks match the reference stack given the same masks (whose backward through them ReferenceStackBackwardTest
 * checks by finite differences). Inference ({@link LstmStackRunner}) never drops.
 */
class StackDropoutTest {

    @Test
    void zeroProbabilityChangesNothingBitForBit() {
        try (TestStack model = new TestStack(1000, 5, 9, 3, true);
             LstmStackTrainer plain = new LstmStackTrainer(model.weights, 3, 6);
             LstmStackTrainer dropped = new LstmStackTrainer(model.weights, 3, 6, 0.0, 42);
             LstmStackGradients expected = new LstmStackGradients(model.weights);
             LstmStackGradients actual = new LstmStackGradients(model.weights)) {
            float[] x = model.input(6, 3);
            float[] dy = model.outputGradient(6, 3);
            float[][] outputs = new float[2][6 * 3 * 18];
            float[][] dx = new float[2][x.length];
            LstmStackTrainer[] trainers = {plain, dropped};
            LstmStackGradients[] gradients = {expected, actual};
            for (int n = 0; n < 2; n++) {
                trainers[n].forward(segment(x), 6, 3, null, null, segment(outputs[n]), null, null);
                trainers[n].backward(segment(dy), null, null, gradients[n], GradientMode.OVERWRITE, segment(dx[n]),
                        null, null);
            }
            assertArrayEquals(outputs[0], outputs[1], "y");
            assertArrayEquals(dx[0], dx[1], "dx");
            assertArrayEquals(floats(expected.layer(0, 1).weightIh()), floats(actual.layer(0, 1).weightIh()));
            assertArrayEquals(floats(expected.layer(2, 0).weightHh()), floats(actual.layer(2, 0).weightHh()));
            float[] mask = dropped.dropoutMask(1);
            for (float value : mask) {
                assertEquals(1f, value);
            }
        }
    }

    @Test
    void masksAreReproducibleFromTheSeedAndFreshEveryForward() {
        try (TestStack model = new TestStack(1001, 4, 6, 3, false);
             LstmStackTrainer first = new LstmStackTrainer(model.weights, 2, 5, 0.5, 7);
             LstmStackTrainer again = new LstmStackTrainer(model.weights, 2, 5, 0.5, 7);
             LstmStackTrainer other = new LstmStackTrainer(model.weights, 2, 5, 0.5, 8)) {
            float[] x = model.input(5, 2);
            float[] previous = null;
            for (int call = 0; call < 3; call++) {
                for (LstmStackTrainer trainer : new LstmStackTrainer[]{first, again, other}) {
                    trainer.forward(segment(x), 5, 2, null, null, null, null, null);
                }
                for (int layer = 0; layer < 2; layer++) {
                    assertArrayEquals(first.dropoutMask(layer), again.dropoutMask(layer), "same seed, call " + call);
                    assertFalse(Arrays.equals(first.dropoutMask(layer), other.dropoutMask(layer)), "other seed");
                }
                assertFalse(Arrays.equals(first.dropoutMask(0), first.dropoutMask(1)), "each layer its own mask");
                if (previous != null) {
                    assertFalse(Arrays.equals(previous, first.dropoutMask(0)), "a fresh mask every forward");
                }
                previous = first.dropoutMask(0);
            }
        }
    }

    /**
     * Over N mask elements the number of zeros is Binomial(N, p): its share lies within 5 standard deviations,
     * 5·sqrt(p(1-p)/N), of p (a false alarm has probability below 1e-6; the masks are seeded, so the test is
     * deterministic), and every other element is exactly 1/(1-p) in float.
     */
    @ParameterizedTest(name = "p={0}")
    @CsvSource({"0.1", "0.3", "0.5", "0.9"})
    void masksDropTheExpectedShareAndScaleTheRest(double probability) {
        try (TestStack model = new TestStack(1002, 3, 16, 3, true);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights, 8, 20, probability, 11)) {
            assertEquals(probability, trainer.dropout());
            trainer.forward(segment(model.input(20, 8)), 20, 8, null, null, null, null, null);
            float scale = (float) (1 / (1 - probability));
            long zeros = 0;
            long count = 0;
            for (int layer = 0; layer < 2; layer++) {
                for (float value : trainer.dropoutMask(layer)) {
                    assertTrue(value == 0f || value == scale, "mask value " + value);
                    zeros += value == 0f ? 1 : 0;
                    count++;
                }
            }
            assertEquals(2L * 20 * 8 * 32, count);
            double share = (double) zeros / count;
            double bound = 5 * Math.sqrt(probability * (1 - probability) / count);
            assertTrue(Math.abs(share - probability) <= bound,
                    "share of zeros " + share + " is more than " + bound + " from " + probability);
        }
    }

    @ParameterizedTest(name = "I={0} H={1} L={2} bidirectional={3} T={4} B={5} p={6}")
    @CsvSource({
            "3, 5, 2, false, 4, 2, 0.4",
            "7, 9, 3, true, 6, 3, 0.25",
            "17, 33, 2, true, 5, 5, 0.6"})
    void forwardAndEveryGradientThroughTheMasksMatchTheReference(int inputSize, int hiddenSize, int layers,
                                                                 boolean bidirectional, int steps, int batch,
                                                                 double probability) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, bidirectional);
        try (TestStack model = new TestStack(1003 + hiddenSize, shape, Backend.PREFERRED, true);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights, batch, steps, probability, 5);
             LstmStackGradients gradients = new LstmStackGradients(model.weights)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.states(batch);
            float[] dy = model.outputGradient(steps, batch);
            float[] dhT = model.states(batch);
            float[] y = new float[dy.length];
            float[] dx = new float[x.length];
            float[] dh0 = new float[h0.length];
            float[] dc0 = new float[h0.length];
            trainer.forward(segment(x), steps, batch, segment(h0), null, segment(y), null, null);
            trainer.backward(segment(dy), segment(dhT), null, gradients, GradientMode.OVERWRITE, segment(dx),
                    segment(dh0), segment(dc0));
            double[][] masks = new double[layers - 1][];
            for (int layer = 0; layer < layers - 1; layer++) {
                masks[layer] = doubles(trainer.dropoutMask(layer));
            }
            ReferenceStack.Result expected = model.reference.forward(doubles(x), steps, batch, doubles(h0), null,
                    masks);
            ForwardVsReferenceTest.assertWithin("y", y, expected.y());
            StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, model.reference.backward(doubles(x),
                    steps, batch, doubles(h0), null, masks, doubles(dy), doubles(dhT), null));
            float[] inference = new float[y.length];
            try (LstmStackRunner runner = new LstmStackRunner(model.weights, batch, steps)) {
                runner.forward(x, steps, batch, h0, null, inference, null, null);
            }
            ForwardVsReferenceTest.assertWithin("inference y (no dropout)", inference,
                    model.reference.forward(x, steps, batch, h0, null).y());
        }
    }

    @Test
    void badProbabilitiesAndMaskRequestsAreRefused() {
        try (TestStack model = new TestStack(1004, 3, 4, 2, false)) {
            for (double p : new double[]{-0.1, 1.0, Double.NaN}) {
                IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class,
                        () -> new LstmStackTrainer(model.weights, 1, 1, p, 0));
                assertEquals("dropout must be in [0, 1), got " + p, thrown.getMessage());
            }
            try (LstmStackTrainer plain = new LstmStackTrainer(model.weights, 1, 1);
                 LstmStackTrainer dropped = new LstmStackTrainer(model.weights, 1, 1, 0.5, 0)) {
                assertEquals("this LstmStackTrainer was made without dropout",
                        assertThrows(IllegalStateException.class, () -> plain.dropoutMask(0)).getMessage());
                assertEquals("no dropout mask before the first forward",
                        assertThrows(IllegalStateException.class, () -> dropped.dropoutMask(0)).getMessage());
                assertTrue(assertThrows(IndexOutOfBoundsException.class, () -> dropped.dropoutMask(1)).getMessage()
                        .contains("only the layers below the top one are dropped"));
            }
        }
    }
}
