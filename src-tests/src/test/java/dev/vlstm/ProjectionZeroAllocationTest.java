package dev.vlstm;

import static dev.vlstm.ZeroAllocationTest.assertWarmCallsAllocateNothing;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link ZeroAllocationTest}'s check for models with projection (PyTorch's proj_size), in JVMs of their own
 * (src-tests/pom.xml). Measured 2026-11-23: in one JVM, after projected models had run, warm forwards of
 * unprojected stacks allocated 24 bytes a call (and projected ones 24 to 48 after unprojected ones): the first switch
 * deoptimizes every tile (a dependency of the compiled code is invalidated) and the tiles, recompiled, run some
 * vector operations through the Vector API's boxing fallback. Open work (README, "In a service").
 */
class ProjectionZeroAllocationTest {

    /**
     * A projected layer (PyTorch's proj_size) adds one plain GEMM per step, the input projection's tiles over m, and
     * reads h at its own stride: forward, variable lengths and step, float32 and compressed W and U.
     */
    @ParameterizedTest(name = "{0} I={1} H={2} P={3} T={4} B={5}")
    @CsvSource({"FLOAT32, 256, 256, 64, 4, 32", "FLOAT32, 17, 33, 5, 10, 5", "FLOAT32, 64, 128, 33, 20, 1",
            "INT8, 17, 33, 16, 10, 5", "BFLOAT16, 64, 128, 17, 20, 1"})
    void projectedForwardAndStepAllocateNothingOnceWarm(WeightPrecision precision, int inputSize, int hiddenSize,
                                                        int projectionSize, int steps, int batch) {
        try (ProjectedTestModel model = new ProjectedTestModel(15, inputSize, hiddenSize, projectionSize,
                Backend.PREFERRED, precision);
             LstmRunner runner = new LstmRunner(model.weights, batch);
             LstmState state = new LstmState(model.weights, batch);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * projectionSize * Float.BYTES);
            MemorySegment hT = arena.allocate((long) batch * projectionSize * Float.BYTES);
            MemorySegment cT = arena.allocate((long) batch * hiddenSize * Float.BYTES);
            MemorySegment frame = x.asSlice(0, (long) batch * inputSize * Float.BYTES);
            int[] lengths = VariableLengthTest.lengths(16, steps, batch);
            assertWarmCallsAllocateNothing(() -> {
                runner.forward(x, steps, batch, hT, cT, y, hT, cT);
                runner.step(frame, state, hT);
                runner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, hT, cT, y, hT, cT);
            });
        }
    }

    /** Projected stacks (proj_size): the same copies with rows of P features, bidirectional, with lengths, streaming. */
    @ParameterizedTest(name = "I={0} H={1} P={2} T={3} B={4}")
    @CsvSource({"17, 33, 5, 10, 5", "64, 128, 32, 20, 1"})
    void projectedStackForwardAndStepAllocateNothingOnceWarm(int inputSize, int hiddenSize, int projection, int steps,
                                                             int batch) {
        try (LstmStackWeights bidirectional = projectedStack(15, inputSize, hiddenSize, projection, true);
             LstmStackWeights unidirectional = projectedStack(16, inputSize, hiddenSize, projection, false);
             LstmStackRunner sequenceRunner = new LstmStackRunner(bidirectional, batch, steps);
             LstmStackRunner streamRunner = new LstmStackRunner(unidirectional, batch, 1);
             LstmStackState state = new LstmStackState(unidirectional, batch);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment y = arena.allocate((long) steps * batch * 2 * projection * Float.BYTES);
            MemorySegment hT = arena.allocate(4L * batch * projection * Float.BYTES);
            MemorySegment cT = arena.allocate(4L * batch * hiddenSize * Float.BYTES);
            MemorySegment frame = x.asSlice(0, (long) batch * inputSize * Float.BYTES);
            MemorySegment h = arena.allocate((long) batch * projection * Float.BYTES);
            int[] lengths = VariableLengthTest.lengths(17, steps, batch);
            assertWarmCallsAllocateNothing(() -> {
                sequenceRunner.forward(x, steps, batch, hT, cT, y, hT, cT);
                sequenceRunner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, hT, cT, y, hT, cT);
                streamRunner.step(frame, state, h);
            });
        }
    }

    /** A 2-layer projected stack, PyTorch's initialisation bounds, seeded. */
    private static LstmStackWeights projectedStack(long seed, int inputSize, int hiddenSize, int projection,
                                                   boolean bidirectional) {
        java.util.SplittableRandom random = new java.util.SplittableRandom(seed);
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, 2, bidirectional, projection);
        float bound = (float) (1 / Math.sqrt(hiddenSize));
        LstmParameters[] parts = new LstmParameters[shape.stateCount()];
        for (int n = 0; n < parts.length; n++) {
            int input = shape.layerInputSize(n / shape.directions());
            parts[n] = LstmParameters.fromPyTorch(input, hiddenSize, projection,
                    TestModel.uniform(random, 4 * hiddenSize * input, bound),
                    TestModel.uniform(random, 4 * hiddenSize * projection, bound),
                    TestModel.uniform(random, 4 * hiddenSize, bound), TestModel.uniform(random, 4 * hiddenSize, bound),
                    TestModel.uniform(random, projection * hiddenSize, bound));
        }
        try (LstmStackParameters parameters = LstmStackParameters.of(bidirectional, parts)) {
            return parameters.pack();
        }
    }
}
