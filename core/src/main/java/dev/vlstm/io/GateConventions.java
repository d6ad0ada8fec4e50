package dev.vlstm.io;

import java.util.Arrays;
import java.util.Objects;
import java.util.function.IntFunction;

import dev.vlstm.Cell;
import dev.vlstm.Direction;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;

/**
 * Converts LSTM and GRU weights from other frameworks' conventions to PyTorch's, which the rest of vlstm uses (LSTM
 * gate order i, f, g, o, GRU r, z, n; {@code W [G·H][I]}, {@code U [G·H][H]}, two biases):
 * <ul>
 *   <li>ONNX {@code LSTM}: gate order i, o, f, c; {@code W [D][4H][I]}, {@code R [D][4H][H]},
 *       {@code B [D][8H]} = (Wb, Rb), peepholes {@code P [D][3H]} (i, o, f, reordered to vlstm's p_i, p_f, p_o).
 *       {@link #onnxLstm} loads a node, forward or bidirectional, as {@link Parameters} (see there for how the
 *       node's other tensors map to vlstm's).</li>
 *   <li>ONNX {@code GRU} with {@code linear_before_reset = 1}: gate order z, r, h; {@code W [D][3H][I]},
 *       {@code R [D][3H][H]}, {@code B [D][6H]} = (Wb, Rb): {@link #onnxGru}.</li>
 *   <li>Keras {@code LSTM}: gate order i, f, c, o; {@code kernel [I][4H]}, {@code recurrent_kernel [H][4H]} (the
 *       transposes of PyTorch's), one {@code bias [4H]} (taken as bias_ih, with bias_hh zero): {@link #kerasLstm}.
 *       </li>
 *   <li>Keras {@code GRU} with {@code reset_after=True}: gate order z, r, h; {@code kernel [I][3H]},
 *       {@code recurrent_kernel [H][3H]}, {@code bias [2][3H]} (input bias, then recurrent bias): {@link #kerasGru}.
 *       </li>
 * </ul>
 * All arrays are row-major floats; a wrong length or an
 * unsupported feature is an IllegalArgumentException saying which.
 */
public final class GateConventions {

    /** For each PyTorch LSTM gate (i, f, g, o), the index of the same gate in ONNX's order (i, o, f, c). */
    private static final int[] ONNX_LSTM_GATE = {0, 2, 3, 1};
    /** For each PyTorch LSTM gate (i, f, g, o), the index of the same gate in Keras's order (i, f, c, o). */
    private static final int[] KERAS_LSTM_GATE = {0, 1, 2, 3};
    /** For each PyTorch GRU gate (r, z, n), the index of the same gate in ONNX's and Keras's order (z, r, h). */
    private static final int[] ZRH_GRU_GATE = {1, 0, 2};
    /** For each of vlstm's peepholes (p_i, p_f, p_o), the index of the same peephole in ONNX's P (i, o, f). */
    private static final int[] ONNX_PEEPHOLE = {0, 2, 1};
    /** For each CIFG gate (i, g, o), the index of the same gate in ONNX's LSTM order (i, o, f, c); f is dropped. */
    private static final int[] ONNX_CIFG_GATE = {0, 3, 1};
    /** For each CIFG peephole (p_i, p_o), the index of the same peephole in ONNX's P (i, o, f); p_f is dropped. */
    private static final int[] ONNX_CIFG_PEEPHOLE = {0, 1};

    private GateConventions() {
    }

