package dev.vlstm.bench;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Optional;
import java.util.function.Supplier;

import dev.vlstm.GradientMode;
import dev.vlstm.Gradients;
import dev.vlstm.Model;
import dev.vlstm.Runner;
import dev.vlstm.State;
import dev.vlstm.Trainer;
import dev.vlstm.WeightPrecision;

/**
 * oneDNN's RNN primitives running a {@link RandomLstm} ({@code lstm}) or a {@link RandomGru} ({@code lbr_gru},
 * linear before reset, which is PyTorch's GRU) through its C API ({@link OneDnn}): the in-process peer of vlstm's
 * benchmarks. One layer, one direction, f32, on one OpenMP thread. The primitive chooses its weight format
 * ({@code format_tag_any}); the weights are reordered into it once, when this is built, so a timed {@link #run()}
 * executes the primitive (and, for training, the backward primitive) and nothing else. Scratchpads are this object's
 * own (user scratchpad mode), so it may run on any one thread at a time.
 *
 * <p>Gates: oneDNN's LSTM gates i, f, c̃, o are PyTorch's i, f, g, o, and oneDNN's one bias is PyTorch's two summed.
 * oneDNN's lbr_gru gates are u (update), r (reset), o (candidate): PyTorch's z, r, n; its bias has a fourth row, the
 * bias inside the reset product, which is PyTorch's b_hn, while its first three rows are b_iz + b_hz, b_ir + b_hr
 * and b_in.
 *
 * <p>A stream carries its state as {@link OnnxRuntimeRnn}'s does: {@code dst_iter} (and {@code dst_iter_c}) of
 * one step are {@code src_iter} (and {@code src_iter_c}) of the next, two state buffers taking turns. A sequence
 * starts from zero state (no {@code src_iter}). A training call is {@code forward_training} then {@code backward}
 * with dL/dy a fixed tensor (the input, as vlstm's training benchmark uses), zero dL/dhT and dL/dcT, writing dL/dx,
 * dL/dh0, dL/dc0 and the parameters' gradients.
 *
 * <p>Every factory checks oneDNN's outputs (and, for training, its gradients) against vlstm's on the same model and
 * input before returning ({@link #TOLERANCE}, {@link #GRADIENT_TOLERANCE}), so a benchmark never times a primitive
 * that computes something else.
 */
final class OneDnnRnn implements AutoCloseable {

    /**
     * Largest accepted {@code |oneDNN − vlstm| / max(1, |vlstm|)} over every forward output element: both compute
     * in float, with different summation orders and activation approximations.
     */
    static final double TOLERANCE = 1e-4;
    /**
     * The same bound for dL/dx, dL/dh0, dL/dc0 and the parameters' gradients, which sum B·T float products per
     * element in orders that differ between the two.
     */
    static final double GRADIENT_TOLERANCE = 1e-3;
    /** Steps {@link #stream} runs (and checks) before it returns. */
    static final int VERIFIED_STREAM_STEPS = 3;

    /** The two cells, with where each PyTorch gate goes in oneDNN's order. */
    private enum Cell {
        LSTM("LSTM", new int[] {0, 1, 2, 3}, 4),
        GRU("GRU", new int[] {1, 0, 2}, 4);

        final String label;
        /** oneDNN's gate g is PyTorch's gate {@code pyTorchGate[g]}. */
        final int[] pyTorchGate;
        /** Rows of oneDNN's bias {@code [G'][H]}. */
        final int biasRows;

        Cell(String label, int[] pyTorchGate, int biasRows) {
            this.label = label;
            this.pyTorchGate = pyTorchGate;
            this.biasRows = biasRows;
        }

        int gates() {
            return pyTorchGate.length;
        }

        boolean hasCellState() {
            return this == LSTM;
        }
    }

    /** What one {@link #run()} does. */
    private enum Mode {
        SEQUENCE, STREAM, TRAINING
    }

    private final Shape shape;
    private final Cell cell;
    private final Mode mode;
    private final int steps;
    private final Arena arena = Arena.ofShared();
    /** Destroys every oneDNN object made so far, newest first. */
    private final Deque<Runnable> releases = new ArrayDeque<>();
    private final MemorySegment engine;
    private final MemorySegment stream;
    /** oneDNN's own output buffers (f32, plain layouts, so readable from Java). */
    private final MemorySegment y;
    private final MemorySegment[] hidden = new MemorySegment[2];
    private final MemorySegment[] cellState = new MemorySegment[2];
    /** The forward's primitive descriptor, kept for {@link #implementation()}. */
    private MemorySegment forwardPd;
    private MemorySegment forwardPrimitive;
    /** The forward's arguments, one array per state pair (a sequence and a training call use the first). */
    private final MemorySegment[] forwardArgs = new MemorySegment[2];
    private final int[] forwardArgCount = new int[2];
    private MemorySegment backwardPrimitive;
    private MemorySegment backwardArgs;
    private int backwardArgCount;
    private MemorySegment dx;
    private MemorySegment dh0;
    private MemorySegment dc0;
    private MemorySegment diffWeightsLayer;
    private MemorySegment diffWeightsLayerMd;
    private MemorySegment diffWeightsIter;
    private MemorySegment diffWeightsIterMd;
    /** oneDNN's bias gradient, {@code [G'][H]}. */
    private MemorySegment diffBias;
    /** The largest relative difference from vlstm that the factory's check measured, per kind of output. */
    private double forwardDifference;
    private double gradientDifference;
    /** Which state pair the next streaming call reads. */
    private int current;
    /** The thread whose OpenMP thread count was last set to one. */
    private Thread oneThreadOn;
    private boolean closed;

