package dev.vlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import dev.vlstm.Cell;
import dev.vlstm.Direction;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
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
 * What does a stacked bidirectional forward cost beyond its layers? {@link Runner#forward} of a 2-layer
 * bidirectional model (x {@code [T][B][I]} to y {@code [T][B][2H]}, h_n and c_n) against the four
 * {@link Runner#forward} calls of one-layer models of its layers' and directions' weights on inputs made in advance:
 * the difference is the stack's copies (time reversal, joining the directions' rows, states). I = H.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class StackForwardBenchmark {

    private static final int LAYERS = 2;
    private static final long SEED = 20_26_11_23L;

    @State(Scope.Thread)
    public static class Model {
        @Param("4")
        public int batch;
        @Param("50")
        public int steps;
        @Param("256")
        public int size;

        dev.vlstm.Model model;
        Runner stack;
        /** One-layer models of each layer's and direction's weights, and their runners. */
        dev.vlstm.Model[] partModels;
        Runner[] parts;
        Arena arena;
        MemorySegment x;
        MemorySegment y;
        MemorySegment hT;
        MemorySegment cT;
        /** Each part's own input, output and final states, for the four separate calls. */
        MemorySegment[] partInputs;
        MemorySegment[] partOutputs;
        MemorySegment[] partHidden;
        MemorySegment[] partCells;

        @Setup
        public void setUp() {
            RnnShape shape = new RnnShape(Cell.LSTM, size, size, LAYERS, Direction.BIDIRECTIONAL, 0, false);
            Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps);
            partModels = new dev.vlstm.Model[shape.stateCount()];
            try (Parameters parameters = Parameters.initialize(shape, SEED)) {
                model = dev.vlstm.Model.pack(parameters, options);
                for (int n = 0; n < partModels.length; n++) {
                    partModels[n] = part(parameters, n / 2, n % 2, options);
                }
            }
            stack = model.runner(options);
            arena = Arena.ofShared();
            SplittableRandom random = new SplittableRandom(SEED);
            x = uniform(arena, random, (long) steps * batch * size);
            long state = (long) batch * size;
            y = RandomLstm.floats(arena, steps * state * 2);
            hT = RandomLstm.floats(arena, shape.stateCount() * state);
            cT = RandomLstm.floats(arena, shape.stateCount() * state);
            MemorySegment upperInput = uniform(arena, random, steps * state * 2);
            parts = new Runner[shape.stateCount()];
            partInputs = new MemorySegment[parts.length];
            partOutputs = new MemorySegment[parts.length];
            partHidden = new MemorySegment[parts.length];
            partCells = new MemorySegment[parts.length];
            for (int n = 0; n < parts.length; n++) {
                parts[n] = partModels[n].runner(options);
                partInputs[n] = n < 2 ? x : upperInput;
                partOutputs[n] = RandomLstm.floats(arena, steps * state);
                partHidden[n] = RandomLstm.floats(arena, state);
                partCells[n] = RandomLstm.floats(arena, state);
            }
        }

        /** A one-layer model of the weights of {@code (layer, direction)} of {@code parameters}. */
        private static dev.vlstm.Model part(Parameters parameters, int layer, int direction, Options options) {
            RnnShape shape = parameters.shape();
            float[][] flatWeights = new float[4][];
            String[] tensors = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
            for (int n = 0; n < tensors.length; n++) {
                flatWeights[n] = parameters.tensor(shape.tensorName(tensors[n], layer, direction))
                        .toArray(ValueLayout.JAVA_FLOAT);
            }
            try (Parameters part = Parameters.fromPyTorch(
                    RnnShape.of(Cell.LSTM, shape.layerInputSize(layer), shape.hiddenSize()), flatWeights)) {
                return dev.vlstm.Model.pack(part, options);
            }
        }

        private static MemorySegment uniform(Arena arena, SplittableRandom random, long count) {
            MemorySegment segment = RandomLstm.floats(arena, count);
            for (long n = 0; n < count; n++) {
                segment.setAtIndex(ValueLayout.JAVA_FLOAT, n, (float) random.nextDouble(-1, 1));
            }
            return segment;
        }

        @TearDown
        public void tearDown() {
            for (int n = 0; n < parts.length; n++) {
                parts[n].close();
                partModels[n].close();
            }
            stack.close();
            model.close();
            arena.close();
        }
    }

    @Benchmark
    public void stack(Model model, Blackhole blackhole) {
        model.stack.forward(model.x, model.steps, model.batch, null, null, model.y, model.hT, model.cT);
        blackhole.consume(model.hT);
    }

    @Benchmark
    public void layersAlone(Model model, Blackhole blackhole) {
        for (int n = 0; n < model.parts.length; n++) {
            model.parts[n].forward(model.partInputs[n], model.steps, model.batch, null, null, model.partOutputs[n],
                    model.partHidden[n], model.partCells[n]);
        }
        blackhole.consume(model.partHidden[model.parts.length - 1]);
    }
}