    /**
     * {@link Parameters} of a whole ONNX {@code LSTM} node (opset 7 to 22): its {@code direction} attribute and its
     * inputs W, R and optional B and P, as one layer of D directions, each direction's gates reordered to PyTorch's
     * and its peepholes to vlstm's {@code peephole_l0} order (p_i, p_f, p_o). A P that is all zeros (or null) loads as
     * no peepholes, which computes the same; any other P gives every direction its peepholes. Pack them with
     * {@link dev.vlstm.Model#pack(Parameters, dev.vlstm.Options)}, passing the node's {@code clip} attribute, if it
     * has one, as {@link dev.vlstm.Options#withCellClip}.
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
     * The attributes {@code activations}, {@code activation_alpha} and {@code activation_beta} (other activations
     * than σ, tanh, tanh) are not supported: refuse such a node before loading it. A node with
     * {@code input_forget = 1} loads with {@link #onnxLstm(int, int, String, long, float[], float[], float[],
     * float[])}.
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
     * @return new parameters of an LSTM of one layer, D directions (forward first, as ONNX's direction index),
     *         owned by the caller
     * @throws IllegalArgumentException for an unknown direction, {@code "reverse"} (vlstm runs a reverse direction
     *                                  only inside a bidirectional layer), or an array of the wrong length for D,
     *                                  naming it
     * @throws NullPointerException     if {@code direction}, {@code w} or {@code r} is null
     */
    public static Parameters onnxLstm(int inputSize, int hiddenSize, String direction, float[] w, float[] r,
                                      float[] b, float[] p) {
        int directions = onnxDirections(direction);
        requireOnnxLstm(inputSize, hiddenSize, directions, w, r, b, p);
        boolean peepholes = p != null && !allZero(p);
        RnnShape shape = shape(Cell.LSTM, inputSize, hiddenSize, directions).withPeepholes(peepholes);
        return parameters(shape, d -> {
            float[][] tensors = onnxTensors(Cell.LSTM.gates(), ONNX_LSTM_GATE, inputSize, hiddenSize, d, w, r, b);
            return peepholes ? append(tensors, reorder(p, 3 * d * hiddenSize, ONNX_PEEPHOLE, hiddenSize)) : tensors;
        });
    }

    /**
     * {@link Parameters} of a whole ONNX {@code LSTM} node with its {@code input_forget} attribute: 0 (ONNX's
     * default) gives {@link #onnxLstm(int, int, String, float[], float[], float[], float[])}'s LSTM; 1, the coupled
     * input-forget gate (f = 1 - i), gives a {@link Cell#CIFG} of one layer, D directions: the i, c and o blocks of
     * W, R and B become its gates i, g, o and P's p_i, p_o its {@code peephole_l0} {@code [2H]}, while the f blocks
     * and p_f, which no gate reads with {@code input_forget = 1}, are dropped. A P whose p_i and p_o are all zeros
     * (or a null P) loads as no peepholes. The other tensors, attributes and the clip map as for the LSTM; pack with
     * FLOAT32 weights (a CIFG has no compressed ones).
     *
     * @param inputSize   I, &ge; 1
     * @param hiddenSize  H, the node's {@code hidden_size}, &ge; 1
     * @param direction   {@code "forward"} (D = 1) or {@code "bidirectional"} (D = 2)
     * @param inputForget the node's {@code input_forget} attribute, 0 or 1
     * @param w           W, {@code [D][4H][I]}, gates i, o, f, c
     * @param r           R, {@code [D][4H][H]}, gates i, o, f, c
     * @param b           B, {@code [D][8H]}: per direction Wb then Rb, each gates i, o, f, c; or null for zero biases
     * @param p           P, {@code [D][3H]}: per direction p_i, p_o, p_f; or null for none
     * @return new parameters, owned by the caller
     * @throws IllegalArgumentException for {@code inputForget} other than 0 and 1, or as the other
     *                                  {@code onnxLstm}
     * @throws NullPointerException     if {@code direction}, {@code w} or {@code r} is null
     */
    public static Parameters onnxLstm(int inputSize, int hiddenSize, String direction, long inputForget, float[] w,
                                      float[] r, float[] b, float[] p) {
        if (inputForget == 0) {
            return onnxLstm(inputSize, hiddenSize, direction, w, r, b, p);
        }
        if (inputForget != 1) {
            throw new IllegalArgumentException("input_forget must be 0 or 1, got " + inputForget);
        }
        int directions = onnxDirections(direction);
        requireOnnxLstm(inputSize, hiddenSize, directions, w, r, b, p);
        float[][] coupledPeepholes = new float[directions][];
        boolean peepholes = false;
        for (int d = 0; d < directions && p != null; d++) {
            coupledPeepholes[d] = reorder(p, 3 * d * hiddenSize, ONNX_CIFG_PEEPHOLE, hiddenSize);
            peepholes |= !allZero(coupledPeepholes[d]);
        }
        RnnShape shape = shape(Cell.CIFG, inputSize, hiddenSize, directions).withPeepholes(peepholes);
        boolean withPeepholes = peepholes;
        return parameters(shape, d -> {
            float[][] tensors = onnxTensors(Cell.LSTM.gates(), ONNX_CIFG_GATE, inputSize, hiddenSize, d, w, r, b);
            return withPeepholes ? append(tensors, coupledPeepholes[d]) : tensors;
        });
    }

