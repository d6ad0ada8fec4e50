package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * A {@link Runner} or {@link Trainer} with several threads (intra-op parallelism) gives the one-thread results bit
 * for bit, for LSTMs and GRUs, one layer and stacks: each thread computes whole blocks of hidden units (and, in the
 * backward, whole blocks of the GEMMs' outputs) with the same FMA chain in k order, and every layer and direction of
 * a stack runs on the same {@code threads - 1} worker threads. Checked for 2 and 3 threads (more than this machine's
 * cores still has to be right) on H = 1, 3 (one block at 512 bits: nothing to split), 17, 33 (fewer blocks than
 * threads, or blocks that do not divide evenly), 57, 100 and 257, on batches that fill the 4-row tiles or leave rows
 * over, for sequences, streams, variable lengths in both layouts, both kernels, compressed weights, projection,
 * peepholes, a cell clip, and the trainer's outputs and every gradient (with dropout between a stack's layers).
 *
 * <p>The one-thread results are checked against the double reference elsewhere; here one layer's threaded results
 * are also held to those tests' tolerances: outputs to max |error| &le; {@value ForwardVsReferenceTest#TOLERANCE}
 * ({@link ForwardVsReferenceTest}), gradients to {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} times each
 * tensor's largest expected value ({@link TrainerVsReferenceTest}).
 */
class ThreadsTest {

    /** The prefix of every worker thread's name. */
    private static final String WORKER_PREFIX = "vlstm-kernel-";

    /** I, H, T, B and threads of one layer: 2 and 3 threads on every size, the batch varying with both. */
    static Stream<Arguments> layerShapes() {
        List<Arguments> shapes = new ArrayList<>();
        int[][] sizes = {{5, 1}, {4, 3}, {9, 17}, {17, 33}, {33, 100}, {19, 257}};
        int[] batches = {1, 3, 4, 9};
        for (int n = 0; n < sizes.length; n++) {
            for (int threads = 2; threads <= 3; threads++) {
                shapes.add(Arguments.of(sizes[n][0], sizes[n][1], 7, batches[(n + threads) % batches.length],
                        threads));
            }
        }
        return TestRnn.forEveryCell(shapes.stream());
    }

    /** I, H, L, direction, T, B and threads of stacks. */
    static Stream<Arguments> stackShapes() {
        List<Arguments> shapes = new ArrayList<>(List.of(
                Arguments.of(5, 1, 2, Direction.BIDIRECTIONAL, 4, 3, 2),
                Arguments.of(9, 17, 2, Direction.FORWARD, 5, 4, 3),
                Arguments.of(17, 33, 3, Direction.BIDIRECTIONAL, 6, 5, 2),
                Arguments.of(33, 100, 2, Direction.BIDIRECTIONAL, 4, 9, 3),
                Arguments.of(19, 57, 2, Direction.FORWARD, 7, 1, 2)));
        int[][] more = {{5, 17, 2, 6, 3, 2}, {9, 33, 2, 5, 5, 3}, {17, 100, 3, 4, 4, 2}, {3, 1, 2, 3, 2, 3}};
        for (int[] sizes : more) {
            for (Direction direction : Direction.values()) {
                shapes.add(Arguments.of(sizes[0], sizes[1], sizes[2], direction, sizes[3], sizes[4], sizes[5]));
            }
        }
        return TestRnn.forEveryCell(shapes.stream());
    }

    /**
     * Every kind of runner call on one thread and on {@code threads}, the second round after a pause longer than the
     * workers' idle spell (so they have parked and must be woken), for both kernels; also against the reference.
     */
    @ParameterizedTest(name = "{0} I={1} H={2} T={3} B={4} threads={5}")
    @MethodSource("layerShapes")
    void layerSequenceStreamAndVariableLengthsEqualOneThreadBitForBit(Cell cell, int inputSize, int hiddenSize,
                                                                      int steps, int batch, int threads)
            throws InterruptedException {
        for (Backend backend : Backend.values()) {
            try (TestRnn rnn = new TestRnn(400 + hiddenSize + threads, RnnShape.of(cell, inputSize, hiddenSize),
                    Options.DEFAULT.withBackend(backend))) {
                float[] x = rnn.input(steps, batch);
                float[] h0 = rnn.hiddenStates(batch);
                float[] c0 = rnn.cellStates(batch);
                float[][] expected = assertRunnersAgree(rnn, x, steps, batch, h0, c0, threads, backend.toString());
                ReferenceStack.Result reference = rnn.reference.forward(x, steps, batch, h0, c0);
                assertWithinTolerance("y", expected[0], reference.y());
                assertWithinTolerance("hT", expected[1], reference.hT());
                ReferenceStack.Result variable = rnn.reference.forward(TestRnn.doubles(x), steps, batch,
                        lengths(steps, batch), TestRnn.doubles(h0), TestRnn.doubles(c0), null);
                assertWithinTolerance("variable-length y", expected[5], variable.y());
                assertWithinTolerance("variable-length hT", expected[6], variable.hT());
                if (cell.hasCellState()) {
                    assertWithinTolerance("cT", expected[2], reference.cT());
                    assertWithinTolerance("variable-length cT", expected[7], variable.cT());
                }
            }
        }
    }

