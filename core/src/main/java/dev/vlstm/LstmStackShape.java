package dev.vlstm;

/**
 * The sizes of a whole {@code nn.LSTM(input_size, hidden_size, num_layers, bidirectional=..., proj_size=...)}: L
 * stacked layers of one or two directions (D = 1 or 2), each with H cell units whose h is projected to P features
 * when {@code proj_size} P &gt; 0 (else h has the H features of the cell). Call S the width of one direction's h:
 * P with projection, H without ({@link #hiddenStateSize()}). Layer 0 reads the input, {@code [T][B][I]}; every layer
 * writes {@code [T][B][D·S]}, the forward direction's h in the first S columns and the reverse direction's in the
 * next S; layer k &ge; 1 reads what layer k-1 wrote. The final states are h_n {@code [L·D][B][S]} and c_n
 * {@code [L·D][B][H]}, one {@code [B][·]} block per layer and direction at index {@code layer·D + direction}, as
 * PyTorch orders them.
 *
 * @param inputSize      I, features per input row of layer 0, &ge; 1
 * @param hiddenSize     H, cell units of every layer and direction, &ge; 1
 * @param layers         L, stacked layers, &ge; 1
 * @param bidirectional  whether every layer also runs over the time-reversed sequence
 * @param projectionSize P, the features h is projected to ({@code proj_size}), 0 &le; P &lt; H; 0 for none
 */
public record LstmStackShape(int inputSize, int hiddenSize, int layers, boolean bidirectional, int projectionSize) {

    /** Index of the reverse direction in {@link #index(int, int)}. */
    public static final int REVERSE = 1;

    /**
     * Checks the sizes.
     *
     * @throws IllegalArgumentException for a size below 1, naming it
     */
    public LstmStackShape {
        Checks.positive("inputSize", inputSize);
        Checks.positive("hiddenSize", hiddenSize);
        Checks.positive("layers", layers);
        if (projectionSize < 0 || projectionSize >= hiddenSize) {
            throw new IllegalArgumentException("projectionSize " + projectionSize + " is outside 0..hiddenSize-1 = 0.."
                    + (hiddenSize - 1) + " (PyTorch's proj_size must be smaller than hidden_size; 0 for none)");
        }
    }

    /**
     * A stack without projection (P = 0).
     *
     * @param inputSize     I, features per input row of layer 0, &ge; 1
     * @param hiddenSize    H, hidden units of every layer and direction, &ge; 1
     * @param layers        L, stacked layers, &ge; 1
     * @param bidirectional whether every layer also runs over the time-reversed sequence
     * @throws IllegalArgumentException for a size below 1, naming it
     */
    public LstmStackShape(int inputSize, int hiddenSize, int layers, boolean bidirectional) {
        this(inputSize, hiddenSize, layers, bidirectional, 0);
    }

    /**
     * S, the features of one direction's h: P with projection, else H.
     *
     * @return {@code projectionSize() > 0 ? projectionSize() : hiddenSize()}, the last dimension of h0 and h_n
     */
    public int hiddenStateSize() {
        return projectionSize > 0 ? projectionSize : hiddenSize;
    }

    /**
     * D: 2 if bidirectional, else 1.
     *
     * @return 1 or 2
     */
    public int directions() {
        return bidirectional ? 2 : 1;
    }

    /**
     * D·S: features per row of every layer's output, and of y (D·H without projection).
     *
     * @return {@code directions() * hiddenStateSize()}, the last dimension of {@code [T][B][D·S]}
     */
    public int outputSize() {
        return directions() * hiddenStateSize();
    }

    /**
     * L·D: the {@code [B][·]} states in h_n and c_n, one per layer and direction.
     *
     * @return {@code layers() * directions()}, the first dimension of h_n and c_n
     */
    public int stateCount() {
        return layers * directions();
    }

    /**
     * Features per input row of {@code layer}: I for layer 0, D·S above it.
     *
     * @param layer 0 to L-1
     * @return the columns of that layer's {@code weight_ih}
     * @throws IndexOutOfBoundsException for a layer outside [0, L)
     */
    public int layerInputSize(int layer) {
        checkLayer(layer);
        return layer == 0 ? inputSize : outputSize();
    }

    /**
     * Where {@code (layer, direction)} sits in h_n, c_n and every per-layer array of this library:
     * {@code layer·D + direction}; direction 0 is forward, {@link #REVERSE} the time-reversed one.
     *
     * @param layer     0 (the layer reading the input) to L-1
     * @param direction 0, or {@link #REVERSE} in a bidirectional model
     * @return an index in [0, L·D)
     * @throws IndexOutOfBoundsException for a layer outside [0, L) or a direction outside [0, D)
     */
    public int index(int layer, int direction) {
        checkLayer(layer);
        if (direction < 0 || direction >= directions()) {
            throw new IndexOutOfBoundsException("direction " + direction + " is outside [0, " + directions()
                    + ") for a " + (bidirectional ? "bidirectional" : "unidirectional") + " model");
        }
        return layer * directions() + direction;
    }

