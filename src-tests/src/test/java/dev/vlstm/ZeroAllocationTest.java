package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Once warmed up, forward and step with native segments, and a whole training step (forward, backward, clipping,
 * Adam, weight update), allocate nothing on the Java heap (DESIGN.md, idea 8): a vector that C2 fails to keep in
 * registers is boxed, and code that keeps being deoptimized runs its vector operations in the interpreter or C1,
 * which box every vector; both show up here as allocated bytes. Includes the shape (H = 256, B = 32) where an
 * earlier prototype fell off the "JIT cliff". The caller's segments come from confined arenas, as a service's
 * would: mixed with the library's shared ones, they once sent the Adam update into an endless deoptimization
 * cycle (see VectorTensorKernel).
 */
class ZeroAllocationTest {

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static final long WARM_UP_NANOS = 3_000_000_000L;
    private static final int MEASURED_CALLS = 20;
    /** How long a training loop may take to reach its steady state on a loaded 2-core machine. */
    private static final long STEADY_STATE_LIMIT_NANOS = 90_000_000_000L;
    private static final int STEADY_ROUNDS = 3;

    @ParameterizedTest(name = "I={0} H={1} T={2} B={3}")
    @CsvSource({"256, 256, 4, 32", "17, 33, 10, 5", "64, 128, 20, 1"})
    void forwardAndStepAllocateNothingOnceWarm(int inputSize, int hiddenSize, int steps, int batch) {
        try (TestModel model = new TestModel(11, inputSize, hiddenSize);
             LstmRunner runner = new LstmRunner(model.weights, batch);
             LstmState state = new LstmState(model.weights, batch);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * hiddenSize * Float.BYTES);
            MemorySegment hT = arena.allocate((long) batch * hiddenSize * Float.BYTES);
            MemorySegment cT = arena.allocate((long) batch * hiddenSize * Float.BYTES);
            MemorySegment frame = x.asSlice(0, (long) batch * inputSize * Float.BYTES);
            Runnable calls = () -> {
                runner.forward(x, steps, batch, hT, cT, y, hT, cT);
                runner.step(frame, state, hT);
            };
            long start = System.nanoTime();
            while (System.nanoTime() - start < WARM_UP_NANOS) {
                calls.run();
            }
            long before = THREADS.getCurrentThreadAllocatedBytes();
            for (int n = 0; n < MEASURED_CALLS; n++) {
                calls.run();
            }
            long allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
            assertEquals(0, allocated, "bytes allocated by " + MEASURED_CALLS + " warmed-up forward + step calls");
        }
    }

    /**
     * A training loop reaches a state where whole rounds of steps allocate nothing, and stays there. The test
     * waits for {@value #STEADY_ROUNDS} rounds in a row at 0 bytes (C2 may take seconds to compile every kernel
     * on a loaded machine), and fails if that has not happened within the time limit.
     */
    @ParameterizedTest(name = "I={0} H={1} T={2} B={3}")
    @CsvSource({"64, 128, 10, 8", "2, 33, 20, 3"})
    void aWholeTrainingStepAllocatesNothingOnceWarm(int inputSize, int hiddenSize, int steps, int batch) {
        try (TestModel model = new TestModel(12, inputSize, hiddenSize);
             LstmParameters parameters = LstmParameters.fromPyTorch(inputSize, hiddenSize, model.weightIh,
                     model.weightHh, model.biasIh, model.biasHh);
             LstmWeights weights = parameters.pack();
             LstmTrainer trainer = new LstmTrainer(weights, batch, steps);
             LstmGradients gradients = new LstmGradients(weights);
             dev.vlstm.train.Adam adam = new dev.vlstm.train.Adam(parameters, gradients, 1e-4);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * hiddenSize * Float.BYTES);
            MemorySegment dy = arena.allocate(y.byteSize());
            MemorySegment.copy(MemorySegment.ofArray(model.uniform(steps * batch * hiddenSize, 1e-3f)), 0, dy, 0,
                    dy.byteSize());
            MemorySegment dx = arena.allocate(x.byteSize());
            Runnable trainingStep = () -> {
                trainer.forward(x, steps, batch, null, null, y, null, null);
                trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, dx, null, null);
                dev.vlstm.train.GradientClipping.clipGlobalNorm(gradients, 1.0);
                adam.step();
                trainer.updateWeights(parameters);
            };
            long start = System.nanoTime();
            int quietRounds = 0;
            long lastRound = -1;
            while (quietRounds < STEADY_ROUNDS) {
                if (System.nanoTime() - start > STEADY_STATE_LIMIT_NANOS) {
                    throw new AssertionError("no steady state within " + STEADY_STATE_LIMIT_NANOS / 1_000_000_000L
                            + " s: the last round of " + MEASURED_CALLS + " training steps allocated " + lastRound
                            + " bytes");
                }
                long before = THREADS.getCurrentThreadAllocatedBytes();
                for (int n = 0; n < MEASURED_CALLS; n++) {
                    trainingStep.run();
                }
                lastRound = THREADS.getCurrentThreadAllocatedBytes() - before;
                quietRounds = lastRound == 0 ? quietRounds + 1 : 0;
            }
            long before = THREADS.getCurrentThreadAllocatedBytes();
            for (int n = 0; n < MEASURED_CALLS; n++) {
                trainingStep.run();
            }
            long allocated = THREADS.getCurrentThreadAllocatedBytes() - before;
            assertEquals(0, allocated, "bytes allocated by " + MEASURED_CALLS + " training steps after "
                    + STEADY_ROUNDS + " quiet rounds");
        }
    }
}