    private OneDnnRnn(Shape shape, Cell cell, Mode mode, int steps, float[] weightIh, float[] weightHh,
                      float[] biasIh, float[] biasHh, float[] x) {
        this.shape = shape;
        this.cell = cell;
        this.mode = mode;
        this.steps = steps;
        try {
            useOneThread();
            engine = create("dnnl_engine_create", out -> (int) OneDnn.Library.ENGINE_CREATE.invokeExact(out,
                    OneDnn.ENGINE_CPU, 0L), OneDnn.Library.ENGINE_DESTROY);
            stream = create("dnnl_stream_create", out -> (int) OneDnn.Library.STREAM_CREATE.invokeExact(out, engine,
                    OneDnn.STREAM_IN_ORDER), OneDnn.Library.STREAM_DESTROY);
            long batch = shape.batch();
            long size = shape.size();
            long gates = cell.gates();
            MemorySegment attr = create("dnnl_primitive_attr_create",
                    out -> (int) OneDnn.Library.PRIMITIVE_ATTR_CREATE.invokeExact(out),
                    OneDnn.Library.PRIMITIVE_ATTR_DESTROY);
            OneDnn.check(call(() -> (int) OneDnn.Library.PRIMITIVE_ATTR_SET_SCRATCHPAD_MODE.invokeExact(attr,
                    OneDnn.SCRATCHPAD_MODE_USER)), "dnnl_primitive_attr_set_scratchpad_mode");

            MemorySegment layerMd = memoryDesc(OneDnn.TNC, steps, batch, size);
            MemorySegment stateMd = memoryDesc(OneDnn.LDNC, 1, 1, batch, size);
            MemorySegment anyWeightsLayerMd = memoryDesc(OneDnn.FORMAT_ANY, 1, 1, size, gates, size);
            MemorySegment anyWeightsIterMd = memoryDesc(OneDnn.FORMAT_ANY, 1, 1, size, gates, size);
            MemorySegment userWeightsLayerMd = memoryDesc(OneDnn.LDGOI, 1, 1, size, gates, size);
            MemorySegment userWeightsIterMd = memoryDesc(OneDnn.LDGOI, 1, 1, size, gates, size);
            MemorySegment biasMd = memoryDesc(OneDnn.LDGO, 1, 1, cell.biasRows, size);

            boolean training = mode == Mode.TRAINING;
            boolean carries = mode == Mode.STREAM;
            Descriptors forward = new Descriptors(layerMd,
                    carries || training ? stateMd : MemorySegment.NULL,
                    cell.hasCellState() && (carries || training) ? stateMd : MemorySegment.NULL,
                    anyWeightsLayerMd, anyWeightsIterMd, biasMd, layerMd,
                    training ? MemorySegment.NULL : stateMd,
                    cell.hasCellState() && !training ? stateMd : MemorySegment.NULL);
            forwardPd = forwardPrimitiveDesc(training ? OneDnn.FORWARD_TRAINING
                    : OneDnn.FORWARD_INFERENCE, forward, attr);
            forwardPrimitive = primitive(forwardPd);

            MemorySegment userWeightsLayer = memory(userWeightsLayerMd,
                    RandomLstm.toNative(arena, toOneDnnGates(weightIh, size * size)));
            MemorySegment userWeightsIter = memory(userWeightsIterMd,
                    RandomLstm.toNative(arena, toOneDnnGates(weightHh, size * size)));
            MemorySegment bias = memory(biasMd, RandomLstm.toNative(arena, oneDnnBias(biasIh, biasHh, (int) size)));
            MemorySegment weightsLayer = reorderedFor(forwardPd, OneDnn.ARG_WEIGHTS_LAYER, userWeightsLayer,
                    userWeightsLayerMd);
            MemorySegment weightsIter = reorderedFor(forwardPd, OneDnn.ARG_WEIGHTS_ITER, userWeightsIter,
                    userWeightsIterMd);

            MemorySegment xMemory = memory(layerMd, RandomLstm.toNative(arena, x));
            y = RandomLstm.floats(arena, steps * batch * size);
            MemorySegment yMemory = memory(layerMd, y);
            MemorySegment[] hiddenMemory = new MemorySegment[2];
            MemorySegment[] cellMemory = new MemorySegment[2];
            for (int pair = 0; pair < 2; pair++) {
                hidden[pair] = RandomLstm.floats(arena, batch * size);
                hiddenMemory[pair] = memory(stateMd, hidden[pair]);
                if (cell.hasCellState()) {
                    cellState[pair] = RandomLstm.floats(arena, batch * size);
                    cellMemory[pair] = memory(stateMd, cellState[pair]);
                }
            }
            MemorySegment forwardScratchpad = scratchpad(forwardPd);
            MemorySegment workspace = training ? ownMemory(query(forwardPd, OneDnn.QUERY_WORKSPACE_MD, 0)) : null;

            for (int pair = 0; pair < (carries ? 2 : 1); pair++) {
                Arguments args = new Arguments()
                        .add(OneDnn.ARG_SRC_LAYER, xMemory)
                        .add(OneDnn.ARG_WEIGHTS_LAYER, weightsLayer)
                        .add(OneDnn.ARG_WEIGHTS_ITER, weightsIter)
                        .add(OneDnn.ARG_BIAS, bias)
                        .add(OneDnn.ARG_DST_LAYER, yMemory)
                        .add(OneDnn.ARG_SCRATCHPAD, forwardScratchpad);
                if (carries || training) {
                    args.add(OneDnn.ARG_SRC_ITER, hiddenMemory[pair]);
                    if (cell.hasCellState()) {
                        args.add(OneDnn.ARG_SRC_ITER_C, cellMemory[pair]);
                    }
                }
                if (!training) {
                    args.add(OneDnn.ARG_DST_ITER, hiddenMemory[1 - pair]);
                    if (cell.hasCellState()) {
                        args.add(OneDnn.ARG_DST_ITER_C, cellMemory[1 - pair]);
                    }
                } else {
                    args.add(OneDnn.ARG_WORKSPACE, workspace);
                }
                forwardArgs[pair] = args.build();
                forwardArgCount[pair] = args.count();
            }

            if (training) {
                MemorySegment anyDiffWeightsLayerMd = memoryDesc(OneDnn.FORMAT_ANY, 1, 1, size, gates, size);
                MemorySegment anyDiffWeightsIterMd = memoryDesc(OneDnn.FORMAT_ANY, 1, 1, size, gates, size);
                Descriptors diff = new Descriptors(layerMd, stateMd,
                        cell.hasCellState() ? stateMd : MemorySegment.NULL, anyDiffWeightsLayerMd,
                        anyDiffWeightsIterMd, biasMd, layerMd, MemorySegment.NULL, MemorySegment.NULL);
                MemorySegment backwardPd = backwardPrimitiveDesc(forward, diff, forwardPd, attr);
                backwardPrimitive = primitive(backwardPd);
                MemorySegment backwardWeightsLayer = reorderedFor(backwardPd, OneDnn.ARG_WEIGHTS_LAYER,
                        userWeightsLayer, userWeightsLayerMd);
                MemorySegment backwardWeightsIter = reorderedFor(backwardPd, OneDnn.ARG_WEIGHTS_ITER,
                        userWeightsIter, userWeightsIterMd);
                dx = RandomLstm.floats(arena, steps * batch * size);
                dh0 = RandomLstm.floats(arena, batch * size);
                diffWeightsLayerMd = query(backwardPd, OneDnn.QUERY_EXEC_ARG_MD, OneDnn.ARG_DIFF_WEIGHTS_LAYER);
                diffWeightsLayer = ownMemory(diffWeightsLayerMd);
                diffWeightsIterMd = query(backwardPd, OneDnn.QUERY_EXEC_ARG_MD, OneDnn.ARG_DIFF_WEIGHTS_ITER);
                diffWeightsIter = ownMemory(diffWeightsIterMd);
                diffBias = RandomLstm.floats(arena, cell.biasRows * size);
                Arguments args = new Arguments()
                        .add(OneDnn.ARG_SRC_LAYER, xMemory)
                        .add(OneDnn.ARG_SRC_ITER, hiddenMemory[0])
                        .add(OneDnn.ARG_WEIGHTS_LAYER, backwardWeightsLayer)
                        .add(OneDnn.ARG_WEIGHTS_ITER, backwardWeightsIter)
                        .add(OneDnn.ARG_BIAS, bias)
                        .add(OneDnn.ARG_DST_LAYER, yMemory)
                        .add(OneDnn.ARG_DIFF_DST_LAYER, memory(layerMd, RandomLstm.toNative(arena, x)))
                        .add(OneDnn.ARG_DIFF_SRC_LAYER, memory(layerMd, dx))
                        .add(OneDnn.ARG_DIFF_SRC_ITER, memory(stateMd, dh0))
                        .add(OneDnn.ARG_DIFF_WEIGHTS_LAYER, diffWeightsLayer)
                        .add(OneDnn.ARG_DIFF_WEIGHTS_ITER, diffWeightsIter)
                        .add(OneDnn.ARG_DIFF_BIAS, memory(biasMd, diffBias))
                        .add(OneDnn.ARG_WORKSPACE, workspace)
                        .add(OneDnn.ARG_SCRATCHPAD, scratchpad(backwardPd));
                if (cell.hasCellState()) {
                    dc0 = RandomLstm.floats(arena, batch * size);
                    args.add(OneDnn.ARG_SRC_ITER_C, cellMemory[0]).add(OneDnn.ARG_DIFF_SRC_ITER_C,
                            memory(stateMd, dc0));
                }
                backwardArgs = args.build();
                backwardArgCount = args.count();
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /**
     * oneDNN running {@code model}'s whole sequence from zero state per {@link #run()}, checked against
     * {@link Runner#forward} of its float32 model: y, hT and cT.
     *
     * @throws IllegalArgumentException for a shape oneDNN's one primitive does not run as vlstm does (several
     *                                  layers or directions, per-sequence lengths) or arrays of the wrong sizes
     * @throws IllegalStateException    if oneDNN is unavailable ({@link #unavailableReason()}) or disagrees with
     *                                  vlstm
     */
    static OneDnnRnn sequence(RandomLstm model) {
        Objects.requireNonNull(model, "model");
        return verifiedSequence(lstm(model, Mode.SEQUENCE, model.shape().steps()), model.x(),
                () -> model.model(WeightPrecision.FLOAT32));
    }

    /** {@link #sequence(RandomLstm)} for a GRU: y and hT checked. */
    static OneDnnRnn sequence(RandomGru model) {
        Objects.requireNonNull(model, "model");
        return verifiedSequence(gru(model, Mode.SEQUENCE, model.shape().steps()), model.x(), model::model);
    }

    /**
     * oneDNN advancing a stream of {@code model} (whose input holds one step) by one step per {@link #run()},
     * checked against {@link Runner#step} of its float32 model after {@link #VERIFIED_STREAM_STEPS} steps of both.
     *
     * @throws IllegalArgumentException as {@link #sequence(RandomLstm)}, and for an input of more than one step
     * @throws IllegalStateException    as {@link #sequence(RandomLstm)}
     */
    static OneDnnRnn stream(RandomLstm model) {
        Objects.requireNonNull(model, "model");
        return verifiedStream(lstm(model, Mode.STREAM, 1), model.x(), () -> model.model(WeightPrecision.FLOAT32));
    }

    /** {@link #stream(RandomLstm)} for a GRU: y and h checked. */
    static OneDnnRnn stream(RandomGru model) {
        Objects.requireNonNull(model, "model");
        return verifiedStream(gru(model, Mode.STREAM, 1), model.x(), model::model);
    }

    /**
     * oneDNN's training step of {@code model} per {@link #run()}: {@code forward_training} over the whole sequence
     * from zero state, then {@code backward} with dL/dy = the input, checked against {@link Trainer#forward} and
     * {@link Trainer#backward} of its float32 model: y, dL/dx, dL/dh0, dL/dc0 and the four parameters' gradients.
     *
     * @throws IllegalArgumentException as {@link #sequence(RandomLstm)}
     * @throws IllegalStateException    as {@link #sequence(RandomLstm)}
     */
    static OneDnnRnn training(RandomLstm model) {
        Objects.requireNonNull(model, "model");
        return verifiedTraining(lstm(model, Mode.TRAINING, model.shape().steps()), model.x(),
                () -> model.model(WeightPrecision.FLOAT32));
    }

    /** {@link #training(RandomLstm)} for a GRU (no dL/dc0). */
    static OneDnnRnn training(RandomGru model) {
        Objects.requireNonNull(model, "model");
        return verifiedTraining(gru(model, Mode.TRAINING, model.shape().steps()), model.x(), model::model);
    }

    /**
     * {@code rnn} after one call checked against {@link Runner#forward} of the model {@code packed} makes on
     * {@code x}: y, hT and (an LSTM's) cT; closed if the check fails.
     */
    private static OneDnnRnn verifiedSequence(OneDnnRnn rnn, float[] x, Supplier<Model> packed) {
        Shape shape = rnn.shape;
        try (Model model = packed.get(); Runner runner = model.runner(shape.options())) {
            int state = shape.batch() * shape.size();
            float[] y = new float[shape.steps() * state];
            float[] hT = new float[state];
            float[] cT = model.shape().cell().hasCellState() ? new float[state] : null;
            runner.forward(x, shape.steps(), shape.batch(), null, null, y, hT, cT);
            rnn.run();
            rnn.verifyForward(y, hT, cT, "a forward over " + shape.steps() + " steps");
        } catch (RuntimeException | Error e) {
            rnn.close();
            throw e;
        }
        return rnn;
    }

    /**
     * {@code rnn} after {@link #VERIFIED_STREAM_STEPS} carried steps checked against as many {@link Runner#step}s of
     * the model {@code packed} makes on {@code x}: h and (an LSTM's) c; closed if the check fails.
     */
    private static OneDnnRnn verifiedStream(OneDnnRnn rnn, float[] x, Supplier<Model> packed) {
        Shape shape = rnn.shape;
        try (Model model = packed.get(); Runner runner = model.runner(shape.options());
             State state = model.newState(shape.batch())) {
            float[] h = new float[shape.batch() * shape.size()];
            for (int step = 0; step < VERIFIED_STREAM_STEPS; step++) {
                runner.step(x, state, h);
                rnn.run();
            }
            rnn.verifyForward(h, state.hidden(), model.shape().cell().hasCellState() ? state.cell() : null,
                    VERIFIED_STREAM_STEPS + " carried steps");
        } catch (RuntimeException | Error e) {
            rnn.close();
            throw e;
        }
        return rnn;
    }

    /** {@code rnn}'s training step checked against the model {@code packed} makes on {@code x}; closed if not. */
    private static OneDnnRnn verifiedTraining(OneDnnRnn rnn, float[] x, Supplier<Model> packed) {
        try (Model model = packed.get()) {
            rnn.verifyTraining(model, x);
        } catch (RuntimeException | Error e) {
            rnn.close();
            throw e;
        }
        return rnn;
    }

    /**
     * Why oneDNN cannot run in this JVM (not Linux on x86-64, or its native library missing or not loading), or
     * empty if it can.
     */
    static Optional<String> unavailableReason() {
        return OneDnn.unavailableReason();
    }

    /** What runs and how, for the comparison's notes. */
    static String describe() {
        OneDnn.requireAvailable();
        return "oneDNN " + OneDnn.version() + " (its C API through java.lang.foreign; x64 JIT for "
                + OneDnn.effectiveIsa() + ", one OpenMP thread; lstm and lbr_gru primitives, f32, one layer, "
                + "weights reordered once into the primitive's preferred format, user scratchpad; step-*: dst_iter "
                + "fed back as the next src_iter; bptt-*: forward_training then backward with a workspace), "
                + String.format(Locale.ROOT, "checked against vlstm within a relative %.0g (gradients %.0g) before "
                + "timing", TOLERANCE, GRADIENT_TOLERANCE);
    }

    /** The forward primitive's implementation, as oneDNN names it. */
    String implementation() {
        try (Arena local = Arena.ofConfined()) {
            MemorySegment out = local.allocate(ADDRESS);
            OneDnn.check(call(() -> (int) OneDnn.Library.PRIMITIVE_DESC_QUERY.invokeExact(forwardPd,
                    OneDnn.QUERY_IMPL_INFO_STR, 0, out)), "dnnl_primitive_desc_query(impl_info_str)");
            return OneDnn.created(out).reinterpret(Long.MAX_VALUE).getString(0);
        }
    }

    /** One call: the whole sequence, one step of the stream, or a training step (forward and backward). */
    void run() {
        Thread thread = Thread.currentThread();
        if (thread != oneThreadOn) {
            useOneThread();
        }
        int pair = current;
        execute(forwardPrimitive, forwardArgs[pair], forwardArgCount[pair]);
        if (backwardPrimitive != null) {
            execute(backwardPrimitive, backwardArgs, backwardArgCount);
        }
        waitForStream();
        if (mode == Mode.STREAM) {
            current = 1 - current;
        }
    }

    /** The latest call's y, {@code [T][B][H]}. */
    float[] y() {
        return y.toArray(JAVA_FLOAT);
    }

    /** The latest call's hT, {@code [B][H]}: the state the next step of a stream starts from. */
    float[] hidden() {
        requireNotTraining("hT");
        return hidden[latest()].toArray(JAVA_FLOAT);
    }

    /** The latest call's cT, {@code [B][H]}; an LSTM's only. */
    float[] cell() {
        requireNotTraining("cT");
        requireCellState("cT");
        return cellState[latest()].toArray(JAVA_FLOAT);
    }

    /** The latest training call's dL/dx, {@code [T][B][I]}. */
    float[] dx() {
        requireTraining("dL/dx");
        return dx.toArray(JAVA_FLOAT);
    }

    /** The latest training call's dL/dh0, {@code [B][H]}. */
    float[] dh0() {
        requireTraining("dL/dh0");
        return dh0.toArray(JAVA_FLOAT);
    }

    /** The latest training call's dL/dc0, {@code [B][H]}; an LSTM's only. */
    float[] dc0() {
        requireTraining("dL/dc0");
        requireCellState("dL/dc0");
        return dc0.toArray(JAVA_FLOAT);
    }

    /**
     * The latest training call's gradient of the parameter PyTorch names {@code pyTorchName}
     * ({@code weight_ih_l0}, {@code weight_hh_l0}, {@code bias_ih_l0}, {@code bias_hh_l0}), in PyTorch's layout and
     * gate order, as {@link Gradients#tensor} holds it. Reorders oneDNN's gradient out of its own format (untimed).
     */
    float[] gradient(String pyTorchName) {
        requireTraining("gradients");
        long block = (long) shape.size() * shape.size();
        return switch (pyTorchName) {
            case "weight_ih_l0" -> toPyTorchGates(plainWeights(diffWeightsLayer, diffWeightsLayerMd), block);
            case "weight_hh_l0" -> toPyTorchGates(plainWeights(diffWeightsIter, diffWeightsIterMd), block);
            case "bias_ih_l0" -> pyTorchBias(diffBias, false);
            case "bias_hh_l0" -> pyTorchBias(diffBias, true);
            default -> throw new IllegalArgumentException("no gradient named " + pyTorchName + "; known: "
                    + "weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0");
        };
    }

    private static OneDnnRnn lstm(RandomLstm model, Mode mode, int steps) {
        OneDnn.requireAvailable();
        checkModel(model.shape(), 4, mode, steps, model.weightIh(), model.weightHh(), model.biasIh(), model.biasHh(),
                model.x());
        return new OneDnnRnn(model.shape(), Cell.LSTM, mode, steps, model.weightIh(), model.weightHh(),
                model.biasIh(), model.biasHh(), model.x());
    }

    private static OneDnnRnn gru(RandomGru model, Mode mode, int steps) {
        OneDnn.requireAvailable();
        checkModel(model.shape(), 3, mode, steps, model.weightIh(), model.weightHh(), model.biasIh(), model.biasHh(),
                model.x());
        return new OneDnnRnn(model.shape(), Cell.GRU, mode, steps, model.weightIh(), model.weightHh(), model.biasIh(),
                model.biasHh(), model.x());
    }

    /**
     * Refuses what this peer would run differently from vlstm, or read past the end of: several layers or
     * directions, per-sequence lengths, and arrays whose lengths do not match the shape (oneDNN reads as many
     * values as the shape says, whatever the buffer holds).
     */
    private static void checkModel(Shape shape, int gates, Mode mode, int steps, float[] weightIh, float[] weightHh,
                                   float[] biasIh, float[] biasHh, float[] x) {
        if (shape.layers() != 1 || shape.directions() != 1) {
            throw new IllegalArgumentException(shape.name() + " has " + shape.layers() + " layers of "
                    + shape.directions() + " directions; the oneDNN peer runs one layer of one direction");
        }
        if (shape.variableLengths()) {
            throw new IllegalArgumentException(shape.name() + " has per-sequence lengths; oneDNN's RNN primitives "
                    + "run every sequence for T steps");
        }
        long size = shape.size();
        requireLength("weight_ih", weightIh, gates * size * size);
        requireLength("weight_hh", weightHh, gates * size * size);
        requireLength("bias_ih", biasIh, gates * size);
        requireLength("bias_hh", biasHh, gates * size);
        long inputs = (long) steps * shape.batch() * size;
        if (x.length != inputs) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "x holds %d values; %s %s takes %d "
                            + "(%d steps of B = %d, I = %d)", x.length, mode == Mode.STREAM ? "a stream step of"
                            : "a sequence of", shape.name(), inputs, steps, shape.batch(), size));
        }
    }