    /**
     * {@link Parameters} of a whole ONNX {@code GRU} node (opset 7 to 22) with {@code linear_before_reset = 1}:
     * its {@code direction} attribute and its inputs W, R and optional B, as one layer of D directions, each
     * direction's gates reordered from ONNX's z, r, h to PyTorch's r, z, n and B split into bias_ih (Wb) and bias_hh
     * (Rb). With {@code linear_before_reset = 1} ONNX's GRU is PyTorch's: h̃ = tanh(W_h·x + Wb_h + r ⊙ (R_h·h +
     * Rb_h)), h' = (1 - z) ⊙ h̃ + z ⊙ h. X, {@code sequence_lens}, {@code initial_h}, Y and Y_h map to vlstm's
     * tensors as for {@link #onnxLstm} (a GRU has no c), and the node's {@code clip} attribute, if it has one, is
     * {@link dev.vlstm.Options#withCellClip} (ONNX clips the inputs of r's, z's and n's activations, n's being
     * {@code W_h·x + Wb_h + r ⊙ (R_h·h + Rb_h)}, as vlstm does). The attributes {@code activations},
     * {@code activation_alpha} and {@code activation_beta} (other activations than σ, tanh) are not supported:
     * refuse such a node before loading it.
     *
     * @param inputSize         I, features per input row, &ge; 1
     * @param hiddenSize        H, the node's {@code hidden_size}, &ge; 1
     * @param direction         the node's {@code direction} attribute: {@code "forward"} (D = 1) or
     *                          {@code "bidirectional"} (D = 2)
     * @param linearBeforeReset the node's {@code linear_before_reset} attribute (ONNX's default is 0); must be 1
     * @param w                 W, {@code [D][3H][I]}, gates z, r, h
     * @param r                 R, {@code [D][3H][H]}, gates z, r, h
     * @param b                 B, {@code [D][6H]}: per direction Wb then Rb, each gates z, r, h; or null for zero
     *                          biases
     * @return new parameters of a GRU of one layer, D directions (forward first), owned by the caller
     * @throws IllegalArgumentException for {@code linearBeforeReset} other than 1, an unknown direction,
     *                                  {@code "reverse"}, or an array of the wrong length for D, naming it
     * @throws NullPointerException     if {@code direction}, {@code w} or {@code r} is null
     */
    public static Parameters onnxGru(int inputSize, int hiddenSize, String direction, long linearBeforeReset,
                                     float[] w, float[] r, float[] b) {
        if (linearBeforeReset != 1) {
            throw new IllegalArgumentException("linear_before_reset must be 1, got " + linearBeforeReset
                    + ": vlstm's GRU is PyTorch's, which applies the reset gate after the recurrent weights,"
                    + " r ⊙ (R_h·h + Rb_h), as ONNX does with linear_before_reset = 1; with 0 ONNX computes"
                    + " R_h·(r ⊙ h) + Rb_h, another function of the same weights");
        }
        int directions = onnxDirections(direction);
        requireOnnx(3, inputSize, hiddenSize, directions, w, r, b);
        return parameters(shape(Cell.GRU, inputSize, hiddenSize, directions),
                d -> onnxTensors(Cell.GRU.gates(), ZRH_GRU_GATE, inputSize, hiddenSize, d, w, r, b));
    }

