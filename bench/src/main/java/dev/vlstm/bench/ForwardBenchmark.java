package dev.vlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import ai.onnxruntime.OrtException;
import dev.vlstm.Model;
import dev.vlstm.Runner;
import dev.vlstm.SequenceLayout;
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
 * How long does a whole sequence take? {@link Runner#forward} of a one-layer {@link Model} over a
 * {@code [T][B][I]} native input, writing y, hT and cT, against the double-precision {@link ReferenceLstm} on the
 * same random model; {@code varlen-*} shapes pass each sequence's length ({@link Shape#lengths()}) to both.
 * Each implementation has its own state, so a run builds only what it measures; {@code onnxruntime} is ONNX
 * Runtime's LSTM node on the same weights and input ({@link OnnxRuntimeRnn}), {@code onednn} oneDNN's LSTM
 * primitive in forward_inference ({@link OneDnnRnn}), which refuses the {@code varlen-*} shapes (it runs every
 * sequence for T steps).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector",
        "--enable-native-access=ALL-UNNAMED" /* ONNX Runtime loads its native library, oneDNN's is bound by FFM */,
        "--sun-misc-unsafe-memory-access=allow" /* protobuf-java, which writes its model, uses sun.misc.Unsafe */})
public class ForwardBenchmark {

    /** The shape parameter both implementations share. */
    @State(Scope.Thread)
    public abstract static class Problem {
        @Param({"seq-B1-T100-H256", "seq-B1-T50-H1024", "seq-B1-T50-H1024-bf16", "seq-B1-T50-H1024-int8",
                "seq-B4-T50-H1536", "train-B32-T25-H512", "train-B64-T25-H1024", "varlen-B32-T25-H512"})
        public String shape;
    }

    public static class Vector extends Problem {
        Shape size;
        int[] lengths;
        Model model;
        Runner runner;
        Arena arena;
        MemorySegment x;
        MemorySegment y;
        MemorySegment hT;
        MemorySegment cT;
        final InjectedSlowdown slowdown = new InjectedSlowdown();

        @Setup
        public void setUp() {
            size = Shape.named(shape);
            lengths = size.lengths();
            RandomLstm random = RandomLstm.create(size, size.steps());
            model = random.model();
            runner = model.runner(size.options());
            arena = Arena.ofShared();
            x = RandomLstm.toNative(arena, random.x());
            long state = (long) size.batch() * size.size();
            y = RandomLstm.floats(arena, size.steps() * state);
            hT = RandomLstm.floats(arena, state);
            cT = RandomLstm.floats(arena, state);
        }

        void call() {
            if (lengths == null) {
                runner.forward(x, size.steps(), size.batch(), null, null, y, hT, cT);
            } else {
                runner.forward(x, SequenceLayout.TIME_MAJOR, size.steps(), size.batch(), lengths, null, null, y, hT,
                        cT);
            }
        }

        @TearDown
        public void tearDown() {
            runner.close();
            model.close();
            arena.close();
        }
    }

    public static class Scalar extends Problem {
        /**
         * Time steps the reference runs; 0 for the shape's T. Only the comparison's quick mode sets it, to time a
         * slow shape over fewer steps and scale (the reference's cost is linear in T).
         */
        @Param("0")
        public int scalarSteps;

        int steps;
        int batch;
        int[] lengths;
        float[] x;
        ReferenceLstm reference;

        @Setup
        public void setUp() {
            Shape size = Shape.named(shape);
            steps = scalarSteps == 0 ? size.steps() : scalarSteps;
            batch = size.batch();
            lengths = size.lengths();
            RandomLstm model = RandomLstm.create(size, steps);
            x = model.x();
            reference = model.reference();
        }
    }

    /** ONNX Runtime on the same model and input, checked against vlstm before it is timed. */
    public static class Onnx extends Problem {
        OnnxRuntimeRnn runtime;

        @Setup
        public void setUp() throws OrtException {
            Shape size = Shape.named(shape);
            runtime = OnnxRuntimeRnn.sequence(RandomLstm.create(size, size.steps()));
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
            rnn = OneDnnRnn.sequence(RandomLstm.create(size, size.steps()));
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
        blackhole.consume(state.lengths == null ? state.reference.forward(state.x, state.steps, state.batch, null, null)
                : state.reference.forward(state.x, state.steps, state.batch, state.lengths, null, null));
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
