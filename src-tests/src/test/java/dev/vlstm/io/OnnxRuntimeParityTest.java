package dev.vlstm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
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
 * Whole ONNX {@code LSTM} nodes (forward and bidirectional, with biases, peepholes, {@code clip},
 * {@code sequence_lens}, {@code initial_h} and {@code initial_c}; odd sizes) run in ONNX Runtime 1.24.2, and the same
 * node loaded with {@link GateConventions#onnxLstm} into {@link Parameters}, packed by
 * {@link Model#pack(Parameters, Options)} with the node's clip as {@link Options#withCellClip} and run by a
 * {@link Runner}: its Y (converted with {@link GateConventions#toOnnxY}), Y_h and Y_c must agree with ORT's within
 * {@value #RELATIVE_TOLERANCE} of each tensor's largest magnitude. ORT's Java package carries its native library;
 * if it cannot load, these tests fail.
 *
 * <p>Two differences from ONNX's spec (or from what it leaves open) were found here, and the cases are chosen around
 * them:
 * <ul>
 *   <li>Clip: the spec applies {@code clip} to "the input of activations", which vlstm (and its reference) read as
 *       the gate pre-activations and the cell state C_t before the h = o·tanh(C_t) activation. ORT clips the gate
 *       pre-activations only (its {@code tanh_m} ignores its clipped-cell buffer): with a clip that C_t exceeds,
 *       outputs differed by up to 0.1, and a reference without the C_t clip matched ORT. So the clipped cases here
 *       use a clip of T + 1, which C_t cannot reach (|C_0| &le; 1 and each step adds less than 1), with weights
 *       large enough that the clip acts on the gates (checked: it changes y); the clip of C_t is tested against the
 *       spec's equations through the reference (CellClipTest, StackPeepholeTest).</li>
 *   <li>A sequence of length 0 (which the spec does not define): ORT returns Y_h = Y_c = 0 for it (checked), vlstm
 *       its initial_h and initial_c, as for every sequence the state after its last step; Y is zero in both.</li>
 * </ul>
 * Peepholes, both directions, sequence_lens and the initial states agree with ORT as the spec describes them.
 *
 * <p>The model bytes are written by {@link OnnxRnnModel} ({@link #lstmNode}); ORT runs it with one thread. Weights
 * and biases are U(-w, w) with w given per case, peepholes, inputs and states U(-1, 1).
 */
class OnnxRuntimeParityTest {

    static final double RELATIVE_TOLERANCE = 1e-5;

    @ParameterizedTest(name = "{0} I={1} H={2} T={3} lengths={4} clip={5} zeroP={6} weights={7}")
    @CsvSource(delimiter = ';', value = {
            "bidirectional; 5; 7; 6; 6 2 4; Infinity; false; 0.75",
            "bidirectional; 5; 7; 6; 6 2 4; 7; false; 4",
            "bidirectional; 5; 7; 6; 3 6 1; 7; true; 4",
            "forward; 5; 7; 6; 3 6 1; 7; false; 4",
            "bidirectional; 5; 7; 6; 0 6 3; Infinity; false; 0.75",
            "bidirectional; 1; 1; 4; 4 1; Infinity; false; 1",
            "bidirectional; 17; 33; 5; 5 1 3 2 4 5 2 3 1; 6; false; 2",
            "forward; 3; 17; 7; 7 7; Infinity; true; 0.5"})
    void vlstmMatchesOnnxRuntime(String direction, int inputSize, int hiddenSize, int steps, String lengthList,
                                 float clip, boolean zeroSecondP, float bound) throws OrtException {
        int[] lengths = Arrays.stream(lengthList.split(" ")).mapToInt(Integer::parseInt).toArray();
        int batch = lengths.length;
        int directions = direction.equals("bidirectional") ? 2 : 1;
        SplittableRandom random = new SplittableRandom(1400 + 10L * hiddenSize + batch);
        float[] w = uniform(random, directions * 4 * hiddenSize * inputSize, bound);
        float[] r = uniform(random, directions * 4 * hiddenSize * hiddenSize, bound);
        float[] b = uniform(random, directions * 8 * hiddenSize, bound);
        float[] p = uniform(random, directions * 3 * hiddenSize, 1);
        if (zeroSecondP) {
            Arrays.fill(p, (directions - 1) * 3 * hiddenSize, p.length, 0f);
        }
        float[] x = uniform(random, steps * batch * inputSize, 1);
        float[] h0 = uniform(random, directions * batch * hiddenSize, 1);
        float[] c0 = uniform(random, directions * batch * hiddenSize, 1);

        float[][] onnx = runOnnxRuntime(lstmNode(inputSize, hiddenSize, steps, batch, direction, w, r,
                b, p, clip, false), inputSize, hiddenSize, steps, directions, x, lengths, h0, c0);

        float[] y = new float[steps * batch * directions * hiddenSize];
        float[] hT = new float[h0.length];
        float[] cT = new float[c0.length];
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps);
        try (Parameters parameters = GateConventions.onnxLstm(inputSize, hiddenSize, direction, w, r, b, p);
             Model model = Model.pack(parameters, options.withCellClip(clip));
             Runner runner = model.runner()) {
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, c0, y, hT, cT);
            if (clip < Float.POSITIVE_INFINITY) {
                assertClipActs(parameters, options, x, steps, batch, lengths, h0, c0, y);
            }
        }
        assertMatches("onnxLstm", onnx, lengths, directions, hiddenSize, y, hT, cT);
    }

    /**
     * A node with {@code input_forget = 1} loaded as a {@link dev.vlstm.Cell#CIFG} (the f blocks of W, R, B and p_f
     * dropped) and run by vlstm's engine, against ORT on the same node. The f blocks are random, so keeping any of
     * them would show; and the node with {@code input_forget = 0} must give ORT another Y, or agreeing would prove
     * nothing about the coupled gate. |C_t| &le; max(|C_0|, 1) = 1 for a CIFG, so the clip of 1.5 acts on the gates
     * only, as ORT applies it (see the class comment).
     */
    @ParameterizedTest(name = "{0} I={1} H={2} T={3} lengths={4} clip={5} peepholes={6} weights={7}")
    @CsvSource(delimiter = ';', value = {
            "forward; 5; 7; 6; 6 6 6; Infinity; false; 0.75",
            "bidirectional; 5; 7; 6; 6 2 4; Infinity; true; 0.75",
            "bidirectional; 3; 9; 5; 5 1 3; 1.5; true; 4",
            "forward; 17; 33; 5; 5 1 3 2; 1.5; true; 2"})
    void aCifgNodeMatchesOnnxRuntime(String direction, int inputSize, int hiddenSize, int steps, String lengthList,
                                     float clip, boolean peepholes, float bound) throws OrtException {
        int[] lengths = Arrays.stream(lengthList.split(" ")).mapToInt(Integer::parseInt).toArray();
        int batch = lengths.length;
        int directions = direction.equals("bidirectional") ? 2 : 1;
        SplittableRandom random = new SplittableRandom(1450 + 10L * hiddenSize + batch);
        float[] w = uniform(random, directions * 4 * hiddenSize * inputSize, bound);
        float[] r = uniform(random, directions * 4 * hiddenSize * hiddenSize, bound);
        float[] b = uniform(random, directions * 8 * hiddenSize, bound);
        float[] p = peepholes ? uniform(random, directions * 3 * hiddenSize, 1) : null;
        float[] x = uniform(random, steps * batch * inputSize, 1);
        float[] h0 = uniform(random, directions * batch * hiddenSize, 1);
        float[] c0 = uniform(random, directions * batch * hiddenSize, 1);
        float[] nodeP = p == null ? new float[directions * 3 * hiddenSize] : p;

        float[][] onnx = runOnnxRuntime(lstmNode(inputSize, hiddenSize, steps, batch, direction, w, r,
                b, nodeP, clip, true), inputSize, hiddenSize, steps, directions, x, lengths, h0, c0);
        float[][] uncoupled = runOnnxRuntime(lstmNode(inputSize, hiddenSize, steps, batch, direction, w,
                r, b, nodeP, clip, false), inputSize, hiddenSize, steps, directions, x, lengths, h0, c0);
        double change = 0;
        for (int n = 0; n < onnx[0].length; n++) {
            change = Math.max(change, Math.abs(onnx[0][n] - uncoupled[0][n]));
        }
        assertTrue(change > 10 * RELATIVE_TOLERANCE, "ORT's Y does not change with input_forget: " + change);

        float[] y = new float[steps * batch * directions * hiddenSize];
        float[] hT = new float[h0.length];
        float[] cT = new float[c0.length];
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps);
        try (Parameters parameters = GateConventions.onnxLstm(inputSize, hiddenSize, direction, 1, w, r, b, p);
             Model model = Model.pack(parameters, options.withCellClip(clip));
             Runner runner = model.runner()) {
            assertEquals(RnnShape.of(Cell.CIFG, inputSize, hiddenSize).withPeepholes(peepholes)
                    .withDirection(directions == 2 ? Direction.BIDIRECTIONAL : Direction.FORWARD), model.shape());
            runner.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, c0, y, hT, cT);
            if (clip < Float.POSITIVE_INFINITY) {
                assertClipActs(parameters, options, x, steps, batch, lengths, h0, c0, y);
            }
        }
        assertMatches("onnxLstm input_forget", onnx, lengths, directions, hiddenSize, y, hT, cT);
    }

    /** vlstm's y, hT and cT against ORT's Y, Y_h and Y_c; y in vlstm's layout, [T][B][D·H]. */
    private static void assertMatches(String api, float[][] onnx, int[] lengths, int directions, int hiddenSize,
                                      float[] y, float[] hT, float[] cT) {
        int batch = lengths.length;
        int steps = y.length / (batch * directions * hiddenSize);
        assertClose(api + " Y", onnx[0], GateConventions.toOnnxY(y, steps, batch, directions, hiddenSize));
        // ORT ends a sequence of length 0 in zeros where vlstm keeps its initial state: compare the others.
        for (int d = 0; d < directions; d++) {
            for (int row = 0; row < batch; row++) {
                if (lengths[row] == 0) {
                    int from = (d * batch + row) * hiddenSize;
                    for (float[] state : new float[][]{onnx[1], onnx[2]}) {
                        assertArrayEquals(new float[hiddenSize], Arrays.copyOfRange(state, from, from + hiddenSize),
                                "ORT's final state of a sequence of length 0");
                    }
                    System.arraycopy(onnx[1], from, hT, from, hiddenSize);
                    System.arraycopy(onnx[2], from, cT, from, hiddenSize);
                }
            }
        }
        assertClose(api + " Y_h", onnx[1], hT);
        assertClose(api + " Y_c", onnx[2], cT);
    }

    /**
     * The tests' ONNX model of an {@code LSTM} node with every optional input ({@code sequence_lens},
     * {@code initial_h}, {@code initial_c}, {@code P}) and the {@code direction}, {@code input_forget} and (if
     * finite) {@code clip} attributes; arrays as {@link OnnxRnnModel.Builder#weights} and
     * {@link OnnxRnnModel.Builder#peepholes} take them.
     */
    static byte[] lstmNode(int inputSize, int hiddenSize, int steps, int batch, String direction, float[] w,
                           float[] r, float[] b, float[] p, float clip, boolean inputForget) {
        return OnnxRnnModel.lstm(inputSize, hiddenSize, steps, batch).direction(direction).weights(w, r, b)
                .peepholes(p).sequenceLengths().clip(clip).inputForget(inputForget)
                .bytes("vlstm-tests", "vlstm-test-LSTM-" + direction);
    }

    /** ORT's Y, Y_h and Y_c for these inputs; a GRU node's Y and Y_h for a null c0. */
    static float[][] runOnnxRuntime(byte[] model, int inputSize, int hiddenSize, int steps, int directions,
                                            float[] x, int[] lengths, float[] h0, float[] c0) throws OrtException {
        int batch = lengths.length;
        long[] stateShape = {directions, batch, hiddenSize};
        OrtEnvironment environment = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions options = new OrtSession.SessionOptions()) {
            options.setIntraOpNumThreads(1);
            options.setInterOpNumThreads(1);
            try (OrtSession session = environment.createSession(model, options);
                 OnnxTensor xTensor = OnnxTensor.createTensor(environment, FloatBuffer.wrap(x),
                         new long[]{steps, batch, inputSize});
                 OnnxTensor lengthsTensor = OnnxTensor.createTensor(environment, IntBuffer.wrap(lengths),
                         new long[]{batch});
                 OnnxTensor hTensor = OnnxTensor.createTensor(environment, FloatBuffer.wrap(h0), stateShape);
                 OnnxTensor cTensor = c0 == null ? null
                         : OnnxTensor.createTensor(environment, FloatBuffer.wrap(c0), stateShape)) {
                Map<String, OnnxTensor> inputs = new HashMap<>(Map.of("X", xTensor, "sequence_lens", lengthsTensor,
                        "initial_h", hTensor));
                if (cTensor != null) {
                    inputs.put("initial_c", cTensor);
                }
                try (OrtSession.Result result = session.run(inputs)) {
                    return c0 == null ? new float[][]{floats(result, "Y"), floats(result, "Y_h")}
                            : new float[][]{floats(result, "Y"), floats(result, "Y_h"), floats(result, "Y_c")};
                }
            }
        }
    }

    /** The float output {@code name} of an ORT run. */
    static float[] floats(OrtSession.Result result, String name) {
        FloatBuffer buffer = ((OnnxTensor) result.get(name).orElseThrow()).getFloatBuffer();
        float[] values = new float[buffer.remaining()];
        buffer.get(values);
        return values;
    }

    /** A finite clip must change y here, or agreeing with ORT would not show that both apply it alike. */
    private static void assertClipActs(Parameters parameters, Options options, float[] x, int steps, int batch,
                                       int[] lengths, float[] h0, float[] c0, float[] clipped) {
        try (Model model = Model.pack(parameters, options);
             Runner unclipped = model.runner()) {
            float[] y = new float[clipped.length];
            unclipped.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, lengths, h0, c0, y, null, null);
            double largest = 0;
            for (int n = 0; n < y.length; n++) {
                largest = Math.max(largest, Math.abs(y[n] - clipped[n]));
            }
            assertTrue(largest > 10 * RELATIVE_TOLERANCE, "the clip changes y by " + largest + " only");
        }
    }

    static void assertClose(String name, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, name + " length");
        double scale = 0;
        double error = 0;
        for (int n = 0; n < expected.length; n++) {
            scale = Math.max(scale, Math.abs(expected[n]));
            error = Math.max(error, Math.abs(expected[n] - actual[n]));
        }
        assertTrue(scale > 0.1, name + " is nearly all zeros: the comparison would prove little");
        assertTrue(error <= RELATIVE_TOLERANCE * scale, name + ": max abs error " + error + " > "
                + RELATIVE_TOLERANCE + " * " + scale);
    }

    static float[] uniform(SplittableRandom random, int length, float bound) {
        float[] values = new float[length];
        for (int n = 0; n < length; n++) {
            values[n] = (float) ((random.nextDouble() * 2 - 1) * bound);
        }
        return values;
    }
}
