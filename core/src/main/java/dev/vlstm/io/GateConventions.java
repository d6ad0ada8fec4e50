package dev.vlstm.io;

import dev.vlstm.LstmParameters;

/**
 * Converts LSTM weights from other frameworks' conventions to PyTorch's (gate order i, f, g, o; {@code W [4H][I]},
 * {@code U [4H][H]}, two biases), which the rest of vlstm uses.
 * <ul>
 *   <li>ONNX {@code LSTM}: gate order i, o, f, c; {@code W [D][4H][I]}, {@code R [D][4H][H]},
 *       {@code B [D][8H]} = (Wb, Rb), peepholes {@code P [D][3H]} (i, o, f, reordered to vlstm's p_i, p_f, p_o).
 *       One direction (D = 1) for now.</li>
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
                    + values.length + (values.length == 2 * length ? " (two directions? only D = 1 is supported yet)" : ""));
        }
    }
}
