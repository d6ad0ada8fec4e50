package dev.vlstm.io;

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
import dev.vlstm.onnxmodels.OnnxRnnModel;

/**
 * ONNX {@code GRU} nodes with {@code linear_before_reset = 1} (forward and bidirectional, with B,
 * {@code sequence_lens} and {@code initial_h}; odd sizes) run in ONNX Runtime 1.24.2, and the same node loaded with
 * {@link GateConventions#onnxGru} into {@link Parameters}, packed with {@link Model#pack(Parameters, Options)} and
 * run by a {@link Runner}: Y (converted with {@link GateConventions#toOnnxY}) and Y_h must agree within
 * {@value OnnxRuntimeParityTest#RELATIVE_TOLERANCE} of each tensor's largest magnitude, as LSTM nodes do in
 * {@link OnnxRuntimeParityTest}. Every sequence has at least one step (ORT's Y_h of an empty one is zero, vlstm's
 * h0). Weights and biases are U(-w, w) with w given per case; inputs and states U(-1, 1). With the node's
 * {@code clip} attribute, ORT clips the inputs of r's, z's and n's activations (n's being
 * {@code W_h·x + Wb_h + r ⊙ (R_h·h + Rb_h)}), and the model packs the same clip (checked to change y).
 */
class OnnxRuntimeGruParityTest {

    @ParameterizedTest(name = "{0} I={1} H={2} T={3} lengths={4} weights={5} clip={6}")
    @CsvSource(delimiter = ';', value = {
            "forward; 5; 7; 6; 6 2 4; 0.75; Infinity",
            "bidirectional; 5; 7; 6; 3 6 1; 1; Infinity",
            "forward; 1; 1; 4; 4 1; 1; Infinity",
            "bidirectional; 17; 33; 5; 5 1 3 2; 2; Infinity",
            "forward; 5; 7; 6; 6 2 4; 2; 0.5",
            "bidirectional; 17; 33; 5; 5 1 3 2; 2; 1.5"})
    void gruParametersMatchOnnxRuntime(String direction, int inputSize, int hiddenSize, int steps, String lengthList,
                                       float bound, float clip) throws OrtException {
        int[] lengths = Arrays.stream(lengthList.split(" ")).mapToInt(Integer::parseInt).toArray();
        int batch = lengths.length;
        int directions = direction.equals("bidirectional") ? 2 : 1;
        SplittableRandom random = new SplittableRandom(2200 + 10L * hiddenSize + batch);
        float[] w = uniform(random, directions * 3 * hiddenSize * inputSize, bound);
        float[] r = uniform(random, directions * 3 * hiddenSize * hiddenSize, bound);
        float[] b = uniform(random, directions * 6 * hiddenSize, bound);
        float[] x = uniform(random, steps * batch * inputSize, 1);
        float[] h0 = uniform(random, directions * batch * hiddenSize, 1);

        float[][] onnx = runOnnxRuntime(OnnxRnnModel.gru(inputSize, hiddenSize, steps, batch).direction(direction)
                        .linearBeforeReset(1).weights(w, r, b).sequenceLengths().clip(clip)
                        .bytes("vlstm-tests", "vlstm-test-GRU-" + direction),
                inputSize, hiddenSize, steps, directions, x, lengths, h0, null);

        float[] y = new float[steps * batch * directions * hiddenSize];
        float[] hT = new float[h0.length];
        try (Parameters parameters = GateConventions.onnxGru(inputSize, hiddenSize, direction, 1, w, r, b)) {
            assertEquals(RnnShape.of(Cell.GRU, inputSize, hiddenSize).withDirection(directions == 2
                    ? Direction.BIDIRECTIONAL : Direction.FORWARD), parameters.shape());
            Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps);
            try (Model model = Model.pack(parameters, options.withCellClip(clip));
                 Runner runner = model.runner()) {
                runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, null, y, hT, null);
            }
            if (clip < Float.POSITIVE_INFINITY) {
                float[] unclipped = new float[y.length];
                try (Model model = Model.pack(parameters, options); Runner runner = model.runner()) {
                    runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, null, unclipped, null,
                            null);
                }
                assertTrue(maxDifference(y, unclipped) > 1e-2, "the clip acts");
            }
        }
        assertClose("Y", onnx[0], GateConventions.toOnnxY(y, steps, batch, directions, hiddenSize));
        assertClose("Y_h", onnx[1], hT);
    }

    private static double maxDifference(float[] a, float[] b) {
        double largest = 0;
        for (int n = 0; n < a.length; n++) {
            largest = Math.max(largest, Math.abs(a[n] - b[n]));
        }
        return largest;
    }
}
