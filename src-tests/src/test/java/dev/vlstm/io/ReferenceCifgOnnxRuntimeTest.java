package dev.vlstm.io;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import ai.onnxruntime.OrtException;
import dev.vlstm.reference.ReferenceLstm;

/**
 * The reference's coupled input-forget gate ({@link ReferenceLstm#coupledInputForget}) against ONNX Runtime 1.24.2's
 * {@code LSTM} node with {@code input_forget = 1}: Y, Y_h and Y_c must agree within
 * {@value OnnxRuntimeParityTest#RELATIVE_TOLERANCE} of each tensor's largest magnitude (ORT computes in float, the
 * reference in double from the same float weights).
 *
 * <p>The ONNX tensors map to the reference's (i, g, o) rows as ONNX's gate blocks (i, o, f, c) → (0, 3, 1); the f
 * block and p_f are random and must not matter. Each case first checks that ORT honours {@code input_forget}: the
 * same node with {@code input_forget = 0} must give another Y, or agreeing would prove nothing about CIFG.
 *
 * <p>Clip: ORT clips the gate pre-activations only, the reference also the cell state before tanh (see
 * OnnxRuntimeParityTest). With f = 1 - i, c_t is a convex combination of c_{t-1} and g, so |c_t| &le; max(|c_0|, 1)
 * = 1 here: a clip above 1 never reaches the cell, and the clipped cases use 1.5 with weights large enough that the
 * clip acts on the gates (checked: it changes the reference's y).
 *
 * <p>Weights, biases and peepholes are U(-w, w) with w given per case; inputs and states U(-1, 1); one direction,
 * sequence lengths from 1 to T (ORT's result for length 0 differs from the reference's, see OnnxRuntimeParityTest).
 */
class ReferenceCifgOnnxRuntimeTest {

    @ParameterizedTest(name = "I={0} H={1} T={2} lengths={3} clip={4} peepholes={5} weights={6}")
    @CsvSource(delimiter = ';', value = {
            "5; 7; 6; 6 6 6; Infinity; false; 0.75",
            "5; 7; 6; 6 2 4; Infinity; true; 0.75",
            "3; 9; 5; 5 1 3; 1.5; true; 4",
            "4; 6; 7; 2 7; 1.5; false; 4",
            "1; 1; 4; 4 3 2; Infinity; true; 1",
            "17; 33; 5; 5 1 3 2; Infinity; true; 0.5"})
    void theReferenceCifgMatchesOnnxRuntimeInputForget(int inputSize, int hiddenSize, int steps, String lengthList,
                                                       float clip, boolean peepholes, float bound)
            throws OrtException {
        int[] lengths = Arrays.stream(lengthList.split(" ")).mapToInt(Integer::parseInt).toArray();
        int batch = lengths.length;
        int hidden = hiddenSize;
        SplittableRandom random = new SplittableRandom(1700 + 10L * hiddenSize + batch);
        float[] w = OnnxRuntimeParityTest.uniform(random, 4 * hidden * inputSize, bound);
        float[] r = OnnxRuntimeParityTest.uniform(random, 4 * hidden * hidden, bound);
        float[] b = OnnxRuntimeParityTest.uniform(random, 8 * hidden, bound);
        float[] p = peepholes ? OnnxRuntimeParityTest.uniform(random, 3 * hidden, bound) : new float[3 * hidden];
        float[] x = OnnxRuntimeParityTest.uniform(random, steps * batch * inputSize, 1);
        float[] h0 = OnnxRuntimeParityTest.uniform(random, batch * hidden, 1);
        float[] c0 = OnnxRuntimeParityTest.uniform(random, batch * hidden, 1);

        float[][] onnx = OnnxRuntimeParityTest.runOnnxRuntime(OnnxRuntimeParityTest.lstmNode(inputSize, hidden,
                steps, batch, "forward", w, r, b, p, clip, true), inputSize, hidden, steps, 1, x, lengths, h0, c0);
        float[][] uncoupled = OnnxRuntimeParityTest.runOnnxRuntime(OnnxRuntimeParityTest.lstmNode(inputSize, hidden,
                steps, batch, "forward", w, r, b, p, clip, false), inputSize, hidden, steps, 1, x, lengths, h0, c0);
        assertTrue(largestDifference(onnx[0], uncoupled[0]) > 10 * OnnxRuntimeParityTest.RELATIVE_TOLERANCE,
                "ORT's Y does not change with input_forget: it ignores the attribute");

        // ONNX's gate blocks are (i, o, f, c); the reference's CIFG rows are (i, g, o).
        int[] onnxBlocks = {0, 3, 1};
        ReferenceLstm unclipped = ReferenceLstm.coupledInputForget(inputSize, hidden, 0,
                blocks(w, onnxBlocks, hidden * inputSize, 0), blocks(r, onnxBlocks, hidden * hidden, 0),
                blocks(b, onnxBlocks, hidden, 0), blocks(b, onnxBlocks, hidden, 4 * hidden), null);
        if (peepholes) {
            // ONNX's P is (p_i, p_o, p_f); the reference's CIFG peepholes are (p_i, p_o).
            unclipped = unclipped.withPeepholes(Arrays.copyOf(p, 2 * hidden));
        }
        ReferenceLstm model = clip < Float.POSITIVE_INFINITY ? unclipped.withCellClip(clip) : unclipped;
        ReferenceLstm.Result expected = model.forward(x, steps, batch, lengths, h0, c0);
        if (clip < Float.POSITIVE_INFINITY) {
            double change = largestDifference(rounded(expected.y()),
                    rounded(unclipped.forward(x, steps, batch, lengths, h0, c0).y()));
            assertTrue(change > 10 * OnnxRuntimeParityTest.RELATIVE_TOLERANCE,
                    "the clip changes y by " + change + " only");
        }
        OnnxRuntimeParityTest.assertClose("Y", onnx[0], rounded(expected.y()));
        OnnxRuntimeParityTest.assertClose("Y_h", onnx[1], rounded(expected.hT()));
        OnnxRuntimeParityTest.assertClose("Y_c", onnx[2], rounded(expected.cT()));
    }

