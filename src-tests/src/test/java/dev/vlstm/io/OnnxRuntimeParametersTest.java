package dev.vlstm.io;

import static dev.vlstm.io.OnnxRuntimeParityTest.RELATIVE_TOLERANCE;
import static dev.vlstm.io.OnnxRuntimeParityTest.assertClose;
import static dev.vlstm.io.OnnxRuntimeParityTest.runOnnxRuntime;
import static dev.vlstm.io.OnnxRuntimeParityTest.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import ai.onnxruntime.OrtException;
import dev.vlstm.Cell;
import dev.vlstm.Direction;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
import dev.vlstm.SequenceLayout;

/**
 * ONNX {@code LSTM} and {@code GRU} nodes (forward and bidirectional, with B, {@code sequence_lens} and
 * {@code initial_h}; an LSTM with and without peepholes P, with {@code initial_c} and in one case {@code clip}; a GRU
 * with {@code linear_before_reset = 1}; odd sizes) run in ONNX Runtime 1.24.2, and the same node loaded with
 * {@link GateConventions#onnxLstm} or {@link GateConventions#onnxGru} into {@link Parameters}, packed with
 * {@link Model#pack(Parameters, Options)} and run by a {@link Runner}: Y (converted with
 * {@link GateConventions#toOnnxY}), Y_h and Y_c must agree within {@value OnnxRuntimeParityTest#RELATIVE_TOLERANCE}
 * of each tensor's largest magnitude. Every sequence has at least one step, and the clip (T + 1) is one that C_t
 * cannot reach: see {@link OnnxRuntimeParityTest} for why ORT differs otherwise.
 *
 * <p>Weights and biases are U(-w, w) with w given per case; peepholes, inputs and states U(-1, 1).
 */
class OnnxRuntimeParametersTest {

