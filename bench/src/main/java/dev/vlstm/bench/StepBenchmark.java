package dev.vlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import ai.onnxruntime.OrtException;
import dev.vlstm.Model;
import dev.vlstm.Runner;
import dev.vlstm.reference.ReferenceLstm;
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
 * How long does one step of a stream take, the latency a per-request service sees? {@link Runner#step} of a
 * one-layer {@link Model} with a carried {@link dev.vlstm.State}, against {@link ReferenceLstm} run for one step from
 * carried h and c, against ONNX Runtime's LSTM node run for one step with Y_h and Y_c fed back as the next
 * initial state ({@link OnnxRuntimeRnn}), and against oneDNN's LSTM primitive run for one step with dst_iter fed
 * back as the next src_iter ({@link OneDnnRnn}).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector",
        "--enable-native-access=ALL-UNNAMED" /* ONNX Runtime loads its native library, oneDNN's is bound by FFM */,
        "--sun-misc-unsafe-memory-access=allow" /* protobuf-java, which writes its model, uses sun.misc.Unsafe */})
public class StepBenchmark {

    /** The shape parameter both implementations share. */
    @State(Scope.Thread)
    public abstract static class Problem {
        @Param({"step-H256", "step-H256-bf16", "step-H256-int8", "step-H512", "step-H1024", "step-H1024-bf16",
                "step-H1024-int8"})
        public String shape;
    }

    public static class Vector extends Problem {
        Model model;
        Runner runner;
        dev.vlstm.State stream;
        Arena arena;
        MemorySegment x;
        MemorySegment h;
        final InjectedSlowdown slowdown = new InjectedSlowdown();

        @Setup
        public void setUp() {
            Shape size = Shape.named(shape);
            RandomLstm random = RandomLstm.create(size, 1);
            model = random.model();
            runner = model.runner(size.options());
            stream = model.newState(size.batch());
            arena = Arena.ofShared();
            x = RandomLstm.toNative(arena, random.x());
            h = RandomLstm.floats(arena, (long) size.batch() * size.size());
        }

        void call() {
            runner.step(x, stream, h);
        }

        @TearDown
        public void tearDown() {
            stream.close();
            runner.close();
            model.close();
            arena.close();
        }
    }

    public static class Scalar extends Problem {
        int batch;
        float[] x;
        float[] h;
        float[] c;
        ReferenceLstm reference;

        @Setup
        public void setUp() {
            Shape size = Shape.named(shape);
            RandomLstm model = RandomLstm.create(size, 1);
            batch = size.batch();
            x = model.x();
            h = new float[batch * size.size()];
            c = new float[batch * size.size()];
            reference = model.reference();
        }

        /** Carries the step's double-precision h and c into the float state the next step starts from. */
        void carry(ReferenceLstm.Result result) {
            for (int n = 0; n < h.length; n++) {
                h[n] = (float) result.hT()[n];
                c[n] = (float) result.cT()[n];
            }
        }
    }

    /** ONNX Runtime on the same model and input, checked against vlstm before it is timed. */
    public static class Onnx extends Problem {
        OnnxRuntimeRnn runtime;

        @Setup
        public void setUp() throws OrtException {
            Shape size = Shape.named(shape);
            runtime = OnnxRuntimeRnn.stream(RandomLstm.create(size, 1));
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
            rnn = OneDnnRnn.stream(RandomLstm.create(Shape.named(shape), 1));
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
        blackhole.consume(state.h);
    }

    @Benchmark
    public void scalar(Scalar state, Blackhole blackhole) {
        ReferenceLstm.Result result = state.reference.forward(state.x, 1, state.batch, state.h, state.c);
        state.carry(result);
        blackhole.consume(result);
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
