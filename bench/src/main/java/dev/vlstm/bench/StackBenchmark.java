package dev.vlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.TimeUnit;

import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
import dev.vlstm.SequenceLayout;
import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;
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
 * How long does a whole stacked bidirectional model take? {@link Runner#forward} of a {@code stack-*} shape
 * (x {@code [T][B][I]} to y {@code [T][B][D·H]}, h_n and c_n, with each sequence's length for
 * {@code stack-varlen-*}) against the double-precision {@link ReferenceStack} on the same model, PyTorch's
 * initialisation with a fixed seed, and the same input.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class StackBenchmark {

    private static final long SEED = 20_26_11_23L;

    /** The shape parameter both implementations share. */
    @State(Scope.Thread)
    public abstract static class Problem {
        @Param({"stack-L2-bi-B4-T50-H256", "stack-varlen-L2-bi-B32-T25-H256"})
        public String shape;

        Shape size;
        int[] lengths;
        Parameters parameters;
        float[] x;

        void createModel(int steps) {
            size = Shape.named(shape);
            lengths = size.lengths();
            parameters = Parameters.initialize(size.rnnShape(), SEED);
            x = RandomLstm.create(size, steps).x();
        }
    }

    public static class Vector extends Problem {
        Model model;
        Runner runner;
        Arena arena;
        MemorySegment input;
        MemorySegment y;
        MemorySegment hT;
        MemorySegment cT;

        @Setup
        public void setUp() {
            createModel(Shape.named(shape).steps());
            model = Model.pack(parameters, Options.DEFAULT);
            parameters.close();
            runner = model.runner(size.options());
            arena = Arena.ofShared();
            input = RandomLstm.toNative(arena, x);
            long state = (long) size.batch() * size.size();
            y = RandomLstm.floats(arena, size.steps() * state * size.directions());
            hT = RandomLstm.floats(arena, state * size.layers() * size.directions());
            cT = RandomLstm.floats(arena, state * size.layers() * size.directions());
        }

        @TearDown
        public void tearDown() {
            runner.close();
            model.close();
            arena.close();
        }
    }

    public static class Scalar extends Problem {
        /** Time steps the reference runs; 0 for the shape's T (the comparison's quick mode times fewer and scales). */
        @Param("0")
        public int scalarSteps;

        int steps;
        double[] input;
        ReferenceStack reference;

        @Setup
        public void setUp() {
            Shape named = Shape.named(shape);
            steps = scalarSteps == 0 ? named.steps() : scalarSteps;
            createModel(steps);
            input = new double[x.length];
            for (int n = 0; n < x.length; n++) {
                input[n] = x[n];
            }
            RnnShape stack = parameters.shape();
            int directions = stack.direction().count();
            ReferenceLstm[] cells = new ReferenceLstm[stack.stateCount()];
            for (int n = 0; n < cells.length; n++) {
                int layer = n / directions;
                int direction = n % directions;
                cells[n] = new ReferenceLstm(stack.layerInputSize(layer), stack.hiddenSize(),
                        floats(stack, "weight_ih", layer, direction), floats(stack, "weight_hh", layer, direction),
                        floats(stack, "bias_ih", layer, direction), floats(stack, "bias_hh", layer, direction));
            }
            reference = new ReferenceStack(directions == 2, cells);
            parameters.close();
        }

        private float[] floats(RnnShape stack, String tensor, int layer, int direction) {
            return parameters.tensor(stack.tensorName(tensor, layer, direction)).toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    @Benchmark
    public void vector(Vector state, Blackhole blackhole) {
        if (state.lengths == null) {
            state.runner.forward(state.input, state.size.steps(), state.size.batch(), null, null, state.y, state.hT,
                    state.cT);
        } else {
            state.runner.forward(state.input, SequenceLayout.TIME_MAJOR, state.size.steps(), state.size.batch(),
                    state.lengths, null, null, state.y, state.hT, state.cT);
        }
        blackhole.consume(state.hT);
    }

    @Benchmark
    public void scalar(Scalar state, Blackhole blackhole) {
        blackhole.consume(state.reference.forward(state.input, state.steps, state.size.batch(), state.lengths, null,
                null, null));
    }
}
