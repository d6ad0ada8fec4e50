package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
import static dev.vlstm.TrainerVsReferenceTest.assertClose;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceGru;

/**
 * The GRU trainer's forward and backward against the double-precision reference backward (itself checked by central
 * differences in ReferenceGruBackwardTest and against PyTorch in PyTorchGruTest), for every gradient, on odd shapes,
 * with and without h0 and dhT, for both kernels.
 *
 * <p>Tolerance: for each gradient tensor, max |actual - expected| &le; {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE}
 * times max |expected|, as for the LSTM (float accumulation over up to T·B = 150 rows and the activation
 * approximation); the training forward's y must equal the runner's bit for bit.
 */
class GruTrainerVsReferenceTest {

    @ParameterizedTest(name = "{6} I={0} H={1} T={2} B={3} h0={4} dhT={5}")
    @CsvSource({
            "3, 5, 4, 2, false, false, PREFERRED",
            "1, 1, 1, 1, true, true, PREFERRED",
            "17, 33, 7, 5, true, true, PREFERRED",
            "33, 17, 12, 3, false, true, PREFERRED",
            "100, 40, 3, 9, true, false, PREFERRED",
            "5, 70, 30, 5, true, true, PREFERRED",
            "7, 3, 6, 8, true, true, PREFERRED",
            "3, 5, 4, 2, true, true, SCALAR",
            "17, 33, 7, 5, false, false, SCALAR"})
    void everyGradientMatchesTheReference(int inputSize, int hiddenSize, int steps, int batch, boolean initialState,
                                          boolean finalGradients, Backend backend) {
        try (TestGru model = new TestGru(700 + hiddenSize, inputSize, hiddenSize, backend);
             GruTrainer trainer = new GruTrainer(model.weights, batch + 1, steps + 2);
             GruRunner runner = new GruRunner(model.weights, batch);
             GruGradients gradients = new GruGradients(model.weights)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.state(batch) : null;
            float[] dy = TestModel.uniform(new SplittableRandom(steps), steps * batch * hiddenSize, 1f);
            float[] dhT = finalGradients ? model.state(batch) : null;
            float[] y = new float[steps * batch * hiddenSize];
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * hiddenSize];
            trainer.forward(x, steps, batch, h0, y, null);
            trainer.backward(dy, dhT, gradients, GradientMode.OVERWRITE, dx, dh0);

            float[] inferred = new float[y.length];
            runner.forward(x, steps, batch, h0, inferred, null);
            assertArrayEquals(inferred, y, "the training forward is the runner's forward");
            ReferenceGru.Gradients expected = model.reference.backward(doubles(x), steps, batch, doubles(h0),
                    doubles(dy), doubles(dhT));
            assertClose("weightIh", floats(gradients.weightIh()), expected.weightIh());
            assertClose("weightHh", floats(gradients.weightHh()), expected.weightHh());
            assertClose("biasIh", floats(gradients.biasIh()), expected.biasIh());
            assertClose("biasHh", floats(gradients.biasHh()), expected.biasHh());
            assertClose("x", dx, expected.x());
            assertClose("h0", dh0, expected.h0());
        }
    }

    @Test
    void accumulateAddsAndOverwriteReplaces() {
        try (TestGru model = new TestGru(800, 4, 9, Backend.PREFERRED);
             GruTrainer trainer = new GruTrainer(model.weights, 2, 5);
             GruGradients once = new GruGradients(model.weights);
             GruGradients twice = new GruGradients(model.weights)) {
            float[] x = model.input(5, 2);
            float[] upstream = TestModel.uniform(new SplittableRandom(3), 5 * 2 * 9, 1f);
            trainer.forward(x, 5, 2, null, null, null);
            trainer.backward(upstream, null, once, GradientMode.OVERWRITE, null, null);
            for (int n = 0; n < 2; n++) {
                trainer.forward(x, 5, 2, null, null, null);
                trainer.backward(upstream, null, twice, GradientMode.ACCUMULATE, null, null);
            }
            float[] single = floats(once.weightHh());
            float[] doubled = floats(twice.weightHh());
            for (int n = 0; n < single.length; n++) {
                assertTrue(Math.abs(doubled[n] - 2 * single[n]) <= 1e-6f * (1 + Math.abs(single[n])), "element " + n);
            }
            trainer.forward(x, 5, 2, null, null, null);
            trainer.backward(upstream, null, twice, GradientMode.OVERWRITE, null, null);
            assertArrayEquals(single, floats(twice.weightHh()));
            assertArrayEquals(floats(once.biasHh()), floats(twice.biasHh()));
            once.zero();
            assertArrayEquals(new float[single.length], floats(once.weightHh()));
        }
    }

    @Test
    void badArgumentsAreNamed() {
        try (TestGru model = new TestGru(801, 4, 9, Backend.PREFERRED);
             TestGru other = new TestGru(802, 4, 10, Backend.PREFERRED);
             GruTrainer trainer = new GruTrainer(model.weights, 2, 5);
             GruGradients gradients = new GruGradients(model.weights);
             GruGradients wrong = new GruGradients(other.weights)) {
            Throwable thrown = assertThrows(IllegalStateException.class,
                    () -> trainer.backward((float[]) null, null, gradients, GradientMode.OVERWRITE, null, null));
            assertTrue(thrown.getMessage().contains("backward needs a forward"), thrown.getMessage());
            float[] x = model.input(5, 2);
            trainer.forward(x, 5, 2, null, null, null);
            thrown = assertThrows(IllegalArgumentException.class,
                    () -> trainer.backward((float[]) null, null, wrong, GradientMode.OVERWRITE, null, null));
            assertTrue(thrown.getMessage().contains("gradients are for inputSize 4, hiddenSize 10"),
                    thrown.getMessage());
            thrown = assertThrows(IllegalArgumentException.class, () -> trainer.backward(new float[3], null,
                    gradients, GradientMode.OVERWRITE, null, null));
            assertTrue(thrown.getMessage().contains("dy must hold [T=5][B=2][H=9]"), thrown.getMessage());
            thrown = assertThrows(IllegalArgumentException.class, () -> trainer.backward(null, null,
                    gradients, GradientMode.OVERWRITE, new float[5], null));
            assertTrue(thrown.getMessage().contains("dx must hold [T=5][B=2][I=4]"), thrown.getMessage());
            trainer.backward((float[]) null, null, gradients, GradientMode.OVERWRITE, null, null);
            thrown = assertThrows(IllegalStateException.class,
                    () -> trainer.backward((float[]) null, null, gradients, GradientMode.OVERWRITE, null, null));
            assertTrue(thrown.getMessage().contains("runs once per forward"), thrown.getMessage());
            thrown = assertThrows(IllegalArgumentException.class,
                    () -> trainer.forward(model.input(6, 2), 6, 2, null, null, null));
            assertTrue(thrown.getMessage().contains("steps 6 exceeds this GruTrainer's maxSteps 5"),
                    thrown.getMessage());
            thrown = assertThrows(IllegalArgumentException.class,
                    () -> trainer.forward(model.input(1, 3), 1, 3, null, null, null));
            assertTrue(thrown.getMessage().contains("batch 3 exceeds this GruTrainer's maxBatch 2"),
                    thrown.getMessage());
        }
    }
}
