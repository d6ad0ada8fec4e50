package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Function;
import java.util.function.IntFunction;
import java.util.function.Supplier;

/**
 * The training side of {@link StackDrivers}: the trainer, parameters and gradients that {@link Trainer},
 * {@link Parameters} and {@link Gradients} run on ({@link StackTrainer} for both cells, {@link LstmStackParameters},
 * {@link LstmStackGradients} and their GRU twins), behind one interface per role. With {@link StackDrivers}, the one
 * place that tells an LSTM from a GRU (besides the trainer's c and its parameter and gradient types).
 */
final class StackTraining {

    private StackTraining() {
    }

    /**
     * A stack's parameters, the float master copy, owned: {@code stack} is the {@link LstmStackParameters} or
     * {@link GruStackParameters} of {@code shape}, {@code byName} its tensors by PyTorch state_dict name in
     * state_dict order (made once, so that a look-up builds nothing), {@code packer} packs them into a new model.
     */
    record ParameterSet(RnnShape shape, Object stack, Map<String, MemorySegment> byName,
                        Function<Options, Model> packer, Runnable closer) {

        Model pack(Options options) {
            return packer.apply(options);
        }

        void close() {
            closer.run();
        }
    }

    /** A stack's gradients, owned: {@code stack} is the {@link LstmStackGradients} or {@link GruStackGradients}. */
    record GradientSet(Object stack, Map<String, MemorySegment> byName, Runnable zeroer, Runnable closer) {

        void zero() {
            zeroer.run();
        }

        void close() {
            closer.run();
        }
    }

    /** One trainer: the stack trainer's forward, backward and weight update, with c0/cT/dcT/dc0 null for a GRU. */
    interface Driver {

        /** A forward that keeps what backward needs: time-major for null lengths, else of different lengths. */
        void forward(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths, MemorySegment h0,
                     MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT);

        /** Backward through the last forward into {@code gradients}, made for the same cell and shape. */
        void backward(MemorySegment dy, MemorySegment dhT, MemorySegment dcT, GradientSet gradients, GradientMode mode,
                      MemorySegment dx, MemorySegment dh0, MemorySegment dc0);

        /** Repacks the model's weights from {@code parameters}, made for the same cell and shape. */
        void updateWeights(ParameterSet parameters);

        /** A copy of the mask the last forward applied to {@code layer}'s output; for a trainer with dropout. */
        float[] dropoutMask(int layer);

        int threads();

        void close();
    }

    /**
     * PyTorch's initialisation of every layer and direction of {@code shape}, as {@link LstmStackParameters#initialize}
     * and {@link GruStackParameters#initialize} draw it; peepholes, which PyTorch has not, start at zero, so that the
     * model starts as the same LSTM without them.
     */
    static ParameterSet initialize(RnnShape shape, long seed) {
        Checks.notNull("shape", shape);
        return switch (shape.cell()) {
            case LSTM -> shape.peepholes() ? withZeroPeepholes(shape, seed)
                    : lstmParameters(LstmStackParameters.initialize(shape.stackShape(), seed));
            case GRU -> gruParameters(GruStackParameters.initialize(shape.stackShape(), seed));
        };
    }

    /** The initialisation of {@code shape} without peepholes, copied with a zero peephole tensor per part. */
    private static ParameterSet withZeroPeepholes(RnnShape shape, long seed) {
        try (LstmStackParameters plain = LstmStackParameters.initialize(shape.stackShape(), seed)) {
            boolean projected = shape.projectionSize() > 0;
            int perPart = projected ? 6 : 5;
            float[][] flat = new float[shape.stateCount() * perPart][];
            for (int n = 0; n < shape.stateCount(); n++) {
                LstmParameters part = plain.part(n);
                MemorySegment[] tensors = {part.weightIh(), part.weightHh(), part.biasIh(), part.biasHh(),
                    part.weightHr()};
                for (int k = 0; k < perPart - 1; k++) {
                    flat[n * perPart + k] = tensors[k].toArray(ValueLayout.JAVA_FLOAT);
                }
                flat[(n + 1) * perPart - 1] = new float[3 * shape.hiddenSize()];
            }
            return fromPyTorch(shape, flat);
        }
    }

