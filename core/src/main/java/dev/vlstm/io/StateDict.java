package dev.vlstm.io;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import dev.vlstm.Cell;
import dev.vlstm.Direction;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;

/**
 * What the state_dict of a PyTorch {@code nn.LSTM} or {@code nn.GRU} in a safetensors file holds, read from its
 * tensors' names and shapes under a module prefix such as {@code "lstm."}, and the reader of its values. The names
 * are PyTorch's: {@code weight_ih_l{k}}, {@code weight_hh_l{k}}, {@code bias_ih_l{k}}, {@code bias_hh_l{k}}, with
 * {@code weight_hr_l{k}} for an LSTM's projection ({@code proj_size}) and the suffix {@code _reverse} for the second
 * direction; and vlstm's own {@code peephole_l{k}[_reverse]} ({@code [3H]}: p_i, p_f, p_o) for an LSTM's peepholes,
 * which {@link Parameters#save} writes. From layer 0:
 * <ul>
 *   <li>H is the columns of {@code weight_hr_l0} if it is present, else of {@code weight_hh_l0};</li>
 *   <li>the cell is told by the rows of {@code weight_ih_l0}, G·H with G the cell's gates: 4H is an LSTM, 3H a GRU
 *       (so a GRU is never taken for an LSTM of another H: an LSTM's {@code weight_hh_l0} is {@code [4H][S]});</li>
 *   <li>I is the columns of {@code weight_ih_l0}, P the rows of {@code weight_hr_l0} (0 without it);</li>
 *   <li>L is the count of {@code weight_ih_l0}, {@code weight_ih_l1}, ... present in a row; bidirectional if
 *       {@code weight_ih_l0_reverse} is present; biases if {@code bias_ih_l0} is; peepholes if
 *       {@code peephole_l0} is.</li>
 * </ul>
 * {@link #read} then checks every tensor of that configuration against it (present, shaped, finite) and refuses a
 * recurrent tensor under the prefix that does not belong to it.
 *
 * @param prefix the module prefix of the names, e.g. {@code "lstm."} or {@code ""}
 * @param shape  the model's sizes, cell, layers, directions, projection and peepholes
 * @param bias   whether the biases are present ({@code bias=False} saves none)
 */
public record StateDict(String prefix, RnnShape shape, boolean bias) {

    private static final String FIRST_WEIGHT = "weight_ih_l0";
    /** The local names of every tensor a recurrent model has, for the check that none is left out of a read. */
    private static final Pattern RECURRENT_NAME =
            Pattern.compile("((?:weight|bias)_(?:ih|hh|hr)|peephole)_l([0-9]+)(_reverse)?");

