package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceLstm;

/**
 * ONNX's cell clip (gate pre-activations and the cell state before tanh clipped to [-clip, clip]) in the runner and
 * the trainer, against the double reference with the same clip, with the tolerances of
 * {@link ForwardVsReferenceTest} and {@link TrainerVsReferenceTest}; a clip that never acts changes no bit; the
 * reference's clipped backward is checked by central differences.
 */
class CellClipTest {

    @ParameterizedTest(name = "{6} I={0} H={1} T={2} B={3} clip={4} variableLengths={5}")
    @CsvSource({
            "3, 1, 4, 1, 0.3, false, PREFERRED",
            "5, 3, 6, 5, 0.5, true, PREFERRED",
            "17, 17, 5, 9, 0.25, false, PREFERRED",
            "4, 33, 7, 6, 0.4, true, PREFERRED",
            "6, 17, 5, 4, 0.3, true, SCALAR"})
    void clippedRunnerAndTrainerMatchTheReference(int inputSize, int hiddenSize, int steps, int batch, float clip,
                                                  boolean variableLengths, Backend backend) {
        try (TestModel model = new TestModel(1200 + hiddenSize, inputSize, hiddenSize, backend);
             LstmRunner runner = new LstmRunner(model.weights, batch, 2, NonFiniteInputs.PROPAGATE, clip);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch, steps, clip);
             LstmGradients gradients = new LstmGradients(model.weights)) {
            int[] lengths = variableLengths ? VariableLengthTest.lengths(steps + batch, steps, batch) : full(steps, batch);
            float[] x = TestModel.uniform(new SplittableRandom(batch), steps * batch * inputSize, 3f);
            float[] h0 = model.state(batch);
            float[] c0 = TestModel.uniform(new SplittableRandom(steps), batch * hiddenSize, 3f);
            float[] dy = model.uniform(steps * batch * hiddenSize, 1f);
            float[] dhT = model.state(batch);
            float[] dcT = model.state(batch);
            ReferenceLstm clipped = model.reference.withCellClip(clip);
            ReferenceLstm.Result expected = clipped.forward(x, steps, batch, lengths, h0, c0);
            ReferenceLstm.Result unclipped = model.reference.forward(x, steps, batch, lengths, h0, c0);
            assertTrue(TestModel.maxAbsError(toFloats(unclipped.y()), expected.y()) > 1e-2, "the clip acts");

            float[] y = new float[steps * batch * hiddenSize];
            float[] hT = new float[batch * hiddenSize];
            float[] cT = new float[batch * hiddenSize];
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, c0, y, hT, cT);
            ForwardVsReferenceTest.assertWithin("y", y, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());