    private static void requireLength(String name, float[] values, long length) {
        Objects.requireNonNull(values, name);
        if (values.length != length) {
            throw new IllegalArgumentException(name + " holds " + values.length + " values; the shape takes "
                    + length);
        }
    }

    /** PyTorch's {@code [G][H][rest]} tensor with its gate blocks in oneDNN's order. */
    private float[] toOneDnnGates(float[] pyTorch, long block) {
        float[] oneDnn = new float[pyTorch.length];
        for (int gate = 0; gate < cell.gates(); gate++) {
            System.arraycopy(pyTorch, (int) (cell.pyTorchGate[gate] * block), oneDnn, (int) (gate * block),
                    (int) block);
        }
        return oneDnn;
    }

    /** oneDNN's {@code [G][H][rest]} tensor with its gate blocks in PyTorch's order. */
    private float[] toPyTorchGates(float[] oneDnn, long block) {
        float[] pyTorch = new float[oneDnn.length];
        for (int gate = 0; gate < cell.gates(); gate++) {
            System.arraycopy(oneDnn, (int) (gate * block), pyTorch, (int) (cell.pyTorchGate[gate] * block),
                    (int) block);
        }
        return pyTorch;
    }

    /**
     * oneDNN's bias {@code [G'][H]} from PyTorch's two: their sum per gate, and for the GRU a fourth row, b_hn,
     * which lbr_gru adds inside the reset gate's product while its third row (b_in) stays outside.
     */
    private float[] oneDnnBias(float[] biasIh, float[] biasHh, int size) {
        float[] bias = new float[cell.biasRows * size];
        for (int gate = 0; gate < cell.gates(); gate++) {
            int from = cell.pyTorchGate[gate] * size;
            boolean insideReset = cell == Cell.GRU && gate == 2;
            for (int unit = 0; unit < size; unit++) {
                float hiddenPart = insideReset ? 0 : biasHh[from + unit];
                bias[gate * size + unit] = biasIh[from + unit] + hiddenPart;
            }
        }
        if (cell == Cell.GRU) {
            System.arraycopy(biasHh, 2 * size, bias, 3 * size, size);
        }
        return bias;
    }