    /**
     * Parameters of {@code shape} from PyTorch-layout arrays, as {@link Parameters#fromPyTorch} takes them: per
     * layer and direction (l0, l0_reverse, l1, ...) weight_ih, weight_hh, bias_ih, bias_hh (null for zeros), then an
     * LSTM's weight_hr with projection and its peepholes with peepholes.
     *
     * @throws IllegalArgumentException for another count of arrays than {@code shape} has, or an array of the wrong
     *                                  length (naming its layer and direction)
     */
    static ParameterSet fromPyTorch(RnnShape shape, float[][] flatWeights) {
        int perPart = 4 + (shape.projectionSize() > 0 ? 1 : 0) + (shape.peepholes() ? 1 : 0);
        if (flatWeights.length != shape.stateCount() * perPart) {
            throw new IllegalArgumentException("a model of " + shape + " has " + shape.stateCount() * perPart
                    + " flat weights (" + perPart + " per layer and direction), got " + flatWeights.length);
        }
        LstmStackShape stack = shape.stackShape();
        IntFunction<float[][]> part = n -> Arrays.copyOfRange(flatWeights, n * perPart, (n + 1) * perPart);
        IntFunction<LstmParameters> lstm = n -> inPart(shape, n, () -> {
            float[][] values = part.apply(n);
            return LstmParameters.fromPyTorch(stack.layerInputSize(n / stack.directions()), shape.hiddenSize(),
                    shape.projectionSize(), values[0], values[1], values[2], values[3],
                    shape.projectionSize() > 0 ? values[4] : null, shape.peepholes() ? values[perPart - 1] : null);
        });
        IntFunction<GruParameters> gru = n -> inPart(shape, n, () -> {
            float[][] values = part.apply(n);
            return GruParameters.fromPyTorch(stack.layerInputSize(n / stack.directions()), shape.hiddenSize(),
                    values[0], values[1], values[2], values[3]);
        });
        return switch (shape.cell()) {
            case LSTM -> stack(new LstmParameters[shape.stateCount()], lstm, LstmParameters::close,
                    parts -> lstmParameters(LstmStackParameters.of(stack.bidirectional(), parts)));
            case GRU -> stack(new GruParameters[shape.stateCount()], gru, GruParameters::close,
                    parts -> gruParameters(GruStackParameters.of(stack.bidirectional(), parts)));
        };
    }

    /** What {@code make} returns, with its refusal of a bad array prefixed by the part's layer and direction. */
    private static <T> T inPart(RnnShape shape, int part, Supplier<T> make) {
        try {
            return make.get();
        } catch (IllegalArgumentException | NullPointerException e) {
            int directions = shape.direction().count();
            throw new IllegalArgumentException("layer " + part / directions + " direction " + part % directions
                    + ": " + e.getMessage(), e);
        }
    }

    /**
     * {@code stack} of {@code parts} filled with {@code make(n)}, which then owns them; if making one part or the
     * stack fails, the parts made are closed.
     */
    private static <T> ParameterSet stack(T[] parts, IntFunction<T> make, Consumer<T> close,
                                          Function<T[], ParameterSet> stack) {
        try {
            for (int n = 0; n < parts.length; n++) {
                parts[n] = make.apply(n);
            }
            return stack.apply(parts);
        } catch (RuntimeException | Error e) {
            for (T part : parts) {
                if (part != null) {
                    close.accept(part);
                }
            }
            throw e;
        }
    }