            float[] dx = new float[x.length];
            float[] dh0 = new float[h0.length];
            float[] dc0 = new float[c0.length];
            trainer.forward(MemorySegment.ofArray(x), SequenceLayout.TIME_MAJOR, steps, batch, lengths,
                    MemorySegment.ofArray(h0), MemorySegment.ofArray(c0), null, null, null);
            trainer.backward(MemorySegment.ofArray(dy), MemorySegment.ofArray(dhT), MemorySegment.ofArray(dcT),
                    gradients, GradientMode.OVERWRITE, MemorySegment.ofArray(dx), MemorySegment.ofArray(dh0),
                    MemorySegment.ofArray(dc0));
            ReferenceLstm.Gradients expectedGradients = clipped.backward(doubles(x), steps, batch, lengths,
                    doubles(h0), doubles(c0), doubles(dy), doubles(dhT), doubles(dcT));
            TrainerVsReferenceTest.assertClose("weightIh", TrainerVsReferenceTest.floats(gradients.weightIh()),
                    expectedGradients.weightIh());
            TrainerVsReferenceTest.assertClose("weightHh", TrainerVsReferenceTest.floats(gradients.weightHh()),
                    expectedGradients.weightHh());
            TrainerVsReferenceTest.assertClose("biasHh", TrainerVsReferenceTest.floats(gradients.biasHh()),
                    expectedGradients.biasHh());
            TrainerVsReferenceTest.assertClose("x", dx, expectedGradients.x());
            TrainerVsReferenceTest.assertClose("h0", dh0, expectedGradients.h0());
            TrainerVsReferenceTest.assertClose("c0", dc0, expectedGradients.c0());
        }
    }

    /** A finite clip above every value takes the clipping code paths and changes no bit, forward or backward. */
    @Test
    void aClipThatNeverActsChangesNoBit() {
        int steps = 6;
        int batch = 5;
        int hiddenSize = 33;
        try (TestModel model = new TestModel(1300, 7, hiddenSize);
             LstmRunner plainRunner = new LstmRunner(model.weights, batch);
             LstmRunner clipRunner = new LstmRunner(model.weights, batch, 64, NonFiniteInputs.PROPAGATE, 1e30f);
             LstmTrainer plainTrainer = new LstmTrainer(model.weights, batch, steps);
             LstmTrainer clipTrainer = new LstmTrainer(model.weights, batch, steps, 1e30f);
             LstmGradients plain = new LstmGradients(model.weights);
             LstmGradients clipped = new LstmGradients(model.weights)) {
            float[] x = model.input(steps, batch);
            float[] h0 = model.state(batch);
            float[] dy = model.uniform(steps * batch * hiddenSize, 1f);
            float[][] outputs = new float[4][];
            for (int n = 0; n < 2; n++) {
                float[] y = new float[steps * batch * hiddenSize];
                float[] cT = new float[batch * hiddenSize];
                (n == 0 ? plainRunner : clipRunner).forward(x, steps, batch, h0, null, y, null, cT);
                outputs[2 * n] = y;
                outputs[2 * n + 1] = cT;
            }
            assertArrayEquals(outputs[0], outputs[2]);
            assertArrayEquals(outputs[1], outputs[3]);
            float[][] dx = {new float[x.length], new float[x.length]};
            float[][] dc0 = {new float[batch * hiddenSize], new float[batch * hiddenSize]};
            LstmTrainer[] trainers = {plainTrainer, clipTrainer};
            LstmGradients[] results = {plain, clipped};
            for (int n = 0; n < 2; n++) {
                trainers[n].forward(MemorySegment.ofArray(x), steps, batch, MemorySegment.ofArray(h0), null, null,
                        null, null);
                trainers[n].backward(MemorySegment.ofArray(dy), null, null, results[n], GradientMode.OVERWRITE,
                        MemorySegment.ofArray(dx[n]), null, MemorySegment.ofArray(dc0[n]));
            }
            assertArrayEquals(dx[0], dx[1]);
            assertArrayEquals(dc0[0], dc0[1]);
            assertArrayEquals(TrainerVsReferenceTest.floats(plain.weightHh()),
                    TrainerVsReferenceTest.floats(clipped.weightHh()));
            assertArrayEquals(TrainerVsReferenceTest.floats(plain.biasIh()),
                    TrainerVsReferenceTest.floats(clipped.biasIh()));
            assertEquals(LstmRunner.NO_CELL_CLIP, plainRunner.cellClip());
            assertEquals(1e30f, clipTrainer.cellClip());
        }
    }

    @Test
    void referenceClippedBackwardMatchesCentralDifferences() {
        int inputSize = 3;
        int hiddenSize = 4;
        int steps = 4;
        int batch = 3;
        int[] lengths = {4, 2, 3};
        double clip = 0.6;
        SplittableRandom random = new SplittableRandom(1301);
        double[][] variables = {
                uniform(random, 4 * hiddenSize * inputSize, 1.5), uniform(random, 4 * hiddenSize * hiddenSize, 1.5),
                uniform(random, 4 * hiddenSize, 1), uniform(random, 4 * hiddenSize, 1),
                uniform(random, steps * batch * inputSize, 1), uniform(random, batch * hiddenSize, 1),
                uniform(random, batch * hiddenSize, 1.5)};
        double[] dy = uniform(random, steps * batch * hiddenSize, 1);
        double[] dhT = uniform(random, batch * hiddenSize, 1);
        double[] dcT = uniform(random, batch * hiddenSize, 1);
        ReferenceLstm.Gradients gradients = new ReferenceLstm(inputSize, hiddenSize, variables[0], variables[1],
                variables[2], variables[3]).withCellClip(clip).backward(variables[4], steps, batch, lengths,
                variables[5], variables[6], dy, dhT, dcT);
        double[][] analytic = {gradients.weightIh(), gradients.weightHh(), gradients.biasIh(), gradients.biasHh(),
                gradients.x(), gradients.h0(), gradients.c0()};
        String[] names = {"weightIh", "weightHh", "biasIh", "biasHh", "x", "h0", "c0"};
        for (int n = 0; n < names.length; n++) {
            double largest = CentralDifferences.check(names[n], variables[n], analytic[n], () -> {
                ReferenceLstm.Result result = new ReferenceLstm(inputSize, hiddenSize, variables[0], variables[1],
                        variables[2], variables[3]).withCellClip(clip).forward(variables[4], steps, batch, lengths,
                        variables[5], variables[6]);
                return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT)
                        + CentralDifferences.dot(result.cT(), dcT);
            });
            assertTrue(largest > CentralDifferences.SIGNIFICANT, names[n] + " is all zeros");
        }
        // The clip acts on these values: the gradients differ from the unclipped model's.
        ReferenceLstm.Gradients unclipped = new ReferenceLstm(inputSize, hiddenSize, variables[0], variables[1],
                variables[2], variables[3]).backward(variables[4], steps, batch, lengths, variables[5], variables[6], dy,
                dhT, dcT);
        double difference = 0;
        for (int n = 0; n < unclipped.biasIh().length; n++) {
            difference = Math.max(difference, Math.abs(gradients.biasIh()[n] - unclipped.biasIh()[n]));
        }
        assertTrue(difference > 1e-2, "the clip changes the gradients: " + difference);
    }

    @Test
    void aClipThatIsNotPositiveIsRefusedByName() {
        try (TestModel model = new TestModel(1302, 3, 5)) {
            for (float clip : new float[]{0f, -1f, Float.NaN, Float.NEGATIVE_INFINITY}) {
                Throwable thrown = assertThrows(IllegalArgumentException.class,
                        () -> new LstmRunner(model.weights, 1, 1, NonFiniteInputs.PROPAGATE, clip));
                assertTrue(thrown.getMessage().startsWith("cellClip must be > 0"), thrown.getMessage());
                thrown = assertThrows(IllegalArgumentException.class, () -> new LstmTrainer(model.weights, 1, 1, clip));
                assertTrue(thrown.getMessage().startsWith("cellClip must be > 0"), thrown.getMessage());
            }
            assertThrows(IllegalArgumentException.class, () -> model.reference.withCellClip(0));
        }
    }

    private static int[] full(int steps, int batch) {
        int[] lengths = new int[batch];
        java.util.Arrays.fill(lengths, steps);
        return lengths;
    }

    private static float[] toFloats(double[] values) {
        float[] result = new float[values.length];
        for (int n = 0; n < values.length; n++) {
            result[n] = (float) values[n];
        }
        return result;
    }

    private static double[] uniform(SplittableRandom random, int length, double bound) {
        double[] values = new double[length];
        for (int n = 0; n < length; n++) {
            values[n] = (random.nextDouble() * 2 - 1) * bound;
        }
        return values;
    }
}
