package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;

import org.junit.jupiter.api.Test;

import dev.vlstm.train.Adam;
import dev.vlstm.train.Sgd;

/**
 * Thousands of create, use and close cycles of every off-heap owner leave no native memory behind (the library's
 * own accounting, {@link NativeMemory#liveBytes()}, returns to where it started, exactly) and do not grow the
 * Java heap.
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
            try (TestModel model = new TestModel(cycle, 5, 16);
                 LstmRunner runner = new LstmRunner(model.weights, 2);
                 LstmState state = new LstmState(model.weights, 2);
                 LstmTrainer trainer = new LstmTrainer(model.weights, 2, 3);
                 LstmGradients gradients = new LstmGradients(model.weights);
                 LstmParameters parameters = LstmParameters.initialize(5, 16, cycle);
                 Adam adam = new Adam(parameters, gradients, 1e-3);
                 Sgd sgd = new Sgd(parameters, gradients, 1e-3, 0.9)) {
                assertTrue(NativeMemory.liveBytes() > nativeAtStart, "open objects hold native memory");
                float[] x = model.input(3, 2);
                runner.forward(x, 3, 2, null, null, null, null, null);
                runner.step(new float[2 * 5], state, null);
                trainer.forward(MemorySegment.ofArray(x), 3, 2, null, null, null, null, null);
                trainer.backward(null, MemorySegment.ofArray(model.state(2)), null, gradients, GradientMode.OVERWRITE,
                        null, null, null);
                adam.step();
                sgd.step();
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