    private static ParameterSet lstmParameters(LstmStackParameters parameters) {
        int directions = parameters.shape().directions();
        Map<String, MemorySegment> tensors = named(parameters.shape(), n -> {
            LstmParameters part = parameters.layer(n / directions, n % directions);
            return new MemorySegment[] {part.weightIh(), part.weightHh(), part.biasIh(), part.biasHh(),
                part.weightHr(), part.peepholes()};
        });
        boolean peepholes = parameters.layer(0, 0).peepholes() != null;
        return new ParameterSet(RnnShape.of(Cell.LSTM, parameters.shape(), peepholes), parameters, tensors,
                options -> Model.pack(parameters, options), parameters::close);
    }

    private static ParameterSet gruParameters(GruStackParameters parameters) {
        int directions = parameters.shape().directions();
        Map<String, MemorySegment> tensors = named(parameters.shape(), n -> {
            GruParameters part = parameters.layer(n / directions, n % directions);
            return new MemorySegment[] {part.weightIh(), part.weightHh(), part.biasIh(), part.biasHh()};
        });
        return new ParameterSet(RnnShape.of(Cell.GRU, parameters.shape(), false), parameters, tensors,
                options -> Model.pack(parameters, options), parameters::close);
    }

    /** Zero gradients for a model of {@code shape}, with peephole gradients for a model with peepholes. */
    static GradientSet gradients(RnnShape shape) {
        Checks.notNull("shape", shape);
        return switch (shape.cell()) {
            case LSTM -> {
                boolean[] peepholes = new boolean[shape.stateCount()];
                Arrays.fill(peepholes, shape.peepholes());
                LstmStackGradients gradients = new LstmStackGradients(shape.stackShape(), peepholes);
                yield new GradientSet(gradients, named(gradients.shape(), n -> {
                    LstmGradients part = gradients.layer(n / shape.direction().count(),
                            n % shape.direction().count());
                    return new MemorySegment[] {part.weightIh(), part.weightHh(), part.biasIh(), part.biasHh(),
                        part.weightHr(), part.peepholes()};
                }), gradients::zero, gradients::close);
            }
            case GRU -> {
                GruStackGradients gradients = new GruStackGradients(shape.stackShape());
                yield new GradientSet(gradients, named(gradients.shape(), n -> {
                    GruGradients part = gradients.layer(n / shape.direction().count(),
                            n % shape.direction().count());
                    return new MemorySegment[] {part.weightIh(), part.weightHh(), part.biasIh(), part.biasHh()};
                }), gradients::zero, gradients::close);
            }
        };
    }

    /** The tensor {@code name} of {@code tensors}, or a refusal naming {@code owner} and listing the names it has. */
    static MemorySegment tensor(Map<String, MemorySegment> tensors, String name, String owner) {
        MemorySegment tensor = tensors.get(Checks.notNull("pyTorchName", name));
        if (tensor == null) {
            throw new IllegalArgumentException("no tensor named \"" + name + "\" in " + owner + "; they have "
                    + tensors.keySet() + " (names without a module prefix)");
        }
        return tensor;
    }

    /**
     * The names of every layer's and direction's tensors, {@code weight_ih_l0}, {@code weight_hh_l0},
     * {@code bias_ih_l0}, {@code bias_hh_l0} (and {@code weight_hr_l0} with projection, and vlstm's own
     * {@code peephole_l0} with peepholes), then {@code _reverse}, then the next layer, as PyTorch's state_dict orders
     * them; {@code part} gives part n's tensors in that order (null where it has none).
     */
    private static Map<String, MemorySegment> named(LstmStackShape shape, IntFunction<MemorySegment[]> part) {
        String[] stems = {"weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr", "peephole"};
        Map<String, MemorySegment> tensors = new LinkedHashMap<>();
        for (int n = 0; n < shape.stateCount(); n++) {
            MemorySegment[] values = part.apply(n);
            for (int k = 0; k < values.length; k++) {
                if (values[k] != null) {
                    tensors.put(shape.pyTorchName(stems[k], n / shape.directions(), n % shape.directions()),
                            values[k]);
                }
            }
        }
        return Collections.unmodifiableMap(tensors);
    }
}
