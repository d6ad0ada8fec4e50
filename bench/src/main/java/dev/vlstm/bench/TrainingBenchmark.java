package dev.vlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import dev.vlstm.GradientMode;
import dev.vlstm.Gradients;
import dev.vlstm.Model;
import dev.vlstm.Trainer;
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
 * How long does a training step take? {@link Trainer#forward} then {@link Trainer#backward} (every
 * gradient: weights, biases, x, h0, c0) against the double-precision {@link ReferenceLstm#backward}, which runs
 * its own forward first, and against oneDNN's LSTM primitives, forward_training then backward, on the same model,
 * input and dL/dy ({@link OneDnnRnn}).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector",
        "--enable-native-access=ALL-UNNAMED" /* oneDNN's functions are bound by FFM */})
public class TrainingBenchmark {

    /** The shape parameter both implementations share. */
    @State(Scope.Thread)
    public abstract static class Problem {
        @Param({"bptt-seq-B1-T100-H256", "bptt-seq-B4-T50-H1536", "bptt-train-B32-T25-H512",
                "bptt-train-B64-T25-H1024"})
        public String shape;
    }

    public static class Vector extends Problem {
        Shape size;
        Model model;
        Trainer trainer;
        Gradients gradients;
        Arena arena;
        MemorySegment x;
        MemorySegment y;
        MemorySegment dy;
        MemorySegment dx;
        MemorySegment dh0;
        MemorySegment dc0;
        final InjectedSlowdown slowdown = new InjectedSlowdown();

        @Setup
        public void setUp() {
            size = Shape.named(shape);
            RandomLstm random = RandomLstm.create(size, size.steps());
            model = random.model();
            trainer = model.trainer(size.options());
            gradients = new Gradients(model.shape());
            arena = Arena.ofShared();
            x = RandomLstm.toNative(arena, random.x());
            long state = (long) size.batch() * size.size();
            y = RandomLstm.floats(arena, size.steps() * state);
            dy = RandomLstm.toNative(arena, random.x());
            dx = RandomLstm.floats(arena, x.byteSize() / Float.BYTES);
            dh0 = RandomLstm.floats(arena, state);
            dc0 = RandomLstm.floats(arena, state);
        }

        void call() {
            trainer.forward(x, size.steps(), size.batch(), null, null, y, null, null);
            trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
        }

        @TearDown
        public void tearDown() {
            gradients.close();
            trainer.close();
            model.close();
            arena.close();
        }
    }

    public static class Scalar extends Problem {
        /** Time steps the reference runs; 0 for the shape's T (see ForwardBenchmark.Scalar). */
        @Param("0")
        public int scalarSteps;

        int steps;
        int batch;
        double[] x;
        double[] dy;
        ReferenceLstm reference;

        @Setup
        public void setUp() {
            Shape size = Shape.named(shape);
            steps = scalarSteps == 0 ? size.steps() : scalarSteps;
            batch = size.batch();
            RandomLstm model = RandomLstm.create(size, steps);
            x = new double[model.x().length];
            for (int n = 0; n < x.length; n++) {
                x[n] = model.x()[n];
            }
            dy = x.clone();
            reference = model.reference();
        }
    }

    /** oneDNN on the same model, input and dL/dy, checked against vlstm before it is timed. */
    public static class Dnnl extends Problem {
        OneDnnRnn rnn;

        @Setup
        public void setUp() {
            Shape size = Shape.named(shape);
            rnn = OneDnnRnn.training(RandomLstm.create(size, size.steps()));
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
        blackhole.consume(state.gradients);
    }

    @Benchmark
    public void scalar(Scalar state, Blackhole blackhole) {
        blackhole.consume(state.reference.backward(state.x, state.steps, state.batch, null, null, state.dy, null, null));
    }

    @Benchmark
    public void onednn(Dnnl state, Blackhole blackhole) {
        state.rnn.run();
        blackhole.consume(state.rnn);
    }
}