    /**
     * An LSTM node; {@code peepholes} is how vlstm gets P: "random" (ORT and vlstm the same P), "zero" (an all-zero
     * P, which loads as no peepholes) or "none" (ORT all zeros, vlstm null).
     */
    @ParameterizedTest(name = "{0} I={1} H={2} T={3} lengths={4} clip={5} P={6} weights={7}")
    @CsvSource(delimiter = ';', value = {
            "forward; 5; 7; 6; 6 2 4; Infinity; random; 0.75",
            "bidirectional; 5; 7; 6; 3 6 1; Infinity; random; 1",
            "bidirectional; 5; 7; 6; 6 2 4; Infinity; none; 0.75",
            "forward; 3; 17; 7; 7 7; Infinity; zero; 0.5",
            "bidirectional; 5; 7; 6; 3 6 1; 7; random; 4",
            "bidirectional; 17; 33; 5; 5 1 3 2; Infinity; random; 1"})
    void lstmParametersMatchOnnxRuntime(String direction, int inputSize, int hiddenSize, int steps, String lengthList,
                                        float clip, String peepholes, float bound) throws OrtException {
        int[] lengths = Arrays.stream(lengthList.split(" ")).mapToInt(Integer::parseInt).toArray();
        int batch = lengths.length;
        int directions = direction.equals("bidirectional") ? 2 : 1;
        SplittableRandom random = new SplittableRandom(2100 + 10L * hiddenSize + batch);
        float[] w = uniform(random, directions * 4 * hiddenSize * inputSize, bound);
        float[] r = uniform(random, directions * 4 * hiddenSize * hiddenSize, bound);
        float[] b = uniform(random, directions * 8 * hiddenSize, bound);
        float[] p = peepholes.equals("random") ? uniform(random, directions * 3 * hiddenSize, 1)
                : new float[directions * 3 * hiddenSize];
        float[] x = uniform(random, steps * batch * inputSize, 1);
        float[] h0 = uniform(random, directions * batch * hiddenSize, 1);
        float[] c0 = uniform(random, directions * batch * hiddenSize, 1);

        float[][] onnx = runOnnxRuntime(OnnxNodeModel.lstm(inputSize, hiddenSize, steps, batch, direction, w, r, b,
                p, clip, false), inputSize, hiddenSize, steps, directions, x, lengths, h0, c0);

        float[] y = new float[steps * batch * directions * hiddenSize];
        float[] hT = new float[h0.length];
        float[] cT = new float[c0.length];
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps).withCellClip(clip);
        try (Parameters parameters = GateConventions.onnxLstm(inputSize, hiddenSize, direction, w, r, b,
                peepholes.equals("none") ? null : p)) {
            assertEquals(RnnShape.of(Cell.LSTM, inputSize, hiddenSize).withDirection(directions == 2
                    ? Direction.BIDIRECTIONAL : Direction.FORWARD).withPeepholes(peepholes.equals("random")),
                    parameters.shape());
            run(parameters, options, x, steps, batch, lengths, h0, c0, y, hT, cT);
            if (peepholes.equals("random")) {
                try (Parameters without = GateConventions.onnxLstm(inputSize, hiddenSize, direction, w, r, b, null)) {
                    assertChanges("the peepholes", without, options, x, steps, batch, lengths, h0, c0, y);
                }
            }
            if (clip < Float.POSITIVE_INFINITY) {
                assertChanges("the clip", parameters, options.withCellClip(Float.POSITIVE_INFINITY), x, steps, batch,
                        lengths, h0, c0, y);
            }
        }
        assertClose("Y", onnx[0], GateConventions.toOnnxY(y, steps, batch, directions, hiddenSize));
        assertClose("Y_h", onnx[1], hT);
        assertClose("Y_c", onnx[2], cT);
    }

    @ParameterizedTest(name = "{0} I={1} H={2} T={3} lengths={4} weights={5}")
    @CsvSource(delimiter = ';', value = {
            "forward; 5; 7; 6; 6 2 4; 0.75",
            "bidirectional; 5; 7; 6; 3 6 1; 1",
            "forward; 1; 1; 4; 4 1; 1",
            "bidirectional; 17; 33; 5; 5 1 3 2; 2"})
    void gruParametersMatchOnnxRuntime(String direction, int inputSize, int hiddenSize, int steps, String lengthList,
                                       float bound) throws OrtException {
        int[] lengths = Arrays.stream(lengthList.split(" ")).mapToInt(Integer::parseInt).toArray();
        int batch = lengths.length;
        int directions = direction.equals("bidirectional") ? 2 : 1;
        SplittableRandom random = new SplittableRandom(2200 + 10L * hiddenSize + batch);
        float[] w = uniform(random, directions * 3 * hiddenSize * inputSize, bound);
        float[] r = uniform(random, directions * 3 * hiddenSize * hiddenSize, bound);
        float[] b = uniform(random, directions * 6 * hiddenSize, bound);
        float[] x = uniform(random, steps * batch * inputSize, 1);
        float[] h0 = uniform(random, directions * batch * hiddenSize, 1);

        float[][] onnx = runOnnxRuntime(OnnxNodeModel.gru(inputSize, hiddenSize, steps, batch, direction, 1, w, r, b),
                inputSize, hiddenSize, steps, directions, x, lengths, h0, null);

        float[] y = new float[steps * batch * directions * hiddenSize];
        float[] hT = new float[h0.length];
        try (Parameters parameters = GateConventions.onnxGru(inputSize, hiddenSize, direction, 1, w, r, b)) {
            assertEquals(RnnShape.of(Cell.GRU, inputSize, hiddenSize).withDirection(directions == 2
                    ? Direction.BIDIRECTIONAL : Direction.FORWARD), parameters.shape());
            run(parameters, Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps), x, steps, batch, lengths, h0,
                    null, y, hT, null);
        }
        assertClose("Y", onnx[0], GateConventions.toOnnxY(y, steps, batch, directions, hiddenSize));
        assertClose("Y_h", onnx[1], hT);
    }

    private static void run(Parameters parameters, Options options, float[] x, int steps, int batch, int[] lengths,
                            float[] h0, float[] c0, float[] y, float[] hT, float[] cT) {
        try (Model model = Model.pack(parameters, options);
             Runner runner = model.runner()) {
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, c0, y, hT, cT);
        }
    }

    /** What {@code what} adds must change y here, or agreeing with ORT would not show that both apply it alike. */
    private static void assertChanges(String what, Parameters parameters, Options options, float[] x, int steps,
                                      int batch, int[] lengths, float[] h0, float[] c0, float[] expected) {
        float[] y = new float[expected.length];
        run(parameters, options, x, steps, batch, lengths, h0, c0, y, null, null);
        double largest = 0;
        for (int n = 0; n < y.length; n++) {
            largest = Math.max(largest, Math.abs(y[n] - expected[n]));
        }
        assertTrue(largest > 10 * RELATIVE_TOLERANCE, what + " change y by " + largest + " only");
    }
}
