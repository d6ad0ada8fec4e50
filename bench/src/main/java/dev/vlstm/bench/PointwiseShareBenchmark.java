package dev.vlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

import dev.vlstm.kernel.GateLayout;
import dev.vlstm.kernel.Family;
import dev.vlstm.kernel.Kernels;
import dev.vlstm.kernel.Packing;
import dev.vlstm.kernel.Postgemm;
import dev.vlstm.kernel.StepCall;
import dev.vlstm.kernel.WeightFormat;
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
 * What share of a recurrent step is its pointwise part (the four activations and the cell update, oneDNN's
 * "postgemm")? The preferred family's fused step ({@link dev.vlstm.kernel.PackedGemm#step}) for B rows of the
 * shape, once over the recurrent depth H ({@code wholeStep}: {@code h·Uᵀ} in register tiles, then the pointwise part on the tiles' gate
 * rows) and once over depth 0 ({@code pointwiseOnly}: the same tiles and the same pointwise part with no
 * multiply-adds). Their ratio is the pointwise share. h_prev is zero, so that the pre-activations z, which a step
 * writes over its input pre-activations, stay the same from call to call; the multiply-adds run all the same.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class PointwiseShareBenchmark {

    private static final long SEED = 20_26_11_24L;

    @State(Scope.Thread)
    public static class Step {
        @Param({"step-H256", "step-H1024", "train-B32-T25-H512", "train-B64-T25-H1024"})
        public String shape;

        Family family;
        final StepCall call = new StepCall();
        GateLayout layout;
        int batch;
        Arena arena;
        MemorySegment packedRecurrent;
        MemorySegment inputGates;
        MemorySegment gates;
        MemorySegment hPrev;
        MemorySegment c;
        MemorySegment hNext;

        @Setup
        public void setUp() {
            Shape size = Shape.named(shape);
            family = Kernels.preferred();
            int hidden = size.size();
            layout = GateLayout.lstm(hidden, hidden, family.lanes());
            batch = size.batch();
            arena = Arena.ofShared();
            SplittableRandom random = new SplittableRandom(SEED);
            float bound = (float) (1 / Math.sqrt(hidden));
            MemorySegment weightHh = uniform(random, 4L * hidden * hidden, bound);
            packedRecurrent = RandomLstm.floats(arena, layout.packedFloats(hidden));
            Packing.gates(layout, WeightFormat.FLOAT32, "weightHh", weightHh, hidden, packedRecurrent);
            long gateRows = (long) batch * layout.gateRowFloats();
            long stateRows = (long) batch * layout.paddedHidden();
            inputGates = uniform(random, gateRows, 1f);
            gates = RandomLstm.floats(arena, gateRows);
            hPrev = RandomLstm.floats(arena, stateRows);
            c = uniform(random, stateRows, 1f);
            hNext = RandomLstm.floats(arena, stateRows);
        }

        private MemorySegment uniform(SplittableRandom random, long count, float bound) {
            MemorySegment segment = RandomLstm.floats(arena, count);
            for (long n = 0; n < count; n++) {
                segment.setAtIndex(ValueLayout.JAVA_FLOAT, n, (float) random.nextDouble(-bound, bound));
            }
            return segment;
        }

        void run(int depth) {
            family.gemm().step(call.set(WeightFormat.FLOAT32, layout, packedRecurrent, depth, Postgemm.LSTM,
                    Float.POSITIVE_INFINITY, null, inputGates, 0, gates, 0, hPrev,
                    (long) layout.paddedHidden() * Float.BYTES, c, hNext, batch), 0, layout.blocks());
        }

        @TearDown
        public void tearDown() {
            arena.close();
        }
    }

    @Benchmark
    public void wholeStep(Step step, Blackhole blackhole) {
        step.run(step.layout.hiddenSize());
        blackhole.consume(step.hNext);
    }

    @Benchmark
    public void pointwiseOnly(Step step, Blackhole blackhole) {
        step.run(0);
        blackhole.consume(step.hNext);
    }
}
