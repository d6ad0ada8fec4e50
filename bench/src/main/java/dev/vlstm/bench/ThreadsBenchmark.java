package dev.vlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import dev.vlstm.Cell;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
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
 * How does a forward scale with threads? The same call on a runner of 1 and of 2 threads
 * ({@link Options#withThreads}) of a one-layer LSTM {@link Model}: {@link dev.vlstm.Runner#forward} over a whole
 * {@code [T][B][I]} sequence for the {@code seq-*} and {@code train-*} shapes, one {@link dev.vlstm.Runner#step} of a
 * stream for {@code step-*}. The ratio of the two rows of a shape is the speed-up; the machine's cores bound it (two
 * on the machine this was written on). Also a whole stacked model (whose layers and directions share one set of
 * threads) and a one-layer GRU, each over a whole sequence.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class ThreadsBenchmark {

    /** Seed of the stacked model's and the GRU's initialisation. */
    private static final long SEED = 20_26_11_24L;

    @State(Scope.Thread)
    public static class Runner {
        @Param({"train-B32-T25-H512", "train-B64-T25-H1024", "seq-B1-T50-H1024", "step-H1024", "step-H256"})
        public String shape;

        @Param({"1", "2"})
        public int threads;

        Shape size;
        Model model;
        dev.vlstm.Runner runner;
        dev.vlstm.State stream;
        Arena arena;
        MemorySegment x;
        MemorySegment y;
        MemorySegment hT;
        MemorySegment cT;

        @Setup
        public void setUp() {
            size = Shape.named(shape);
            RandomLstm random = RandomLstm.create(size, size.steps());
            model = random.model();
            runner = model.runner(size.options().withThreads(threads));
            stream = model.newState(size.batch());
            arena = Arena.ofShared();
            x = RandomLstm.toNative(arena, random.x());
            long state = (long) size.batch() * size.size();
            y = RandomLstm.floats(arena, size.steps() * state);
            hT = RandomLstm.floats(arena, state);
            cT = RandomLstm.floats(arena, state);
        }

        @TearDown
        public void tearDown() {
            stream.close();
            runner.close();
            model.close();
            arena.close();
        }
    }

    /** A 2-layer bidirectional LSTM ({@code stack-*} shapes), I = H. */
    @State(Scope.Thread)
    public static class Stack {
        @Param("stack-L2-bi-B4-T50-H256")
        public String shape;

        @Param({"1", "2"})
        public int threads;

        Shape size;
        Model model;
        dev.vlstm.Runner runner;
        Arena arena;
        MemorySegment x;
        MemorySegment y;
        MemorySegment hT;
        MemorySegment cT;

        @Setup
        public void setUp() {
            size = Shape.named(shape);
            RnnShape stackShape = size.rnnShape();
            try (Parameters parameters = Parameters.initialize(stackShape, SEED)) {
                model = Model.pack(parameters, Options.DEFAULT);
            }
            runner = model.runner(size.options().withThreads(threads));
            arena = Arena.ofShared();
            x = RandomLstm.toNative(arena, RandomLstm.create(size, size.steps()).x());
            long state = (long) size.batch() * size.size();
            y = RandomLstm.floats(arena, size.steps() * state * size.directions());
            hT = RandomLstm.floats(arena, stackShape.stateCount() * state);
            cT = RandomLstm.floats(arena, stackShape.stateCount() * state);
        }

        @TearDown
        public void tearDown() {
            runner.close();
            model.close();
            arena.close();
        }
    }

    /** A one-layer GRU on an LSTM shape's sizes (B, T, I = H). */
    @State(Scope.Thread)
    public static class Gru {
        @Param({"train-B32-T25-H512", "seq-B1-T50-H1024"})
        public String shape;

        @Param({"1", "2"})
        public int threads;

        Shape size;
        Model model;
        dev.vlstm.Runner runner;
        Arena arena;
        MemorySegment x;
        MemorySegment y;
        MemorySegment hT;

        @Setup
        public void setUp() {
            size = Shape.named(shape);
            try (Parameters parameters = Parameters.initialize(RnnShape.of(Cell.GRU, size.size(), size.size()), SEED)) {
                model = Model.pack(parameters, Options.DEFAULT);
            }
            runner = model.runner(size.options().withThreads(threads));
            arena = Arena.ofShared();
            x = RandomLstm.toNative(arena, RandomLstm.create(size, size.steps()).x());
            long state = (long) size.batch() * size.size();
            y = RandomLstm.floats(arena, size.steps() * state);
            hT = RandomLstm.floats(arena, state);
        }

        @TearDown
        public void tearDown() {
            runner.close();
            model.close();
            arena.close();
        }
    }

    @Benchmark
    public void forward(Runner state, Blackhole blackhole) {
        if (state.size.streaming()) {
            state.runner.step(state.x, state.stream, state.hT);
        } else {
            state.runner.forward(state.x, state.size.steps(), state.size.batch(), null, null, state.y, state.hT,
                    state.cT);
        }
        blackhole.consume(state.hT);
    }

    @Benchmark
    public void stackForward(Stack state, Blackhole blackhole) {
        state.runner.forward(state.x, state.size.steps(), state.size.batch(), null, null, state.y, state.hT, state.cT);
        blackhole.consume(state.hT);
    }

    @Benchmark
    public void gruForward(Gru state, Blackhole blackhole) {
        state.runner.forward(state.x, state.size.steps(), state.size.batch(), null, null, state.y, state.hT, null);
        blackhole.consume(state.hT);
    }
}
