package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceLstm;

/**
 * The trainer's forward and backward against the double-precision reference backward (itself checked by finite
 * differences in ReferenceBackwardTest), for every gradient, on odd shapes, with and without initial states and
 * final-state gradients, for both kernels.
 *
 * <p>Tolerance: for each gradient tensor, max |actual - expected| &le; {@value #RELATIVE_TOLERANCE} times
 * max |expected| (float accumulation over up to T·B = 150 rows and the activation approximation).
 */
class TrainerVsReferenceTest {

    static final double RELATIVE_TOLERANCE = 1e-4;

    @ParameterizedTest(name = "{6} I={0} H={1} T={2} B={3} initialState={4} finalGradients={5}")
    @CsvSource({
            "3, 5, 4, 2, false, false, PREFERRED",
            "1, 1, 1, 1, true, true, PREFERRED",
            "17, 33, 7, 5, true, true, PREFERRED",
            "33, 17, 12, 3, false, true, PREFERRED",
            "100, 40, 3, 9, true, false, PREFERRED",
            "5, 70, 30, 5, true, true, PREFERRED",
            "3, 5, 4, 2, true, true, SCALAR",
            "17, 33, 7, 5, false, false, SCALAR"})
    void everyGradientMatchesTheReference(int inputSize, int hiddenSize, int steps, int batch, boolean initialState,
                                          boolean finalGradients, Backend backend) {
        try (TestModel model = new TestModel(500 + hiddenSize, inputSize, hiddenSize, backend);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch + 1, steps + 2);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.state(batch) : null;
            float[] c0 = initialState ? model.state(batch) : null;
            float[] dy = model.uniform(steps * batch * hiddenSize, 1f);
            float[] dhT = finalGradients ? model.state(batch) : null;
            float[] dcT = finalGradients ? model.state(batch) : null;
            float[] y = new float[steps * batch * hiddenSize];
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * hiddenSize];
            float[] dc0 = new float[batch * hiddenSize];
            trainer.forward(MemorySegment.ofArray(x), steps, batch, segment(h0), segment(c0), MemorySegment.ofArray(y),
                    null, null);
            trainer.backward(MemorySegment.ofArray(dy), segment(dhT), segment(dcT), gradients, GradientMode.OVERWRITE,
                    MemorySegment.ofArray(dx), MemorySegment.ofArray(dh0), MemorySegment.ofArray(dc0));

            ForwardVsReferenceTest.assertWithin("y", y, model.reference.forward(x, steps, batch, h0, c0).y());
            ReferenceLstm.Gradients expected = model.reference.backward(doubles(x), steps, batch, doubles(h0),
                    doubles(c0), doubles(dy), doubles(dhT), doubles(dcT));
            assertClose("weightIh", floats(gradients.weightIh()), expected.weightIh());
            assertClose("weightHh", floats(gradients.weightHh()), expected.weightHh());
            assertClose("biasIh", floats(gradients.biasIh()), expected.biasIh());
            assertClose("biasHh", floats(gradients.biasHh()), expected.biasHh());
            assertClose("x", dx, expected.x());
            assertClose("h0", dh0, expected.h0());
            assertClose("c0", dc0, expected.c0());
        }
    }

    @Test
    void accumulateAddsAndOverwriteReplaces() {
        try (TestModel model = new TestModel(600, 4, 9);
             LstmTrainer trainer = new LstmTrainer(model.weights, 2, 5);
             LstmGradients once = new LstmGradients(model.weights);
             LstmGradients twice = new LstmGradients(model.weights)) {
            MemorySegment x = MemorySegment.ofArray(model.input(5, 2));
            MemorySegment dy = MemorySegment.ofArray(model.uniform(5 * 2 * 9, 1f));
            trainer.forward(x, 5, 2, null, null, null, null, null);
            trainer.backward(dy, null, null, once, GradientMode.OVERWRITE, null, null, null);
            for (int n = 0; n < 2; n++) {
                trainer.forward(x, 5, 2, null, null, null, null, null);
                trainer.backward(dy, null, null, twice, GradientMode.ACCUMULATE, null, null, null);
            }
            float[] single = floats(once.weightHh());
            float[] doubled = floats(twice.weightHh());
            for (int n = 0; n < single.length; n++) {
                assertTrue(Math.abs(doubled[n] - 2 * single[n]) <= 1e-6f * (1 + Math.abs(single[n])), "element " + n);
            }
            trainer.forward(x, 5, 2, null, null, null, null, null);
            trainer.backward(dy, null, null, twice, GradientMode.OVERWRITE, null, null, null);
            assertArrayEquals(single, floats(twice.weightHh()));
            assertArrayEquals(floats(once.biasIh()), floats(twice.biasHh()));
            once.zero();
            assertArrayEquals(new float[single.length], floats(once.weightHh()));
        }
    }

    @Test
    void backwardNeedsAForwardAndMatchingGradients() {
        try (TestModel model = new TestModel(601, 4, 9);
             TestModel other = new TestModel(602, 4, 10);
             LstmTrainer trainer = new LstmTrainer(model.weights, 2, 5);
             LstmGradients gradients = new LstmGradients(model.weights);
             LstmGradients wrong = new LstmGradients(other.weights)) {
            Throwable thrown = assertThrows(IllegalStateException.class,
                    () -> trainer.backward(null, null, null, gradients, GradientMode.OVERWRITE, null, null, null));
            assertTrue(thrown.getMessage().contains("backward needs a forward"), thrown.getMessage());
            MemorySegment x = MemorySegment.ofArray(model.input(5, 2));
            trainer.forward(x, 5, 2, null, null, null, null, null);
            thrown = assertThrows(IllegalArgumentException.class,
                    () -> trainer.backward(null, null, null, wrong, GradientMode.OVERWRITE, null, null, null));
            assertTrue(thrown.getMessage().contains("gradients are for inputSize 4, hiddenSize 10"), thrown.getMessage());
            thrown = assertThrows(IllegalArgumentException.class, () -> trainer.backward(
                    MemorySegment.ofArray(new float[3]), null, null, gradients, GradientMode.OVERWRITE, null, null, null));
            assertTrue(thrown.getMessage().contains("dy must hold [T=5][B=2][H=9]"), thrown.getMessage());
            trainer.backward(null, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
            thrown = assertThrows(IllegalStateException.class,
                    () -> trainer.backward(null, null, null, gradients, GradientMode.OVERWRITE, null, null, null));
            assertTrue(thrown.getMessage().contains("runs once per forward"), thrown.getMessage());
            thrown = assertThrows(IllegalArgumentException.class,
                    () -> trainer.forward(MemorySegment.ofArray(model.input(6, 2)), 6, 2, null, null, null, null, null));
            assertTrue(thrown.getMessage().contains("steps 6 exceeds this trainer's maxSteps 5"), thrown.getMessage());
        }
    }

    static void assertClose(String name, float[] actual, double[] expected) {
        double scale = 0;
        for (double value : expected) {
            scale = Math.max(scale, Math.abs(value));
        }
        double error = TestModel.maxAbsError(actual, expected);
        assertTrue(error <= RELATIVE_TOLERANCE * scale, name + ": max abs error " + error + " > "
                + RELATIVE_TOLERANCE + " * " + scale);
    }

    static MemorySegment segment(float[] values) {
        return values == null ? null : MemorySegment.ofArray(values);
    }

    static float[] floats(MemorySegment segment) {
        return segment.toArray(ValueLayout.JAVA_FLOAT);
    }
}
