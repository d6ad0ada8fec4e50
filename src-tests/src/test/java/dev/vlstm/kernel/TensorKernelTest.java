package dev.vlstm.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import java.util.function.Consumer;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The preferred kernel's elementwise tensor operations against plain Java written from the formulas: the same
 * float operations in the same order per element, so the results must be identical bit for bit (sums of squares:
 * within 1e-12 of a double sum). Counts that do not fill whole vectors exercise the scalar tails.
 */
class TensorKernelTest {

    private static final TensorKernel KERNEL = Kernels.preferred().tensors();
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT;

    @ParameterizedTest(name = "count={0}")
    @ValueSource(ints = {1, 7, 16, 33, 1000, 4099})
    void everyOperationMatchesItsFormulaBitForBit(int count) {
        Random random = new Random(count);
        float[] parameter = values(random, count, 1f);
        float[] gradient = values(random, count, 1e-2f);
        float[] first = values(random, count, 1e-3f);
        float[] second = squares(values(random, count, 1e-3f));

        float[] added = gradient.clone();
        for (int i = 0; i < count; i++) {
            added[i] = parameter[i] + gradient[i];
        }
        assertArrayEquals(added, run(new float[][]{parameter, gradient}, t ->
                KERNEL.add(t[0], 0, t[1], 0, count))[1], "add");

        float[] scaled = new float[count];
        for (int i = 0; i < count; i++) {
            scaled[i] = gradient[i] * 0.37f;
        }
        assertArrayEquals(scaled, run(new float[][]{gradient}, t -> KERNEL.scale(t[0], count, 0.37f))[0],
                "scale");

        float[] sgdParameter = parameter.clone();
        float[] velocity = first.clone();
        for (int i = 0; i < count; i++) {
            velocity[i] = Math.fma(0.9f, velocity[i], gradient[i]);
            sgdParameter[i] = Math.fma(-0.05f, velocity[i], sgdParameter[i]);
        }
        float[][] sgd = run(new float[][]{parameter, gradient, first}, t ->
                KERNEL.sgd(t[0], t[1], t[2], count, 0.05f, 0.9f));
        assertArrayEquals(sgdParameter, sgd[0], "sgd parameter");
        assertArrayEquals(velocity, sgd[2], "sgd velocity");

        float[] adamParameter = parameter.clone();
        float[] m = first.clone();
        float[] v = second.clone();
        for (int i = 0; i < count; i++) {
            m[i] = Math.fma(0.9f, m[i], (1 - 0.9f) * gradient[i]);
            v[i] = Math.fma(0.999f, v[i], (1 - 0.999f) * (gradient[i] * gradient[i]));
            float denominator = Math.fma((float) Math.sqrt(v[i]), 1.3f, 1e-8f);
            adamParameter[i] = Math.fma(-0.01f, m[i] / denominator, adamParameter[i]);
        }
        float[][] adam = run(new float[][]{parameter, gradient, first, second}, t ->
                KERNEL.adam(t[0], t[1], t[2], t[3], count, 0.9f, 0.999f, 0.01f, 1.3f, 1e-8f));
        assertArrayEquals(adamParameter, adam[0], "adam parameter");
        assertArrayEquals(m, adam[2], "adam first moment");
        assertArrayEquals(v, adam[3], "adam second moment");

        double sum = 0;
        for (float value : gradient) {
            sum += (double) value * value;
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment tensor = arena.allocateFrom(FLOAT, gradient);
            assertEquals(sum, KERNEL.sumOfSquares(tensor, count), sum * 1e-12, "sum of squares");
        }
    }

    @ParameterizedTest(name = "count={0}")
    @ValueSource(ints = {5, 64, 1001})
    void addWorksAtOffsetsAndOnTheHeap(int count) {
        float[] source = values(new Random(3), count + 2, 1f);
        float[] target = values(new Random(4), count + 3, 1f);
        float[] expected = target.clone();
        for (int i = 0; i < count; i++) {
            expected[3 + i] += source[2 + i];
        }
        MemorySegment heapTarget = MemorySegment.ofArray(target);
        KERNEL.add(MemorySegment.ofArray(source), 2L * Float.BYTES, heapTarget, 3L * Float.BYTES, count);
        assertArrayEquals(expected, target);
    }

    /**
     * Transposes of blocks whose sides are and are not multiples of the 4x4 unit of the copies, wider and
     * narrower than one pass of its columns, from an offset inside wider source rows into target rows wider than
     * the block: every element lands where the formula says, and nothing outside the block is written.
     */
    @ParameterizedTest(name = "{0}x{1}")
    @CsvSource({"1,1", "1,9", "3,4", "4,4", "5,67", "8,64", "13,130", "100,1024", "37,260"})
    void transposeMovesEveryElementAndNothingElse(int rows, int columns) {
        int sourceRowFloats = columns + 5;
        int targetRowFloats = rows + 3;
        int sourceStart = 7;
        float[] source = values(new Random(rows * 1000L + columns), sourceStart + rows * sourceRowFloats, 1f);
        float[] target = new float[columns * targetRowFloats];
        java.util.Arrays.fill(target, Float.NaN);
        float[] expected = target.clone();
        for (int row = 0; row < rows; row++) {
            for (int column = 0; column < columns; column++) {
                expected[column * targetRowFloats + row] = source[sourceStart + row * sourceRowFloats + column];
            }
        }
        float[][] results = run(new float[][]{source, target}, t -> KERNEL.transpose(t[0],
                (long) sourceStart * Float.BYTES, sourceRowFloats, rows, columns, t[1], targetRowFloats));
        assertArrayEquals(expected, results[1]);
        assertArrayEquals(source, results[0], "the source is unchanged");
    }

    /** Copies each array into native memory, runs the operation and returns the tensors' contents after it. */
    private static float[][] run(float[][] arrays, Consumer<MemorySegment[]> operation) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] tensors = new MemorySegment[arrays.length];
            for (int n = 0; n < arrays.length; n++) {
                tensors[n] = arena.allocate((long) arrays[n].length * Float.BYTES, 64);
                MemorySegment.copy(MemorySegment.ofArray(arrays[n]), 0, tensors[n], 0, tensors[n].byteSize());
            }
            operation.accept(tensors);
            float[][] results = new float[arrays.length][];
            for (int n = 0; n < arrays.length; n++) {
                results[n] = tensors[n].toArray(FLOAT);
            }
            return results;
        }
    }

    private static float[] values(Random random, int count, float scale) {
        float[] values = new float[count];
        for (int i = 0; i < count; i++) {
            values[i] = (random.nextFloat() * 2 - 1) * scale;
        }
        return values;
    }

    private static float[] squares(float[] values) {
        for (int i = 0; i < values.length; i++) {
            values[i] *= values[i];
        }
        return values;
    }
}
