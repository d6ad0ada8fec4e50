package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.train.Adam;

/**
 * Once warmed up, a {@link Runner}'s forward (also with variable lengths) and step with native segments, of one layer
 * (LSTM and GRU, on one and two threads; LSTM also with compressed weights, projected, with peepholes and a cell clip;
 * GRU with a clip; CIFG with peepholes, a clip, projected and on two threads) and of stacks (LSTM and GRU, on one and
 * two threads, with non-finite inputs propagated or rejected; LSTM also projected, with peepholes and a cell clip; GRU
 * with a clip), a {@link StreamBatcher}'s blocking and callback frames and chunks, its direct steps and its
 * {@code trySubmit} refusals, and training steps of a {@link Trainer} with a clip (LSTM projected and GRU: one layer
 * on one and two threads, a stack; a projected stack with peepholes, LSTM and CIFG, followed by Adam's step)
 * allocate nothing on the Java heap (docs/architecture.md, "Nothing allocates on the hot path"): a vector that C2 fails
 * to keep in registers is boxed, and code that keeps being deoptimized runs its vector operations in the interpreter or
 * C1, which box every vector; both show up here as allocated bytes. Includes the shape (H = 256, B = 32) where an
 * earlier prototype fell off the "JIT cliff". The caller's segments come from confined arenas, as a service's would.
 *
 * <p>This class runs in a JVM of its own (src-tests/pom.xml), one that serves inference until its last cases. A whole
 * unprojected LSTM training step is not checked here: in the full suite it sometimes still fell into a deoptimization
 * cycle (one run in three) or allocated a few bytes after quiet rounds (open work); and in one full run that shared a
 * JVM with the training tests, every case below kept allocating for its 90 s, which a JVM flag prevents
 * (docs/service-guide.md, "Training and serving in one JVM"): this JVM runs without it, as a service's that only
 * serves.
 * Projected training steps (one layer, two threads, a stack, a peephole stack with Adam) and clipped GRU training
 * steps are checked, last (a JVM that has trained can compile the inference tiles into code that boxes, so no
 * inference case runs after them).
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

    /**
     * One layer: the sequence forward from the last call's final states, a step, and a batch-first forward of
     * variable lengths. The tiles of compressed weights (bfloat16 and int8, widened in registers) allocate nothing
     * either, at every width; they once failed at 128 bits when this class shared a JVM with the training tests,
     * the same pollution as the float tiles', which is why this class runs alone. With two threads neither the
     * calling thread nor the runner's worker allocates: the call's arguments travel in preallocated fields. Peephole
     * connections choose another epilogue after the k loop of the same tiles, which reads the packed peepholes and
     * the cell twice more; a projected layer (PyTorch's proj_size) adds one plain GEMM per step, the input
     * projection's tiles over m, and reads h at its own stride.
     */
    @ParameterizedTest(name = "{0} {1} I={2} H={3} P={4} peepholes={5} T={6} B={7} clip={8} threads={9}")
    @CsvSource({
            "LSTM, FLOAT32, 256, 256, 0, false, 4, 32, Infinity, 1",
            "LSTM, FLOAT32, 17, 33, 0, false, 10, 5, Infinity, 1",
            "LSTM, FLOAT32, 64, 128, 0, false, 20, 1, Infinity, 1",
            "LSTM, BFLOAT16, 256, 256, 0, false, 4, 32, Infinity, 1",
            "LSTM, INT8, 17, 33, 0, false, 10, 5, Infinity, 1",
            "LSTM, INT8, 64, 128, 0, false, 20, 1, Infinity, 1",
            "LSTM, BFLOAT16, 64, 128, 0, false, 20, 1, Infinity, 1",
            "LSTM, FLOAT32, 256, 256, 0, false, 4, 32, Infinity, 2",
            "LSTM, FLOAT32, 17, 33, 0, false, 10, 5, Infinity, 2",
            "LSTM, FLOAT32, 64, 128, 0, false, 20, 1, Infinity, 2",
            "GRU, FLOAT32, 256, 256, 0, false, 4, 32, Infinity, 1",
            "GRU, FLOAT32, 17, 33, 0, false, 10, 5, Infinity, 1",
            "GRU, FLOAT32, 64, 128, 0, false, 20, 1, Infinity, 1",
            "GRU, FLOAT32, 256, 256, 0, false, 4, 32, Infinity, 2",
            "GRU, FLOAT32, 17, 33, 0, false, 10, 5, Infinity, 2",
            "GRU, FLOAT32, 64, 128, 0, false, 20, 1, Infinity, 2",
            "GRU, FLOAT32, 17, 33, 0, false, 10, 5, 0.5, 1",
            "GRU, FLOAT32, 64, 128, 0, false, 20, 1, 0.5, 2",
            "LSTM, FLOAT32, 256, 256, 0, true, 4, 32, Infinity, 1",
            "LSTM, FLOAT32, 17, 33, 0, true, 10, 5, 0.5, 1",
            "LSTM, FLOAT32, 64, 128, 0, true, 20, 1, Infinity, 1",
            "LSTM, INT8, 17, 33, 0, true, 10, 5, Infinity, 1",
            "LSTM, BFLOAT16, 64, 128, 0, true, 20, 1, Infinity, 1",
            "LSTM, FLOAT32, 17, 33, 5, true, 10, 5, Infinity, 1",
            "LSTM, FLOAT32, 256, 256, 64, false, 4, 32, Infinity, 1",
            "LSTM, FLOAT32, 17, 33, 5, false, 10, 5, Infinity, 1",
            "LSTM, FLOAT32, 64, 128, 33, false, 20, 1, Infinity, 1",
            "LSTM, INT8, 17, 33, 16, false, 10, 5, Infinity, 1",
            "LSTM, BFLOAT16, 64, 128, 17, false, 20, 1, Infinity, 1",
            "CIFG, FLOAT32, 17, 33, 0, true, 10, 5, 0.5, 1",
            "CIFG, FLOAT32, 64, 128, 0, false, 20, 1, Infinity, 1",
            "CIFG, FLOAT32, 64, 128, 16, true, 20, 1, Infinity, 2",
            "GRU, INT8, 17, 33, 0, false, 10, 5, Infinity, 1",
            "GRU, BFLOAT16, 64, 128, 0, false, 20, 1, Infinity, 2",
            "CIFG, INT8, 64, 128, 0, true, 20, 1, Infinity, 1",
            "CIFG, BFLOAT16, 17, 33, 0, false, 10, 5, Infinity, 1"})
    void layerForwardAndStepAllocateNothingOnceWarm(Cell cell, WeightPrecision precision, int inputSize,
                                                    int hiddenSize, int projectionSize, boolean peepholes,
                                                    int steps, int batch, float cellClip, int threads) {
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withProjection(projectionSize)
                .withPeepholes(peepholes);
        Options options = Options.DEFAULT.withPrecision(precision).withCellClip(cellClip);
        try (TestRnn rnn = new TestRnn(11, shape, options);
             Runner runner = rnn.model.runner(options.withMaxBatch(batch).withMaxSteps(steps).withThreads(threads));
             State state = rnn.model.newState(batch);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(rnn.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * shape.outputSize() * Float.BYTES);
            MemorySegment hT = arena.allocate((long) batch * shape.hiddenStateSize() * Float.BYTES);
            MemorySegment cT = cell.hasCellState() ? arena.allocate((long) batch * hiddenSize * Float.BYTES) : null;
            MemorySegment frame = x.asSlice(0, (long) batch * inputSize * Float.BYTES);
            int[] lengths = VariableLengthTest.lengths(15, steps, batch);
            assertWarmCallsAllocateNothing(() -> {
                runner.forward(x, steps, batch, hT, cT, y, hT, cT);
                runner.step(frame, state, hT);
                runner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, hT, cT, y, hT, cT);
            }, runner.workerThreads());
        }
    }

    /**
     * Stacks add copies (time reversal, joining directions, states) around the layers, through their scratch:
     * bidirectional sequences (also with variable lengths, and a batch of one row between full batches, as a
     * service's batch varies), a streamed unidirectional stack, and a sequence without initial or final states (whose
     * zeroed start once took a slice); projected (rows of P features) and with peepholes and a cell clip in every part. On two threads the
     * parts share the workers, and neither the callers nor the workers allocate. The public API's checks (with
     * {@link NonFiniteInputs#REJECT}, the scan of every input for NaN) add nothing to the heap either.
     */
    @ParameterizedTest(name = "{0} I={1} H={2} L={3} P={4} peepholes={5} clip={6} T={7} B={8} threads={9} {10}")
    @CsvSource({
            "LSTM, 17, 33, 2, 0, false, Infinity, 10, 5, 1, PROPAGATE",
            "LSTM, 64, 128, 3, 0, false, Infinity, 20, 1, 1, PROPAGATE",
            "LSTM, 64, 128, 2, 0, false, Infinity, 20, 3, 2, PROPAGATE",
            "GRU, 17, 33, 2, 0, false, Infinity, 10, 5, 1, PROPAGATE",
            "GRU, 64, 128, 3, 0, false, Infinity, 20, 1, 1, PROPAGATE",
            "GRU, 17, 33, 2, 0, false, Infinity, 10, 5, 2, PROPAGATE",
            "GRU, 64, 128, 3, 0, false, Infinity, 20, 1, 2, PROPAGATE",
            "GRU, 17, 33, 2, 0, false, 0.9, 10, 5, 2, PROPAGATE",
            "LSTM, 17, 33, 2, 5, false, Infinity, 10, 5, 1, PROPAGATE",
            "LSTM, 64, 128, 2, 32, false, Infinity, 20, 1, 1, PROPAGATE",
            "LSTM, 17, 33, 2, 0, true, 0.9, 10, 5, 1, PROPAGATE",
            "LSTM, 64, 128, 2, 0, true, 0.9, 20, 1, 1, PROPAGATE",
            "LSTM, 17, 33, 2, 5, true, 0.9, 10, 5, 1, PROPAGATE",
            "LSTM, 17, 33, 1, 0, false, Infinity, 10, 5, 1, PROPAGATE",
            "LSTM, 64, 128, 2, 0, false, Infinity, 20, 3, 2, REJECT",
            "GRU, 17, 33, 1, 0, false, Infinity, 10, 5, 1, REJECT",
            "GRU, 64, 128, 2, 0, false, Infinity, 20, 1, 2, PROPAGATE"})
    void stackForwardAndStepAllocateNothingOnceWarm(Cell cell, int inputSize, int hiddenSize, int layers,
                                                    int projectionSize, boolean peepholes, float cellClip, int steps,
                                                    int batch, int threads, NonFiniteInputs nonFiniteInputs) {
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers).withProjection(projectionSize)
                .withPeepholes(peepholes);
        RnnShape bidirectionalShape = shape.withDirection(Direction.BIDIRECTIONAL);
        Options options = Options.DEFAULT.withCellClip(cellClip).withMaxBatch(batch).withThreads(threads)
                .withNonFiniteInputs(nonFiniteInputs);
        try (TestRnn bidirectional = new TestRnn(12, bidirectionalShape, options);
             TestRnn unidirectional = new TestRnn(13, shape, options);
             Runner sequenceRunner = bidirectional.model.runner(options.withMaxSteps(steps));
             Runner streamRunner = unidirectional.model.runner(options.withMaxSteps(1));
             State state = unidirectional.model.newState(batch);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(bidirectional.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * bidirectionalShape.outputSize() * Float.BYTES);
            int stateCount = bidirectionalShape.stateCount();
            MemorySegment hT = arena.allocate((long) stateCount * batch * shape.hiddenStateSize() * Float.BYTES);
            MemorySegment cT = cell.hasCellState()
                    ? arena.allocate((long) stateCount * batch * hiddenSize * Float.BYTES) : null;
            MemorySegment frame = x.asSlice(0, (long) batch * inputSize * Float.BYTES);
            MemorySegment h = arena.allocate((long) batch * shape.hiddenStateSize() * Float.BYTES);
            int[] lengths = VariableLengthTest.lengths(14, steps, batch);
            // A batch of one row between the full batches: a service's batch varies from call to call.
            MemorySegment oneRowX = x.asSlice(0, (long) steps * inputSize * Float.BYTES);
            MemorySegment oneRowY = y.asSlice(0, (long) steps * bidirectionalShape.outputSize() * Float.BYTES);
            assertWarmCallsAllocateNothing(() -> {
                sequenceRunner.forward(x, steps, batch, hT, cT, y, hT, cT);
                sequenceRunner.forward(oneRowX, steps, 1, null, null, oneRowY, null, null);
                sequenceRunner.forward(x, SequenceLayout.BATCH_FIRST, steps, batch, lengths, hT, cT, y, hT, cT);
                streamRunner.step(frame, state, h);
                streamRunner.forward(frame, 1, batch, null, null, h, null, null);
            }, workers(sequenceRunner.workerThreads(), streamRunner.workerThreads()));
        }
    }

    /**
     * A runner that served calls on the cold kernel while a background warm-up ran ({@link CallsDuringWarmUp}) goes
     * back to its own kernel when the warm-up ends, and then allocates nothing, on one thread and on two.
     */
    @ParameterizedTest(name = "{0} threads={1}")
    @CsvSource({"LSTM, 1", "LSTM, 2", "GRU, 1"})
    void aRunnerThatServedColdAllocatesNothingOnceTheWarmUpHasEnded(Cell cell, int threads) throws Exception {
        int steps = 6;
        int batch = 5;
        RnnShape shape = RnnShape.of(cell, 64, 128);
        Options options = Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps).withThreads(threads);
        try (TestRnn rnn = new TestRnn(16, shape, options);
             Runner runner = rnn.model.runner(options);
             State state = rnn.model.newState(batch);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) steps * batch * shape.inputSize() * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(rnn.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment y = arena.allocate((long) steps * batch * shape.outputSize() * Float.BYTES);
            MemorySegment frame = x.asSlice(0, (long) batch * shape.inputSize() * Float.BYTES);
            MemorySegment h = arena.allocate((long) batch * shape.hiddenStateSize() * Float.BYTES);
            var warmUp = rnn.model.warmUpInBackground(options, Duration.ofSeconds(30),
                    CallsDuringWarmUp.COLD_KERNEL);
            runner.forward(x, steps, batch, null, null, y, null, null);
            runner.step(frame, state, h);
            assertTrue(runner.coldCalls() > 0, "calls ran on the cold kernel during the warm-up");
            warmUp.get();
            long cold = runner.coldCalls();
            assertWarmCallsAllocateNothing(() -> {
                runner.forward(x, steps, batch, null, null, y, null, null);
                runner.step(frame, state, h);
            }, runner.workerThreads());
            assertEquals(cold, runner.coldCalls(), "calls after the warm-up ran on the runner's own kernel");
        }
    }

    /** Both runners' worker threads in one list, made before the measured calls. */
    private static List<Thread> workers(List<Thread> first, List<Thread> second) {
        List<Thread> all = new ArrayList<>(first);
        all.addAll(second);
        return all;
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

    /**
     * A {@link StreamBatcher}'s refusals by {@code trySubmit}: with the queue held full (its one frame waits for a
     * batch of two that the other open stream never completes), each call answers false, allocating nothing once warm.
     */
    @Test
    void streamBatcherTrySubmitRefusalsAllocateNothingOnceWarm() {
        int inputSize = 17;
        try (Model model = packed(RnnShape.of(Cell.LSTM, inputSize, 33), 29, Options.DEFAULT);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withMaxBatch(2)
                     .withQueueCapacity(1).withMaxDelay(Duration.ofHours(1)));
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) inputSize * Float.BYTES);
            StreamBatcher.Handle stream = batcher.open();
            batcher.open();
            StreamBatcher.FrameCallback callback = (handle, output, failure) -> { };
            assertTrue(stream.trySubmit(x, callback), "the queue's one frame");
            assertWarmCallsAllocateNothing(() -> {
                if (stream.trySubmit(x, callback)) {
                    throw new AssertionError("a full queue accepted a frame");
                }
            }, batcher.threads());
        }
    }

    /**
     * A {@link StreamBatcher}'s chunks: two streams submit a chunk of 3 frames each with a callback and a third steps
     * a chunk of 4 and waits, every call; neither the producer nor the dispatcher nor the runner's worker allocates
     * once warm (the chunk's frames are pooled, its callback's output view made once per length).
     */
    @ParameterizedTest(name = "{0} L={1} threads={2}")
    @CsvSource({"LSTM, 2, 1", "GRU, 1, 2"})
    void streamBatcherBlockingAndCallbackChunksAllocateNothingOnceWarm(Cell cell, int layers, int threads) {
        int inputSize = 17;
        int hiddenSize = 33;
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers);
        try (Model model = packed(shape, 29, Options.DEFAULT);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withMaxBatch(4)
                     .withThreads(threads));
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(4L * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(ModelApiTest.uniform(new SplittableRandom(30), 4 * inputSize)),
                    0, x, 0, x.byteSize());
            MemorySegment calledX = x.asSlice(0, 3L * inputSize * Float.BYTES);
            MemorySegment h = arena.allocate(4L * hiddenSize * Float.BYTES);
            StreamBatcher.Handle blocking = batcher.open();
            StreamBatcher.Handle[] called = {batcher.open(), batcher.open()};
            AtomicLong delivered = new AtomicLong();
            StreamBatcher.FrameCallback callback = (stream, output, failure) -> delivered.incrementAndGet();
            long[] submitted = new long[1];
            assertWarmCallsAllocateNothing(() -> {
                for (int n = 0; n < called.length; n++) {
                    called[n].submitChunk(3, calledX, callback);
                }
                submitted[0] += called.length;
                blocking.stepChunk(4, x, h);
                while (delivered.get() < submitted[0]) {
                    Thread.onSpinWait();
                }
            }, batcher.threads());
        }
    }

    /**
     * A {@link StreamBatcher}'s direct steps: a lone stream's blocking step, which its caller steps itself (nothing
     * else is pending), every call; neither the caller nor the batcher's threads allocate once warm.
     */
    @ParameterizedTest(name = "{0} threads={1}")
    @CsvSource({"LSTM, 1", "GRU, 2"})
    void streamBatcherDirectStepsAllocateNothingOnceWarm(Cell cell, int threads) {
        int inputSize = 17;
        int hiddenSize = 33;
        try (Model model = packed(RnnShape.of(cell, inputSize, hiddenSize).withLayers(2), 31, Options.DEFAULT);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withThreads(threads));
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(ModelApiTest.uniform(new SplittableRandom(32), inputSize)), 0,
                    x, 0, x.byteSize());
            MemorySegment h = arena.allocate((long) hiddenSize * Float.BYTES);
            StreamBatcher.Handle lone = batcher.open();
            assertWarmCallsAllocateNothing(() -> lone.step(x, h), batcher.threads());
            assertEquals(batcher.batchedSteps(), batcher.directSteps(), "every step direct");
        }
    }

    /** A model of {@code shape} with {@code options}, from parameters initialised with {@code seed}. */
    static Model packed(RnnShape shape, long seed, Options options) {
        try (Parameters parameters = Parameters.initialize(shape, seed)) {
            return Model.pack(parameters, options);
        }
    }

    /**
     * Training steps of one layer, on one and two threads, with lengths, and of a bidirectional stack, each with a
     * clip: an LSTM's projected (forward and backward: m kept, dm = dh·W_hr, dW_hr as one GEMM), and a GRU's, which
     * keeps the pre-activations its backward masks with. Last in this JVM: see the class comment. One trainer takes
     * the plain and the variable-length steps in turn, so that the depth of its weight-gradient GEMMs (T·B, then
     * Σ lengths) changes at every backward. The trainer's workers are the worker threads its making started.
     */
    @Order(Integer.MAX_VALUE)
    @ParameterizedTest(name = "{0} I={1} H={2} P={3} T={4} B={5} threads={6} clip={7}")
    @CsvSource({"LSTM, 40, 256, 64, 20, 8, 1, 3", "LSTM, 17, 33, 5, 7, 5, 1, 3", "LSTM, 64, 128, 16, 10, 1, 2, 3",
            "GRU, 17, 33, 0, 7, 5, 1, 0.5", "GRU, 64, 128, 0, 10, 1, 2, 0.5"})
    void trainingStepsAllocateNothingOnceWarm(Cell cell, int inputSize, int hiddenSize, int projectionSize, int steps,
                                              int batch, int threads, float clip) {
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withProjection(projectionSize);
        RnnShape stackShape = shape.withLayers(2).withDirection(Direction.BIDIRECTIONAL);
        Options options = Options.DEFAULT.withCellClip(clip).withMaxBatch(batch).withMaxSteps(steps);
        Set<Thread> before = ThreadsTest.workerThreads();
        try (TestRnn model = new TestRnn(18, shape, options);
             Trainer trainer = model.model.trainer(options.withThreads(threads));
             Gradients gradients = new Gradients(shape);
             TestRnn stack = new TestRnn(19, stackShape, options);
             Trainer stackTrainer = stack.model.trainer(options);
             Gradients stackGradients = new Gradients(stackShape);
             Arena arena = Arena.ofConfined()) {
            List<Thread> trainerWorkers = ThreadsTest.startedSince(before);
            assertEquals(threads - 1, trainerWorkers.size(), "the trainer's workers");
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment dy = arena.allocate((long) steps * batch * shape.outputSize() * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.outputGradient(steps, batch)), 0, dy, 0, dy.byteSize());
            MemorySegment dx = arena.allocate(x.byteSize());
            MemorySegment dh0 = arena.allocate((long) batch * shape.hiddenStateSize() * Float.BYTES);
            MemorySegment dc0 = cell.hasCellState() ? arena.allocate((long) batch * hiddenSize * Float.BYTES) : null;
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
            }, trainerWorkers);
        }
    }

    /**
     * A training step of a bidirectional projected stack with peepholes in every part and a cell clip, then Adam's
     * step on every tensor (the peepholes' too): the peephole backward's extra paths into dc and its dp sums, of an
     * LSTM and of a CIFG (its own forward and backward arms). Projected, like the other training steps checked here
     * (see the class comment); last in this JVM.
     */
    @Order(Integer.MAX_VALUE)
    @ParameterizedTest(name = "{0} I={1} H={2} P={3} T={4} B={5} threads={6}")
    @CsvSource({"LSTM, 17, 33, 5, 7, 5, 1", "LSTM, 40, 128, 32, 10, 4, 2", "CIFG, 17, 33, 5, 7, 5, 1"})
    void peepholeStackTrainingStepsAllocateNothingOnceWarm(Cell cell, int inputSize, int hiddenSize,
                                                           int projectionSize, int steps, int batch, int threads) {
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(2)
                .withDirection(Direction.BIDIRECTIONAL).withProjection(projectionSize).withPeepholes(true);
        Set<Thread> before = ThreadsTest.workerThreads();
        try (TestRnn model = new TestRnn(22, shape, Options.DEFAULT.withCellClip(3f));
             Trainer trainer = model.model.trainer(model.model.options().withMaxBatch(batch).withMaxSteps(steps)
                     .withThreads(threads));
             Gradients gradients = new Gradients(shape);
             Adam adam = new Adam(model.parameters, gradients, 1e-6);
             Arena arena = Arena.ofConfined()) {
            List<Thread> trainerWorkers = ThreadsTest.startedSince(before);
            assertEquals(threads - 1, trainerWorkers.size(), "the trainer's workers");
            MemorySegment x = arena.allocate((long) steps * batch * inputSize * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.input(steps, batch)), 0, x, 0, x.byteSize());
            MemorySegment dy = arena.allocate((long) steps * batch * shape.outputSize() * Float.BYTES);
            MemorySegment.copy(MemorySegment.ofArray(model.outputGradient(steps, batch)), 0, dy, 0, dy.byteSize());
            MemorySegment dx = arena.allocate(x.byteSize());
            assertWarmCallsAllocateNothing(() -> {
                trainer.forward(x, steps, batch, null, null, null, null, null);
                trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, dx, null, null);
                adam.step();
            }, trainerWorkers);
        }
    }

    /**
     * Runs {@code calls} for the warm-up time, then in rounds of {@value #MEASURED_CALLS} until
     * {@value #STEADY_ROUNDS} rounds in a row allocate nothing, on this thread or on {@code workers} (a runner's or
     * trainer's worker threads), failing if that does not happen within the limit. Code that boxes vectors allocates
     * in every round and never gets there; a one-off deoptimization, which re-allocates a frame's scalar-replaced
     * vectors, only resets the count (seen: 48 to 280 bytes, once, seconds into a run).
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