    /**
     * PyTorch's {@code bias_ih} or {@code bias_hh} gradient from oneDNN's bias gradient: for the LSTM both are the
     * one bias's gradient; for the GRU the n gate's is the third row (b_in) or the fourth (b_hn).
     */
    private float[] pyTorchBias(MemorySegment oneDnnBias, boolean hiddenBias) {
        int size = shape.size();
        float[] rows = oneDnnBias.toArray(JAVA_FLOAT);
        float[] bias = new float[cell.gates() * size];
        for (int gate = 0; gate < cell.gates(); gate++) {
            int row = cell == Cell.GRU && gate == 2 && hiddenBias ? 3 : gate;
            System.arraycopy(rows, row * size, bias, cell.pyTorchGate[gate] * size, size);
        }
        return bias;
    }

    /** A weight gradient reordered from oneDNN's chosen format into plain {@code ldgoi}: {@code [G][H][I]}. */
    private float[] plainWeights(MemorySegment oneDnnMemory, MemorySegment oneDnnMd) {
        long size = shape.size();
        MemorySegment plainMd = memoryDesc(OneDnn.LDGOI, 1, 1, size, cell.gates(), size);
        MemorySegment plain = RandomLstm.floats(arena, cell.gates() * size * size);
        reorder(oneDnnMemory, oneDnnMd, memory(plainMd, plain), plainMd);
        waitForStream();
        return plain.toArray(JAVA_FLOAT);
    }