    /**
     * PyTorch's state_dict name of a tensor of {@code (layer, direction)}: {@code pyTorchName("weight_ih", 1, 1)}
     * is {@code "weight_ih_l1_reverse"}.
     *
     * @param tensor    the name's stem, e.g. {@code "weight_ih"}, {@code "weight_hh"}, {@code "bias_ih"},
     *                  {@code "bias_hh"} or {@code "weight_hr"}; used as given
     * @param layer     0 to L-1
     * @param direction 0, or {@link #REVERSE} in a bidirectional model
     * @return the name without any module prefix such as {@code "lstm."}
     * @throws IndexOutOfBoundsException for a layer or direction outside this shape, as {@link #index}
     */
    public String pyTorchName(String tensor, int layer, int direction) {
        index(layer, direction);
        return tensor + "_l" + layer + (direction == REVERSE ? "_reverse" : "");
    }

    /** Words for messages: "layer 1 reverse" or "layer 0". */
    String describe(int index) {
        return "layer " + index / directions() + (index % directions() == REVERSE ? " reverse" : "");
    }

    private void checkLayer(int layer) {
        if (layer < 0 || layer >= layers) {
            throw new IndexOutOfBoundsException("layer " + layer + " is outside [0, " + layers + ")");
        }
    }

    /**
     * The shape of per-layer parts given in state_dict order (l0, l0_reverse, l1, ...), checked: a whole number of
     * layers, one hidden size, one projection size, and inputs that chain (layer k &ge; 1 reads D·S features).
     *
     * @param argument        the parts' name, for messages
     * @param objects         the parts, each of which must be a distinct object
     * @param inputSizes      each part's input size
     * @param hiddenSizes     each part's hidden size
     * @param projectionSizes each part's projection size (0 for none)
     */
    static LstmStackShape ofParts(String argument, boolean bidirectional, Object[] objects, int[] inputSizes,
                                  int[] hiddenSizes, int[] projectionSizes) {
        for (int n = 0; n < objects.length; n++) {
            for (int other = 0; other < n; other++) {
                if (objects[other] == objects[n]) {
                    throw new IllegalArgumentException(argument + "[" + other + "] and " + argument + "[" + n
                            + "] are the same " + objects[n].getClass().getSimpleName()
                            + ": every layer and direction needs its own");
                }
            }
        }
        int directions = bidirectional ? 2 : 1;
        int parts = inputSizes.length;
        if (parts == 0 || parts % directions != 0) {
            throw new IllegalArgumentException(argument + ": a " + (bidirectional ? "bidirectional" : "unidirectional")
                    + " model needs " + directions + " per layer (l0"
                    + (bidirectional ? ", l0_reverse, l1, ..." : ", l1, ...") + "), got " + parts);
        }
        int hiddenSize = hiddenSizes[0];
        for (int n = 0; n < parts; n++) {
            if (hiddenSizes[n] != hiddenSize) {
                throw new IllegalArgumentException(argument + "[" + n + "] has hiddenSize " + hiddenSizes[n]
                        + ", but " + argument + "[0] has " + hiddenSize + ": every layer and direction needs the same");
            }
        }
        int projectionSize = projectionSizes[0];
        for (int n = 0; n < parts; n++) {
            if (projectionSizes[n] != projectionSize) {
                throw new IllegalArgumentException(argument + "[" + n + "] has projectionSize " + projectionSizes[n]
                        + ", but " + argument + "[0] has " + projectionSize + ": every layer and direction needs the same");
            }
        }
        LstmStackShape shape = new LstmStackShape(inputSizes[0], hiddenSize, parts / directions, bidirectional,
                projectionSize);
        for (int n = 0; n < parts; n++) {
            int expected = shape.layerInputSize(n / directions);
            if (inputSizes[n] != expected) {
                throw new IllegalArgumentException(argument + "[" + n + "] (" + shape.describe(n) + ") has inputSize "
                        + inputSizes[n] + ", but " + (n < directions ? "layer 0 has inputSize " + expected
                        : "the layer below writes " + expected + " features (" + directions + " direction(s) × "
                        + (projectionSize > 0 ? "projectionSize " + projectionSize : "hiddenSize " + hiddenSize) + ")"));
            }
        }
        return shape;
    }
}
