package dev.vlstm.io;

import java.util.Arrays;

import dev.vlstm.LstmParameters;
import dev.vlstm.LstmStackParameters;

/**
 * Converts LSTM weights from other frameworks' conventions to PyTorch's (gate order i, f, g, o; {@code W [4H][I]},
 * {@code U [4H][H]}, two biases), which the rest of vlstm uses.
 * <ul>
 *   <li>ONNX {@code LSTM}: gate order i, o, f, c; {@code W [D][4H][I]}, {@code R [D][4H][H]},
 *       {@code B [D][8H]} = (Wb, Rb), peepholes {@code P [D][3H]} (i, o, f, reordered to vlstm's p_i, p_f, p_o).
 *       {@link #fromOnnx} loads one direction as one layer; {@link #fromOnnxNode} a whole node, forward or
 *       bidirectional, as a one-layer stack (see there for how the node's other tensors map to vlstm's).</li>
 *   <li>Keras {@code LSTM}: gate order i, f, c, o; {@code kernel [I][4H]}, {@code recurrent_kernel [H][4H]} (the
 *       transposes of PyTorch's), one {@code bias [4H]} (taken as bias_ih, with bias_hh zero).</li>
 * </ul>
 * All arrays are row-major floats; a wrong length or an unsupported feature is an IllegalArgumentException saying
 * which.
 */
public final class GateConventions {

    /** For each PyTorch gate (i, f, g, o), the index of the same gate in ONNX's order (i, o, f, c). */
    private static final int[] ONNX_GATE = {0, 2, 3, 1};
    /** For each of vlstm's peepholes (p_i, p_f, p_o), the index of the same peephole in ONNX's P (i, o, f). */
    private static final int[] ONNX_PEEPHOLE = {0, 2, 1};

    private GateConventions() {
    }

    /**
     * Parameters from an ONNX LSTM node's inputs W, R and optional B and P (null for absent).
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, the node's {@code hidden_size}, &ge; 1
     * @param w          W, {@code [1][4H][I]}, gates i, o, f, c
     * @param r          R, {@code [1][4H][H]}, gates i, o, f, c
     * @param b          B, {@code [1][8H]}: Wb then Rb, each gates i, o, f, c; or null for zero biases
     * @param p          P, {@code [1][3H]}: peepholes p_i, p_o, p_f; or null for none. An all-zero P is read as no
     *                   peepholes (it computes the same, faster); any other becomes the parameters'
     *                   {@link LstmParameters#peepholes()} in vlstm's order p_i, p_f, p_o
     * @return new parameters in PyTorch's gate order, owned by the caller
     * @throws IllegalArgumentException for an array of the wrong length
     */
    public static LstmParameters fromOnnx(int inputSize, int hiddenSize, float[] w, float[] r, float[] b, float[] p) {
        int gateRows = 4 * hiddenSize;
        if (w != null && w.length == 2L * gateRows * inputSize) {
            throw new IllegalArgumentException("W must hold [D=1][4H=" + gateRows + "][I=" + inputSize + "] = "
                    + (long) gateRows * inputSize + " floats, got " + w.length + " (two directions? load a"
                    + " bidirectional node with fromOnnxNode)");
        }
        require("W", w, (long) gateRows * inputSize, "[D=1][4H=" + gateRows + "][I=" + inputSize + "]");
        require("R", r, (long) gateRows * hiddenSize, "[D=1][4H=" + gateRows + "][H=" + hiddenSize + "]");
        if (b != null) {
            require("B", b, 2L * gateRows, "[D=1][8H=" + 2 * gateRows + "]");
        }
        if (p != null) {
            require("P", p, 3L * hiddenSize, "[D=1][3H=" + 3 * hiddenSize + "]");
        }
        float[] weightIh = reorder(w, inputSize, hiddenSize, 0);
        float[] weightHh = reorder(r, hiddenSize, hiddenSize, 0);
        float[] biasIh = b == null ? null : reorder(b, 1, hiddenSize, 0);
        float[] biasHh = b == null ? null : reorder(b, 1, hiddenSize, gateRows);
        return LstmParameters.fromPyTorch(inputSize, hiddenSize, 0, weightIh, weightHh, biasIh, biasHh, null,
                peepholes(p, hiddenSize));
    }