    /** Stacks: every layer and direction on the runner's one set of {@code threads - 1} workers. */
    @ParameterizedTest(name = "{0} I={1} H={2} L={3} {4} T={5} B={6} threads={7}")
    @MethodSource("stackShapes")
    void stackSequenceStreamAndVariableLengthsEqualOneThreadBitForBit(Cell cell, int inputSize, int hiddenSize,
                                                                      int layers, Direction direction, int steps,
                                                                      int batch, int threads)
            throws InterruptedException {
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers).withDirection(direction);
        try (TestRnn rnn = new TestRnn(950 + hiddenSize, shape, Options.DEFAULT)) {
            assertRunnersAgree(rnn, steps, batch, threads, "stack");
        }
    }

    /**
     * Compressed weights (widened in registers), projection (the threads also split h = m·W_hrᵀ, and each recurrent
     * step reads h of width P) and peepholes (each block adds its own peephole terms), alone and together, on one
     * layer and on a bidirectional stack.
     */
    @ParameterizedTest(name = "{0} P={1} peepholes={2} L={3} threads={4}")
    @CsvSource({"BFLOAT16, 0, false, 1, 2", "INT8, 0, false, 1, 2", "FLOAT32, 33, false, 1, 2",
            "FLOAT32, 33, false, 1, 3", "BFLOAT16, 33, false, 1, 2", "FLOAT32, 0, true, 1, 2",
            "FLOAT32, 0, true, 1, 3", "INT8, 0, true, 1, 2", "INT8, 0, false, 2, 3", "BFLOAT16, 17, true, 2, 2"})
    void compressedProjectedAndPeepholeModelsEqualOneThreadBitForBit(WeightPrecision precision, int projectionSize,
                                                                    boolean peepholes, int layers, int threads)
            throws InterruptedException {
        RnnShape shape = RnnShape.of(Cell.LSTM, 17, 100).withProjection(projectionSize).withPeepholes(peepholes)
                .withLayers(layers).withDirection(layers > 1 ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        try (TestRnn rnn = new TestRnn(431 + projectionSize, shape, Options.DEFAULT.withPrecision(precision))) {
            assertRunnersAgree(rnn, 6, 5, threads, precision.toString());
        }
    }

    /** As below, on inputs drawn from {@code rnn}. */
    private static void assertRunnersAgree(TestRnn rnn, int steps, int batch, int threads, String what)
            throws InterruptedException {
        assertRunnersAgree(rnn, rnn.input(steps, batch), steps, batch, rnn.hiddenStates(batch),
                rnn.cellStates(batch), threads, what);
    }

    /**
     * Runs every kind of call on a one-thread runner and, twice, on one with {@code threads}, and compares every
     * output.
     *
     * @return the one-thread outputs, as {@link #allOutputs} lists them
     */
    private static float[][] assertRunnersAgree(TestRnn rnn, float[] x, int steps, int batch, float[] h0, float[] c0,
                                                int threads, String what) throws InterruptedException {
        int[] lengths = lengths(steps, batch);
        Options options = rnn.model.options().withMaxBatch(batch).withMaxSteps(steps).withChunkSteps(3);
        float[][] expected;
        try (Runner single = rnn.model.runner(options)) {
            assertEquals(1, single.threads());
            assertEquals(List.of(), single.workerThreads());
            expected = allOutputs(rnn, single, x, steps, batch, h0, c0, lengths);
        }
        try (Runner runner = rnn.model.runner(options.withThreads(threads))) {
            assertEquals(threads, runner.threads());
            assertEquals(threads - 1, runner.workerThreads().size(), "one set of workers for every part");
            for (int round = 0; round < 2; round++) {
                float[][] actual = allOutputs(rnn, runner, x, steps, batch, h0, c0, lengths);
                for (int n = 0; n < OUTPUT_NAMES.length; n++) {
                    assertArrayEquals(expected[n], actual[n], OUTPUT_NAMES[n] + ", " + what + ", " + threads
                            + " threads, round " + round + ", lengths " + Arrays.toString(lengths));
                }
                Thread.sleep(5);
            }
        }
        return expected;
    }

    private static final String[] OUTPUT_NAMES = {"y", "hT", "cT", "streamed h", "streamed state",
        "variable-length y", "variable-length hT", "variable-length cT", "batch-first variable-length y",
        "batch-first variable-length hT", "batch-first variable-length cT"};

    /**
     * y, hT and cT of a sequence; h and the state after streaming it from h0 and c0 (a unidirectional model only,
     * else empty); y, hT and cT with variable lengths, time-major and batch-first (the latter's x the same values read
     * as {@code [B][T][I]}). A GRU's cT are empty.
     */
    private static float[][] allOutputs(TestRnn rnn, Runner runner, float[] x, int steps, int batch, float[] h0,
                                        float[] c0, int[] lengths) {
        RnnShape shape = rnn.shape;
        float[][] outputs = new float[OUTPUT_NAMES.length][];
        forward(shape, outputs, 0, steps, batch, (y, hT, cT) -> runner.forward(x, steps, batch, h0, c0, y, hT, cT));
        outputs[3] = new float[0];
        outputs[4] = new float[0];
        if (shape.direction() == Direction.FORWARD) {
            try (State state = rnn.model.newState(batch)) {
                state.setHidden(h0);
                if (c0 != null) {
                    state.setCell(c0);
                }
                float[] streamed = new float[batch * shape.hiddenStateSize()];
                int frame = batch * shape.inputSize();
                for (int t = 0; t < steps; t++) {
                    runner.step(Arrays.copyOfRange(x, t * frame, (t + 1) * frame), state, streamed);
                }
                outputs[3] = streamed;
                outputs[4] = c0 == null ? state.hidden() : concat(state.hidden(), state.cell());
            }
        }
        forward(shape, outputs, 5, steps, batch, (y, hT, cT) -> runner.forward(x, SequenceLayout.TIME_MAJOR, steps,
                batch, lengths, h0, c0, y, hT, cT));
        forward(shape, outputs, 8, steps, batch, (y, hT, cT) -> runner.forward(x, SequenceLayout.BATCH_FIRST, steps,
                batch, lengths, h0, c0, y, hT, cT));
        return outputs;
    }

    /** A forward call with its outputs y, hT and cT (null for a GRU). */
    private interface ForwardCall {
        void run(float[] y, float[] hT, float[] cT);
    }

    /** Runs {@code call} into new y, hT and cT, put at {@code outputs[first..first+2]} (cT empty for a GRU). */
    private static void forward(RnnShape shape, float[][] outputs, int first, int steps, int batch, ForwardCall call) {
        float[] y = new float[steps * batch * shape.outputSize()];
        float[] hT = new float[shape.stateCount() * batch * shape.hiddenStateSize()];
        float[] cT = shape.cell().hasCellState() ? new float[shape.stateCount() * batch * shape.hiddenSize()] : null;
        call.run(y, hT, cT);
        outputs[first] = y;
        outputs[first + 1] = hT;
        outputs[first + 2] = cT == null ? new float[0] : cT;
    }

    private static float[] concat(float[] first, float[] second) {
        float[] both = Arrays.copyOf(first, first.length + second.length);
        System.arraycopy(second, 0, both, first.length, second.length);
        return both;
    }

    private static int[] lengths(int steps, int batch) {
        return VariableLengthTest.lengths(steps * 31L + batch, steps, batch);
    }

    private static void assertWithinTolerance(String name, float[] actual, double[] expected) {
        double error = TestRnn.maxAbsError(actual, expected);
        assertTrue(error <= ForwardVsReferenceTest.TOLERANCE, name + " error " + error);
    }

    /**
     * The trainer splits every GEMM of forward and backward (input projection, recurrent steps, dh = dz·U per step,
     * dx, dW_ih, dW_hh) by output blocks: every output and gradient of one layer is the one-thread trainer's, bit for
     * bit, without and with variable lengths (time-major and batch-first), with and without a clip; the
     * time-major ones also match the reference. H = 33 runs on both kernels.
     */
    @ParameterizedTest(name = "{0} I={1} H={2} T={3} B={4} threads={5}")
    @MethodSource("layerShapes")
    void layerTrainerEqualsOneThreadBitForBit(Cell cell, int inputSize, int hiddenSize, int steps, int batch,
                                              int threads) {
        List<Backend> backends = hiddenSize == 33 ? List.of(Backend.PREFERRED, Backend.SCALAR)
                : List.of(Backend.PREFERRED);
        for (Backend backend : backends) {
            for (float clip : List.of(Float.POSITIVE_INFINITY, 0.6f)) {
                try (TestRnn rnn = new TestRnn(450 + hiddenSize, RnnShape.of(cell, inputSize, hiddenSize),
                        Options.DEFAULT.withBackend(backend).withCellClip(clip))) {
                    assertTrainersAgree(rnn, steps, batch, threads, 0, backend + ", clip " + clip, true);
                }
            }
        }
    }

    /**
     * Stacks: the trainer's outputs and every part's gradients, with dropout between layers (the same seeded masks)
     * and a clip.
     */
    @ParameterizedTest(name = "{0} I={1} H={2} L={3} {4} T={5} B={6} threads={7}")
    @MethodSource("stackShapes")
    void stackTrainerEqualsOneThreadBitForBit(Cell cell, int inputSize, int hiddenSize, int layers,
                                              Direction direction, int steps, int batch, int threads) {
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers).withDirection(direction);
        Options options = Options.DEFAULT.withCellClip(0.9f);
        try (TestRnn rnn = new TestRnn(970 + hiddenSize, shape, options)) {
            assertTrainersAgree(rnn, steps, batch, threads, 0.25, "stack", false);
        }
    }

    /**
     * A training forward and backward on one thread and on {@code threads}, for every form of the forward, compared
     * tensor by tensor; with {@code againstReference}, the time-major ones are also held to the reference.
     */
    private static void assertTrainersAgree(TestRnn rnn, int steps, int batch, int threads, double dropout,
                                            String what, boolean againstReference) {
        float[] x = rnn.input(steps, batch);
        float[] h0 = rnn.hiddenStates(batch);
        float[] c0 = rnn.cellStates(batch);
        float[] dy = rnn.outputGradient(steps, batch);
        float[] dhT = rnn.hiddenStates(batch);
        float[] dcT = rnn.cellStates(batch);
        int[] lengths = VariableLengthTest.lengths(steps * 17L + batch, steps, batch);
        Options options = rnn.model.options().withMaxBatch(batch).withMaxSteps(steps).withDropout(dropout, 5);
        for (int[] callLengths : new int[][] {null, lengths}) {
            for (SequenceLayout order : SequenceLayout.values()) {
                Training expected = training(rnn, options, x, order, callLengths, steps, batch, h0, c0, dy, dhT, dcT);
                Training actual;
                Set<Thread> before = workerThreads();
                try (Trainer trainer = rnn.model.trainer(options.withThreads(threads))) {
                    assertEquals(threads, trainer.threads());
                    assertEquals(threads - 1, startedSince(before).size(), "one set of workers for every part");
                    actual = training(trainer, rnn, x, order, callLengths, steps, batch, h0, c0, dy, dhT, dcT);
                }
                String call = what + ", " + threads + " threads, " + order + ", lengths "
                        + Arrays.toString(callLengths);
                for (int n = 0; n < expected.outputs().length; n++) {
                    assertArrayEquals(expected.outputs()[n], actual.outputs()[n], TRAINING_NAMES[n] + ", " + call);
                }
                for (String name : expected.gradients().keySet()) {
                    assertArrayEquals(expected.gradients().get(name), actual.gradients().get(name), name + ", " + call);
                }
                if (againstReference && order == SequenceLayout.TIME_MAJOR) {
                    assertTrainingMatchesReference(rnn, actual, x, steps, batch, callLengths, h0, c0, dy, dhT, dcT);
                }
            }
        }
    }

    private static final String[] TRAINING_NAMES = {"y", "hT", "cT", "dx", "dh0", "dc0"};

    /** y, hT, cT, dx, dh0 and dc0 (the last of each empty for a GRU), and every gradient tensor by name. */
    private record Training(float[][] outputs, Map<String, float[]> gradients) {
    }

    private static Training training(TestRnn rnn, Options options, float[] x, SequenceLayout order, int[] lengths,
                                     int steps, int batch, float[] h0, float[] c0, float[] dy, float[] dhT,
                                     float[] dcT) {
        Set<Thread> before = workerThreads();
        try (Trainer trainer = rnn.model.trainer(options)) {
            assertEquals(1, trainer.threads());
            assertEquals(List.of(), startedSince(before), "one thread starts no worker");
            return training(trainer, rnn, x, order, lengths, steps, batch, h0, c0, dy, dhT, dcT);
        }
    }

    /**
     * A training forward (the plain time-major call when {@code lengths} is null and the order is time-major, else
     * the lengths call, all T for null) and backward with every optional argument.
     */
    private static Training training(Trainer trainer, TestRnn rnn, float[] x, SequenceLayout order, int[] lengths,
                                     int steps, int batch, float[] h0, float[] c0, float[] dy, float[] dhT,
                                     float[] dcT) {
        RnnShape shape = rnn.shape;
        boolean lstm = shape.cell().hasCellState();
        int states = shape.stateCount() * batch * shape.hiddenStateSize();
        int cells = shape.stateCount() * batch * shape.hiddenSize();
        float[] y = new float[steps * batch * shape.outputSize()];
        float[] hT = new float[states];
        float[] cT = lstm ? new float[cells] : null;
        float[] dx = new float[x.length];
        float[] dh0 = new float[states];
        float[] dc0 = lstm ? new float[cells] : null;
        if (lengths == null && order == SequenceLayout.TIME_MAJOR) {
            trainer.forward(x, steps, batch, h0, c0, y, hT, cT);
        } else {
            int[] callLengths = lengths == null ? full(steps, batch) : lengths;
            trainer.forward(x, order, steps, batch, callLengths, h0, c0, y, hT, cT);
        }
        try (Gradients gradients = new Gradients(shape)) {
            trainer.backward(dy, dhT, dcT, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
            Map<String, float[]> byName = new LinkedHashMap<>();
            for (String name : gradients.names()) {
                byName.put(name, TrainerVsReferenceTest.floats(gradients.tensor(name)));
            }
            float[] none = new float[0];
            return new Training(new float[][] {y, hT, lstm ? cT : none, dx, dh0, lstm ? dc0 : none}, byName);
        }
    }

    private static void assertTrainingMatchesReference(TestRnn rnn, Training actual, float[] x, int steps, int batch,
                                                       int[] lengths, float[] h0, float[] c0, float[] dy,
                                                       float[] dhT, float[] dcT) {
        ReferenceStack.Result forward = rnn.reference.forward(TestRnn.doubles(x), steps, batch, lengths,
                TestRnn.doubles(h0), TestRnn.doubles(c0), null);
        assertWithinTolerance("y", actual.outputs()[0], forward.y());
        assertWithinTolerance("hT", actual.outputs()[1], forward.hT());
        ReferenceStack.Gradients expected = rnn.reference.backward(TestRnn.doubles(x), steps, batch, lengths,
                TestRnn.doubles(h0), TestRnn.doubles(c0), null, TestRnn.doubles(dy), TestRnn.doubles(dhT),
                TestRnn.doubles(dcT));
        boolean lstm = rnn.shape.cell().hasCellState();
        TrainerVsReferenceTest.assertClose("weightIh", actual.gradients().get("weight_ih_l0"), expected.weightIh()[0]);
        TrainerVsReferenceTest.assertClose("weightHh", actual.gradients().get("weight_hh_l0"), expected.weightHh()[0]);
        TrainerVsReferenceTest.assertClose("biasIh", actual.gradients().get("bias_ih_l0"), expected.biasIh()[0]);
        TrainerVsReferenceTest.assertClose("biasHh", actual.gradients().get("bias_hh_l0"), expected.biasHh()[0]);
        TrainerVsReferenceTest.assertClose("x", actual.outputs()[3], expected.x());
        TrainerVsReferenceTest.assertClose("h0", actual.outputs()[4], expected.h0());
        if (lstm) {
            TrainerVsReferenceTest.assertClose("c0", actual.outputs()[5], expected.c0());
        }
    }

    private static int[] full(int steps, int batch) {
        int[] lengths = new int[batch];
        Arrays.fill(lengths, steps);
        return lengths;
    }

    /** The live worker threads of every runner and trainer in this JVM (the tests run one at a time). */
    static Set<Thread> workerThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(thread -> thread.getName().startsWith(WORKER_PREFIX)).collect(Collectors.toSet());
    }

    /** The worker threads alive now that were not in {@code before}. */
    static List<Thread> startedSince(Set<Thread> before) {
        List<Thread> started = new ArrayList<>(workerThreads());
        started.removeAll(before);
        return started;
    }

    /** The worker threads that {@code open} starts, with what it returned. */
    private static <T> T opened(Supplier<T> open, List<Thread> started) {
        Set<Thread> before = workerThreads();
        T opened = open.get();
        started.addAll(startedSince(before));
        return opened;
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void aRunnerWithThreadsUsesTheDefaultChunkOfOneThread(Cell cell) {
        try (TestRnn rnn = new TestRnn(440, RnnShape.of(cell, 8, 40), Options.DEFAULT);
             Runner runner = rnn.model.runner(rnn.model.options().withMaxBatch(2).withThreads(2));
             Runner plain = rnn.model.runner(rnn.model.options().withMaxBatch(2))) {
            assertEquals(2, runner.threads());
            assertEquals(1, plain.threads());
            assertEquals(plain.chunkSteps(), runner.chunkSteps());
        }
    }

    @ParameterizedTest(name = "threads={0}")
    @ValueSource(ints = {0, -1, Integer.MIN_VALUE, Options.MAX_THREADS + 1})
    void badThreadCountsAreRefusedByName(int threads) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Options.DEFAULT.withThreads(threads));
        assertTrue(e.getMessage().startsWith("threads must be"), e.getMessage());
        assertTrue(e.getMessage().endsWith("got " + threads), e.getMessage());
    }

    /**
     * A runner and a trainer each start one set of daemon workers for all of a model's parts, and close() ends them
     * (closing twice is harmless, a closed runner refuses calls); one thread starts none.
     */
    @ParameterizedTest(name = "{0} L={1}")
    @CsvSource({"LSTM, 1", "LSTM, 2", "GRU, 1", "GRU, 2"})
    void closeEndsTheWorkerThreadsAndOneThreadStartsNone(Cell cell, int layers) {
        RnnShape shape = RnnShape.of(cell, 6, 50).withLayers(layers)
                .withDirection(layers > 1 ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        try (TestRnn rnn = new TestRnn(442, shape, Options.DEFAULT)) {
            Options options = rnn.model.options().withMaxBatch(2).withMaxSteps(4);
            List<Thread> runnerWorkers = new ArrayList<>();
            List<Thread> trainerWorkers = new ArrayList<>();
            Runner runner = opened(() -> rnn.model.runner(options.withThreads(3)), runnerWorkers);
            Trainer trainer = opened(() -> rnn.model.trainer(options.withThreads(2)), trainerWorkers);
            assertEquals(Set.copyOf(runner.workerThreads()), Set.copyOf(runnerWorkers), "named " + WORKER_PREFIX + "*");
            assertEquals(2, runnerWorkers.size(), "one set of workers for every part");
            assertEquals(1, trainerWorkers.size(), "one set of workers for every part");
            List<Thread> workers = new ArrayList<>(runnerWorkers);
            workers.addAll(trainerWorkers);
            for (Thread worker : workers) {
                assertTrue(worker.isAlive(), worker.getName());
                assertTrue(worker.isDaemon(), worker.getName());
            }
            float[] x = rnn.input(4, 2);
            runner.forward(x, 4, 2, null, null, null, new float[shape.stateCount() * 2 * 50], null);
            trainer.forward(x, 4, 2, null, null, null, null, null);
            runner.close();
            trainer.close();
            for (Thread worker : workers) {
                assertFalse(worker.isAlive(), worker.getName() + " still runs after close()");
            }
            runner.close();
            trainer.close();
            assertThrows(IllegalStateException.class, () -> runner.forward(x, 4, 2, null, null, null, null, null));
            List<Thread> none = new ArrayList<>();
            try (Runner single = opened(() -> rnn.model.runner(options), none);
                 Trainer singleTrainer = opened(() -> rnn.model.trainer(options), none)) {
                assertEquals(1, single.threads());
                assertEquals(1, singleTrainer.threads());
                assertEquals(List.of(), single.workerThreads());
                assertEquals(List.of(), none);
            }
        }
    }
}
