package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
import static dev.vlstm.TrainerVsReferenceTest.assertClose;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static dev.vlstm.TrainerVsReferenceTest.segment;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.train.Adam;
import dev.vlstm.train.GradientClipping;
import dev.vlstm.train.Sgd;

/**
 * Training with peephole connections: the trainer's forward and backward against the reference backward (itself
 * checked by central differences in {@link PeepholeReferenceBackwardTest}) for every gradient including dp_i, dp_f,
 * dp_o, on odd shapes, for both kernels, with variable lengths in both layouts and with a cell clip (also with
 * projection); accumulate and overwrite; the optimizers update the peepholes and {@code updateWeights} repacks them;
 * mismatched gradients and parameters are refused by name. {@link Gradients} have no peephole tensors yet, so
 * {@link Trainer} refuses models with peepholes and these tests drive an {@link LstmTrainer}.
 *
 * <p>Tolerance: as {@link TrainerVsReferenceTest}, for each gradient tensor max |actual - expected| &le;
 * {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} times max |expected|.
 */
class PeepholeTrainerTest {

    @ParameterizedTest(name = "{6} I={0} H={1} T={2} B={3} initialState={4} finalGradients={5}")
    @CsvSource({
            "3, 5, 4, 2, false, false, PREFERRED",
            "1, 1, 1, 1, true, true, PREFERRED",
            "2, 3, 6, 9, true, true, PREFERRED",
            "17, 33, 7, 5, true, true, PREFERRED",
            "33, 17, 12, 3, false, true, PREFERRED",
            "5, 40, 20, 7, true, true, PREFERRED",
            "3, 5, 4, 2, true, true, SCALAR",
            "2, 3, 6, 9, true, false, SCALAR",
            "17, 33, 7, 5, false, true, SCALAR"})
    void everyGradientMatchesTheReference(int inputSize, int hiddenSize, int steps, int batch, boolean initialState,
                                          boolean finalGradients, Backend backend) {
        try (PeepholeTestModel model = new PeepholeTestModel(900 + hiddenSize, inputSize, hiddenSize, backend);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch + 1, steps + 2);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.hidden(batch) : null;
            float[] c0 = initialState ? model.cell(batch) : null;
            float[] dy = model.uniform(steps * batch * hiddenSize, 1f);
            float[] dhT = finalGradients ? model.hidden(batch) : null;
            float[] dcT = finalGradients ? model.cell(batch) : null;
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
            assertEveryGradientClose(gradients, expected);
            assertClose("x", dx, expected.x());
            assertClose("h0", dh0, expected.h0());
            assertClose("c0", dc0, expected.c0());
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(SequenceLayout.class)
    void variableLengthsMatchTheReference(SequenceLayout layout) {
        int steps = 6;
        int batch = 7;
        int inputSize = 4;
        int hiddenSize = 19;
        int[] lengths = {6, 0, 3, 1, 6, 5, 2};
        try (PeepholeTestModel model = new PeepholeTestModel(910, inputSize, hiddenSize, Backend.PREFERRED);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch, steps);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.hidden(batch);
            float[] c0 = model.cell(batch);
            float[] dy = model.uniform(steps * batch * hiddenSize, 1f);
            float[] dhT = model.hidden(batch);
            float[] dcT = model.cell(batch);
            boolean timeMajor = layout == SequenceLayout.TIME_MAJOR;
            float[] dx = new float[x.length];
            float[] dc0 = new float[batch * hiddenSize];
            trainer.forward(MemorySegment.ofArray(timeMajor ? x : transpose(x, steps, batch, inputSize)), layout,
                    steps, batch, lengths, segment(h0), segment(c0), null, null, null);
            trainer.backward(MemorySegment.ofArray(timeMajor ? dy : transpose(dy, steps, batch, hiddenSize)),
                    segment(dhT), segment(dcT), gradients, GradientMode.OVERWRITE, MemorySegment.ofArray(dx), null,
                    MemorySegment.ofArray(dc0));
            ReferenceLstm.Gradients expected = model.reference.backward(doubles(x), steps, batch, lengths, doubles(h0),
                    doubles(c0), doubles(dy), doubles(dhT), doubles(dcT));
            assertEveryGradientClose(gradients, expected);
            assertClose("x", timeMajor ? dx : transpose(dx, batch, steps, inputSize), expected.x());
            assertClose("c0", dc0, expected.c0());
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Backend.class, names = {"PREFERRED", "SCALAR"})
    void theCellClipMatchesTheReference(Backend backend) {
        int steps = 6;
        int batch = 3;
        int hiddenSize = 17;
        float clip = 0.75f;
        try (PeepholeTestModel model = new PeepholeTestModel(920, 4, hiddenSize, backend);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch, steps, clip);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            float[] x = model.uniform(steps * batch * 4, 3f);
            float[] c0 = model.uniform(batch * hiddenSize, 2f);
            float[] dy = model.uniform(steps * batch * hiddenSize, 1f);
            float[] dc0 = new float[batch * hiddenSize];
            trainer.forward(MemorySegment.ofArray(x), steps, batch, null, segment(c0), null, null, null);
            trainer.backward(MemorySegment.ofArray(dy), null, null, gradients, GradientMode.OVERWRITE, null, null,
                    MemorySegment.ofArray(dc0));
            ReferenceLstm clipped = model.reference.withCellClip(clip);
            ReferenceLstm.Gradients expected = clipped.backward(doubles(x), steps, batch, null, doubles(c0),
                    doubles(dy), null, null);
            assertEveryGradientClose(gradients, expected);
            assertClose("c0", dc0, expected.c0());
            ReferenceLstm.Gradients unclipped = model.reference.backward(doubles(x), steps, batch, null, doubles(c0),
                    doubles(dy), null, null);
            assertTrue(TestModel.maxAbsError(floats(gradients.peepholes()), unclipped.peepholes()) > 1e-3,
                    "the clip must change dp here");
        }
    }

