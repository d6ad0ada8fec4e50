package dev.vlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;

import dev.vlstm.Cell;
import dev.vlstm.Model;
import dev.vlstm.Runner;
import dev.vlstm.WeightPrecision;
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
 * Do subnormal inputs and states slow the kernel down? The same forward with inputs of the usual size and with
 * inputs scaled into the subnormal range (|x| &lt; 1.2e-38), biases zero in both, so that in the second case the
 * gate pre-activations, c and h are subnormal too (x86 handles some subnormal operands in microcode; native
 * libraries have shown 10–20× slowdowns). Compare the two {@code magnitude} rows of one shape.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -jar bench/target/vlstm-bench.jar SubnormalBenchmark}.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
@State(Scope.Thread)
public class SubnormalBenchmark {

    /** The scale of the subnormal inputs: U(-1, 1) times this is below Float.MIN_NORMAL. */
    private static final float SUBNORMAL_SCALE = 1e-39f;

    @Param({"seq-B1-T100-H256", "train-B32-T25-H512"})
    public String shape;

    @Param({"normal", "subnormal"})
    public String magnitude;

    Shape size;
    Model model;
    Runner runner;
    Arena arena;
    MemorySegment x;
    MemorySegment y;
    MemorySegment hT;

    @Setup
    public void setUp() {
        size = Shape.named(shape);
        RandomLstm random = RandomLstm.create(size, size.steps());
        float scale = magnitude.equals("subnormal") ? SUBNORMAL_SCALE : 1f;
        float[] input = random.x().clone();
        for (int n = 0; n < input.length; n++) {
            input[n] *= scale;
        }
        model = RandomLstm.pack(Cell.LSTM, size, WeightPrecision.FLOAT32, random.weightIh(), random.weightHh(), null,
                null);
        runner = model.runner(size.options());
        arena = Arena.ofShared();
        x = RandomLstm.toNative(arena, input);
        long state = (long) size.batch() * size.size();
        y = RandomLstm.floats(arena, size.steps() * state);
        hT = RandomLstm.floats(arena, state);
        runner.forward(x, size.steps(), size.batch(), null, null, y, hT, null);
        float largest = 0;
        for (int n = 0; n < state; n++) {
            largest = Math.max(largest, Math.abs(hT.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, n)));
        }
        if (magnitude.equals("subnormal") && !(largest < Float.MIN_NORMAL && largest > 0)) {
            throw new IllegalStateException("the final h should be subnormal and not zero, but its largest |value| is "
                    + largest);
        }
    }

    @TearDown
    public void tearDown() {
        runner.close();
        model.close();
        arena.close();
    }

    @Benchmark
    public void forward(Blackhole blackhole) {
        runner.forward(x, size.steps(), size.batch(), null, null, y, hT, null);
        blackhole.consume(hT);
    }
}
