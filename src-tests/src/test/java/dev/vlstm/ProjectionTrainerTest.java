package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
import static dev.vlstm.TrainerVsReferenceTest.assertClose;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static dev.vlstm.TrainerVsReferenceTest.segment;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.train.Adam;

/**
 * Training with PyTorch's projection ({@code proj_size} = P): the trainer's forward and backward against the
 * reference backward (itself checked by central differences in {@link ProjectionReferenceBackwardTest}) for every
 * gradient including dW_hr, dx, dh0 (P wide) and dc0 (H wide), on odd shapes (H = 1.. 33, P = 1, 2, 5, 16, B = 1..9),
 * for both kernels, with and without h0, c0, dhT, dcT; variable lengths in both layouts; cell clip and peepholes
 * combined with projection; two threads; accumulate and overwrite; truncated BPTT over one window equals full BPTT;
 * a projected model's loss falls under Adam with {@code updateWeights}; sizes of the wrong width (H where P belongs)
 * are refused by name.
 *
 * <p>Tolerance: as {@link TrainerVsReferenceTest}, for each gradient tensor max |actual - expected| &le;
 * {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} times max |expected|; y within the forward tests' bound.
 */
class ProjectionTrainerTest {

    @ParameterizedTest(name = "{7} I={0} H={1} P={2} T={3} B={4} initialState={5} finalGradients={6}")
    @CsvSource({
            "3, 3, 1, 4, 2, false, false, PREFERRED",
            "1, 2, 1, 1, 1, true, true, PREFERRED",
            "2, 3, 2, 6, 9, true, true, PREFERRED",
            "17, 17, 5, 7, 5, true, true, PREFERRED",
            "5, 33, 16, 5, 3, false, true, PREFERRED",
            "33, 17, 16, 6, 4, true, false, PREFERRED",
            "4, 40, 5, 9, 7, true, true, PREFERRED",
            "3, 3, 2, 4, 2, true, true, SCALAR",
            "2, 17, 5, 6, 9, true, false, SCALAR",
            "17, 33, 16, 5, 5, false, true, SCALAR"})
    void everyGradientMatchesTheReference(int inputSize, int hiddenSize, int projectionSize, int steps, int batch,
                                          boolean initialState, boolean finalGradients, Backend backend) {
        try (ProjectedTestModel model = new ProjectedTestModel(1200 + hiddenSize + projectionSize, inputSize,
                hiddenSize, projectionSize, backend, WeightPrecision.FLOAT32);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch + 1, steps + 2);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.hidden(batch) : null;
            float[] c0 = initialState ? model.cell(batch) : null;
            float[] dy = model.uniform(steps * batch * projectionSize, 1f);
            float[] dhT = finalGradients ? model.hidden(batch) : null;
            float[] dcT = finalGradients ? model.cell(batch) : null;
            float[] y = new float[steps * batch * projectionSize];
            float[] hT = new float[batch * projectionSize];
            float[] cT = new float[batch * hiddenSize];
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * projectionSize];
            float[] dc0 = new float[batch * hiddenSize];
            trainer.forward(MemorySegment.ofArray(x), steps, batch, segment(h0), segment(c0), MemorySegment.ofArray(y),
                    MemorySegment.ofArray(hT), MemorySegment.ofArray(cT));
            trainer.backward(MemorySegment.ofArray(dy), segment(dhT), segment(dcT), gradients, GradientMode.OVERWRITE,
                    MemorySegment.ofArray(dx), MemorySegment.ofArray(dh0), MemorySegment.ofArray(dc0));

