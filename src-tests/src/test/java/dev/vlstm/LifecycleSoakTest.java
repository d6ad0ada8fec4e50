package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;

import dev.vlstm.train.Adam;
import dev.vlstm.train.Sgd;

/**
 * Thousands of create, use and close cycles of every off-heap owner of the public API, LSTM and GRU in turn, leave no
 * native memory behind (the library's own accounting, {@link NativeMemory#liveBytes()}, returns to where it started,
 * exactly) and do not grow the Java heap.
 */
class LifecycleSoakTest {

    private static final int CYCLES = 2000;
    private static final long HEAP_GROWTH_LIMIT = 16L << 20;

    @Test
    void createUseCloseCyclesLeaveNothingBehind() {
        MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
        long nativeAtStart = NativeMemory.liveBytes();
        long heapAfterWarmUp = 0;
        for (int cycle = 1; cycle <= CYCLES; cycle++) {
            RnnShape shape = RnnShape.of(cycle % 2 == 0 ? Cell.LSTM : Cell.GRU, 5, 16);
            SplittableRandom random = new SplittableRandom(cycle);
            try (Parameters parameters = Parameters.initialize(shape, cycle);
                 Model model = Model.pack(parameters, Options.DEFAULT.withMaxBatch(2).withMaxSteps(3));
                 Runner runner = model.runner();
                 State state = model.newState(2);
                 Trainer trainer = model.trainer();
                 Gradients gradients = new Gradients(shape);
                 Adam adam = new Adam(parameters, gradients, 1e-3);
                 Sgd sgd = new Sgd(parameters, gradients, 1e-3, 0.9)) {
                assertTrue(NativeMemory.liveBytes() > nativeAtStart, "open objects hold native memory");
                float[] x = TestRnn.uniform(random, 3 * 2 * 5, 1f);
                runner.forward(x, 3, 2, null, null, null, null, null);
                runner.step(new float[2 * 5], state, null);
                trainer.forward(x, 3, 2, null, null, null, null, null);
                trainer.backward(null, TestRnn.uniform(random, 2 * 16, 1f), null, gradients, GradientMode.OVERWRITE,
                        null, null, null);
                adam.step();
                sgd.step();
                trainer.updateWeights(parameters);
            }
            if (cycle % 500 == 0) {
                assertEquals(nativeAtStart, NativeMemory.liveBytes(), "native bytes after " + cycle + " cycles");
            }
            if (cycle == 200) {
                System.gc();
                heapAfterWarmUp = memory.getHeapMemoryUsage().getUsed();
            }
        }
        System.gc();
        long growth = memory.getHeapMemoryUsage().getUsed() - heapAfterWarmUp;
        assertTrue(growth < HEAP_GROWTH_LIMIT, "heap grew by " + growth + " bytes over " + (CYCLES - 200) + " cycles");
    }
}