    /**
     * vlstm's output y of a stack with D directions, {@code [T][B][D·H]}, in ONNX's layout of Y,
     * {@code [T][D][B][H]} (see {@link #onnxLstm}); with D = 1 the floats are the same.
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

    /** The D of an ONNX node's {@code direction} attribute. */
    private static int onnxDirections(String direction) {
        if (direction == null) {
            throw new NullPointerException("direction must not be null (ONNX's default is \"forward\")");
        }
        return switch (direction) {
            case "forward" -> 1;
            case "bidirectional" -> 2;
            case "reverse" -> throw new IllegalArgumentException("direction \"reverse\" is not supported: vlstm runs"
                    + " a reverse direction only as the second half of a bidirectional layer; reverse each sequence"
                    + " (within its length) and load the node as \"forward\", or load its weights as the reverse"
                    + " half of a bidirectional node");
            default -> throw new IllegalArgumentException("direction must be \"forward\" or \"bidirectional\", got \""
                    + direction + "\"");
        };
    }

    /** Checks an ONNX LSTM node's W, R, B and P for D directions. */
    private static void requireOnnxLstm(int inputSize, int hiddenSize, int directions, float[] w, float[] r,
                                        float[] b, float[] p) {
        requireOnnx(4, inputSize, hiddenSize, directions, w, r, b);
        if (p != null) {
            require("P", p, (long) directions * 3 * hiddenSize, "[D=" + directions + "][3H=" + 3 * hiddenSize + "]");
        }
    }

    /** Checks an ONNX node's W {@code [D][G·H][I]}, R {@code [D][G·H][H]} and optional B {@code [D][2·G·H]}. */
    private static void requireOnnx(int gates, int inputSize, int hiddenSize, int directions, float[] w, float[] r,
                                    float[] b) {
        int gateRows = gates * hiddenSize;
        String d = "[D=" + directions + "][" + gates + "H=" + gateRows + "]";
        require("W", w, (long) directions * gateRows * inputSize, d + "[I=" + inputSize + "]");
        require("R", r, (long) directions * gateRows * hiddenSize, d + "[H=" + hiddenSize + "]");
        if (b != null) {
            require("B", b, (long) directions * 2 * gateRows, "[D=" + directions + "][" + 2 * gates + "H="
                    + 2 * gateRows + "]");
        }
    }

    /**
     * Direction d of an ONNX node's W, R and B (null for none) in PyTorch's order: weight_ih, weight_hh, bias_ih,
     * bias_hh (both biases null without B); the node has {@code nodeGates} gates per direction, and
     * {@code sourceGate} maps the cell's gates to the node's (dropping those it does not list).
     */
    private static float[][] onnxTensors(int nodeGates, int[] sourceGate, int inputSize, int hiddenSize, int d,
                                         float[] w, float[] r, float[] b) {
        int gateRows = nodeGates * hiddenSize;
        return new float[][] {
            reorder(w, d * gateRows * inputSize, sourceGate, hiddenSize * inputSize),
            reorder(r, d * gateRows * hiddenSize, sourceGate, hiddenSize * hiddenSize),
            b == null ? null : reorder(b, 2 * d * gateRows, sourceGate, hiddenSize),
            b == null ? null : reorder(b, (2 * d + 1) * gateRows, sourceGate, hiddenSize)};
    }

    private static boolean allZero(float[] values) {
        for (float value : values) {
            if (value != 0f) {
                return false;
            }
        }
        return true;
    }

    /**
     * The gate blocks of {@code source} from {@code offset} (each {@code block} floats: H rows of a matrix, or H
     * values of a bias or peephole vector) in PyTorch's order: block g of the result is block {@code sourceGate[g]}
     * of the source.
     */
    private static float[] reorder(float[] source, int offset, int[] sourceGate, int block) {
        float[] target = new float[sourceGate.length * block];
        for (int gate = 0; gate < sourceGate.length; gate++) {
            System.arraycopy(source, offset + sourceGate[gate] * block, target, gate * block, block);
        }
        return target;
    }

