package dev.vlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
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

/**
 * How fast can one core stream floats in from where a batch-1 LSTM step's weights live? Reads a native buffer
 * of {@link #kibibytes} front to back with vector loads into several independent sums, the access pattern of
 * the packed weights. A buffer well inside the core's L2 measures L2, one of a few MiB the shared L3, and one
 * much larger than every cache DRAM.
 *
 * <p>One call reads the whole buffer once; GB/s = its bytes ÷ the call's time.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
@State(Scope.Thread)
public class BandwidthBenchmark {

    private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
    private static final long VECTOR_BYTES = SPECIES.vectorByteSize();
    /** Independent sums, so that the add latency never limits the loads. */
    private static final int SUMS = 8;

    /** Buffer size in KiB: 512 (L2), 8192 (L3), 524288 (DRAM) by default; any multiple of 4 works. */
    @Param({"512", "8192", "524288"})
    public int kibibytes;

    Arena arena;
    MemorySegment buffer;

    @Setup
    public void setUp() {
        arena = Arena.ofShared();
        buffer = arena.allocate(bytes(kibibytes), 4096);
        buffer.fill((byte) 1);
    }

    @TearDown
    public void tearDown() {
        arena.close();
    }

    static long bytes(int kibibytes) {
        return (long) kibibytes << 10;
    }

    @Benchmark
    public float read() {
        MemorySegment data = buffer;
        FloatVector sum0 = FloatVector.zero(SPECIES);
        FloatVector sum1 = FloatVector.zero(SPECIES);
        FloatVector sum2 = FloatVector.zero(SPECIES);
        FloatVector sum3 = FloatVector.zero(SPECIES);
        FloatVector sum4 = FloatVector.zero(SPECIES);
        FloatVector sum5 = FloatVector.zero(SPECIES);
        FloatVector sum6 = FloatVector.zero(SPECIES);
        FloatVector sum7 = FloatVector.zero(SPECIES);
        int vectors = (int) (data.byteSize() / VECTOR_BYTES);
        int bound = vectors - vectors % SUMS;
        ByteOrder order = ByteOrder.nativeOrder();
        for (int vector = 0; vector < bound; vector += SUMS) {
            long offset = (long) vector * VECTOR_BYTES;
            sum0 = sum0.add(FloatVector.fromMemorySegment(SPECIES, data, offset, order));
            sum1 = sum1.add(FloatVector.fromMemorySegment(SPECIES, data, offset + VECTOR_BYTES, order));
            sum2 = sum2.add(FloatVector.fromMemorySegment(SPECIES, data, offset + 2 * VECTOR_BYTES, order));
            sum3 = sum3.add(FloatVector.fromMemorySegment(SPECIES, data, offset + 3 * VECTOR_BYTES, order));
            sum4 = sum4.add(FloatVector.fromMemorySegment(SPECIES, data, offset + 4 * VECTOR_BYTES, order));
            sum5 = sum5.add(FloatVector.fromMemorySegment(SPECIES, data, offset + 5 * VECTOR_BYTES, order));
            sum6 = sum6.add(FloatVector.fromMemorySegment(SPECIES, data, offset + 6 * VECTOR_BYTES, order));
            sum7 = sum7.add(FloatVector.fromMemorySegment(SPECIES, data, offset + 7 * VECTOR_BYTES, order));
        }
        return sum0.add(sum1).add(sum2).add(sum3).add(sum4).add(sum5).add(sum6).add(sum7)
                .reduceLanes(VectorOperators.ADD);
    }
}
