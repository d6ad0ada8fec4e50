package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static dev.vlstm.TrainerVsReferenceTest.segment;
import static dev.vlstm.VariableLengthTest.fromLayout;
import static dev.vlstm.VariableLengthTest.toLayout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceStack;
import dev.vlstm.train.Adam;
import dev.vlstm.train.GradientClipping;

/**
 * Stacks in which some layers and directions have peephole connections (ONNX's P), with and without a cell clip and
 * projection: the runner's y, h_n, c_n and the trainer's every gradient (the peephole gradients of exactly the parts
 * that have peepholes) against the double-precision {@link ReferenceStack} (whose peephole backward
 * StackPeepholeReferenceBackwardTest checks by central differences), plain and with variable lengths (0 and T
 * among them) in both layouts; compressed W and U; streaming bit for bit the sequence; and a training step through
 * clipping, Adam and {@link LstmStackTrainer#updateWeights}.
 *
 * <p>Tolerances are those of StackVsReferenceTest: forward max |error| &le; {@value ForwardVsReferenceTest#TOLERANCE};
 * gradients max |error| &le; {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} of each tensor's largest value.
 */
class StackPeepholeTest {

    @ParameterizedTest(name = "{11} I={0} H={1} P={2} L={3} bidirectional={4} T={5} B={6} peepholes={7} clip={8} {9}"
            + " lengths={10}")
    @CsvSource({
            "3, 5, 0, 2, true, 4, 2, 1001, Infinity, TIME_MAJOR, false, PREFERRED",
            "1, 1, 0, 3, false, 3, 1, 111, 0.5, BATCH_FIRST, true, PREFERRED",
            "17, 33, 0, 2, true, 6, 5, 0110, 0.8, BATCH_FIRST, true, PREFERRED",
            "5, 7, 3, 2, true, 6, 3, 1111, Infinity, TIME_MAJOR, true, PREFERRED",
            "33, 17, 0, 3, false, 5, 9, 101, Infinity, TIME_MAJOR, true, PREFERRED",
            "7, 9, 4, 1, true, 5, 7, 10, 0.7, BATCH_FIRST, true, PREFERRED",
            "3, 5, 0, 2, true, 4, 3, 1111, 0.6, TIME_MAJOR, true, SCALAR",
            "5, 3, 0, 2, false, 6, 4, 01, Infinity, BATCH_FIRST, true, SCALAR"})
    void forwardAndEveryGradientMatchTheReference(int inputSize, int hiddenSize, int projectionSize, int layers,
                                                  boolean bidirectional, int steps, int batch, String peepholes,
                                                  float clip, SequenceLayout layout, boolean variableLengths,
                                                  Backend backend) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, bidirectional, projectionSize);
        try (PeepholeTestStack model = new PeepholeTestStack(1300 + 10L * hiddenSize + layers, shape, peepholes,
                backend, WeightPrecision.FLOAT32, clip);
             LstmStackRunner runner = new LstmStackRunner(model.weights, batch + 1, steps + 2, clip);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights, batch, steps, clip);
             LstmStackGradients gradients = new LstmStackGradients(model.weights)) {
            assertEquals(clip, runner.cellClip());
            assertEquals(clip, trainer.cellClip());
            int[] lengths = variableLengths ? VariableLengthTest.lengths(steps * 31L + batch, steps, batch) : null;
            int outputSize = shape.outputSize();
            float[] x = model.input(steps, batch);
            float[] h0 = model.hidden(batch);
            float[] c0 = model.cells(batch);
            float[] y = new float[steps * batch * outputSize];
            float[] hT = new float[h0.length];
            float[] cT = new float[c0.length];
            if (lengths == null) {
                runner.forward(x, steps, batch, h0, c0, y, hT, cT);
            } else {
                runner.forward(toLayout(x, layout, steps, batch, inputSize), layout, steps, batch, lengths, h0, c0, y,
                        hT, cT);
                y = fromLayout(y, layout, steps, batch, outputSize);
            }
            ReferenceStack.Result expected = model.reference.forward(doubles(x), steps, batch, lengths,
                    doubles(h0), doubles(c0), null);
            ForwardVsReferenceTest.assertWithin("y", y, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());
            if (clip < Float.POSITIVE_INFINITY) {
                assertClipActs(model, x, steps, batch, h0, c0, y);
            }

            float[] dy = model.outputGradient(steps, batch);
            float[] dhT = model.hidden(batch);
            float[] dcT = model.cells(batch);
            float[] trainedY = new float[y.length];
            float[] dx = new float[x.length];
            float[] dh0 = new float[h0.length];
            float[] dc0 = new float[c0.length];
            if (lengths == null) {
                trainer.forward(segment(x), steps, batch, segment(h0), segment(c0), segment(trainedY), null, null);
                trainer.backward(segment(dy), segment(dhT), segment(dcT), gradients, GradientMode.OVERWRITE,
                        segment(dx), segment(dh0), segment(dc0));
            } else {
                trainer.forward(MemorySegment.ofArray(toLayout(x, layout, steps, batch, inputSize)), layout, steps,
                        batch, lengths, segment(h0), segment(c0), segment(trainedY), null, null);
                trainer.backward(MemorySegment.ofArray(toLayout(dy, layout, steps, batch, outputSize)), segment(dhT),
                        segment(dcT), gradients, GradientMode.OVERWRITE, segment(dx), segment(dh0), segment(dc0));
                trainedY = fromLayout(trainedY, layout, steps, batch, outputSize);
                dx = fromLayout(dx, layout, steps, batch, inputSize);
            }
            assertArrayEquals(y, trainedY, "the trainer's y is the runner's");
            assertGradients(shape, gradients, dx, dh0, dc0, model.reference.backward(doubles(x), steps, batch, lengths,
                    doubles(h0), doubles(c0), null, doubles(dy), doubles(dhT), doubles(dcT)));
        }
    }

    /** A finite clip must change the output here, or the comparison above would not show that it is applied. */
    private static void assertClipActs(PeepholeTestStack model, float[] x, int steps, int batch, float[] h0,
                                       float[] c0, float[] clipped) {
        try (LstmStackRunner unclipped = new LstmStackRunner(model.weights, batch, steps)) {
            float[] y = new float[clipped.length];
            unclipped.forward(x, steps, batch, h0, c0, y, null, null);
            double largest = 0;
            for (int n = 0; n < y.length; n++) {
                largest = Math.max(largest, Math.abs(y[n] - clipped[n]));
            }
            assertTrue(largest > 1e-3, "the clip changes y by " + largest + " only");
        }
    }

    /** Compressed W and U (peepholes stay float32) against the reference on the dequantised weights. */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"BFLOAT16, PREFERRED", "INT8, PREFERRED", "BFLOAT16, SCALAR", "INT8, SCALAR"})
    void compressedStacksMatchTheReferenceOnDequantisedWeights(WeightPrecision precision, Backend backend) {
        LstmStackShape shape = new LstmStackShape(13, 17, 2, true);
        int steps = 5;
        int batch = 3;
        try (PeepholeTestStack model = new PeepholeTestStack(1320, shape, "1011", backend, precision, 0.9);
             LstmStackRunner runner = new LstmStackRunner(model.weights, batch, steps, 0.9f)) {
            int[] lengths = {5, 0, 3};
            float[] x = model.input(steps, batch);
            float[] h0 = model.hidden(batch);
            float[] c0 = model.cells(batch);
            float[] y = new float[steps * batch * shape.outputSize()];
            float[] hT = new float[h0.length];
            float[] cT = new float[c0.length];
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, c0, y, hT, cT);
            ReferenceStack.Result expected = model.reference.forward(doubles(x), steps, batch, lengths,
                    doubles(h0), doubles(c0), null);
            ForwardVsReferenceTest.assertWithin("y", y, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());
        }
    }

    /** Streaming a unidirectional peephole stack, clipped or not, is its sequence forward, bit for bit. */
    @ParameterizedTest(name = "{5} I={0} H={1} P={2} peepholes={3} clip={4}")
    @CsvSource({"3, 5, 0, 101, 0.5, PREFERRED", "17, 33, 0, 011, Infinity, PREFERRED", "5, 7, 3, 111, 0.8, PREFERRED",
            "1, 1, 0, 110, Infinity, PREFERRED", "5, 9, 0, 101, 0.7, SCALAR"})
    void stepsEqualTheSequenceForwardBitForBit(int inputSize, int hiddenSize, int projectionSize, String peepholes,
                                               float clip, Backend backend) {
        int steps = 6;
        int batch = 3;
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, 3, false, projectionSize);
        try (PeepholeTestStack model = new PeepholeTestStack(1330 + hiddenSize, shape, peepholes, backend,
                WeightPrecision.FLOAT32, clip);
             LstmStackRunner runner = new LstmStackRunner(model.weights, batch, steps, clip);
             LstmStackState state = new LstmStackState(model.weights, batch)) {
            int stateSize = shape.hiddenStateSize();
            float[] x = model.input(steps, batch);
            float[] y = new float[steps * batch * stateSize];
            float[] hT = new float[3 * batch * stateSize];
            float[] cT = new float[3 * batch * hiddenSize];
            runner.forward(x, steps, batch, null, null, y, hT, cT);
            float[] h = new float[batch * stateSize];
            for (int t = 0; t < steps; t++) {
                runner.step(java.util.Arrays.copyOfRange(x, t * batch * inputSize, (t + 1) * batch * inputSize),
                        state, h);
                assertArrayEquals(java.util.Arrays.copyOfRange(y, t * batch * stateSize, (t + 1) * batch * stateSize),
                        h, "step " + t);
            }
            assertArrayEquals(hT, state.hidden(), "h_n");
            assertArrayEquals(cT, state.cell(), "c_n");
        }
    }

    /**
     * One training step: the global norm counts the peephole gradients, clipping scales them, Adam (one per part)
     * moves the peepholes, and updateWeights carries the new peepholes into the shared weights: the runner then gives
     * the bits of weights packed afresh from the same parameters.
     */
    @ParameterizedTest(name = "peepholes={0}")
    @CsvSource({"1001", "0110", "1111"})
    void aTrainingStepUpdatesThePeepholesOfExactlyThePartsThatHaveThem(String peepholes) {
        LstmStackShape shape = new LstmStackShape(4, 6, 2, true);
        int steps = 5;
        int batch = 3;
        try (PeepholeTestStack model = new PeepholeTestStack(1340, shape, peepholes, 1.5);
             LstmStackParameters parameters = model.parameters();
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights, batch, steps, 0.2, 7, 1.5f);
             LstmStackRunner runner = new LstmStackRunner(model.weights, batch, steps, 1.5f);
             LstmStackGradients gradients = new LstmStackGradients(parameters)) {
            float[] x = model.input(steps, batch);
            trainer.forward(segment(x), steps, batch, null, null, null, null, null);
            trainer.backward(segment(model.outputGradient(steps, batch)), null, null, gradients,
                    GradientMode.OVERWRITE, null, null, null);
            double sum = 0;
            float[][] before = new float[shape.stateCount()][];
            for (int n = 0; n < shape.stateCount(); n++) {
                LstmGradients part = gradients.layer(n / 2, n % 2);
                assertEquals(peepholes.charAt(n) == '1', part.peepholes() != null, "part " + n + " peepholes");
                for (MemorySegment tensor : new MemorySegment[]{part.weightIh(), part.weightHh(), part.biasIh(),
                    part.biasHh(), part.peepholes()}) {
                    if (tensor != null) {
                        for (float value : floats(tensor)) {
                            sum += (double) value * value;
                        }
                    }
                }
                before[n] = part.peepholes() == null ? null : floats(part.peepholes());
            }
            double maxNorm = 0.5 * Math.sqrt(sum);
            double norm = GradientClipping.clipGlobalNorm(gradients, maxNorm);
            assertEquals(Math.sqrt(sum), norm, 1e-5 * norm, "the norm counts every tensor, the peepholes too");
            for (int n = 0; n < shape.stateCount(); n++) {
                if (before[n] != null) {
                    float[] scaled = floats(gradients.layer(n / 2, n % 2).peepholes());
                    for (int k = 0; k < scaled.length; k++) {
                        assertEquals(before[n][k] * maxNorm / (norm + 1e-6), scaled[k], 1e-6,
                                "part " + n + " dp[" + k + "] clipped");
                    }
                }
            }
            Adam[] optimizers = new Adam[shape.stateCount()];
            for (int n = 0; n < optimizers.length; n++) {
                optimizers[n] = new Adam(parameters.layer(n / 2, n % 2), gradients.layer(n / 2, n % 2), 0.05);
            }
            for (Adam optimizer : optimizers) {
                optimizer.step();
                optimizer.close();
            }
            for (int n = 0; n < shape.stateCount(); n++) {
                MemorySegment updated = parameters.layer(n / 2, n % 2).peepholes();
                if (model.peepholes[n] == null) {
                    assertNull(updated, "part " + n);
                } else {
                    float[] moved = floats(updated);
                    for (int k = 0; k < moved.length; k++) {
                        // Adam's first step moves every element with a nonzero gradient by about the learning rate.
                        if (before[n][k] != 0) {
                            assertEquals(0.05, Math.abs(moved[k] - model.peepholes[n][k]), 1e-3,
                                    "part " + n + " p[" + k + "]");
                        }
                    }
                }
            }
            trainer.updateWeights(parameters);
            float[] y = new float[steps * batch * shape.outputSize()];
            runner.forward(x, steps, batch, null, null, y, null, null);
            try (LstmStackWeights fresh = parameters.pack();
                 LstmStackRunner freshRunner = new LstmStackRunner(fresh, batch, steps, 1.5f)) {
                float[] expected = new float[y.length];
                freshRunner.forward(x, steps, batch, null, null, expected, null, null);
                assertArrayEquals(expected, y, "updated weights run as freshly packed ones");
            }
        }
    }

    /** Every parameter gradient of every part (dp exactly where the part has peepholes), dx, dh0 and dc0. */
    static void assertGradients(LstmStackShape shape, LstmStackGradients gradients, float[] dx, float[] dh0,
                                float[] dc0, ReferenceStack.Gradients expected) {
        StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, expected);
        for (int index = 0; index < shape.stateCount(); index++) {
            LstmGradients part = gradients.layer(index / shape.directions(), index % shape.directions());
            String name = "layer " + index / shape.directions() + " direction " + index % shape.directions()
                    + " peepholes";
            if (expected.peepholes()[index] == null) {
                assertNull(part.peepholes(), name);
            } else {
                TrainerVsReferenceTest.assertClose(name, floats(part.peepholes()), expected.peepholes()[index]);
            }
        }
    }
}
