package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static dev.vlstm.TrainerVsReferenceTest.segment;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * Stacked and bidirectional models against the double-precision {@link ReferenceStack} (itself checked by finite
 * differences in ReferenceStackBackwardTest): the runner's y, h_n and c_n, and the trainer's every gradient, on odd
 * shapes, with and without initial states, final-state gradients and biases, for both kernels.
 *
 * <p>Tolerances: forward, ForwardVsReferenceTest's max |error| &le; {@value ForwardVsReferenceTest#TOLERANCE} (the
 * largest error measured here, through up to three layers, is below a tenth of it); gradients, as
 * TrainerVsReferenceTest, max |error| &le; {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} of each tensor's largest
 * value.
 */
class StackVsReferenceTest {

    @ParameterizedTest(name = "{8} I={0} H={1} L={2} bidirectional={3} T={4} B={5} initialState={6} bias={7}")
    @CsvSource({
            "3, 5, 2, false, 4, 2, true, true, PREFERRED",
            "1, 1, 3, true, 1, 1, false, true, PREFERRED",
            "17, 33, 2, true, 7, 5, true, true, PREFERRED",
            "33, 17, 3, false, 6, 3, false, true, PREFERRED",
            "5, 20, 3, true, 9, 4, true, false, PREFERRED",
            "7, 3, 1, true, 5, 6, true, true, PREFERRED",
            "3, 5, 2, true, 4, 2, true, true, SCALAR",
            "17, 9, 3, false, 5, 3, false, false, SCALAR"})
    void forwardAndEveryGradientMatchTheReference(int inputSize, int hiddenSize, int layers, boolean bidirectional,
                                                  int steps, int batch, boolean initialState, boolean bias,
                                                  Backend backend) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, bidirectional);
        try (TestStack model = new TestStack(700 + 10L * hiddenSize + layers, shape, backend, bias);
             LstmStackRunner runner = new LstmStackRunner(model.weights, batch + 1, steps + 2);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights, batch, steps);
             LstmStackGradients gradients = new LstmStackGradients(model.weights)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.states(batch) : null;
            float[] c0 = initialState ? model.states(batch) : null;
            int states = shape.stateCount() * batch * hiddenSize;
            float[] y = new float[steps * batch * shape.outputSize()];
            float[] hT = new float[states];
            float[] cT = new float[states];
            runner.forward(x, steps, batch, h0, c0, y, hT, cT);
            ReferenceStack.Result expected = model.reference.forward(x, steps, batch, h0, c0);
            ForwardVsReferenceTest.assertWithin("y", y, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());

            float[] dy = model.outputGradient(steps, batch);
            float[] dhT = initialState ? model.states(batch) : null;
            float[] dcT = initialState ? model.states(batch) : null;
            float[] trainedY = new float[y.length];
            float[] dx = new float[x.length];
            float[] dh0 = new float[states];
            float[] dc0 = new float[states];
            trainer.forward(segment(x), steps, batch, segment(h0), segment(c0), segment(trainedY), null, null);
            trainer.backward(segment(dy), segment(dhT), segment(dcT), gradients, GradientMode.OVERWRITE, segment(dx),
                    segment(dh0), segment(dc0));
            ForwardVsReferenceTest.assertWithin("trainer y", trainedY, expected.y());
            assertGradients(shape, gradients, dx, dh0, dc0, model.reference.backward(doubles(x), steps, batch,
                    doubles(h0), doubles(c0), null, doubles(dy), doubles(dhT), doubles(dcT)));
        }
    }

    @Test
    void accumulateAddsAndOverwriteReplacesInEveryLayer() {
        try (TestStack model = new TestStack(710, 4, 6, 2, true);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights, 2, 5);
             LstmStackGradients once = new LstmStackGradients(model.weights);
             LstmStackGradients twice = new LstmStackGradients(model.weights)) {
            MemorySegment x = segment(model.input(5, 2));
            MemorySegment dy = segment(model.outputGradient(5, 2));
            trainer.forward(x, 5, 2, null, null, null, null, null);
            trainer.backward(dy, null, null, once, GradientMode.OVERWRITE, null, null, null);
            for (int n = 0; n < 2; n++) {
                trainer.forward(x, 5, 2, null, null, null, null, null);
                trainer.backward(dy, null, null, twice, GradientMode.ACCUMULATE, null, null, null);
            }
            for (int layer = 0; layer < 2; layer++) {
                for (int direction = 0; direction < 2; direction++) {
                    float[] single = floats(once.layer(layer, direction).weightIh());
                    float[] doubled = floats(twice.layer(layer, direction).weightIh());
                    for (int n = 0; n < single.length; n++) {
                        assertTrue(Math.abs(doubled[n] - 2 * single[n]) <= 1e-6f * (1 + Math.abs(single[n])),
                                "layer " + layer + " direction " + direction + " element " + n);
                    }
                }
            }
            trainer.forward(x, 5, 2, null, null, null, null, null);
            trainer.backward(dy, null, null, twice, GradientMode.OVERWRITE, null, null, null);
            assertArrayEquals(floats(once.layer(1, 1).weightHh()), floats(twice.layer(1, 1).weightHh()));
            once.zero();
            assertArrayEquals(new float[4 * 6 * 12], floats(once.layer(1, 0).weightIh()));
        }
    }

    @Test
    void statesMayBeCarriedAcrossWindowsInTheSameBuffers() {
        try (TestStack model = new TestStack(711, 5, 7, 3, false);
             LstmStackRunner runner = new LstmStackRunner(model.weights, 2, 4)) {
            float[] x = model.input(8, 2);
            float[] hT = new float[3 * 2 * 7];
            float[] cT = new float[3 * 2 * 7];
            int window = 4 * 2 * 5;
            runner.forward(java.util.Arrays.copyOfRange(x, 0, window), 4, 2, null, null, null, hT, cT);
            runner.forward(java.util.Arrays.copyOfRange(x, window, 2 * window), 4, 2, hT, cT, null, hT, cT);
            ReferenceStack.Result expected = model.reference.forward(x, 8, 2, null, null);
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());
        }
    }

    /** Every parameter gradient of every layer (dW_hr too with projection), and dx, dh0, dc0, against the reference's. */
    static void assertGradients(LstmStackShape shape, LstmStackGradients gradients, float[] dx, float[] dh0,
                                float[] dc0, ReferenceStack.Gradients expected) {
        for (int index = 0; index < shape.stateCount(); index++) {
            LstmGradients layer = gradients.layer(index / shape.directions(), index % shape.directions());
            String name = "layer " + index / shape.directions() + " direction " + index % shape.directions() + " ";
            TrainerVsReferenceTest.assertClose(name + "weightIh", floats(layer.weightIh()), expected.weightIh()[index]);
            TrainerVsReferenceTest.assertClose(name + "weightHh", floats(layer.weightHh()), expected.weightHh()[index]);
            if (expected.weightHr() != null) {
                TrainerVsReferenceTest.assertClose(name + "weightHr", floats(layer.weightHr()),
                        expected.weightHr()[index]);
            }
            if (expected.biasIh()[index] == null) {
                assertNull(expected.biasHh()[index], "a bias-free model has neither bias");
            } else {
                TrainerVsReferenceTest.assertClose(name + "biasIh", floats(layer.biasIh()), expected.biasIh()[index]);
                TrainerVsReferenceTest.assertClose(name + "biasHh", floats(layer.biasHh()), expected.biasHh()[index]);
            }
        }
        TrainerVsReferenceTest.assertClose("x", dx, expected.x());
        TrainerVsReferenceTest.assertClose("h0", dh0, expected.h0());
        TrainerVsReferenceTest.assertClose("c0", dc0, expected.c0());
    }
}