    /**
     * One step of one unit worked out by hand (I = H = 1, B = 1, no biases): the CIFG forget gate is 1 - i, the
     * cell a convex combination of c_0 and g, h = o tanh(c_1); and one backward step of the loss L = h_1 against
     * the derivative written out for this case.
     */
    @Test
    void oneStepOfOneUnitIsTheCifgEquations() {
        double wi = 0.5;
        double wg = -0.8;
        double wo = 1.2;
        double ui = 0.3;
        double ug = 0.7;
        double uo = -0.4;
        double x = 0.9;
        double h0 = -0.6;
        double c0 = 0.4;
        double i = 1 / (1 + Math.exp(-(wi * x + ui * h0)));
        double g = Math.tanh(wg * x + ug * h0);
        double o = 1 / (1 + Math.exp(-(wo * x + uo * h0)));
        double c1 = (1 - i) * c0 + i * g;
        double h1 = o * Math.tanh(c1);
        ReferenceLstm model = ReferenceLstm.coupledInputForget(1, 1, 0, new double[]{wi, wg, wo},
                new double[]{ui, ug, uo}, null, null, null);
        ReferenceLstm.Result result = model.forward(new double[]{x}, 1, 1, new double[]{h0}, new double[]{c0});
        assertEquals(c1, result.cT()[0], 1e-15);
        assertEquals(h1, result.hT()[0], 1e-15);

        // dL/dc_1 = o (1 - tanh²(c_1)); dL/dc_0 = that times ∂c_1/∂c_0 = 1 - i; dL/dw_i through i: (g - c_0) i (1 - i) x.
        double dc1 = o * (1 - Math.tanh(c1) * Math.tanh(c1));
        ReferenceLstm.Gradients gradients = model.backward(new double[]{x}, 1, 1, new double[]{h0},
                new double[]{c0}, null, new double[]{1}, null);
        assertEquals(dc1 * (1 - i), gradients.c0()[0], 1e-15);
        assertEquals(dc1 * (g - c0) * i * (1 - i) * x, gradients.weightIh()[0], 1e-15);
    }

    private static double largestDifference(float[] a, float[] b) {
        double largest = 0;
        for (int n = 0; n < a.length; n++) {
            largest = Math.max(largest, Math.abs(a[n] - b[n]));
        }
        return largest;
    }

    /** The values rounded to float, as ORT's results are. */
    private static float[] rounded(double[] values) {
        float[] rounded = new float[values.length];
        for (int n = 0; n < values.length; n++) {
            rounded[n] = (float) values[n];
        }
        return rounded;
    }

    /** The gate blocks {@code order} of {@code block} values each, read from {@code source} at {@code offset}. */
    private static float[] blocks(float[] source, int[] order, int block, int offset) {
        float[] picked = new float[order.length * block];
        for (int k = 0; k < order.length; k++) {
            System.arraycopy(source, offset + order[k] * block, picked, k * block, block);
        }
        return picked;
    }
}
