package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Once warmed up, forward (also with variable lengths) and step with native segments, of one layer (also projected,
 * also with peepholes, also on two threads; GRUs on one and two threads) and of stacks (LSTM and GRU, also on two
 * threads; LSTM also projected, with peepholes and a cell clip; both through the public {@link Model} and
 * {@link Runner}), a {@link StreamBatcher}'s blocking and callback frames, and projected training steps (also of a
 * stack with peepholes, on one and two threads), allocate nothing on the Java heap (docs/architecture.md, "Nothing allocates on
 * the hot path"): a vector that C2 fails to keep in registers is boxed,
 * and code that keeps being deoptimized runs its vector operations in the interpreter or
 * C1, which box every vector; both show up here as allocated bytes. Includes the shape (H = 256, B = 32) where an
 * earlier prototype fell off the "JIT cliff". The caller's segments come from confined arenas, as a service's would.
 *
 * <p>This class runs in a JVM of its own (src-tests/pom.xml), one that serves inference until its last cases. A whole
 * unprojected training step is not checked here: in the full suite it sometimes still fell into a deoptimization
 * cycle (one run in three) or allocated a few bytes after quiet rounds; and in one full run that shared a JVM with
 * the training tests, every case below kept allocating for its 90 s. Both are open work (docs/service-guide.md,
 * "Training and serving in one JVM").
 * Projected training steps (one layer, two threads, a stack) are checked, last (a JVM that has trained can compile
 * the inference tiles into code that boxes, so no inference case runs after them).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class ZeroAllocationTest {

    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    /** At least this long before rounds count: C2 is still installing code in the first seconds. */
    private static final long WARM_UP_NANOS = 3_000_000_000L;
    private static final int MEASURED_CALLS = 20;
    /** How long calls may take to reach their steady state (C2 has compiled every kernel) on a loaded machine. */
    private static final long STEADY_STATE_LIMIT_NANOS = 90_000_000_000L;
    private static final int STEADY_ROUNDS = 5;

    @ParameterizedTest(name = "I={0} H={1} T={2} B={3}")
    @CsvSource({"256, 256, 4, 32", "17, 33, 10, 5", "64, 128, 20, 1"})
    void forwardAndStepAllocateNothingOnceWarm(int inputSize, int hiddenSize, int steps, int batch) {
        try (TestModel model = new TestModel(11, inputSize, hiddenSize)) {
            assertWarmForwardAndStepAllocateNothing(model.weights, model, steps, batch, 1);
        }
    }

    /**
     * The tiles of compressed weights (bfloat16 and int8, widened in registers) allocate nothing either, at every
     * width. They once failed at 128 bits when this class shared a JVM with the training tests; that is the same
     * pollution as the float tiles', which is why this class runs alone.
     */
    @ParameterizedTest(name = "{0} I={1} H={2} T={3} B={4}")
    @CsvSource({"BFLOAT16, 256, 256, 4, 32", "INT8, 17, 33, 10, 5", "INT8, 64, 128, 20, 1", "BFLOAT16, 64, 128, 20, 1"})
    void compressedForwardAndStepAllocateNothingOnceWarm(WeightPrecision precision, int inputSize, int hiddenSize,
                                                         int steps, int batch) {
        try (TestModel model = new TestModel(11, inputSize, hiddenSize);
             LstmWeights weights = CompressedWeightsTest.pack(model, Backend.PREFERRED, precision)) {
            assertWarmForwardAndStepAllocateNothing(weights, model, steps, batch, 1);
        }
    }

    /**
     * With two threads, neither the calling thread nor the runner's worker thread allocates: the call's arguments
     * travel in preallocated fields, and the workers run the same tiles.
     */
    @ParameterizedTest(name = "I={0} H={1} T={2} B={3}")
    @CsvSource({"256, 256, 4, 32", "17, 33, 10, 5", "64, 128, 20, 1"})
    void twoThreadsAllocateNothingOnceWarm(int inputSize, int hiddenSize, int steps, int batch) {
        try (TestModel model = new TestModel(11, inputSize, hiddenSize)) {
            assertWarmForwardAndStepAllocateNothing(model.weights, model, steps, batch, 2);
        }
    }

    private static void assertWarmForwardAndStepAllocateNothing(LstmWeights weights, TestModel model, int steps,
                                                                int batch, int threads) {
        int inputSize = model.inputSize;
        int hiddenSize = model.hiddenSize;
        try (LstmRunner runner = LstmRunner.withThreads(weights, batch, threads);
             LstmState state = new LstmState(weights, batch);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * hiddenSize * Float.BYTES);
            MemorySegment hT = arena.allocate((long) batch * hiddenSize * Float.BYTES);
            MemorySegment cT = arena.allocate((long) batch * hiddenSize * Float.BYTES);
            MemorySegment frame = x.asSlice(0, (long) batch * inputSize * Float.BYTES);
            int[] lengths = new int[batch];
            for (int b = 0; b < batch; b++) {
                lengths[b] = (b * 7 + 3) % (steps + 1);   // unsorted, 0 and T among them where B allows
            }
            Runnable calls = () -> {
                runner.forward(x, steps, batch, hT, cT, y, hT, cT);
                runner.step(frame, state, hT);
                runner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, hT, cT, y, hT, cT);
            };
            assertWarmCallsAllocateNothing(calls, runner.workerThreads());
        }
    }

    /** The GRU's sequence forward (also with variable lengths) and streaming step: the same tiles, three gates. */
    @ParameterizedTest(name = "GRU I={0} H={1} T={2} B={3}")
    @CsvSource({"256, 256, 4, 32", "17, 33, 10, 5", "64, 128, 20, 1"})
    void gruForwardAndStepAllocateNothingOnceWarm(int inputSize, int hiddenSize, int steps, int batch) {
        assertWarmGruForwardAndStepAllocateNothing(inputSize, hiddenSize, steps, batch, 1);
    }

    /**
     * The GRU on two threads: neither the calling thread nor the runner's worker thread allocates (the call's
     * arguments travel in the runner's preallocated call objects, which its Team publishes).
     */
    @ParameterizedTest(name = "GRU I={0} H={1} T={2} B={3}")
    @CsvSource({"256, 256, 4, 32", "17, 33, 10, 5", "64, 128, 20, 1"})
    void gruTwoThreadsAllocateNothingOnceWarm(int inputSize, int hiddenSize, int steps, int batch) {
        assertWarmGruForwardAndStepAllocateNothing(inputSize, hiddenSize, steps, batch, 2);
    }

    private static void assertWarmGruForwardAndStepAllocateNothing(int inputSize, int hiddenSize, int steps,
                                                                   int batch, int threads) {
        try (TestGru model = new TestGru(14, inputSize, hiddenSize, Backend.PREFERRED);
             GruRunner runner = GruRunner.withThreads(model.weights, batch, threads);
             GruState state = new GruState(model.weights, batch);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * hiddenSize * Float.BYTES);
            MemorySegment hT = arena.allocate((long) batch * hiddenSize * Float.BYTES);
            MemorySegment frame = x.asSlice(0, (long) batch * inputSize * Float.BYTES);
            int[] lengths = VariableLengthTest.lengths(15, steps, batch);
            assertWarmCallsAllocateNothing(() -> {
                runner.forward(x, steps, batch, hT, y, hT);
                runner.step(frame, state, hT);
                runner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, hT, y, hT);
            }, runner.workerThreads());
        }
    }

    /**
     * Peephole connections choose another epilogue after the k loop of the same tiles, which reads the packed
     * peepholes and the cell twice more: forward, variable lengths and step, float32 and compressed W and U, with a
     * projection and with a cell clip.
     */
    @ParameterizedTest(name = "{0} I={1} H={2} P={3} T={4} B={5} clip={6}")
    @CsvSource({"FLOAT32, 256, 256, 0, 4, 32, Infinity", "FLOAT32, 17, 33, 0, 10, 5, 0.5",
            "FLOAT32, 64, 128, 0, 20, 1, Infinity", "INT8, 17, 33, 0, 10, 5, Infinity",
            "BFLOAT16, 64, 128, 0, 20, 1, Infinity", "FLOAT32, 17, 33, 5, 10, 5, Infinity"})
    void peepholeForwardAndStepAllocateNothingOnceWarm(WeightPrecision precision, int inputSize, int hiddenSize,
                                                       int projectionSize, int steps, int batch, float cellClip) {
        try (PeepholeTestModel model = new PeepholeTestModel(17, inputSize, hiddenSize, projectionSize,
                Backend.PREFERRED, precision);
             LstmRunner runner = new LstmRunner(model.weights, batch, steps,
                     NonFiniteInputs.PROPAGATE, cellClip);
             LstmState state = new LstmState(model.weights, batch);
             Arena arena = Arena.ofConfined()) {
            int outputSize = model.outputSize();
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * outputSize * Float.BYTES);
            MemorySegment hT = arena.allocate((long) batch * outputSize * Float.BYTES);
            MemorySegment cT = arena.allocate((long) batch * hiddenSize * Float.BYTES);
            MemorySegment frame = x.asSlice(0, (long) batch * inputSize * Float.BYTES);
            int[] lengths = VariableLengthTest.lengths(18, steps, batch);
            assertWarmCallsAllocateNothing(() -> {
                runner.forward(x, steps, batch, hT, cT, y, hT, cT);
                runner.step(frame, state, hT);
                runner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, hT, cT, y, hT, cT);
            });
        }
    }

    /**
     * The stacks add copies (time reversal, joining directions, states) around the layers' runners, through views
     * of their scratch that are re-sliced only when the shape changes; with variable lengths too; on two threads,
     * shared by the parts, neither the caller nor the worker allocates.
     */
    @ParameterizedTest(name = "I={0} H={1} L={2} T={3} B={4} threads={5}")
    @CsvSource({"17, 33, 2, 10, 5, 1", "64, 128, 3, 20, 1, 1", "64, 128, 2, 20, 3, 2"})
    void stackForwardAndStepAllocateNothingOnceWarm(int inputSize, int hiddenSize, int layers, int steps, int batch,
                                                    int threads) {
        float noClip = LstmRunner.NO_CELL_CLIP;
        try (TestStack bidirectional = new TestStack(12, inputSize, hiddenSize, layers, true);
             TestStack unidirectional = new TestStack(13, inputSize, hiddenSize, layers, false);
             LstmStackRunner sequenceRunner = new LstmStackRunner(bidirectional.weights, batch, steps, noClip, threads);
             LstmStackRunner streamRunner = new LstmStackRunner(unidirectional.weights, batch, 1, noClip, threads);
             LstmStackState state = new LstmStackState(unidirectional.weights, batch);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(bidirectional.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * 2 * hiddenSize * Float.BYTES);
            long states = 2L * layers * batch * hiddenSize * Float.BYTES;
            MemorySegment hT = arena.allocate(states);
            MemorySegment cT = arena.allocate(states);
            MemorySegment frame = x.asSlice(0, (long) batch * inputSize * Float.BYTES);
            MemorySegment h = arena.allocate((long) batch * hiddenSize * Float.BYTES);
            int[] lengths = VariableLengthTest.lengths(14, steps, batch);
            assertWarmCallsAllocateNothing(() -> {
                sequenceRunner.forward(x, steps, batch, hT, cT, y, hT, cT);
                sequenceRunner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, hT, cT, y, hT, cT);
                streamRunner.step(frame, state, h);
            }, workers(sequenceRunner.workerThreads(), streamRunner.workerThreads()));
        }
    }

    /** Both runners' worker threads in one list, made before the measured calls. */
    private static List<Thread> workers(List<Thread> first, List<Thread> second) {
        List<Thread> all = new ArrayList<>(first);
        all.addAll(second);
        return all;
    }

    /**
     * GRU stacks: the same copies around GRU layers, with no c; bidirectional sequences (also with variable lengths),
     * a streamed stack, and a sequence without initial or final states (whose zeroed start once took a slice).
     */
    @ParameterizedTest(name = "GRU I={0} H={1} L={2} T={3} B={4}")
    @CsvSource({"17, 33, 2, 10, 5", "64, 128, 3, 20, 1"})
    void gruStackForwardAndStepAllocateNothingOnceWarm(int inputSize, int hiddenSize, int layers, int steps,
                                                       int batch) {
        assertWarmGruStackForwardAndStepAllocateNothing(inputSize, hiddenSize, layers, steps, batch, 1);
    }

    /** GRU stacks on two threads: the callers and each stack's one worker, shared by its parts, allocate nothing. */
    @ParameterizedTest(name = "GRU I={0} H={1} L={2} T={3} B={4}")
    @CsvSource({"17, 33, 2, 10, 5", "64, 128, 3, 20, 1"})
    void gruStackTwoThreadsAllocateNothingOnceWarm(int inputSize, int hiddenSize, int layers, int steps, int batch) {
        assertWarmGruStackForwardAndStepAllocateNothing(inputSize, hiddenSize, layers, steps, batch, 2);
    }

    private static void assertWarmGruStackForwardAndStepAllocateNothing(int inputSize, int hiddenSize, int layers,
                                                                        int steps, int batch, int threads) {
        try (TestGruStack bidirectional = new TestGruStack(18, inputSize, hiddenSize, layers, true);
             TestGruStack unidirectional = new TestGruStack(19, inputSize, hiddenSize, layers, false);
             GruStackRunner sequenceRunner = new GruStackRunner(bidirectional.weights, batch, steps, threads);
             GruStackRunner streamRunner = new GruStackRunner(unidirectional.weights, batch, 1, threads);
             GruStackState state = new GruStackState(unidirectional.weights, batch);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(bidirectional.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * 2 * hiddenSize * Float.BYTES);
            MemorySegment hT = arena.allocate(2L * layers * batch * hiddenSize * Float.BYTES);
            MemorySegment frame = x.asSlice(0, (long) batch * inputSize * Float.BYTES);
            MemorySegment h = arena.allocate((long) batch * hiddenSize * Float.BYTES);
            int[] lengths = VariableLengthTest.lengths(19, steps, batch);
            assertWarmCallsAllocateNothing(() -> {
                sequenceRunner.forward(x, steps, batch, hT, y, hT);
                sequenceRunner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, hT, y, hT);
                streamRunner.step(frame, state, h);
                streamRunner.forward(frame, 1, batch, null, h, null);
            }, workers(sequenceRunner.workerThreads(), streamRunner.workerThreads()));
        }
    }

    /**
     * The public API over the stack drivers ({@link Model}, {@link Runner}, {@link State}), LSTM and GRU, one layer
     * and two: bidirectional sequences (also with variable lengths) and a stream, on one and two threads, with
     * non-finite inputs propagated or rejected. Its checks (the scan of every input for NaN included) and its one
     * interface call per call into the drivers add nothing to the heap.
     */
    @ParameterizedTest(name = "{0} I={1} H={2} L={3} T={4} B={5} threads={6} {7}")
    @CsvSource({"LSTM, 17, 33, 1, 10, 5, 1, PROPAGATE", "LSTM, 64, 128, 2, 20, 3, 2, REJECT",
            "GRU, 17, 33, 1, 10, 5, 1, REJECT", "GRU, 64, 128, 2, 20, 1, 2, PROPAGATE"})
    void modelApiForwardAndStepAllocateNothingOnceWarm(Cell cell, int inputSize, int hiddenSize, int layers,
                                                       int steps, int batch, int threads,
                                                       NonFiniteInputs nonFiniteInputs) {
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers);
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps).withThreads(threads)
                .withNonFiniteInputs(nonFiniteInputs);
        try (Model bidirectional = packed(shape.withDirection(Direction.BIDIRECTIONAL), 23, options);
             Model unidirectional = packed(shape, 24, options);
             Runner sequenceRunner = bidirectional.runner();
             Runner streamRunner = unidirectional.runner();
             State state = unidirectional.newState(batch);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(ModelApiTest.uniform(new SplittableRandom(25),
                    steps * batch * inputSize)), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * 2 * hiddenSize * Float.BYTES);
            long states = 2L * layers * batch * hiddenSize * Float.BYTES;
            MemorySegment hT = arena.allocate(states);
            MemorySegment cT = cell == Cell.LSTM ? arena.allocate(states) : null;
            MemorySegment frame = x.asSlice(0, (long) batch * inputSize * Float.BYTES);
            MemorySegment h = arena.allocate((long) batch * hiddenSize * Float.BYTES);
            int[] lengths = VariableLengthTest.lengths(26, steps, batch);
            assertWarmCallsAllocateNothing(() -> {
                sequenceRunner.forward(x, steps, batch, hT, cT, y, hT, cT);
                sequenceRunner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, hT, cT, y, hT, cT);
                streamRunner.step(frame, state, h);
            }, workers(sequenceRunner.workerThreads(), streamRunner.workerThreads()));
        }
    }

    /**
     * A {@link StreamBatcher}'s blocking and callback paths: three streams submit a frame each with a callback and a
     * fourth steps and waits, every call; neither the producer (this thread) nor the dispatcher nor the runner's
     * worker allocates once warm (the frames are pooled, the staging slices made once).
     */
    @ParameterizedTest(name = "{0} L={1} threads={2}")
    @CsvSource({"LSTM, 2, 1", "GRU, 1, 2"})
    void streamBatcherBlockingAndCallbackFramesAllocateNothingOnceWarm(Cell cell, int layers, int threads) {
        int inputSize = 17;
        int hiddenSize = 33;
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers);
        try (Model model = packed(shape, 27, Options.DEFAULT);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withMaxBatch(4)
                     .withThreads(threads));
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(ModelApiTest.uniform(new SplittableRandom(28), inputSize)), 0,
                    x, 0, x.byteSize());
            MemorySegment h = arena.allocate((long) hiddenSize * Float.BYTES);
            StreamBatcher.Handle blocking = batcher.open();
            StreamBatcher.Handle[] called = {batcher.open(), batcher.open(), batcher.open()};
            AtomicLong delivered = new AtomicLong();
            StreamBatcher.FrameCallback callback = (stream, output, failure) -> delivered.incrementAndGet();
            long[] submitted = new long[1];
            assertWarmCallsAllocateNothing(() -> {
                for (int n = 0; n < called.length; n++) {
                    called[n].submit(x, callback);
                }
                submitted[0] += called.length;
                blocking.step(x, h);
                while (delivered.get() < submitted[0]) {
                    Thread.onSpinWait();
                }
            }, batcher.threads());
        }
    }

    /** A model of {@code shape} with {@code options}, from parameters initialised with {@code seed}. */
    static Model packed(RnnShape shape, long seed, Options options) {
        if (shape.cell() == Cell.LSTM) {
            try (LstmStackParameters parameters = LstmStackParameters.initialize(shape.stackShape(), seed)) {
                return Model.pack(parameters, options);
            }
        }
        try (GruStackParameters parameters = GruStackParameters.initialize(shape.stackShape(), seed)) {
            return Model.pack(parameters, options);
        }
    }

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

    /**
     * Stacks in which some layers and directions have peepholes, with a cell clip in all: the same copies around
     * the peephole epilogue; bidirectional sequences (also with variable lengths) and a streamed stack.
     */
    @ParameterizedTest(name = "I={0} H={1} P={2} T={3} B={4}")
    @CsvSource({"17, 33, 0, 10, 5", "64, 128, 0, 20, 1", "17, 33, 5, 10, 5"})
    void peepholeStackForwardAndStepAllocateNothingOnceWarm(int inputSize, int hiddenSize, int projectionSize,
                                                            int steps, int batch) {
        LstmStackShape bidirectionalShape = new LstmStackShape(inputSize, hiddenSize, 2, true, projectionSize);
        LstmStackShape unidirectionalShape = new LstmStackShape(inputSize, hiddenSize, 2, false, projectionSize);
        try (PeepholeTestStack bidirectional = new PeepholeTestStack(20, bidirectionalShape, "1011", 0.9);
             PeepholeTestStack unidirectional = new PeepholeTestStack(21, unidirectionalShape, "01", 0.9);
             LstmStackRunner sequenceRunner = new LstmStackRunner(bidirectional.weights, batch, steps, 0.9f);
             LstmStackRunner streamRunner = new LstmStackRunner(unidirectional.weights, batch, 1, 0.9f);
             LstmStackState state = new LstmStackState(unidirectional.weights, batch);
             Arena arena = Arena.ofConfined()) {
            int stateSize = bidirectionalShape.hiddenStateSize();
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(bidirectional.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * 2 * stateSize * Float.BYTES);
            MemorySegment hT = arena.allocate(4L * batch * stateSize * Float.BYTES);
            MemorySegment cT = arena.allocate(4L * batch * hiddenSize * Float.BYTES);
            MemorySegment frame = x.asSlice(0, (long) batch * inputSize * Float.BYTES);
            MemorySegment h = arena.allocate((long) batch * stateSize * Float.BYTES);
            int[] lengths = VariableLengthTest.lengths(20, steps, batch);
            assertWarmCallsAllocateNothing(() -> {
                sequenceRunner.forward(x, steps, batch, hT, cT, y, hT, cT);
                sequenceRunner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, hT, cT, y, hT, cT);
                streamRunner.step(frame, state, h);
            });
        }
    }

    /**
     * A projected training step (forward and backward: m kept, dm = dh·W_hr, dW_hr as one GEMM) of one layer, with
     * a cell clip, on two threads, with lengths, and of a bidirectional projected stack. Last in this JVM: see the
     * class comment. One trainer takes the plain and the variable-length steps in turn, so that the depth of its
     * weight-gradient GEMMs (T·B, then Σ lengths) changes at every backward.
     */
    @Order(Integer.MAX_VALUE)
    @ParameterizedTest(name = "I={0} H={1} P={2} T={3} B={4} threads={5}")
    @CsvSource({"40, 256, 64, 20, 8, 1", "17, 33, 5, 7, 5, 1", "64, 128, 16, 10, 1, 2"})
    void projectedTrainingStepsAllocateNothingOnceWarm(int inputSize, int hiddenSize, int projectionSize, int steps,
                                                       int batch, int threads) {
        try (ProjectedTestModel model = new ProjectedTestModel(18, inputSize, hiddenSize, projectionSize);
             LstmTrainer trainer = new LstmTrainer(model.weights, batch, steps, 3f, threads);
             LstmGradients gradients = new LstmGradients(model.weights);
             LstmStackWeights stack = projectedStack(19, inputSize, hiddenSize, projectionSize, true);
             LstmStackTrainer stackTrainer = new LstmStackTrainer(stack, batch, steps);
             LstmStackGradients stackGradients = new LstmStackGradients(stack);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment dy = arena.allocate((long) steps * batch * projectionSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.uniform(steps * batch * projectionSize, 1f)), 0, dy, 0,
                    dy.byteSize());
            MemorySegment dx = arena.allocate(x.byteSize());
            MemorySegment dh0 = arena.allocate((long) batch * projectionSize * Float.BYTES);
            MemorySegment dc0 = arena.allocate((long) batch * hiddenSize * Float.BYTES);
            MemorySegment stackDy = arena.allocate(2 * dy.byteSize());
            int[] lengths = VariableLengthTest.lengths(18, steps, batch);
            assertWarmCallsAllocateNothing(() -> {
                trainer.forward(x, steps, batch, null, null, null, null, null);
                trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
                trainer.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, null, null, null, null, null);
                trainer.backward(dy, dh0, dc0, gradients, GradientMode.ACCUMULATE, dx, null, null);
                if (threads == 1) {
                    stackTrainer.forward(x, steps, batch, null, null, null, null, null);
                    stackTrainer.backward(stackDy, null, null, stackGradients, GradientMode.OVERWRITE, dx, null, null);
                }
            }, trainer.workerThreads());
        }
    }

    /**
     * A training step of a bidirectional projected stack in which some parts have peepholes, with a cell clip: the
     * peephole backward's extra paths into dc and its dp sums. Projected, like the other training steps checked
     * here (see the class comment); last in this JVM.
     */
    @Order(Integer.MAX_VALUE)
    @ParameterizedTest(name = "I={0} H={1} P={2} T={3} B={4} threads={5}")
    @CsvSource({"17, 33, 5, 7, 5, 1", "40, 128, 32, 10, 4, 2"})
    void peepholeStackTrainingStepsAllocateNothingOnceWarm(int inputSize, int hiddenSize, int projectionSize,
                                                           int steps, int batch, int threads) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, 2, true, projectionSize);
        try (PeepholeTestStack model = new PeepholeTestStack(22, shape, "1101", 3.0);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights, batch, steps, 3f, threads);
             LstmStackGradients gradients = new LstmStackGradients(model.weights);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment dy = arena.allocate((long) steps * batch * shape.outputSize() * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.outputGradient(steps, batch)), 0, dy, 0, dy.byteSize());
            MemorySegment dx = arena.allocate(x.byteSize());
            assertWarmCallsAllocateNothing(() -> {
                trainer.forward(x, steps, batch, null, null, null, null, null);
                trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, dx, null, null);
            }, trainer.workerThreads());
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

    /**
     * Runs {@code calls} for the warm-up time, then in rounds of {@value #MEASURED_CALLS} until
     * {@value #STEADY_ROUNDS} rounds in a row allocate nothing, failing if that does not happen within the limit.
     * Code that boxes vectors allocates in every round and never gets there; a one-off deoptimization, which
     * re-allocates a frame's scalar-replaced vectors, only resets the count (seen: 48 to 280 bytes, once, seconds
     * into a run).
     */
    private static void assertWarmCallsAllocateNothing(Runnable calls) {
        assertWarmCallsAllocateNothing(calls, List.of());
    }

    /**
     * As {@link #assertWarmCallsAllocateNothing(Runnable)}, counting the bytes that {@code workers} (a runner's
     * worker threads) allocate during the calls too.
     */
    static void assertWarmCallsAllocateNothing(Runnable calls, List<Thread> workers) {
        long start = System.nanoTime();
        while (System.nanoTime() - start < WARM_UP_NANOS) {
            calls.run();
        }
        int quietRounds = 0;
        long lastRound = -1;
        while (quietRounds < STEADY_ROUNDS) {
            if (System.nanoTime() - start > STEADY_STATE_LIMIT_NANOS) {
                throw new AssertionError("no " + STEADY_ROUNDS + " rounds in a row without allocation within "
                        + STEADY_STATE_LIMIT_NANOS / 1_000_000_000L + " s: the last round of " + MEASURED_CALLS
                        + " calls allocated " + lastRound + " bytes");
            }
            lastRound = allocatedBy(calls, workers);
            quietRounds = lastRound == 0 ? quietRounds + 1 : 0;
        }
        assertEquals(0, lastRound);
    }

    private static long allocatedBy(Runnable calls, List<Thread> workers) {
        long before = THREADS.getCurrentThreadAllocatedBytes() + allocatedBy(workers);
        for (int n = 0; n < MEASURED_CALLS; n++) {
            calls.run();
        }
        return THREADS.getCurrentThreadAllocatedBytes() + allocatedBy(workers) - before;
    }

    /** Bytes allocated so far by the threads (summed without allocating: an indexed loop over a List.of). */
    private static long allocatedBy(List<Thread> threads) {
        long bytes = 0;
        for (int n = 0; n < threads.size(); n++) {
            bytes += THREADS.getThreadAllocatedBytes(threads.get(n).threadId());
        }
        return bytes;
    }
}