    /**
     * Parameters from a whole ONNX {@code LSTM} node (opset 7 to 22): its {@code direction} attribute and its inputs
     * W, R and optional B and P, as a one-layer stack of D directions; each direction's gates and peepholes are
     * reordered as {@link #fromOnnx} reorders them (an all-zero P of a direction loads as no peepholes there).
     * Run it with {@link dev.vlstm.LstmStackRunner}, passing the node's {@code clip} attribute, if it has one, as
     * the runner's cell clip.
     *
     * <p>The node's other tensors map to vlstm's as follows, for ONNX's default {@code layout = 0} (with
     * {@code layout = 1}, X {@code [B][T][I]} is {@link dev.vlstm.SequenceLayout#BATCH_FIRST} x, Y
     * {@code [B][T][D][H]} is batch-first y {@code [B][T][D·H]} as it is, and initial_h, initial_c, Y_h, Y_c
     * {@code [B][D][H]} are the transposes of h0, c0, hT, cT {@code [D][B][H]}; ONNX Runtime's CPU provider refuses
     * {@code layout = 1}, so that mapping is the spec's, not checked against it):
     * <ul>
     *   <li>{@code X [T][B][I]} is x as it is; {@code sequence_lens [B]} (int32) is the {@code lengths} argument of
     *       the variable-length forward (ONNX runs the reverse direction of a sequence from its own last step, as
     *       vlstm does).</li>
     *   <li>{@code initial_h}, {@code initial_c [D][B][H]} are h0 and c0 {@code [L·D][B][H]} as they are (L = 1:
     *       direction d is block d); so are the outputs {@code Y_h}, {@code Y_c [D][B][H]} and hT, cT.</li>
     *   <li>{@code Y [T][D][B][H]} holds the directions outside the batch, while vlstm's y {@code [T][B][D·H]} puts
     *       each row's directions side by side: {@link #toOnnxY} converts y into Y (the same floats for D = 1).</li>
     * </ul>
     * The attributes {@code activations}, {@code activation_alpha}, {@code activation_beta} (other activations
     * than σ, tanh, tanh) and {@code input_forget = 1} are not supported: refuse such a node before loading it.
     *
     * <p>Two cases where vlstm and ONNX Runtime (1.24.2, checked) differ: vlstm's cell clip also bounds C_t before
     * the tanh of h, as the spec's "applied to the input of activations" says, while ORT clips only the gate
     * pre-activations (the same results while |C_t| stays within the clip); and for a sequence of length 0 vlstm's
     * hT and cT are h0 and c0, while ORT's Y_h and Y_c are zero.
     *
     * @param inputSize  I, features per input row, &ge; 1
     * @param hiddenSize H, the node's {@code hidden_size}, &ge; 1
     * @param direction  the node's {@code direction} attribute: {@code "forward"} (ONNX's default; D = 1) or
     *                   {@code "bidirectional"} (D = 2)
     * @param w          W, {@code [D][4H][I]}, gates i, o, f, c
     * @param r          R, {@code [D][4H][H]}, gates i, o, f, c
     * @param b          B, {@code [D][8H]}: per direction Wb then Rb, each gates i, o, f, c; or null for zero biases
     * @param p          P, {@code [D][3H]}: per direction p_i, p_o, p_f; or null for none
     * @return new parameters of one layer with D directions (forward first, as ONNX's direction index), owned by
     *         the caller; {@link LstmStackParameters#pack()} makes the weights to run
     * @throws IllegalArgumentException for an unknown direction, {@code "reverse"} (vlstm's stacks run a reverse
     *                                  direction only inside a bidirectional layer), or an array of the wrong length
     *                                  for D, naming it
     * @throws NullPointerException     if {@code direction}, {@code w} or {@code r} is null
     */
    public static LstmStackParameters fromOnnxNode(int inputSize, int hiddenSize, String direction, float[] w,
                                                   float[] r, float[] b, float[] p) {
        if (direction == null) {
            throw new NullPointerException("direction must not be null (ONNX's default is \"forward\")");
        }
        int directions = switch (direction) {
            case "forward" -> 1;
            case "bidirectional" -> 2;
            case "reverse" -> throw new IllegalArgumentException("direction \"reverse\" is not supported: vlstm runs"
                    + " a reverse direction only as the second half of a bidirectional layer; reverse each sequence"
                    + " (within its length) and load the node as \"forward\", or load its weights as the reverse"
                    + " half of a bidirectional node");
            default -> throw new IllegalArgumentException("direction must be \"forward\" or \"bidirectional\", got \""
                    + direction + "\"");
        };
        int gateRows = 4 * hiddenSize;
        String d = "[D=" + directions + "]";
        require("W", w, (long) directions * gateRows * inputSize, d + "[4H=" + gateRows + "][I=" + inputSize + "]");
        require("R", r, (long) directions * gateRows * hiddenSize, d + "[4H=" + gateRows + "][H=" + hiddenSize + "]");
        if (b != null) {
            require("B", b, (long) directions * 2 * gateRows, d + "[8H=" + 2 * gateRows + "]");
        }
        if (p != null) {
            require("P", p, (long) directions * 3 * hiddenSize, d + "[3H=" + 3 * hiddenSize + "]");
        }
        LstmParameters[] parts = new LstmParameters[directions];
        try {
            for (int n = 0; n < directions; n++) {
                parts[n] = fromOnnx(inputSize, hiddenSize, slice(w, n, directions), slice(r, n, directions),
                        slice(b, n, directions), slice(p, n, directions));
            }
            return LstmStackParameters.of(directions == 2, parts);
        } catch (RuntimeException | Error e) {
            for (LstmParameters part : parts) {
                if (part != null) {
                    part.close();
                }
            }
            throw e;
        }
    }

