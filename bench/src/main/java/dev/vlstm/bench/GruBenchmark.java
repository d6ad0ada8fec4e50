package dev.vlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import ai.onnxruntime.OrtException;
import dev.vlstm.GradientMode;
import dev.vlstm.Gradients;
import dev.vlstm.Model;
import dev.vlstm.Runner;
import dev.vlstm.Trainer;
import dev.vlstm.reference.ReferenceGru;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * The GRU's kernel paths, one per {@link Shape#GRU} shape, through a one-layer GRU {@link Model}: a stream step
 * ({@link Runner#step} with a carried {@link dev.vlstm.State}), a sequence ({@link Runner#forward}, writing y and
 * hT), and a training step ({@link Trainer#forward} then {@link Trainer#backward}: every gradient, dx and dh0), as
 * {@link StepBenchmark}, {@link ForwardBenchmark} and {@link TrainingBenchmark} time the LSTM's; each against the
 * double-precision {@link ReferenceGru} on the same random model, against oneDNN's {@code lbr_gru} primitive
 * ({@link OneDnnRnn}: forward_inference, or forward_training then backward), and the step and the sequence
 * against ONNX Runtime's GRU node ({@link OnnxRuntimeRnn}).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector",
        "--enable-native-access=ALL-UNNAMED" /* ONNX Runtime loads its native library, oneDNN's is bound by FFM */,
        "--sun-misc-unsafe-memory-access=allow" /* protobuf-java, which writes its model, uses sun.misc.Unsafe */})
public class GruBenchmark {

    /** The shape parameter both implementations share. */
    @State(Scope.Thread)
    public abstract static class Problem {
        @Param({"gru-step-H256", "gru-seq-B1-T100-H256", "gru-bptt-train-B32-T25-H512"})
        public String shape;
    }

    public static class Vector extends Problem {
        Shape size;
        Model model;
        /** The runner of a step or sequence shape, null for training. */
        Runner runner;
        /** The stream of a step shape, null otherwise. */
        dev.vlstm.State stream;
        /** The trainer and its gradients of a training shape, null otherwise. */
        Trainer trainer;
        Gradients gradients;
        Arena arena;
        MemorySegment x;
        MemorySegment y;
        MemorySegment hT;
        MemorySegment dy;
        MemorySegment dx;
        MemorySegment dh0;
        final InjectedSlowdown slowdown = new InjectedSlowdown();

        @Setup
        public void setUp() {
            size = Shape.named(shape);
            RandomGru random = RandomGru.create(size, size.steps());
            model = random.model();
            arena = Arena.ofShared();
            x = RandomLstm.toNative(arena, random.x());
            long state = (long) size.batch() * size.size();
            y = RandomLstm.floats(arena, size.steps() * state);
            hT = RandomLstm.floats(arena, state);
            if (size.training()) {
                trainer = model.trainer(size.options());
                gradients = new Gradients(model.shape());
                dy = RandomLstm.toNative(arena, random.x());
                dx = RandomLstm.floats(arena, x.byteSize() / Float.BYTES);
                dh0 = RandomLstm.floats(arena, state);
            } else {
                runner = model.runner(size.options());
                stream = size.streaming() ? model.newState(size.batch()) : null;
            }
        }

        void call() {
            if (stream != null) {
                runner.step(x, stream, hT);
            } else if (trainer != null) {
                trainer.forward(x, size.steps(), size.batch(), null, null, y, null, null);
                trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, dx, dh0, null);
            } else {
                runner.forward(x, size.steps(), size.batch(), null, null, y, hT, null);
            }
        }

        @TearDown
        public void tearDown() {
            if (trainer != null) {
                gradients.close();
                trainer.close();
            } else {
                if (stream != null) {
                    stream.close();
                }
                runner.close();
            }
            model.close();
            arena.close();
        }
    }

    public static class Scalar extends Problem {
        /** Time steps the reference runs; 0 for the shape's T (see ForwardBenchmark.Scalar). */
        @Param("0")
        public int scalarSteps;

        Shape size;
        int steps;
        float[] x;
        /** The carried state of a step shape: each call starts from the last one's h. */
        float[] h;
        double[] trainingX;
        ReferenceGru reference;

        @Setup
        public void setUp() {
            size = Shape.named(shape);
            steps = scalarSteps == 0 ? size.steps() : scalarSteps;
            RandomGru model = RandomGru.create(size, steps);
            x = model.x();
            h = new float[size.batch() * size.size()];
            trainingX = new double[x.length];
            for (int n = 0; n < x.length; n++) {
                trainingX[n] = x[n];
            }
            reference = model.reference();
        }

        Object call() {
            if (size.training()) {
                return reference.backward(trainingX, steps, size.batch(), null, trainingX, null);
            }
            ReferenceGru.Result result = reference.forward(x, steps, size.batch(), size.streaming() ? h : null);
            if (size.streaming()) {
                for (int n = 0; n < h.length; n++) {
                    h[n] = (float) result.hT()[n];
                }
            }
            return result;
        }
    }

    /** ONNX Runtime on the same model and input, checked against vlstm before it is timed; inference shapes only. */
    public static class Onnx extends Problem {
        OnnxRuntimeRnn runtime;

        @Setup
        public void setUp() throws OrtException {
            Shape size = Shape.named(shape);
            if (size.training()) {
                throw new IllegalArgumentException("ONNX Runtime's Java package does not train, so it cannot run "
                        + shape);
            }
            runtime = size.streaming() ? OnnxRuntimeRnn.stream(RandomGru.create(size, 1))
                    : OnnxRuntimeRnn.sequence(RandomGru.create(size, size.steps()));
        }

        @TearDown
        public void tearDown() {
            runtime.close();
        }
    }

    /** oneDNN on the same model and input, checked against vlstm before it is timed. */
    public static class Dnnl extends Problem {
        OneDnnRnn rnn;

        @Setup
        public void setUp() {
            Shape size = Shape.named(shape);
            rnn = size.streaming() ? OneDnnRnn.stream(RandomGru.create(size, 1))
                    : size.training() ? OneDnnRnn.training(RandomGru.create(size, size.steps()))
                    : OneDnnRnn.sequence(RandomGru.create(size, size.steps()));
        }

        @TearDown
        public void tearDown() {
            rnn.close();
        }
    }

    @Benchmark
    public void vector(Vector state, Blackhole blackhole) {
        state.call();
        if (state.slowdown.repeat()) {
            state.call();
        }
        blackhole.consume(state.hT);
    }

    @Benchmark
    public void scalar(Scalar state, Blackhole blackhole) {
        blackhole.consume(state.call());
    }

    @Benchmark
    public void onnxruntime(Onnx state, Blackhole blackhole) throws OrtException {
        state.runtime.run();
        blackhole.consume(state.runtime);
    }

    @Benchmark
    public void onednn(Dnnl state, Blackhole blackhole) {
        state.rnn.run();
        blackhole.consume(state.rnn);
    }
}