    private static RnnShape shape(Cell cell, int inputSize, int hiddenSize, int directions) {
        return RnnShape.of(cell, inputSize, hiddenSize)
                .withDirection(directions == 2 ? Direction.BIDIRECTIONAL : Direction.FORWARD);
    }

    /** Parameters of {@code shape}, one layer, from each direction's PyTorch-ordered tensors. */
    private static Parameters parameters(RnnShape shape, IntFunction<float[][]> direction) {
        float[][] flat = new float[0][];
        for (int d = 0; d < shape.direction().count(); d++) {
            flat = append(flat, direction.apply(d));
        }
        return Parameters.fromPyTorch(shape, flat);
    }

    private static float[][] append(float[][] first, float[]... second) {
        float[][] both = Arrays.copyOf(first, first.length + second.length);
        System.arraycopy(second, 0, both, first.length, second.length);
        return both;
    }

    /**
     * {@link Parameters} of a Keras {@code LSTM} layer, or of a {@code Bidirectional} wrapper of one (its forward
     * layer's weights, then its backward layer's), for Keras's default activations ({@code activation="tanh"},
     * {@code recurrent_activation="sigmoid"}; refuse others before loading). The kernels are transposed to
     * PyTorch's {@code [4H][I]} and {@code [4H][H]} (Keras's gate order i, f, c, o is PyTorch's i, f, g, o); the one
     * bias becomes bias_ih, with bias_hh zero. The layer's input {@code [B][T][I]} and output {@code [B][T][D·H]}
     * are batch-first: run them as {@link dev.vlstm.SequenceLayout#BATCH_FIRST} x and y. A {@code Bidirectional}
     * layer's default {@code merge_mode="concat"} puts the forward direction's h first, as vlstm does, and its
     * backward layer reads the sequence from the end, as vlstm's reverse direction does.
     *
     * @param inputSize       I, features per input row, &ge; 1
     * @param hiddenSize      H, the layer's {@code units}, &ge; 1
     * @param direction       FORWARD for an {@code LSTM} layer, BIDIRECTIONAL for a {@code Bidirectional} one
     *                        (D = 2)
     * @param kernel          {@code kernel}, {@code [D][I][4H]}, gates i, f, c, o
     * @param recurrentKernel {@code recurrent_kernel}, {@code [D][H][4H]}, gates i, f, c, o
     * @param bias            {@code bias}, {@code [D][4H]}, or null for zeros ({@code use_bias=False})
     * @return new parameters of an LSTM of one layer, D directions, owned by the caller
     * @throws IllegalArgumentException for an array of the wrong length for D, naming it
     * @throws NullPointerException     if {@code direction}, {@code kernel} or {@code recurrentKernel} is null
     */
    public static Parameters kerasLstm(int inputSize, int hiddenSize, Direction direction, float[] kernel,
                                       float[] recurrentKernel, float[] bias) {
        return keras(Cell.LSTM, KERAS_LSTM_GATE, 1, inputSize, hiddenSize, direction, kernel, recurrentKernel, bias);
    }

