package dev.vlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.OrtSession.SessionOptions;
import dev.vlstm.Model;
import dev.vlstm.Runner;
import dev.vlstm.State;
import dev.vlstm.WeightPrecision;
import dev.vlstm.onnxmodels.OnnxRnnModel;

/**
 * ONNX Runtime's CPU execution provider running a {@link RandomLstm} or {@link RandomGru} as an ONNX model of one
 * forward {@code LSTM} or {@code GRU} node ({@code linear_before_reset = 1}, PyTorch's GRU): the peer in the
 * comparison. One intra-op and one inter-op thread (vlstm uses one), sequential execution, every graph optimisation.
 * Inputs and outputs are tensors over native buffers made once (direct FloatBuffers, which ORT uses without copying)
 * and the outputs are pinned, so a call allocates only the Java API's small per-call bookkeeping.
 *
 * <p>A stream carries its state as a service would: {@code Y_h} (and an LSTM's {@code Y_c}) of one call are
 * {@code initial_h} (and {@code initial_c}) of the next. Two pairs of state buffers take turns, so no call reads and
 * writes the same memory.
 *
 * <p>Every factory checks ORT's outputs against vlstm's on the same input before returning (see
 * {@link #TOLERANCE}), so a benchmark never times a model that computes something else.
 */
final class OnnxRuntimeRnn implements AutoCloseable {

    /**
     * Largest accepted {@code |ORT − vlstm| / max(1, |vlstm|)} over every output element. Both compute in float
     * with different summation orders and activation approximations (vlstm's tanh is within 2.9e-7); the largest
     * difference measured over the comparison's shapes was 7.3e-7.
     */
    static final double TOLERANCE = 1e-4;
    /** Steps {@link #stream} runs (and checks) before it returns. */
    static final int VERIFIED_STREAM_STEPS = 3;

    private final Shape shape;
    private final int steps;
    private final boolean carry;
    private final List<Calls> streams = new ArrayList<>();
    private OrtSession session;
    /** The input and outputs {@link #run()} uses. */
    private Calls calls;