    private void verifyTraining(Model packed, float[] x) {
        try (Trainer trainer = packed.trainer(shape.options()); Gradients gradients = new Gradients(packed.shape())) {
            int state = shape.batch() * shape.size();
            float[] expectedY = new float[steps * state];
            float[] expectedDx = new float[x.length];
            float[] expectedDh0 = new float[state];
            float[] expectedDc0 = cell.hasCellState() ? new float[state] : null;
            trainer.forward(x, steps, shape.batch(), null, null, expectedY, null, null);
            trainer.backward(x, null, null, gradients, GradientMode.OVERWRITE, expectedDx, expectedDh0, expectedDc0);
            run();
            String what = "a training step over " + steps + " steps";
            verify("y", y(), expectedY, false, what);
            verify("dL/dx", dx(), expectedDx, true, what);
            verify("dL/dh0", dh0(), expectedDh0, true, what);
            if (cell.hasCellState()) {
                verify("dL/dc0", dc0(), expectedDc0, true, what);
            }
            for (String name : gradients.names()) {
                verify("dL/d" + name, gradient(name), gradients.tensor(name).toArray(JAVA_FLOAT),
                        true, what);
            }
        }
    }

    /**
     * Compares the latest forward outputs with vlstm's, throwing if one element is outside the tolerance. Silent
     * otherwise: a forked JMH VM's output lands in the middle of the comparison's table.
     */
    private void verifyForward(float[] expectedY, float[] expectedHidden, float[] expectedCell, String what) {
        verify("y", y(), expectedY, false, what);
        verify("hT", hidden(), expectedHidden, false, what);
        if (expectedCell != null) {
            verify("cT", cell(), expectedCell, false, what);
        }
    }