    /**
     * vlstm's output y of a stack with D directions, {@code [T][B][D·H]}, in ONNX's layout of Y,
     * {@code [T][D][B][H]} (see {@link #fromOnnxNode}); with D = 1 the floats are the same.
     *
     * @param y          the top layer's output, {@code [T][B][D·H]} row-major floats (time-major)
     * @param steps      T, &ge; 1
     * @param batch      B, &ge; 1
     * @param directions D, 1 or 2
     * @param hiddenSize H (P with projection), &ge; 1
     * @return a new array, {@code [T][D][B][H]}
     * @throws IllegalArgumentException for a size out of range or a y of another length
     * @throws NullPointerException     if {@code y} is null
     */
    public static float[] toOnnxY(float[] y, int steps, int batch, int directions, int hiddenSize) {
        if (steps < 1 || batch < 1 || hiddenSize < 1 || directions < 1 || directions > 2) {
            throw new IllegalArgumentException("steps, batch and hiddenSize must be >= 1 and directions 1 or 2, got "
                    + steps + ", " + batch + ", " + hiddenSize + ", " + directions);
        }
        require("y", y, (long) steps * batch * directions * hiddenSize, "[T=" + steps + "][B=" + batch + "][D*H="
                + directions * hiddenSize + "]");
        float[] onnx = new float[y.length];
        for (int t = 0; t < steps; t++) {
            for (int d = 0; d < directions; d++) {
                for (int row = 0; row < batch; row++) {
                    System.arraycopy(y, ((t * batch + row) * directions + d) * hiddenSize, onnx,
                            ((t * directions + d) * batch + row) * hiddenSize, hiddenSize);
                }
            }
        }
        return onnx;
    }

    /** Direction {@code index} of a {@code [D][n]} array (its n = length / D floats), or null for null. */
    private static float[] slice(float[] values, int index, int directions) {
        if (values == null) {
            return null;
        }
        int length = values.length / directions;
        return Arrays.copyOfRange(values, index * length, (index + 1) * length);
    }

    /** ONNX's P (i, o, f) in vlstm's order (i, f, o), or null for none or all zeros. */
    private static float[] peepholes(float[] p, int hiddenSize) {
        if (p == null) {
            return null;
        }
        boolean allZero = true;
        for (float value : p) {
            allZero &= value == 0f;
        }
        if (allZero) {
            return null;
        }
        float[] peepholes = new float[3 * hiddenSize];
        for (int peephole = 0; peephole < 3; peephole++) {
            System.arraycopy(p, ONNX_PEEPHOLE[peephole] * hiddenSize, peepholes, peephole * hiddenSize, hiddenSize);
        }
        return peepholes;
    }

    /** Rows of ONNX gate blocks (each {@code H} rows of {@code columns}) into PyTorch's gate order. */
    private static float[] reorder(float[] source, int columns, int hiddenSize, int offset) {
        float[] target = new float[4 * hiddenSize * columns];
        int block = hiddenSize * columns;
        for (int gate = 0; gate < 4; gate++) {
            System.arraycopy(source, offset + ONNX_GATE[gate] * block, target, gate * block, block);
        }
        return target;
    }

    /**
     * Parameters from a Keras LSTM layer's kernel, recurrent_kernel and optional bias.
     *
     * @param inputSize       I, features per input row, &ge; 1
     * @param hiddenSize      H, the layer's {@code units}, &ge; 1
     * @param kernel          {@code kernel}, {@code [I][4H]}, gates i, f, c, o
     * @param recurrentKernel {@code recurrent_kernel}, {@code [H][4H]}, gates i, f, c, o
     * @param bias            {@code bias}, {@code [4H]}, or null for zeros; becomes {@code biasIh}, with
     *                        {@code biasHh} zero
     * @return new parameters in PyTorch's layouts, owned by the caller
     * @throws IllegalArgumentException for an array of the wrong length
     */
    public static LstmParameters fromKeras(int inputSize, int hiddenSize, float[] kernel, float[] recurrentKernel,
                                           float[] bias) {
        int gateRows = 4 * hiddenSize;
        require("kernel", kernel, (long) inputSize * gateRows, "[I=" + inputSize + "][4H=" + gateRows + "]");
        require("recurrent_kernel", recurrentKernel, (long) hiddenSize * gateRows,
                "[H=" + hiddenSize + "][4H=" + gateRows + "]");
        if (bias != null) {
            require("bias", bias, gateRows, "[4H=" + gateRows + "]");
        }
        return LstmParameters.fromPyTorch(inputSize, hiddenSize, transpose(kernel, inputSize, gateRows),
                transpose(recurrentKernel, hiddenSize, gateRows), bias, null);
    }

    private static float[] transpose(float[] source, int rows, int columns) {
        float[] target = new float[source.length];
        for (int row = 0; row < rows; row++) {
            for (int column = 0; column < columns; column++) {
                target[column * rows + row] = source[row * columns + column];
            }
        }
        return target;
    }

    private static void require(String name, float[] values, long length, String shape) {
        if (values == null) {
            throw new NullPointerException(name + " must not be null");
        }
        if (values.length != length) {
            throw new IllegalArgumentException(name + " must hold " + shape + " = " + length + " floats, got "
                    + values.length);
        }
    }
}