    /**
     * A session of {@code onnxModel} (the shape's cell over {@code steps} steps) with input {@code x}; {@code carry}
     * feeds each call's final state to the next.
     */
    private OnnxRuntimeRnn(Shape shape, byte[] onnxModel, float[] x, int steps, boolean carry) throws OrtException {
        this.shape = shape;
        this.steps = steps;
        this.carry = carry;
        try {
            try (SessionOptions options = new SessionOptions()) {
                options.setIntraOpNumThreads(1);
                options.setInterOpNumThreads(1);
                options.setExecutionMode(SessionOptions.ExecutionMode.SEQUENTIAL);
                options.setOptimizationLevel(SessionOptions.OptLevel.ALL_OPT);
                session = OrtEnvironment.getEnvironment().createSession(onnxModel, options);
            }
            calls = new Calls(x);
        } catch (OrtException | RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /**
     * ORT running {@code model}'s whole sequence from zero state per {@link #run()}, checked against
     * {@link Runner#forward} of its float32 model: y, hT and cT.
     */
    static OnnxRuntimeRnn sequence(RandomLstm model) throws OrtException {
        Shape shape = model.shape();
        return sequence(new OnnxRuntimeRnn(shape, lstmNode(model, shape.steps()), model.x(), shape.steps(), false),
                model.x(), model.model(WeightPrecision.FLOAT32));
    }

    /** ORT running a GRU's whole sequence, checked against {@link Runner#forward} of its model: y and hT. */
    static OnnxRuntimeRnn sequence(RandomGru model) throws OrtException {
        Shape shape = model.shape();
        return sequence(new OnnxRuntimeRnn(shape, gruNode(model, shape.steps()), model.x(), shape.steps(), false),
                model.x(), model.model());
    }

    /**
     * ORT advancing a stream of {@code model} (whose input holds one step) by one step per {@link #run()},
     * checked against {@link Runner#step} of its float32 model after a few steps of both.
     */
    static OnnxRuntimeRnn stream(RandomLstm model) throws OrtException {
        return stream(new OnnxRuntimeRnn(model.shape(), lstmNode(model, 1), model.x(), 1, true), model.x(),
                model.model(WeightPrecision.FLOAT32));
    }

    /** A GRU stream, as {@link #stream(RandomLstm)}. */
    static OnnxRuntimeRnn stream(RandomGru model) throws OrtException {
        return stream(new OnnxRuntimeRnn(model.shape(), gruNode(model, 1), model.x(), 1, true), model.x(),
                model.model());
    }

    /** Checks {@code runtime}'s sequence against {@code packed}'s on {@code x}, closing {@code packed}. */
    private static OnnxRuntimeRnn sequence(OnnxRuntimeRnn runtime, float[] x, Model packed) throws OrtException {
        Shape shape = runtime.shape;
        try (packed; Runner runner = packed.runner(shape.options())) {
            int state = shape.batch() * shape.size();
            float[] y = new float[shape.steps() * state];
            float[] hT = new float[state];
            float[] cT = shape.gru() ? null : new float[state];
            runner.forward(x, shape.steps(), shape.batch(), null, null, y, hT, cT);
            runtime.run();
            runtime.verify(y, hT, cT, "a forward over " + shape.steps() + " steps");
        } catch (OrtException | RuntimeException | Error e) {
            runtime.close();
            throw e;
        }
        return runtime;
    }

    /** Checks {@code runtime}'s stream against {@code packed}'s on {@code x}, closing {@code packed}. */
    private static OnnxRuntimeRnn stream(OnnxRuntimeRnn runtime, float[] x, Model packed) throws OrtException {
        Shape shape = runtime.shape;
        try (packed; Runner runner = packed.runner(shape.options()); State state = packed.newState(shape.batch())) {
            float[] h = new float[shape.batch() * shape.size()];
            for (int step = 0; step < VERIFIED_STREAM_STEPS; step++) {
                runner.step(x, state, h);
                runtime.run();
            }
            runtime.verify(h, state.hidden(), shape.gru() ? null : state.cell(),
                    VERIFIED_STREAM_STEPS + " carried steps");
        } catch (OrtException | RuntimeException | Error e) {
            runtime.close();
            throw e;
        }
        return runtime;
    }

    /**
     * Why ONNX Runtime cannot run in this JVM (its native library did not load, or the platform has none), or
     * empty if it can.
     */
    static Optional<String> unavailableReason() {
        return Peers.unavailableReason(OrtEnvironment::getEnvironment);
    }

    /**
     * {@code model}'s layer over {@code steps} time steps as an ONNX model: inputs {@code X [T][B][I]},
     * {@code initial_h} and {@code initial_c [1][B][H]}; the weights, in ONNX's gate order, as initializers; outputs
     * {@code Y [T][1][B][H]}, {@code Y_h} and {@code Y_c [1][B][H]}. No {@code sequence_lens} and no {@code P}: every
     * sequence runs to T, as the comparison's vlstm calls do.
     */
    private static byte[] lstmNode(RandomLstm model, int steps) {
        int size = model.shape().size();
        return OnnxRnnModel.lstm(size, size, steps, model.shape().batch())
                .weights(OnnxRnnModel.toOnnxGateOrder(model.weightIh(), 4, size, size),
                        OnnxRnnModel.toOnnxGateOrder(model.weightHh(), 4, size, size),
                        OnnxRnnModel.toOnnxBias(model.biasIh(), model.biasHh(), 4, size))
                .bytes("vlstm-bench", "vlstm-bench-" + model.shape().name());
    }

    /** A GRU's layer as {@link #lstmNode}'s, with {@code linear_before_reset = 1} and no {@code initial_c}. */
    private static byte[] gruNode(RandomGru model, int steps) {
        int size = model.shape().size();
        return OnnxRnnModel.gru(size, size, steps, model.shape().batch()).linearBeforeReset(1)
                .weights(OnnxRnnModel.toOnnxGateOrder(model.weightIh(), 3, size, size),
                        OnnxRnnModel.toOnnxGateOrder(model.weightHh(), 3, size, size),
                        OnnxRnnModel.toOnnxBias(model.biasIh(), model.biasHh(), 3, size))
                .bytes("vlstm-bench", "vlstm-bench-" + model.shape().name());
    }

    /** What runs and how, for the comparison's notes. */
    static String describe() {
        return "ONNX Runtime " + OrtEnvironment.getEnvironment().getVersion() + " (its Java package, CPU execution "
                + "provider; one intra-op and one inter-op thread, sequential execution, all graph optimisations; "
                + "an ONNX LSTM or GRU node (opset 14; GRU: linear_before_reset = 1) with the same weights as "
                + "initializers; inputs and pinned outputs over native buffers made once; step-*: Y_h (and Y_c) fed "
                + "back as the next initial_h (and initial_c)), "
                + String.format(Locale.ROOT, "checked against vlstm within a relative %.0g before timing", TOLERANCE);
    }

    /** One call: the whole sequence, or one step of the stream. */
    void run() throws OrtException {
        calls.run();
    }

    /**
     * Another stream of this runtime's model, from zero state, on the same session (ORT runs a session's calls from
     * several threads at once): the peer's way of serving many streams, one call per stream and step. Closed with this
     * runtime.
     *
     * @param x the stream's input, {@code [1][B][I]}, the same at every step
     * @return the stream; its {@link Calls#run()} advances it by one step
     */
    Calls newStream(float[] x) throws OrtException {
        if (!carry) {
            throw new IllegalStateException("a sequence runtime has no streams");
        }
        Calls stream = new Calls(x);
        streams.add(stream);
        return stream;
    }

    /** The latest call's {@code Y}, {@code [T][1][B][H]}. */
    float[] y() {
        return calls.y.toArray(ValueLayout.JAVA_FLOAT);
    }

    /** The latest call's {@code Y_h}, {@code [1][B][H]}: the state the next step of a stream starts from. */
    float[] hidden() {
        return calls.hidden[calls.latest()].toArray(ValueLayout.JAVA_FLOAT);
    }

    /** The latest call's {@code Y_c}, {@code [1][B][H]}; an LSTM's only. */
    float[] cell() {
        return calls.cell[calls.latest()].toArray(ValueLayout.JAVA_FLOAT);
    }

    /**
     * Compares this runtime's latest outputs with vlstm's ({@code expectedCell} null for a GRU), throwing if one
     * element is outside the tolerance. Silent otherwise: a forked JMH VM's output lands in the middle of the
     * comparison's table.
     */
    private void verify(float[] expectedY, float[] expectedHidden, float[] expectedCell, String what) {
        verify("Y", y(), expectedY, what);
        verify("Y_h", hidden(), expectedHidden, what);
        if (expectedCell != null) {
            verify("Y_c", cell(), expectedCell, what);
        }
    }

    private void verify(String output, float[] actual, float[] expected, String what) {
        for (int n = 0; n < expected.length; n++) {
            double error = Math.abs(actual[n] - expected[n]) / Math.max(1, Math.abs(expected[n]));
            if (!(error <= TOLERANCE)) {
                throw new IllegalStateException(String.format(Locale.ROOT, "ONNX Runtime and vlstm disagree after %s "
                                + "of %s: %s[%d] is %s from ORT and %s from vlstm (relative difference %.3g > "
                                + "tolerance %.0g); the ONNX model or a kernel is wrong, so nothing is timed", what,
                        shape.name(), output, n, actual[n], expected[n], error, TOLERANCE));
            }
        }
    }

    @Override
    public void close() {
        try {
            if (session != null) {
                session.close();
            }
        } catch (OrtException e) {
            throw new IllegalStateException("closing the ONNX Runtime session", e);
        } finally {
            streams.forEach(Calls::close);
            if (calls != null) {
                calls.close();
            }
        }
    }

    /**
     * One caller's input, outputs and carried state over native buffers made once (direct FloatBuffers, which ORT
     * uses without copying), with pinned outputs: a call allocates only the Java API's small per-call bookkeeping.
     */
    final class Calls implements AutoCloseable {

        private final Arena arena = Arena.ofShared();
        private final List<OnnxTensor> tensors = new ArrayList<>();
        private final MemorySegment y;
        private final MemorySegment[] hidden = new MemorySegment[2];
        /** An LSTM's c pair; nulls for a GRU. */
        private final MemorySegment[] cell = new MemorySegment[2];
        private final List<Map<String, OnnxTensor>> inputs = new ArrayList<>();
        private final List<Map<String, OnnxTensor>> outputs = new ArrayList<>();
        /** Which state pair the next call reads. */
        private int current;

        private Calls(float[] x) throws OrtException {
            long batch = shape.batch();
            long size = shape.size();
            long[] stateShape = {1, batch, size};
            try {
                OnnxTensor xTensor = tensor(RandomLstm.toNative(arena, x), steps, batch, size);
                y = RandomLstm.floats(arena, steps * batch * size);
                OnnxTensor yTensor = tensor(y, steps, 1, batch, size);
                OnnxTensor[] hiddenTensors = new OnnxTensor[2];
                OnnxTensor[] cellTensors = new OnnxTensor[2];
                for (int pair = 0; pair < 2; pair++) {
                    hidden[pair] = RandomLstm.floats(arena, batch * size);
                    hiddenTensors[pair] = tensor(hidden[pair], stateShape);
                    if (!shape.gru()) {
                        cell[pair] = RandomLstm.floats(arena, batch * size);
                        cellTensors[pair] = tensor(cell[pair], stateShape);
                    }
                }
                for (int pair = 0; pair < 2; pair++) {
                    inputs.add(shape.gru() ? Map.of("X", xTensor, "initial_h", hiddenTensors[pair])
                            : Map.of("X", xTensor, "initial_h", hiddenTensors[pair], "initial_c", cellTensors[pair]));
                    outputs.add(shape.gru() ? Map.of("Y", yTensor, "Y_h", hiddenTensors[1 - pair])
                            : Map.of("Y", yTensor, "Y_h", hiddenTensors[1 - pair], "Y_c", cellTensors[1 - pair]));
                }
            } catch (OrtException | RuntimeException | Error e) {
                close();
                throw e;
            }
        }

        /** One call: the whole sequence, or one step of the stream. */
        void run() throws OrtException {
            session.run(inputs.get(current), outputs.get(current)).close();
            if (carry) {
                current = 1 - current;
            }
        }

        /** The state pair the latest call wrote. */
        private int latest() {
            return carry ? current : 1;
        }

        private OnnxTensor tensor(MemorySegment segment, long... dims) throws OrtException {
            FloatBuffer buffer = segment.asByteBuffer().order(ByteOrder.nativeOrder()).asFloatBuffer();
            OnnxTensor tensor = OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), buffer, dims);
            tensors.add(tensor);
            return tensor;
        }

        @Override
        public void close() {
            tensors.forEach(OnnxTensor::close);
            tensors.clear();
            if (arena.scope().isAlive()) {
                arena.close();
            }
        }
    }
}
