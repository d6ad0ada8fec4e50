package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Every float tensor of a whole model in PyTorch's layouts, one {@link Part} per layer and direction (part n is layer
 * n / D, direction n % D), off-heap and zero at first: what {@link Parameters} and {@link Gradients} both are. The
 * tensors go by their state_dict names ({@link #tensor}) in state_dict order ({@link #names()}).
 */
final class ModelTensors implements AutoCloseable {

    /** The forget-gate bias that {@link #initialize} sets in {@code bias_ih}, so that cells start by remembering. */
    private static final float FORGET_BIAS = 1f;
    /** The owner of initialised or copied tensors. */
    private static final String PARAMETERS = "Parameters";
    /** The state_dict stems of a part's tensors, in the order of {@link Part}'s components. */
    private static final String[] STEMS = {"weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr", "peephole"};

    /**
     * One layer's and direction's tensors: {@code weightIh [G·H][I']}, {@code weightHh [G·H][S]}, {@code biasIh} and
     * {@code biasHh [G·H]}, {@code weightHr [P][H]} or null without projection, {@code peepholes [3][H]} (p_i, p_f,
     * p_o; CIFG: {@code [2][H]}, p_i, p_o) or null without peepholes; I' is the layer's input width, S = P with
     * projection, else H.
     */
    record Part(MemorySegment weightIh, MemorySegment weightHh, MemorySegment biasIh, MemorySegment biasHh,
                MemorySegment weightHr, MemorySegment peepholes) {

        /** The tensors in the order of {@link #STEMS}, null where the part has none. */
        MemorySegment[] all() {
            return new MemorySegment[] {weightIh, weightHh, biasIh, biasHh, weightHr, peepholes};
        }
    }

    private final RnnShape shape;
    /** The public type these tensors are, in messages: "Parameters" or "Gradients". */
    private final String owner;
    private final Part[] parts;
    private final Map<String, MemorySegment> byName;
    private final List<String> names;
    private final OffHeap memory;

    /** Zero tensors for a model of {@code shape}, which messages call {@code owner}, e.g. "Gradients". */
    ModelTensors(RnnShape shape, String owner) {
        this.shape = Checks.notNull("shape", shape);
        this.owner = owner;
        this.parts = new Part[shape.stateCount()];
        this.memory = OffHeap.open();
        try {
            long gateRows = (long) shape.gates() * shape.hiddenSize();
            int directions = shape.direction().count();
            Map<String, MemorySegment> named = new LinkedHashMap<>();
            for (int n = 0; n < parts.length; n++) {
                long inputSize = shape.layerInputSize(n / directions);
                if (gateRows * Math.max(inputSize, shape.hiddenStateSize()) > Integer.MAX_VALUE) {
                    throw new IllegalArgumentException(shape + " makes a weight tensor of more than 2^31 - 1 floats,"
                            + " the most one tensor may hold");
                }
                parts[n] = new Part(memory.floats(gateRows * inputSize),
                        memory.floats(gateRows * shape.hiddenStateSize()), memory.floats(gateRows),
                        memory.floats(gateRows),
                        shape.projectionSize() > 0
                                ? memory.floats((long) shape.projectionSize() * shape.hiddenSize()) : null,
                        shape.peepholes()
                                ? memory.floats((long) shape.cell().peepholeVectors() * shape.hiddenSize()) : null);
                MemorySegment[] tensors = parts[n].all();
                for (int k = 0; k < tensors.length; k++) {
                    if (tensors[k] != null) {
                        named.put(shape.tensorName(STEMS[k], n / directions, n % directions), tensors[k]);
                    }
                }
            }
            this.byName = Collections.unmodifiableMap(named);
            this.names = List.copyOf(named.keySet());
        } catch (RuntimeException | Error e) {
            memory.close();
            throw e;
        }
    }

    /**
     * PyTorch's initialisation of {@code shape}: per layer and direction a {@link SplittableRandom} seeded by the next
     * value of one seeded by {@code seed}, drawing U(-1/√H, 1/√H) for W_ih, W_hh, b_ih, b_hh and then W_hr, in that
     * order; an LSTM's forget-gate entries of b_ih are then 1 and those of b_hh 0 (a CIFG has no forget gate rows).
     * Peepholes stay zero.
     */
    static ModelTensors initialize(RnnShape shape, long seed) {
        ModelTensors tensors = new ModelTensors(shape, PARAMETERS);
        SplittableRandom seeds = new SplittableRandom(seed);
        double bound = 1 / Math.sqrt(shape.hiddenSize());
        int hiddenSize = shape.hiddenSize();
        for (Part part : tensors.parts) {
            SplittableRandom random = new SplittableRandom(seeds.nextLong());
            for (MemorySegment tensor : new MemorySegment[] {part.weightIh, part.weightHh, part.biasIh, part.biasHh,
                part.weightHr}) {
                for (long n = 0; tensor != null && n < tensor.byteSize() / Float.BYTES; n++) {
                    tensor.setAtIndex(ValueLayout.JAVA_FLOAT, n, (float) ((random.nextDouble() * 2 - 1) * bound));
                }
            }
            for (int unit = 0; shape.cell() == Cell.LSTM && unit < hiddenSize; unit++) {
                part.biasIh.setAtIndex(ValueLayout.JAVA_FLOAT, hiddenSize + unit, FORGET_BIAS);
                part.biasHh.setAtIndex(ValueLayout.JAVA_FLOAT, hiddenSize + unit, 0f);
            }
        }
        return tensors;
    }

    /**
     * A copy of PyTorch-layout arrays, as {@link Parameters#fromPyTorch} takes them: per layer and direction
     * weight_ih, weight_hh, bias_ih, bias_hh (null for zeros), then weight_hr with projection and the peepholes with
     * peepholes.
     *
     * @throws IllegalArgumentException for another count of arrays than {@code shape} has, or an array of the wrong
     *                                  length, naming its layer and direction
     * @throws NullPointerException     for a null weight array, naming it
     */
    static ModelTensors fromPyTorch(RnnShape shape, float[][] flatWeights) {
        int perPart = 4 + (shape.projectionSize() > 0 ? 1 : 0) + (shape.peepholes() ? 1 : 0);
        if (flatWeights.length != shape.stateCount() * perPart) {
            throw new IllegalArgumentException("a model of " + shape + " has " + shape.stateCount() * perPart
                    + " flat weights (" + perPart + " per layer and direction), got " + flatWeights.length);
        }
        String gates = shape.gates() + "H";
        String depth = shape.projectionSize() > 0 ? "P" : "H";
        ModelTensors tensors = new ModelTensors(shape, PARAMETERS);
        try {
            for (int n = 0; n < tensors.parts.length; n++) {
                Part part = tensors.parts[n];
                int at = n * perPart;
                try {
                    copy("weightIh", flatWeights[at], part.weightIh, gates, "I", shape.layerInputSize(n
                            / shape.direction().count()));
                    copy("weightHh", flatWeights[at + 1], part.weightHh, gates, depth, shape.hiddenStateSize());
                    copyBias("biasIh", flatWeights[at + 2], part.biasIh, gates);
                    copyBias("biasHh", flatWeights[at + 3], part.biasHh, gates);
                    if (part.weightHr != null) {
                        if (flatWeights[at + 4] == null) {
                            throw new NullPointerException("weightHr must not be null when projectionSize = "
                                    + shape.projectionSize());
                        }
                        copy("weightHr", flatWeights[at + 4], part.weightHr, "P", "H", shape.hiddenSize());
                    }
                    if (part.peepholes != null) {
                        copy("peepholes", flatWeights[at + perPart - 1], part.peepholes,
                                Integer.toString(shape.cell().peepholeVectors()), "H", shape.hiddenSize());
                    }
                } catch (IllegalArgumentException | NullPointerException e) {
                    int directions = shape.direction().count();
                    throw new IllegalArgumentException("layer " + n / directions + " direction " + n % directions
                            + ": " + e.getMessage(), e);
                }
            }
            return tensors;
        } catch (RuntimeException | Error e) {
            tensors.close();
            throw e;
        }
    }

    private static void copy(String name, float[] source, MemorySegment target, String rows, String columns,
                             int columnCount) {
        MemorySegment checked = Checks.floats(name, MemorySegment.ofArray(Checks.notNull(name, source)),
                rows, target.byteSize() / Float.BYTES / columnCount, columns, columnCount);
        MemorySegment.copy(checked, 0, target, 0, target.byteSize());
    }

    private static void copyBias(String name, float[] source, MemorySegment target, String rows) {
        if (source != null) {
            MemorySegment.copy(Checks.floats(name, MemorySegment.ofArray(source), rows,
                    target.byteSize() / Float.BYTES), 0, target, 0, target.byteSize());
        }
    }

    /** {@return the sizes of the model these tensors are for} */
    RnnShape shape() {
        return shape;
    }

    /** Part {@code n}'s tensors (layer n / D, direction n % D). */
    Part part(int n) {
        return parts[n];
    }

    /** The state_dict names of every tensor, in state_dict order; unmodifiable. */
    List<String> names() {
        return names;
    }

    /**
     * The tensor named {@code name}, checked open.
     *
     * @throws IllegalArgumentException for a name these tensors do not have, listing those they have
     * @throws IllegalStateException    if these tensors are closed
     */
    MemorySegment tensor(String name) {
        checkOpen();
        MemorySegment tensor = byName.get(Checks.notNull("pyTorchName", name));
        if (tensor == null) {
            throw new IllegalArgumentException("no tensor named \"" + name + "\" in these " + owner + "; they have "
                    + names + " (names without a module prefix)");
        }
        return tensor;
    }

    /**
     * What the messages of a part's tensors start with: {@code "layer 1"} or {@code "layer 1 reverse"}.
     */
    static String describe(RnnShape shape, int part) {
        int directions = shape.direction().count();
        return "layer " + part / directions + (part % directions == 1 ? " reverse" : "");
    }

    void zero() {
        for (MemorySegment tensor : byName.values()) {
            tensor.fill((byte) 0);
        }
    }

    /** Throws if these tensors are closed, naming their owner. */
    void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("these " + owner + " are closed");
        }
    }

    /** Frees every tensor. Closing twice is harmless. */
    @Override
    public void close() {
        memory.close();
    }
}