    /**
     * Reads the configuration of the model in {@code file} from its names and the shapes of layer 0.
     *
     * @param file   an open safetensors file
     * @param prefix the module prefix of the names, e.g. {@code "lstm."} or {@code ""}; null to infer it: the file
     *               must then hold exactly one name ending in {@code weight_ih_l0}
     * @return what the file holds
     * @throws IllegalArgumentException naming the file: for no recurrent model, several with a null prefix, a missing
     *                                  layer-0 weight, a {@code weight_ih_l0} whose rows are neither 4H nor 3H, a
     *                                  {@code weight_hr_l0} that is not {@code [P][H]} with P &lt; H, or a GRU with
     *                                  projection or peepholes
     */
    public static StateDict inspect(SafeTensors file, String prefix) {
        String chosen = prefix != null ? prefix : inferPrefix(file);
        long[] input = file.tensor(chosen + FIRST_WEIGHT).shape();
        String projection = chosen + "weight_hr_l0";
        boolean projected = file.names().contains(projection);
        long[] hiddenSource = file.tensor(chosen + (projected ? "weight_hr_l0" : "weight_hh_l0")).shape();
        long hidden = hiddenSource.length == 2 ? hiddenSource[1] : 0;
        if (input.length != 2 || input[1] == 0 || hidden == 0
                || (input[0] != 4 * hidden && input[0] != 3 * hidden)) {
            throw new IllegalArgumentException(file.path() + ": " + chosen + FIRST_WEIGHT + " has shape "
                    + Arrays.toString(input) + ", not [4*hidden_size, input_size] (LSTM) or [3*hidden_size,"
                    + " input_size] (GRU) with hidden_size " + hidden + ", the columns of " + chosen
                    + (projected ? "weight_hr_l0 " : "weight_hh_l0 ") + Arrays.toString(hiddenSource));
        }
        int projectionSize = 0;
        if (projected) {
            if (hiddenSource[0] == 0 || hiddenSource[0] >= hidden) {
                throw new IllegalArgumentException(file.path() + ": " + projection + " has shape "
                        + Arrays.toString(hiddenSource) + ", not [proj_size, hidden_size] with proj_size < hidden_size "
                        + hidden);
            }
            projectionSize = Math.toIntExact(hiddenSource[0]);
        }
        int layers = 0;
        while (file.names().contains(chosen + "weight_ih_l" + layers)) {
            layers++;
        }
        Direction direction = file.names().contains(chosen + FIRST_WEIGHT + "_reverse") ? Direction.BIDIRECTIONAL
                : Direction.FORWARD;
        try {
            RnnShape shape = new RnnShape(input[0] == 4 * hidden ? Cell.LSTM : Cell.GRU, Math.toIntExact(input[1]),
                    Math.toIntExact(hidden), layers, direction, projectionSize,
                    file.names().contains(chosen + "peephole_l0"));
            return new StateDict(chosen, shape, file.names().contains(chosen + "bias_ih_l0"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file.path() + ": " + e.getMessage(), e);
        }
    }

    private static String inferPrefix(SafeTensors file) {
        List<String> candidates = file.names().stream().filter(name -> name.endsWith(FIRST_WEIGHT)).toList();
        if (candidates.size() != 1) {
            throw new IllegalArgumentException(file.path() + ": " + (candidates.isEmpty()
                    ? "no LSTM or GRU weights (no name ends with " + FIRST_WEIGHT + "; the file has " + file.names()
                    + ")" : "several recurrent models (" + candidates + "); choose one with a prefix"));
        }
        String name = candidates.getFirst();
        return name.substring(0, name.length() - FIRST_WEIGHT.length());
    }

    /**
     * Trainable parameters, as PyTorch counts them ({@code sum(p.numel() for p in module.parameters())}), plus the
     * peepholes' 3H per layer and direction.
     *
     * @return the elements of every tensor of this configuration
     */
    public long parameterCount() {
        long gateRows = (long) shape.gates() * shape.hiddenSize();
        long total = 0;
        for (int layer = 0; layer < shape.layers(); layer++) {
            long perDirection = gateRows * (shape.layerInputSize(layer) + shape.hiddenStateSize())
                    + (bias ? 2 * gateRows : 0) + (long) shape.projectionSize() * shape.hiddenSize()
                    + (shape.peepholes() ? 3L * shape.hiddenSize() : 0);
            total += shape.direction().count() * perDirection;
        }
        return total;
    }

    /**
     * The dimensions of a tensor of a model of {@code shape} as this class reads them and {@link Parameters#save}
     * writes them: {@code weight_ih_l{k}} {@code [G·H][I]} for layer 0, {@code [G·H][D·S]} above it;
     * {@code weight_hh_l{k}} {@code [G·H][S]}; {@code bias_ih_l{k}}, {@code bias_hh_l{k}} {@code [G·H]};
     * {@code weight_hr_l{k}} {@code [P][H]}; {@code peephole_l{k}} {@code [3H]} (any of them with {@code _reverse}).
     *
     * @param shape the model's sizes
     * @param name  a tensor's name without a module prefix, e.g. {@code "weight_ih_l1_reverse"}
     * @return the dimensions, outermost first
     * @throws IllegalArgumentException for a name that is none of these
     * @throws IndexOutOfBoundsException for a layer outside the shape
     */
    public static long[] dimensions(RnnShape shape, String name) {
        Matcher matcher = RECURRENT_NAME.matcher(name);
        if (!matcher.matches()) {
            throw new IllegalArgumentException("'" + name + "' is not the name of a recurrent model's tensor");
        }
        long gateRows = (long) shape.gates() * shape.hiddenSize();
        return switch (matcher.group(1)) {
            case "weight_ih" -> new long[] {gateRows, shape.layerInputSize(Integer.parseInt(matcher.group(2)))};
            case "weight_hh" -> new long[] {gateRows, shape.hiddenStateSize()};
            case "weight_hr" -> new long[] {shape.projectionSize(), shape.hiddenSize()};
            case "peephole" -> new long[] {(long) shape.cell().peepholeVectors() * shape.hiddenSize()};
            default -> new long[] {gateRows};
        };
    }

    /**
     * Reads every layer's and direction's tensors as new {@link Parameters} (zero biases for a model without them).
     *
     * @param file the safetensors file this configuration was inspected from; may be closed once this returns
     * @return a copy of the values, owned by the caller
     * @throws IllegalArgumentException naming the file and tensor, for a missing tensor, a shape that does not fit
     *                                  this configuration (layer k &ge; 1 reads D·S features, S = P or H), a NaN or
     *                                  infinite value, or a recurrent tensor under the prefix that does not belong to
     *                                  this configuration
     */
    public Parameters read(SafeTensors file) {
        refuseStrayTensors(file);
        String hidden = shape.cell() + " hidden_size " + shape.hiddenSize();
        String recurrent = shape.projectionSize() > 0 ? hidden + ", proj_size " + shape.projectionSize() : hidden;
        List<float[]> flat = new ArrayList<>();
        for (int layer = 0; layer < shape.layers(); layer++) {
            int inputSize = shape.layerInputSize(layer);
            String input = layer == 0 ? hidden + ", input_size " + inputSize : hidden + "; layer " + layer + " reads "
                    + inputSize + " features, " + shape.direction().count() + " direction(s) × "
                    + (shape.projectionSize() > 0 ? "proj_size" : "hidden_size");
            for (int direction = 0; direction < shape.direction().count(); direction++) {
                flat.add(floats(file, "weight_ih", layer, direction, input));
                flat.add(floats(file, "weight_hh", layer, direction, recurrent));
                flat.add(bias ? floats(file, "bias_ih", layer, direction, hidden) : null);
                flat.add(bias ? floats(file, "bias_hh", layer, direction, hidden) : null);
                if (shape.projectionSize() > 0) {
                    flat.add(floats(file, "weight_hr", layer, direction, recurrent));
                }
                if (shape.peepholes()) {
                    flat.add(floats(file, "peephole", layer, direction, hidden + ": p_i, p_f, p_o"));
                }
            }
        }
        return Parameters.fromPyTorch(shape, flat.toArray(float[][]::new));
    }

    /** Refuses a recurrent tensor under the prefix that this configuration does not have. */
    private void refuseStrayTensors(SafeTensors file) {
        List<String> stems = new ArrayList<>(List.of("weight_ih", "weight_hh"));
        if (bias) {
            stems.addAll(List.of("bias_ih", "bias_hh"));
        }
        if (shape.projectionSize() > 0) {
            stems.add("weight_hr");
        }
        if (shape.peepholes()) {
            stems.add("peephole");
        }
        Set<String> expected = new HashSet<>();
        for (int layer = 0; layer < shape.layers(); layer++) {
            for (int direction = 0; direction < shape.direction().count(); direction++) {
                for (String stem : stems) {
                    expected.add(shape.tensorName(stem, layer, direction));
                }
            }
        }
        for (String name : file.names()) {
            if (name.startsWith(prefix)) {
                String local = name.substring(prefix.length());
                if (RECURRENT_NAME.matcher(local).matches() && !expected.contains(local)) {
                    throw new IllegalArgumentException(file.path() + ": unexpected tensor '" + name + "' in "
                            + describe() + " (inferred from the names of layer 0)");
                }
            }
        }
    }

    /** {@return this model for people: e.g. "an LSTM of 2 layer(s), two directions, no biases"} */
    private String describe() {
        return (shape.cell() == Cell.LSTM ? "an LSTM" : "a GRU") + " of " + shape.layers() + " layer(s)"
                + (shape.direction() == Direction.BIDIRECTIONAL ? ", two directions" : "")
                + (shape.projectionSize() > 0 ? ", proj_size " + shape.projectionSize() : "")
                + (shape.peepholes() ? ", peepholes" : "") + (bias ? "" : ", no biases");
    }

    /** The values of {@code stem} for (layer, direction), checked to have its {@link #dimensions} and be finite. */
    private float[] floats(SafeTensors file, String stem, int layer, int direction, String sizes) {
        String local = shape.tensorName(stem, layer, direction);
        String name = prefix + local;
        long[] expected = dimensions(shape, local);
        SafeTensors.Tensor tensor = file.tensor(name);
        if (!Arrays.equals(tensor.shape(), expected)) {
            throw new IllegalArgumentException(file.path() + ": " + name + " has shape "
                    + Arrays.toString(tensor.shape()) + ", expected " + Arrays.toString(expected) + " (" + sizes + ")");
        }
        float[] values = tensor.toFloats();
        long columns = expected.length == 2 ? expected[1] : 0;
        for (int n = 0; n < values.length; n++) {
            if (!Float.isFinite(values[n])) {
                throw new IllegalArgumentException(file.path() + ": " + name + " holds " + values[n]
                        + " at flat index " + n + (columns > 0 ? " ([" + n / columns + "][" + n % columns + "])" : ""));
            }
        }
        return values;
    }
}