    /** {@return the largest relative difference between this peer's forward outputs and vlstm's, as checked} */
    double forwardDifference() {
        return forwardDifference;
    }

    /** {@return the largest relative difference between this peer's gradients and vlstm's, as checked; 0 untrained} */
    double gradientDifference() {
        return gradientDifference;
    }

    private void verify(String output, float[] actual, float[] expected, boolean gradient, String what) {
        double tolerance = gradient ? GRADIENT_TOLERANCE : TOLERANCE;
        if (actual.length != expected.length) {
            throw new IllegalStateException(output + " has " + actual.length + " values from oneDNN and "
                    + expected.length + " from vlstm");
        }
        for (int n = 0; n < expected.length; n++) {
            double error = Math.abs(actual[n] - expected[n]) / Math.max(1, Math.abs(expected[n]));
            if (gradient) {
                gradientDifference = Math.max(gradientDifference, error);
            } else {
                forwardDifference = Math.max(forwardDifference, error);
            }
            if (!(error <= tolerance)) {
                throw new IllegalStateException(String.format(Locale.ROOT, "oneDNN and vlstm disagree after %s of "
                                + "%s (%s): %s[%d] is %s from oneDNN and %s from vlstm (relative difference %.3g > "
                                + "tolerance %.0g); a weight conversion or a kernel is wrong, so nothing is timed",
                        what, shape.name(), cell.label, output, n, actual[n], expected[n], error, tolerance));
            }
        }
    }

