package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * The GRU stack trainer against the double-precision {@link ReferenceStack} (itself checked by central differences
 * in ReferenceGruStackBackwardTest and against PyTorch in PyTorchGruStackTest): every gradient of every layer and
 * direction and dx, dh0, on odd shapes, with and without initial states, final-state gradients, biases and dropout
 * between layers (the reference given the trainer's masks), for both kernels. Without dropout the training forward's
 * y equals the runner's bit for bit.
 *
 * <p>Tolerance: as TrainerVsReferenceTest and StackVsReferenceTest, max |error| &le;
 * {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} of each gradient tensor's largest value; the forward within
 * ForwardVsReferenceTest's {@value ForwardVsReferenceTest#TOLERANCE}.
 */
class GruStackTrainerVsReferenceTest {

    @ParameterizedTest(name = "{9} I={0} H={1} L={2} bidirectional={3} T={4} B={5} initialState={6} bias={7} p={8}")
    @CsvSource({
            "3, 5, 2, false, 4, 2, true, true, 0, PREFERRED",
            "1, 1, 3, true, 2, 1, false, true, 0, PREFERRED",
            "17, 33, 2, true, 7, 5, true, true, 0, PREFERRED",
            "33, 17, 3, false, 6, 3, false, true, 0.3, PREFERRED",
            "5, 3, 3, true, 9, 4, true, false, 0.5, PREFERRED",
            "7, 3, 1, true, 5, 6, true, true, 0, PREFERRED",
            "2, 33, 2, true, 4, 9, true, false, 0.2, PREFERRED",
            "3, 5, 2, true, 4, 2, true, true, 0.4, SCALAR",
            "17, 9, 3, false, 5, 3, false, false, 0, SCALAR"})
    void everyGradientMatchesTheReference(int inputSize, int hiddenSize, int layers, boolean bidirectional, int steps,
                                          int batch, boolean initialState, boolean bias, double dropout,
                                          Backend backend) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, bidirectional);
        try (TestGruStack model = new TestGruStack(760 + 10L * hiddenSize + layers, shape, backend, bias);
             GruStackRunner runner = new GruStackRunner(model.weights, batch, steps);
             GruStackTrainer trainer = new GruStackTrainer(model.weights, batch + 1, steps + 2, dropout, 99);
             GruStackGradients gradients = new GruStackGradients(model.weights)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.states(batch) : null;
            float[] dy = model.outputGradient(steps, batch);
            float[] dhT = initialState ? model.states(batch) : null;
            int states = shape.stateCount() * batch * hiddenSize;
            float[] y = new float[steps * batch * shape.outputSize()];
            float[] hT = new float[states];
            float[] dx = new float[x.length];
            float[] dh0 = new float[states];
            trainer.forward(x, steps, batch, h0, y, hT);
            trainer.backward(dy, dhT, gradients, GradientMode.OVERWRITE, dx, dh0);

            double[][] masks = null;
            if (dropout > 0 && layers > 1) {
                masks = new double[layers - 1][];
                for (int layer = 0; layer < layers - 1; layer++) {
                    masks[layer] = doubles(trainer.dropoutMask(layer));
                }
            } else {
                float[] inferred = new float[y.length];
                runner.forward(x, steps, batch, h0, inferred, null);
                assertArrayEquals(inferred, y, "the training forward is the runner's forward");
            }
            ReferenceStack.Result forward = model.reference.forward(doubles(x), steps, batch, doubles(h0), null, masks);
            ForwardVsReferenceTest.assertWithin("y", y, forward.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, forward.hT());
            assertGradients(shape, gradients, dx, dh0, model.reference.backward(doubles(x), steps, batch, doubles(h0),
                    null, masks, doubles(dy), doubles(dhT), null));
        }
    }

    @Test
    void accumulateAddsAndOverwriteReplacesInEveryLayer() {
        try (TestGruStack model = new TestGruStack(780, 4, 6, 2, true);
             GruStackTrainer trainer = new GruStackTrainer(model.weights, 2, 5);
             GruStackGradients once = new GruStackGradients(model.weights);
             GruStackGradients twice = new GruStackGradients(model.weights)) {
            float[] x = model.input(5, 2);
            float[] dy = model.outputGradient(5, 2);
            trainer.forward(x, 5, 2, null, null, null);
            trainer.backward(dy, null, once, GradientMode.OVERWRITE, null, null);
            for (int n = 0; n < 2; n++) {
                trainer.forward(x, 5, 2, null, null, null);
                trainer.backward(dy, null, twice, GradientMode.ACCUMULATE, null, null);
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
            trainer.forward(x, 5, 2, null, null, null);
            trainer.backward(dy, null, twice, GradientMode.OVERWRITE, null, null);
            assertArrayEquals(floats(once.layer(1, 1).weightHh()), floats(twice.layer(1, 1).weightHh()));
            once.zero();
            assertArrayEquals(new float[3 * 6 * 12], floats(once.layer(1, 0).weightIh()));
        }
    }

    @Test
    void masksAreZeroOrScaledReproducibleAndAbsentFromInference() {
        try (TestGruStack model = new TestGruStack(781, 4, 6, 3, false);
             GruStackTrainer first = new GruStackTrainer(model.weights, 2, 5, 0.5, 7);
             GruStackTrainer again = new GruStackTrainer(model.weights, 2, 5, 0.5, 7);
             GruStackTrainer plain = new GruStackTrainer(model.weights, 2, 5)) {
            float[] x = model.input(5, 2);
            first.forward(x, 5, 2, null, null, null);
            again.forward(x, 5, 2, null, null, null);
            assertArrayEquals(first.dropoutMask(1), again.dropoutMask(1), "same seed, same masks");
            assertFalse(Arrays.equals(first.dropoutMask(0), first.dropoutMask(1)), "each layer its own mask");
            for (float value : first.dropoutMask(0)) {
                assertTrue(value == 0f || value == 2f, "a mask holds 0 or 1/(1-p), got " + value);
            }
            assertEquals(0.5, first.dropout());
            assertEquals(0.0, plain.dropout());
            GruStackBadInputTest.fails(IllegalStateException.class, () -> plain.dropoutMask(0),
                    "this GruStackTrainer was made without dropout");
            GruStackBadInputTest.fails(IndexOutOfBoundsException.class, () -> first.dropoutMask(2),
                    "layer 2 is outside [0, 2)");
        }
    }

    @Test
    void badArgumentsAreNamed() {
        try (TestGruStack model = new TestGruStack(782, 3, 5, 2, true);
             TestGruStack other = new TestGruStack(783, 3, 5, 3, true);
             GruStackTrainer trainer = new GruStackTrainer(model.weights, 2, 4);
             GruStackGradients gradients = new GruStackGradients(model.weights);
             GruStackGradients wrong = new GruStackGradients(other.weights)) {
            GruStackBadInputTest.fails(IllegalStateException.class, () -> trainer.backward((float[]) null, null,
                    gradients, GradientMode.OVERWRITE, null, null), "backward needs a forward");
            trainer.forward(model.input(4, 2), 4, 2, null, null, null);
            GruStackBadInputTest.fails(IllegalArgumentException.class, () -> trainer.backward((float[]) null, null,
                    wrong, GradientMode.OVERWRITE, null, null), "gradients are for a model of", "layers=3");
            GruStackBadInputTest.fails(IllegalArgumentException.class, () -> trainer.backward(new float[4 * 2 * 5],
                    null, gradients, GradientMode.OVERWRITE, null, null), "dy must hold [T=4][B=2][D*H=10]");
            GruStackBadInputTest.fails(IllegalArgumentException.class, () -> trainer.backward(null, new float[10],
                    gradients, GradientMode.OVERWRITE, null, null), "dhT must hold [L*D=4][B=2][H=5]");
            GruStackBadInputTest.fails(IllegalArgumentException.class, () -> trainer.backward(null, null, gradients,
                    GradientMode.OVERWRITE, new float[3], null), "dx must hold [T=4][B=2][I=3]");
            GruStackBadInputTest.fails(IllegalArgumentException.class, () -> trainer.backward(null, null, gradients,
                    GradientMode.OVERWRITE, null, new float[3]), "dh0 must hold [L*D=4][B=2][H=5]");
            trainer.backward((float[]) null, null, gradients, GradientMode.OVERWRITE, null, null);
            GruStackBadInputTest.fails(IllegalStateException.class, () -> trainer.backward((float[]) null, null,
                    gradients, GradientMode.OVERWRITE, null, null), "runs once per forward");
            GruStackBadInputTest.fails(IllegalArgumentException.class, () -> trainer.forward(model.input(5, 2), 5, 2,
                    null, null, null), "steps 5 exceeds this GruStackTrainer's maxSteps 4");
            GruStackBadInputTest.fails(IllegalArgumentException.class,
                    () -> new GruStackTrainer(model.weights, 2, 4, 1.0, 1), "dropout must be in [0, 1), got 1.0");
            GruStackBadInputTest.fails(IllegalArgumentException.class,
                    () -> new GruStackGradients(new LstmStackShape(3, 5, 2, true, 2)), "a GRU has no projection");
        }
    }

    /** Every parameter gradient of every layer, and dx, dh0, against the reference's. */
    static void assertGradients(LstmStackShape shape, GruStackGradients gradients, float[] dx, float[] dh0,
                                ReferenceStack.Gradients expected) {
        for (int index = 0; index < shape.stateCount(); index++) {
            GruGradients layer = gradients.layer(index / shape.directions(), index % shape.directions());
            String name = "layer " + index / shape.directions() + " direction " + index % shape.directions() + " ";
            TrainerVsReferenceTest.assertClose(name + "weightIh", floats(layer.weightIh()), expected.weightIh()[index]);
            TrainerVsReferenceTest.assertClose(name + "weightHh", floats(layer.weightHh()), expected.weightHh()[index]);
            if (expected.biasIh()[index] == null) {
                assertNull(expected.biasHh()[index], "a bias-free model has neither bias");
            } else {
                TrainerVsReferenceTest.assertClose(name + "biasIh", floats(layer.biasIh()), expected.biasIh()[index]);
                TrainerVsReferenceTest.assertClose(name + "biasHh", floats(layer.biasHh()), expected.biasHh()[index]);
            }
        }
        TrainerVsReferenceTest.assertClose("x", dx, expected.x());
        TrainerVsReferenceTest.assertClose("h0", dh0, expected.h0());
    }
}