    /**
     * {@link Parameters} of a Keras {@code GRU} layer made with {@code reset_after=True} (Keras's default), or of a
     * {@code Bidirectional} wrapper of one (its forward layer's weights, then its backward layer's), for Keras's
     * default activations. With {@code reset_after=True} Keras's GRU is PyTorch's: h̃ = tanh(x·W_h + b_h + r ⊙
     * (h·U_h + b'_h)), h' = z ⊙ h + (1 - z) ⊙ h̃. The kernels are transposed to PyTorch's {@code [3H][I]} and
     * {@code [3H][H]} and the gates reordered from z, r, h to r, z, n; the bias's first row becomes bias_ih, its
     * second bias_hh. The input and output map as for {@link #kerasLstm}.
     *
     * @param inputSize       I, features per input row, &ge; 1
     * @param hiddenSize      H, the layer's {@code units}, &ge; 1
     * @param direction       FORWARD for a {@code GRU} layer, BIDIRECTIONAL for a {@code Bidirectional} one (D = 2)
     * @param resetAfter      the layer's {@code reset_after}; must be true
     * @param kernel          {@code kernel}, {@code [D][I][3H]}, gates z, r, h
     * @param recurrentKernel {@code recurrent_kernel}, {@code [D][H][3H]}, gates z, r, h
     * @param bias            {@code bias}, {@code [D][2][3H]} (input bias, then recurrent bias), or null for zeros
     * @return new parameters of a GRU of one layer, D directions, owned by the caller
     * @throws IllegalArgumentException for {@code resetAfter} false, or an array of the wrong length for D, naming it
     * @throws NullPointerException     if {@code direction}, {@code kernel} or {@code recurrentKernel} is null
     */
    public static Parameters kerasGru(int inputSize, int hiddenSize, Direction direction, boolean resetAfter,
                                      float[] kernel, float[] recurrentKernel, float[] bias) {
        if (!resetAfter) {
            throw new IllegalArgumentException("a Keras GRU with reset_after=False is not supported: vlstm's GRU is"
                    + " PyTorch's, which applies the reset gate after the recurrent kernel, r ⊙ (h·U_h + b'_h), as"
                    + " Keras does with reset_after=True; with False Keras computes (r ⊙ h)·U_h, another function of"
                    + " the same weights");
        }
        return keras(Cell.GRU, ZRH_GRU_GATE, 2, inputSize, hiddenSize, direction, kernel, recurrentKernel, bias);
    }

    /** Parameters of a Keras layer of {@code cell} whose bias has {@code biasRows} rows of G·H per direction. */
    private static Parameters keras(Cell cell, int[] sourceGate, int biasRows, int inputSize, int hiddenSize,
                                    Direction direction, float[] kernel, float[] recurrentKernel, float[] bias) {
        int directions = Objects.requireNonNull(direction, "direction must not be null").count();
        int gateRows = sourceGate.length * hiddenSize;
        String d = "[D=" + directions + "]";
        String g = "[" + sourceGate.length + "H=" + gateRows + "]";
        require("kernel", kernel, (long) directions * inputSize * gateRows, d + "[I=" + inputSize + "]" + g);
        require("recurrent_kernel", recurrentKernel, (long) directions * hiddenSize * gateRows,
                d + "[H=" + hiddenSize + "]" + g);
        if (bias != null) {
            require("bias", bias, (long) directions * biasRows * gateRows, d + (biasRows > 1 ? "[2]" : "") + g);
        }
        return parameters(shape(cell, inputSize, hiddenSize, directions), n -> kerasTensors(sourceGate, biasRows,
                inputSize, hiddenSize, n, kernel, recurrentKernel, bias));
    }

    /**
     * Direction d of a Keras layer's kernel, recurrent_kernel and bias (null for none) in PyTorch's order:
     * weight_ih, weight_hh, bias_ih (the bias's first row), bias_hh (its second row, or null for a bias of one row);
     * {@code sourceGate} maps PyTorch's gates to Keras's.
     */
    private static float[][] kerasTensors(int[] sourceGate, int biasRows, int inputSize, int hiddenSize, int d,
                                          float[] kernel, float[] recurrentKernel, float[] bias) {
        int gateRows = sourceGate.length * hiddenSize;
        return new float[][] {
            reorder(transpose(kernel, d * inputSize * gateRows, inputSize, gateRows), 0, sourceGate,
                    hiddenSize * inputSize),
            reorder(transpose(recurrentKernel, d * hiddenSize * gateRows, hiddenSize, gateRows), 0, sourceGate,
                    hiddenSize * hiddenSize),
            bias == null ? null : reorder(bias, d * biasRows * gateRows, sourceGate, hiddenSize),
            bias == null || biasRows == 1 ? null : reorder(bias, (d * biasRows + 1) * gateRows, sourceGate,
                    hiddenSize)};
    }

    /** The transpose of the {@code [rows][columns]} matrix at {@code offset} of {@code source}. */
    private static float[] transpose(float[] source, int offset, int rows, int columns) {
        float[] target = new float[rows * columns];
        for (int row = 0; row < rows; row++) {
            for (int column = 0; column < columns; column++) {
                target[column * rows + row] = source[offset + row * columns + column];
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