    private void requireTraining(String what) {
        if (mode != Mode.TRAINING) {
            throw new IllegalStateException(what + " exists for a training peer only");
        }
    }

    private void requireNotTraining(String what) {
        if (mode == Mode.TRAINING) {
            throw new IllegalStateException("a training peer's forward keeps no " + what);
        }
    }

    private void requireCellState(String what) {
        if (!cell.hasCellState()) {
            throw new IllegalStateException("a " + cell.label + " has no " + what);
        }
    }

    /** The state pair the latest call wrote. */
    private int latest() {
        return mode == Mode.STREAM ? current : 1;
    }

    private void useOneThread() {
        OneDnn.useOneThread();
        oneThreadOn = Thread.currentThread();
    }

    /** The descriptors of one RNN primitive; {@link MemorySegment#NULL} for an absent one. */
    private record Descriptors(MemorySegment srcLayer, MemorySegment srcIter, MemorySegment srcIterC,
                               MemorySegment weightsLayer, MemorySegment weightsIter, MemorySegment bias,
                               MemorySegment dstLayer, MemorySegment dstIter, MemorySegment dstIterC) {
    }

    private MemorySegment forwardPrimitiveDesc(int propKind, Descriptors d, MemorySegment attr) {
        String name = cell == Cell.LSTM ? "dnnl_lstm_forward_primitive_desc_create"
                : "dnnl_lbr_gru_forward_primitive_desc_create";
        return create(name, out -> cell == Cell.LSTM
                ? (int) OneDnn.Library.LSTM_FORWARD_PRIMITIVE_DESC_CREATE.invokeExact(out, engine, propKind,
                        OneDnn.UNIDIRECTIONAL_LEFT_TO_RIGHT, d.srcLayer, d.srcIter, d.srcIterC, d.weightsLayer,
                        d.weightsIter, MemorySegment.NULL, MemorySegment.NULL, d.bias, d.dstLayer, d.dstIter,
                        d.dstIterC, 0, attr)
                : (int) OneDnn.Library.LBR_GRU_FORWARD_PRIMITIVE_DESC_CREATE.invokeExact(out, engine, propKind,
                        OneDnn.UNIDIRECTIONAL_LEFT_TO_RIGHT, d.srcLayer, d.srcIter, d.weightsLayer, d.weightsIter,
                        d.bias, d.dstLayer, d.dstIter, 0, attr),
                OneDnn.Library.PRIMITIVE_DESC_DESTROY);
    }

    private MemorySegment backwardPrimitiveDesc(Descriptors d, Descriptors diff, MemorySegment forwardPd,
                                                MemorySegment attr) {
        String name = cell == Cell.LSTM ? "dnnl_lstm_backward_primitive_desc_create"
                : "dnnl_lbr_gru_backward_primitive_desc_create";
        MemorySegment none = MemorySegment.NULL;
        int flags = OneDnn.RNN_DIFF_WEIGHTS_OVERWRITE;
        return create(name, out -> cell == Cell.LSTM
                ? (int) OneDnn.Library.LSTM_BACKWARD_PRIMITIVE_DESC_CREATE.invokeExact(out, engine, OneDnn.BACKWARD,
                        OneDnn.UNIDIRECTIONAL_LEFT_TO_RIGHT, d.srcLayer, d.srcIter, d.srcIterC, d.weightsLayer,
                        d.weightsIter, none, none, d.bias, d.dstLayer, d.dstIter, d.dstIterC, diff.srcLayer,
                        diff.srcIter, diff.srcIterC, diff.weightsLayer, diff.weightsIter, none, none, diff.bias,
                        diff.dstLayer, diff.dstIter, diff.dstIterC, flags, forwardPd, attr)
                : (int) OneDnn.Library.LBR_GRU_BACKWARD_PRIMITIVE_DESC_CREATE.invokeExact(out, engine, OneDnn.BACKWARD,
                        OneDnn.UNIDIRECTIONAL_LEFT_TO_RIGHT, d.srcLayer, d.srcIter, d.weightsLayer, d.weightsIter,
                        d.bias, d.dstLayer, d.dstIter, diff.srcLayer, diff.srcIter, diff.weightsLayer,
                        diff.weightsIter, diff.bias, diff.dstLayer, diff.dstIter, flags, forwardPd, attr),
                OneDnn.Library.PRIMITIVE_DESC_DESTROY);
    }

    /** A memory descriptor of f32 values, destroyed at {@link #close()}. */
    private MemorySegment memoryDesc(int formatTag, long... dims) {
        MemorySegment dimsSegment = OneDnn.dims(arena, dims);
        return create("dnnl_memory_desc_create_with_tag", out -> (int) OneDnn.Library.MEMORY_DESC_CREATE_WITH_TAG
                .invokeExact(out, dims.length, dimsSegment, OneDnn.F32, formatTag), OneDnn.Library.MEMORY_DESC_DESTROY);
    }

    /** A memory object over {@code data} (which outlives it: both go at {@link #close()}). */
    private MemorySegment memory(MemorySegment md, MemorySegment data) {
        return create("dnnl_memory_create", out -> (int) OneDnn.Library.MEMORY_CREATE.invokeExact(out, md, engine,
                data), OneDnn.Library.MEMORY_DESTROY);
    }