            ReferenceLstm.Result forward = model.reference.forward(x, steps, batch, h0, c0);
            ForwardVsReferenceTest.assertWithin("y", y, forward.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, forward.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, forward.cT());
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
        int projectionSize = 5;
        int[] lengths = {6, 0, 3, 1, 6, 5, 2};
        try (ProjectedTestModel model = new ProjectedTestModel(1210, inputSize, hiddenSize, projectionSize);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch, steps);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.hidden(batch);
            float[] c0 = model.cell(batch);
            float[] dy = model.uniform(steps * batch * projectionSize, 1f);
            float[] dhT = model.hidden(batch);
            float[] dcT = model.cell(batch);
            boolean timeMajor = layout == SequenceLayout.TIME_MAJOR;
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * projectionSize];
            float[] dc0 = new float[batch * hiddenSize];
            float[] hT = new float[batch * projectionSize];
            trainer.forward(MemorySegment.ofArray(timeMajor ? x : transpose(x, steps, batch, inputSize)), layout,
                    steps, batch, lengths, segment(h0), segment(c0), null, MemorySegment.ofArray(hT), null);
            trainer.backward(MemorySegment.ofArray(timeMajor ? dy : transpose(dy, steps, batch, projectionSize)),
                    segment(dhT), segment(dcT), gradients, GradientMode.OVERWRITE, MemorySegment.ofArray(dx),
                    MemorySegment.ofArray(dh0), MemorySegment.ofArray(dc0));
            ForwardVsReferenceTest.assertWithin("hT", hT,
                    model.reference.forward(x, steps, batch, lengths, h0, c0).hT());
            ReferenceLstm.Gradients expected = model.reference.backward(doubles(x), steps, batch, lengths, doubles(h0),
                    doubles(c0), doubles(dy), doubles(dhT), doubles(dcT));
            assertEveryGradientClose(gradients, expected);
            assertClose("x", timeMajor ? dx : transpose(dx, batch, steps, inputSize), expected.x());
            assertClose("h0", dh0, expected.h0());
            assertClose("c0", dc0, expected.c0());
        }
    }

    /** Cell clip and peepholes with projection, on both kernels: the code paths compose. */
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
                assertClose("peepholes", floats(gradients.peepholes()), expected.peepholes());
                assertClose("h0", dh0, expected.h0());
                assertClose("c0", dc0, expected.c0());
            }
        }
    }

    /** Two threads give one thread's bits, every gradient. */
    @Test
    void twoThreadsGiveOneThreadsBits() {
        int steps = 5;
        int batch = 4;
        try (ProjectedTestModel model = new ProjectedTestModel(1230, 6, 40, 7);
             LstmTrainer one = new LstmTrainer(model.weights, batch, steps);
             LstmTrainer two = new LstmTrainer(model.weights, batch, steps, LstmRunner.NO_CELL_CLIP, 2);
             LstmGradients first = new LstmGradients(model.weights);
             LstmGradients second = new LstmGradients(model.weights)) {
            MemorySegment x = MemorySegment.ofArray(model.input(steps, batch));
            MemorySegment dy = MemorySegment.ofArray(model.uniform(steps * batch * 7, 1f));
            one.forward(x, steps, batch, null, null, null, null, null);
            one.backward(dy, null, null, first, GradientMode.OVERWRITE, null, null, null);
            two.forward(x, steps, batch, null, null, null, null, null);
            two.backward(dy, null, null, second, GradientMode.OVERWRITE, null, null, null);
            assertArrayEquals(floats(first.weightIh()), floats(second.weightIh()));
            assertArrayEquals(floats(first.weightHh()), floats(second.weightHh()));
            assertArrayEquals(floats(first.weightHr()), floats(second.weightHr()));
            assertArrayEquals(floats(first.biasIh()), floats(second.biasIh()));
        }
    }

    @Test
    void accumulateAddsAndOverwriteReplaces() {
        try (ProjectedTestModel model = new ProjectedTestModel(1240, 4, 9, 3);
             LstmTrainer trainer = new LstmTrainer(model.weights, 2, 5);
             LstmGradients once = new LstmGradients(model.weights);
             LstmGradients twice = new LstmGradients(model.weights)) {
            MemorySegment x = MemorySegment.ofArray(model.input(5, 2));
            MemorySegment dy = MemorySegment.ofArray(model.uniform(5 * 2 * 3, 1f));
            trainer.forward(x, 5, 2, null, null, null, null, null);
            trainer.backward(dy, null, null, once, GradientMode.OVERWRITE, null, null, null);
            for (int n = 0; n < 2; n++) {
                trainer.forward(x, 5, 2, null, null, null, null, null);
                trainer.backward(dy, null, null, twice, GradientMode.ACCUMULATE, null, null, null);
            }
            float[] single = floats(once.weightHr());
            float[] doubled = floats(twice.weightHr());
            for (int n = 0; n < single.length; n++) {
                assertTrue(Math.abs(doubled[n] - 2 * single[n]) <= 1e-6f * (1 + Math.abs(single[n])), "element " + n);
            }
            trainer.forward(x, 5, 2, null, null, null, null, null);
            trainer.backward(dy, null, null, twice, GradientMode.OVERWRITE, null, null, null);
            assertArrayEquals(single, floats(twice.weightHr()));
            assertArrayEquals(floats(once.weightHh()), floats(twice.weightHh()));
            once.zero();
            assertArrayEquals(new float[single.length], floats(once.weightHr()));
        }
    }

    /** One window of truncated BPTT is full BPTT, bit for bit, with h of width P and c of width H carried. */
    @Test
    void truncatedBpttOverOneWindowIsFullBptt() {
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

    /** Segments sized for H where P belongs (and the other way round) and mismatched gradients are named. */
    @Test
    void wrongWidthsAreRefusedByName() {
        int batch = 2;
        int steps = 3;
        try (ProjectedTestModel model = new ProjectedTestModel(1260, 3, 6, 2);
             TestModel plain = new TestModel(1261, 3, 6);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch, steps);
             LstmGradients projected = new LstmGradients(model.weights);
             LstmGradients unprojected = new LstmGradients(plain.weights)) {
            MemorySegment x = MemorySegment.ofArray(model.input(steps, batch));
            MemorySegment hiddenWide = MemorySegment.ofArray(new float[batch * 6]);
            assertMessage(() -> trainer.forward(x, steps, batch, hiddenWide, null, null, null, null),
                    "h0 must hold [B=2][P=2] = 4 floats");
            assertMessage(() -> trainer.forward(x, steps, batch, null, null, null, hiddenWide, null),
                    "hT must hold [B=2][P=2] = 4 floats");
            assertMessage(() -> trainer.forward(x, steps, batch, null, MemorySegment.ofArray(new float[batch * 2]),
                    null, null, null), "c0 must hold [B=2][H=6] = 12 floats");
            trainer.forward(x, steps, batch, null, null, null, null, null);
            assertMessage(() -> trainer.backward(null, hiddenWide, null, projected, GradientMode.OVERWRITE, null,
                    null, null), "dhT must hold [B=2][P=2] = 4 floats");
            assertMessage(() -> trainer.backward(MemorySegment.ofArray(new float[steps * batch * 6]), null, null,
                    projected, GradientMode.OVERWRITE, null, null, null), "dy must hold [T=3][B=2][P=2] = 12 floats");
            assertMessage(() -> trainer.backward(null, null, null, projected, GradientMode.OVERWRITE, null,
                    hiddenWide, null), "dh0 must hold [B=2][P=2] = 4 floats");
            assertMessage(() -> trainer.backward(null, null, null, unprojected, GradientMode.OVERWRITE, null, null,
                    null), "gradients are for inputSize 3, hiddenSize 6, projectionSize 0, but these weights have"
                    + " inputSize 3, hiddenSize 6, projectionSize 2");
            assertMessage(() -> new LstmGradients(3, 6, 6, false), "projectionSize must be < hiddenSize");
            assertMessage(() -> new LstmGradients(3, 6, -1, false), "projectionSize must be >= 0");
        }
    }

    /**
     * A projected LSTM learns: Adam on the mean squared error of y against a target that needs memory (unit 0 copies
     * the current input, unit 1 the previous step's), with {@code updateWeights} after each step; the loss after 150
     * steps is below a quarter of the first, and the trainer then matches the reference of the new parameters.
     */
    @Test
    void aProjectedLstmsLossFalls() {
        int steps = 8;
        int batch = 4;
        int inputSize = 2;
        int projectionSize = 2;
        try (LstmParameters parameters = LstmParameters.initializeProjected(inputSize, 12, projectionSize, 7);
             LstmWeights weights = parameters.pack();
             LstmTrainer trainer = new LstmTrainer(weights, batch, steps);
             LstmGradients gradients = new LstmGradients(weights);
             Adam adam = new Adam(parameters, gradients, 0.02)) {
            SplittableRandom random = new SplittableRandom(8);
            float[] x = new float[steps * batch * inputSize];
            for (int n = 0; n < x.length; n++) {
                x[n] = (float) (random.nextDouble() * 2 - 1);
            }
            float[] target = new float[steps * batch * projectionSize];
            for (int t = 0; t < steps; t++) {
                for (int b = 0; b < batch; b++) {
                    int row = (t * batch + b) * projectionSize;
                    target[row] = 0.5f * x[(t * batch + b) * inputSize];
                    target[row + 1] = t == 0 ? 0 : 0.5f * x[((t - 1) * batch + b) * inputSize + 1];
                }
            }
            float[] y = new float[target.length];
            float[] dy = new float[target.length];
            double first = 0;
            double last = 0;
            for (int iteration = 0; iteration < 150; iteration++) {
                trainer.forward(MemorySegment.ofArray(x), steps, batch, null, null, MemorySegment.ofArray(y), null,
                        null);
                double loss = 0;
                for (int n = 0; n < y.length; n++) {
                    double error = y[n] - target[n];
                    loss += error * error / y.length;
                    dy[n] = (float) (2 * error / y.length);
                }
                first = iteration == 0 ? loss : first;
                last = loss;
                trainer.backward(MemorySegment.ofArray(dy), null, null, gradients, GradientMode.OVERWRITE, null, null,
                        null);
                adam.step();
                trainer.updateWeights(parameters);
            }
            assertTrue(last < first / 4, "loss " + first + " -> " + last);
            // updateWeights repacked W_hr and its transposed copy: forward and gradients follow the new parameters.
            ReferenceLstm updated = ReferenceLstm.projected(inputSize, 12, projectionSize,
                    floats(parameters.weightIh()), floats(parameters.weightHh()), floats(parameters.biasIh()),
                    floats(parameters.biasHh()), floats(parameters.weightHr()));
            trainer.forward(MemorySegment.ofArray(x), steps, batch, null, null, MemorySegment.ofArray(y), null, null);
            ForwardVsReferenceTest.assertWithin("y after training", y, updated.forward(x, steps, batch, null, null).y());
            trainer.backward(MemorySegment.ofArray(dy), null, null, gradients, GradientMode.OVERWRITE, null, null,
                    null);
            assertEveryGradientClose(gradients, updated.backward(doubles(x), steps, batch, null, null, doubles(dy),
                    null, null));
        }
    }

    static void assertEveryGradientClose(LstmGradients gradients, ReferenceLstm.Gradients expected) {
        assertClose("weightIh", floats(gradients.weightIh()), expected.weightIh());
        assertClose("weightHh", floats(gradients.weightHh()), expected.weightHh());
        assertClose("weightHr", floats(gradients.weightHr()), expected.weightHr());
        assertClose("biasIh", floats(gradients.biasIh()), expected.biasIh());
        assertClose("biasHh", floats(gradients.biasHh()), expected.biasHh());
    }

    static void assertMessage(Executable call, String expected) {
        IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class, call);
        assertTrue(thrown.getMessage().contains(expected), thrown.getMessage());
    }

    /** {@code [A][B][F]} to {@code [B][A][F]}. */
    static float[] transpose(float[] values, int outer, int inner, int features) {
        float[] result = new float[values.length];
        for (int a = 0; a < outer; a++) {
            for (int b = 0; b < inner; b++) {
                System.arraycopy(values, (a * inner + b) * features, result, (b * outer + a) * features, features);
            }
        }
        return result;
    }
}