    /** Cell clip and peepholes with PyTorch's projection, on both kernels: the code paths compose. */
    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Backend.class, names = {"PREFERRED", "SCALAR"})
    void cellClipAndPeepholesComposeWithProjection(Backend backend) {
        int steps = 6;
        int batch = 3;
        int inputSize = 4;
        int hiddenSize = 17;
        int projectionSize = 5;
        float clip = 0.75f;
        try (ProjectedTestModel model = new ProjectedTestModel(1220, inputSize, hiddenSize, projectionSize, backend,
                WeightPrecision.FLOAT32)) {
            float[] peepholes = model.uniform(3 * hiddenSize, 0.5f);
            try (LstmWeights weights = LstmWeights.fromPyTorch(backend, WeightPrecision.FLOAT32, inputSize,
                    hiddenSize, projectionSize, model.weightIh, model.weightHh, model.biasIh, model.biasHh,
                    model.weightHr, peepholes);
                 LstmTrainer trainer = new LstmTrainer(weights, batch, steps, clip);
                 LstmGradients gradients = new LstmGradients(weights)) {
                float[] x = model.uniform(steps * batch * inputSize, 3f);
                float[] c0 = model.uniform(batch * hiddenSize, 2f);
                float[] dy = model.uniform(steps * batch * projectionSize, 1f);
                float[] dh0 = new float[batch * projectionSize];
                float[] dc0 = new float[batch * hiddenSize];
                trainer.forward(MemorySegment.ofArray(x), steps, batch, null, segment(c0), null, null, null);
                trainer.backward(MemorySegment.ofArray(dy), null, null, gradients, GradientMode.OVERWRITE, null,
                        MemorySegment.ofArray(dh0), MemorySegment.ofArray(dc0));
                ReferenceLstm reference = model.reference.withPeepholes(peepholes).withCellClip(clip);
                ReferenceLstm.Gradients expected = reference.backward(doubles(x), steps, batch, null, doubles(c0),
                        doubles(dy), null, null);
                assertEveryGradientClose(gradients, expected);
                assertClose("weightHr", floats(gradients.weightHr()), expected.weightHr());
                assertClose("h0", dh0, expected.h0());
                assertClose("c0", dc0, expected.c0());
            }
        }
    }

    @Test
    void accumulateAddsAndOverwriteReplaces() {
        try (PeepholeTestModel model = new PeepholeTestModel(930, 4, 9, Backend.PREFERRED);
             LstmTrainer trainer = new LstmTrainer(model.weights, 2, 5);
             LstmGradients once = new LstmGradients(model.weights);
             LstmGradients twice = new LstmGradients(model.weights)) {
            MemorySegment x = MemorySegment.ofArray(model.input(5, 2));
            MemorySegment c0 = MemorySegment.ofArray(model.cell(2));
            MemorySegment dy = MemorySegment.ofArray(model.uniform(5 * 2 * 9, 1f));
            trainer.forward(x, 5, 2, null, c0, null, null, null);
            trainer.backward(dy, null, null, once, GradientMode.OVERWRITE, null, null, null);
            for (int n = 0; n < 2; n++) {
                trainer.forward(x, 5, 2, null, c0, null, null, null);
                trainer.backward(dy, null, null, twice, GradientMode.ACCUMULATE, null, null, null);
            }
            float[] single = floats(once.peepholes());
            float[] doubled = floats(twice.peepholes());
            for (int n = 0; n < single.length; n++) {
                assertTrue(Math.abs(doubled[n] - 2 * single[n]) <= 1e-6f * (1 + Math.abs(single[n])), "element " + n);
            }
            trainer.forward(x, 5, 2, null, c0, null, null, null);
            trainer.backward(dy, null, null, twice, GradientMode.OVERWRITE, null, null, null);
            assertArrayEquals(single, floats(twice.peepholes()));
            once.zero();
            assertArrayEquals(new float[single.length], floats(once.peepholes()));
        }
    }

    /**
     * Adam and SGD (and gradient clipping) move the peepholes, and {@code updateWeights} repacks them: after three
     * steps the runner and the trainer match the reference of the new parameters, and so do the trainer's
     * gradients.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"adam", "sgd"})
    void optimizersTrainThePeepholesAndUpdateWeightsRepacksThem(String optimizer) {
        int inputSize = 5;
        int hiddenSize = 11;
        try (PeepholeTestModel model = new PeepholeTestModel(940, inputSize, hiddenSize, Backend.PREFERRED);
             LstmParameters parameters = LstmParameters.fromPyTorch(inputSize, hiddenSize, 0, model.weightIh,
                     model.weightHh, model.biasIh, model.biasHh, null, model.peepholes);
             LstmWeights weights = parameters.pack();
             LstmTrainer trainer = new LstmTrainer(weights, 2, 6);
             LstmRunner runner = new LstmRunner(weights, 2);
             LstmGradients gradients = new LstmGradients(weights);
             Adam adam = new Adam(parameters, gradients, 0.05);
             Sgd sgd = new Sgd(parameters, gradients, 0.5, 0.9)) {
            assertTrue(weights.hasPeepholes());
            float[] x = model.input(6, 2);
            MemorySegment c0 = MemorySegment.ofArray(model.cell(2));
            MemorySegment dy = MemorySegment.ofArray(model.uniform(6 * 2 * hiddenSize, 1f));
            for (int step = 0; step < 3; step++) {
                trainer.forward(MemorySegment.ofArray(x), 6, 2, null, c0, null, null, null);
                trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
                GradientClipping.clipGlobalNorm(gradients, 10);
                if (optimizer.equals("adam")) {
                    adam.step();
                } else {
                    sgd.step();
                }
                trainer.updateWeights(parameters);
            }
            float[] peepholes = floats(parameters.peepholes());
            assertFalse(Arrays.equals(model.peepholes, peepholes), "the optimizer must change the peepholes");
            ReferenceLstm updated = new ReferenceLstm(inputSize, hiddenSize, floats(parameters.weightIh()),
                    floats(parameters.weightHh()), floats(parameters.biasIh()), floats(parameters.biasHh()))
                    .withPeepholes(peepholes);
            float[] c0Values = floats(c0);
            float[] y = new float[6 * 2 * hiddenSize];
            runner.forward(x, 6, 2, null, c0Values, y, null, null);
            ReferenceLstm.Result expected = updated.forward(x, 6, 2, null, c0Values);
            ForwardVsReferenceTest.assertWithin("runner y", y, expected.y());
            float[] trained = new float[y.length];
            trainer.forward(MemorySegment.ofArray(x), 6, 2, null, c0, MemorySegment.ofArray(trained), null, null);
            ForwardVsReferenceTest.assertWithin("trainer y", trained, expected.y());
            trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
            assertEveryGradientClose(gradients, updated.backward(doubles(x), 6, 2, null, doubles(c0Values),
                    doubles(floats(dy)), null, null));

            parameters.peepholes().setAtIndex(ValueLayout.JAVA_FLOAT, 13, Float.NaN);
            Throwable thrown = assertThrows(IllegalArgumentException.class, () -> trainer.updateWeights(parameters));
            assertTrue(thrown.getMessage().contains("peepholes[1][2] is NaN"), thrown.getMessage());
        }
    }

    @Test
    void mismatchedGradientsAndParametersAreRefusedByName() {
        try (PeepholeTestModel model = new PeepholeTestModel(950, 3, 4, Backend.PREFERRED);
             LstmWeights plain = model.withoutPeepholes(Backend.PREFERRED, WeightPrecision.FLOAT32);
             LstmTrainer trainer = new LstmTrainer(model.weights, 2, 3);
             LstmTrainer plainTrainer = new LstmTrainer(plain, 2, 3);
             LstmGradients withPeepholes = new LstmGradients(model.weights);
             LstmGradients without = new LstmGradients(plain);
             LstmParameters plainParameters = LstmParameters.fromPyTorch(3, 4, model.weightIh, model.weightHh,
                     model.biasIh, model.biasHh);
             LstmParameters peepholeParameters = LstmParameters.fromPyTorch(3, 4, 0, model.weightIh, model.weightHh,
                     model.biasIh, model.biasHh, null, model.peepholes)) {
            assertNull(without.peepholes());
            assertNull(plainParameters.peepholes());
            MemorySegment x = MemorySegment.ofArray(model.input(3, 2));
            trainer.forward(x, 3, 2, null, null, null, null, null);
            assertMessage(() -> trainer.backward(null, null, null, without, GradientMode.OVERWRITE, null, null, null),
                    "gradients hold no peephole gradients, but these weights have peepholes");
            plainTrainer.forward(x, 3, 2, null, null, null, null, null);
            assertMessage(() -> plainTrainer.backward(null, null, null, withPeepholes, GradientMode.OVERWRITE, null,
                    null, null), "gradients hold peephole gradients, but these weights have no peepholes");
            assertMessage(() -> trainer.updateWeights(plainParameters),
                    "parameters have no peepholes, but these weights have peepholes");
            assertMessage(() -> plainTrainer.updateWeights(peepholeParameters),
                    "parameters have peepholes, but these weights have none");
            assertMessage(() -> new Adam(peepholeParameters, without, 0.1), "parameters have peepholes, but the"
                    + " gradients hold no peephole gradients");
            assertMessage(() -> new Sgd(plainParameters, withPeepholes, 0.1, 0),
                    "gradients hold peephole gradients, but the parameters have no peepholes");
            assertMessage(() -> LstmParameters.fromPyTorch(3, 4, 0, model.weightIh, model.weightHh, null, null, null,
                    new float[11]), "peepholes must hold [3=3][H=4] = 12 floats");
        }
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable call, String fragment) {
        Throwable thrown = assertThrows(IllegalArgumentException.class, call);
        assertTrue(thrown.getMessage().contains(fragment), thrown.getMessage());
    }

    private static void assertEveryGradientClose(LstmGradients gradients, ReferenceLstm.Gradients expected) {
        assertClose("weightIh", floats(gradients.weightIh()), expected.weightIh());
        assertClose("weightHh", floats(gradients.weightHh()), expected.weightHh());
        assertClose("biasIh", floats(gradients.biasIh()), expected.biasIh());
        assertClose("biasHh", floats(gradients.biasHh()), expected.biasHh());
        assertClose("peepholes", floats(gradients.peepholes()), expected.peepholes());
    }

    /** {@code [outer][inner][width]} as {@code [inner][outer][width]}. */
    private static float[] transpose(float[] values, int outer, int inner, int width) {
        float[] result = new float[values.length];
        for (int o = 0; o < outer; o++) {
            for (int i = 0; i < inner; i++) {
                System.arraycopy(values, (o * inner + i) * width, result, (i * outer + o) * width, width);
            }
        }
        return result;
    }
}