    /** A memory object of descriptor {@code md} over a new zeroed buffer of this object's. */
    private MemorySegment ownMemory(MemorySegment md) {
        long bytes = call(() -> (long) OneDnn.Library.MEMORY_DESC_GET_SIZE.invokeExact(md));
        return memory(md, arena.allocate(Math.max(bytes, 1), 64));
    }

    private MemorySegment scratchpad(MemorySegment pd) {
        return ownMemory(query(pd, OneDnn.QUERY_SCRATCHPAD_MD, 0));
    }

    /** A memory descriptor {@code pd} holds, valid while {@code pd} is. */
    private static MemorySegment query(MemorySegment pd, int what, int index) {
        MemorySegment md = call(() -> (MemorySegment) OneDnn.Library.PRIMITIVE_DESC_QUERY_MD.invokeExact(pd, what,
                index));
        if (md.equals(MemorySegment.NULL)) {
            throw new IllegalStateException("the primitive descriptor has no memory descriptor for query " + what
                    + ", index " + index);
        }
        return md;
    }

    private MemorySegment primitive(MemorySegment pd) {
        return create("dnnl_primitive_create", out -> (int) OneDnn.Library.PRIMITIVE_CREATE.invokeExact(out, pd),
                OneDnn.Library.PRIMITIVE_DESTROY);
    }

    /**
     * The weights of {@code user} in the format {@code pd} chose for its argument {@code arg}: {@code user} itself
     * if that is its format, else a reordered copy (made now, once).
     */
    private MemorySegment reorderedFor(MemorySegment pd, int arg, MemorySegment user, MemorySegment userMd) {
        MemorySegment wanted = query(pd, OneDnn.QUERY_EXEC_ARG_MD, arg);
        if (call(() -> (int) OneDnn.Library.MEMORY_DESC_EQUAL.invokeExact(userMd, wanted)) != 0) {
            return user;
        }
        MemorySegment reordered = ownMemory(wanted);
        reorder(user, userMd, reordered, wanted);
        return reordered;
    }

    /** Runs a reorder from memory {@code from} to memory {@code to} (of those descriptors) on this object's stream. */
    private void reorder(MemorySegment from, MemorySegment fromMd, MemorySegment to, MemorySegment toMd) {
        MemorySegment pd = create("dnnl_reorder_primitive_desc_create", out -> (int) OneDnn.Library
                .REORDER_PRIMITIVE_DESC_CREATE.invokeExact(out, fromMd, engine, toMd, engine, MemorySegment.NULL),
                OneDnn.Library.PRIMITIVE_DESC_DESTROY);
        MemorySegment reorder = primitive(pd);
        Arguments args = new Arguments().add(OneDnn.ARG_FROM, from).add(OneDnn.ARG_TO, to);
        execute(reorder, args.build(), args.count());
    }

    private void waitForStream() {
        try {
            OneDnn.check((int) OneDnn.Library.STREAM_WAIT.invokeExact(stream), "dnnl_stream_wait");
        } catch (Throwable e) {
            throw OneDnn.rethrow(e);
        }
    }

    private void execute(MemorySegment primitive, MemorySegment args, int count) {
        try {
            OneDnn.check((int) OneDnn.Library.PRIMITIVE_EXECUTE.invokeExact(primitive, stream, count, args),
                    "dnnl_primitive_execute");
        } catch (Throwable e) {
            throw OneDnn.rethrow(e);
        }
    }

    /** A {@code dnnl_exec_arg_t} array in the making. */
    private final class Arguments {
        private final List<Integer> ids = new ArrayList<>();
        private final List<MemorySegment> memories = new ArrayList<>();

        Arguments add(int id, MemorySegment memory) {
            ids.add(id);
            memories.add(memory);
            return this;
        }

        int count() {
            return ids.size();
        }

        /** The array, in this object's arena. */
        MemorySegment build() {
            MemorySegment array = arena.allocate(OneDnn.EXEC_ARG, count());
            for (int n = 0; n < count(); n++) {
                MemorySegment entry = array.asSlice(n * OneDnn.EXEC_ARG.byteSize(), OneDnn.EXEC_ARG);
                entry.set(JAVA_INT, OneDnn.EXEC_ARG.byteOffset(PathElement.groupElement("arg")), ids.get(n));
                entry.set(ADDRESS, OneDnn.EXEC_ARG.byteOffset(PathElement.groupElement("memory")), memories.get(n));
            }
            return array;
        }
    }

    /** A native call returning a value, its Throwable rethrown unchecked. */
    private interface NativeCall<T> {
        T call() throws Throwable;
    }

    private static <T> T call(NativeCall<T> nativeCall) {
        try {
            return nativeCall.call();
        } catch (Throwable e) {
            throw OneDnn.rethrow(e);
        }
    }

    /** A {@code dnnl_*_create(T *out, ...)} call. */
    private interface Creation {
        int create(MemorySegment out) throws Throwable;
    }

    /**
     * Runs a {@code dnnl_*_create} call, checks its status, and registers {@code destroy} for {@link #close()}.
     *
     * @return the object created
     */
    private MemorySegment create(String name, Creation creation, MethodHandle destroy) {
        MemorySegment out = arena.allocate(ADDRESS);
        OneDnn.check(call(() -> creation.create(out)), name);
        MemorySegment created = OneDnn.created(out);
        releases.push(() -> {
            try {
                int status = (int) destroy.invokeExact(created);
                OneDnn.check(status, name + "'s destroy");
            } catch (Throwable e) {
                throw OneDnn.rethrow(e);
            }
        });
        return created;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        RuntimeException failure = null;
        while (!releases.isEmpty()) {
            try {
                releases.pop().run();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        arena.close();
        if (failure != null) {
            throw failure;
        }
    }
}
