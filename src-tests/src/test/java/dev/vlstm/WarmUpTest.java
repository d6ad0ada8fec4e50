package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedMethod;
import jdk.jfr.consumer.RecordingFile;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A runner's warm-up brings a cold JVM's kernels to compiled code. Compiled code is checked without timing
 * anything: until C2 compiles a Vector API loop, the interpreter and C1 box every vector, so the bytes a thread
 * allocates over its calls tell compiled (0) from not yet compiled. Each check runs in a new JVM, since this one's
 * kernels are warm from the other tests; the control case shows that a cold JVM's first calls do allocate. The
 * report, its invisibility and its refusals are checked for LSTMs and GRUs.
 */
class WarmUpTest {

    private static final int INPUT_SIZE = 96;
    private static final int HIDDEN_SIZE = 96;
    private static final int STEPS = 6;
    private static final int BATCH = 5;
    private static final int CALLS = 100;
    /** What a few deoptimizations of tiles may re-materialize: vectors of up to 64 bytes, a few at a time. */
    private static final long FEW_DEOPTIMIZATIONS_BYTES = 2048;
    /**
     * Kernel methods that such a deoptimization may send back through C1 (the method and one it was inlined into);
     * calls that had lost the compiled kernels recompiled six or seven.
     */
    private static final int FEW_RECOMPILED_KERNELS = 2;
    /** The name of every kernel worker thread begins so. */
    private static final String WORKER_THREAD = "vlstm-kernel-";

    /** How a child JVM warms up before its first calls. */
    enum Before {
        /** No warm-up: the control. */
        NOTHING,
        /** {@link Runner#warmUp(Duration)} of the runner that then serves. */
        WARM_UP,
        /** The same with a limit of a millisecond: it ends while the kernels still run interpreted. */
        WARM_UP_CUT_SHORT,
        /**
         * {@link Model#warmUpInBackground(Options, Duration)}, waited for; the serving runner and state are made
         * before it starts, as a service's are, and are not the ones it warms.
         */
        WARM_UP_IN_BACKGROUND
    }

    /** The arguments a child JVM's calls take: the public API's two forms. */
    enum Arguments {
        /** Segments of a confined arena, as a service's. */
        SEGMENTS,
        /** Float arrays. */
        ARRAYS
    }

    /**
     * Run in a child JVM: after the warm-up its first argument names ({@link Before}), prints the bytes allocated by
     * the first {@link #CALLS} rounds of a step of one row, a forward and a step of a runner (made with the model
     * before the warm-up, as a service's is) on the arguments its second names ({@link Arguments}), and the kernel
     * methods the JIT compiled with C1's profiling (tiers 2 and 3) during them, from a JFR recording of
     * {@code jdk.Compilation}: methods that had been running interpreted or had lost their C2 code (a trivial
     * method's tier 1 and a C2 compilation are not counted); then, after two seconds of the same calls, the bytes the
     * next {@link #CALLS} allocate. The model is loaded through the public API alone, as a service's.
     */
    public static final class FirstCalls {
        public static void main(String[] args) throws Exception {
            Before before = Before.valueOf(args[0]);
            Arguments arguments = Arguments.valueOf(args[1]);
            Options options = Options.DEFAULT.withMaxBatch(BATCH).withMaxSteps(STEPS);
            try (Parameters parameters = Parameters.initialize(RnnShape.of(Cell.LSTM, INPUT_SIZE, HIDDEN_SIZE), 5);
                 Model model = Model.pack(parameters, options);
                 Runner runner = model.runner();
                 State state = model.newState(BATCH);
                 State single = model.newState(1);
                 Arena arena = Arena.ofConfined()) {
                switch (before) {
                    case NOTHING -> { }
                    case WARM_UP -> System.out.println("warmUp=" + runner.warmUp(Duration.ofMinutes(2)));
                    case WARM_UP_CUT_SHORT -> System.out.println("warmUp=" + runner.warmUp(Duration.ofMillis(1)));
                    case WARM_UP_IN_BACKGROUND -> System.out.println("warmUp=" + model.warmUpInBackground(options,
                            Duration.ofMinutes(2)).get());
                }
                float[] input = new float[STEPS * BATCH * INPUT_SIZE];
                for (int n = 0; n < input.length; n++) {
                    input[n] = (float) Math.sin(n);
                }
                float[] output = new float[STEPS * BATCH * HIDDEN_SIZE];
                float[] hidden = new float[BATCH * HIDDEN_SIZE];
                float[] frame = Arrays.copyOf(input, BATCH * INPUT_SIZE);
                MemorySegment x = arena.allocate((long) input.length * Float.BYTES);
                MemorySegment.copy(MemorySegment.ofArray(input), 0, x, 0, x.byteSize());
                MemorySegment y = arena.allocate((long) output.length * Float.BYTES);
                MemorySegment h = arena.allocate((long) hidden.length * Float.BYTES);
                MemorySegment frameSegment = x.asSlice(0, (long) frame.length * Float.BYTES);
                float[] row = Arrays.copyOf(input, INPUT_SIZE);
                float[] rowHidden = new float[HIDDEN_SIZE];
                MemorySegment rowSegment = x.asSlice(0, (long) INPUT_SIZE * Float.BYTES);
                MemorySegment rowHiddenSegment = h.asSlice(0, (long) HIDDEN_SIZE * Float.BYTES);
                Runnable calls = arguments == Arguments.SEGMENTS ? () -> {
                    runner.step(rowSegment, single, rowHiddenSegment);
                    runner.forward(x, STEPS, BATCH, null, null, y, h, null);
                    runner.step(frameSegment, state, h);
                } : () -> {
                    runner.step(row, single, rowHidden);
                    runner.forward(input, STEPS, BATCH, null, null, output, hidden, null);
                    runner.step(frame, state, hidden);
                };
                Path events = Files.createTempFile("vlstm-first-calls", ".jfr");
                try (Recording recording = new Recording()) {
                    recording.enable("jdk.Compilation").withThreshold(Duration.ZERO);
                    recording.start();
                    System.out.println("allocated=" + allocatedBy(calls));
                    recording.stop();
                    recording.dump(events);
                    System.out.println("kernelsCompiled=" + RecordingFile.readAllEvents(events).stream()
                            .filter(event -> event.getInt("compileLevel") == 2 || event.getInt("compileLevel") == 3)
                            .map(event -> event.<RecordedMethod>getValue("method"))
                            .filter(method -> method.getType().getName().startsWith("dev.vlstm.kernel."))
                            .map(method -> method.getType().getName() + "." + method.getName()).toList());
                } finally {
                    Files.delete(events);
                }
                long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
                while (System.nanoTime() < end) {
                    calls.run();
                }
                System.out.println("later=" + allocatedBy(calls));
            }
        }

        private static long allocatedBy(Runnable calls) {
            com.sun.management.ThreadMXBean threads =
                    (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            long before = threads.getCurrentThreadAllocatedBytes();
            for (int call = 0; call < CALLS; call++) {
                calls.run();
            }
            return threads.getCurrentThreadAllocatedBytes() - before;
        }
    }

    /**
     * The first calls after a warm-up allocate what the same calls allocate once the JVM has settled (nothing on
     * segments), plus at most a few hundred bytes: compiled code that meets something new (here, other segments) may
     * be deoptimized and recompiled once, which re-materializes the vectors that C2 had kept in registers (192 and
     * 280 bytes measured, in one of the first calls or in a later one). Code that is not yet compiled allocates
     * megabytes over the same calls (the control below). And at most two kernel methods go through C1 during them (one
     * deoptimization's recompilation): after a
     * warm-up on segments alone, the first calls on float arrays threw away the kernels' C2 code and ran them at C1
     * again until recompiled, which allocation did not show at this size but a JFR recording did.
     */
    @ParameterizedTest
    @CsvSource({"WARM_UP, SEGMENTS", "WARM_UP, ARRAYS", "WARM_UP_IN_BACKGROUND, SEGMENTS",
                "WARM_UP_IN_BACKGROUND, ARRAYS"})
    void afterAWarmUpTheFirstCallsOfAColdJvmRunCompiledCode(Before before, Arguments arguments) throws Exception {
        String output = childJvm(before, arguments);
        assertTrue(output.contains("settled=true, allocating=false"),
                "the warm-up should settle within its limit, its last calls allocating nothing: " + output);
        assertTrue(value(output, "allocated=") <= value(output, "later=") + FEW_DEOPTIMIZATIONS_BYTES,
                "the first calls after " + before + " on " + arguments + " allocated more than later ones: " + output);
        assertTrue(compiledKernels(output).size() <= FEW_RECOMPILED_KERNELS, "the first calls after " + before
                + " on " + arguments + " ran kernels that C1 then compiled: " + output);
    }

    /** A warm-up that ends before the JIT has compiled the kernels says that its last calls still allocated. */
    @Test
    void aWarmUpCutShortSaysItsCallsStillAllocated() throws Exception {
        String output = childJvm(Before.WARM_UP_CUT_SHORT, Arguments.SEGMENTS);
        assertTrue(output.contains("settled=false, allocating=true"), "a warm-up of a millisecond: " + output);
    }

    @ParameterizedTest
    @EnumSource(Arguments.class)
    void withoutAWarmUpTheFirstCallsOfAColdJvmAllocate(Arguments arguments) throws Exception {
        String output = childJvm(Before.NOTHING, arguments);
        assertTrue(value(output, "allocated=") > value(output, "later=") + 100 * FEW_DEOPTIMIZATIONS_BYTES,
                "control: cold calls should box vectors: " + output);
        assertTrue(compiledKernels(output).size() > FEW_RECOMPILED_KERNELS,
                "control: cold calls should get kernels compiled: " + output);
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void aWarmUpChangesNothingACallerCanSee(Cell cell) {
        try (TestRnn model = new TestRnn(7, RnnShape.of(cell, 13, 21), Options.DEFAULT);
             Runner runner = model.runner(6, 9);
             State state = model.model.newState(2)) {
            float[] x = model.input(9, 6);
            float[] before = new float[9 * 6 * 21];
            runner.forward(x, 9, 6, null, null, before, null, null);
            runner.step(new float[2 * 13], state, null);
            float[] stateBefore = state.hidden();

            WarmUp report = runner.warmUp(Duration.ofSeconds(1));
            assertTrue(report.calls() >= 4, "calls: " + report);
            assertTrue(report.elapsed().compareTo(Duration.ZERO) > 0, "elapsed: " + report);

            float[] after = new float[before.length];
            runner.forward(x, 9, 6, null, null, after, null, null);
            assertArrayEquals(before, after);
            assertArrayEquals(stateBefore, state.hidden());
        }
    }

    /**
     * A wide model is warmed through a miniature first: two threads, projection, peepholes and a cell clip on one,
     * two layers of a GRU on the other. The model's results are the bits they were, and the miniature's memory and
     * threads are gone after.
     */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void aWideModelsWarmUpLeavesNothingBehind(Cell cell) {
        RnnShape shape = cell == Cell.GRU ? RnnShape.of(cell, 70, 300).withLayers(2)
                : RnnShape.of(cell, 70, 300).withProjection(130).withPeepholes(true);
        Options options = Options.DEFAULT.withCellClip(3f).withThreads(2);
        try (TestRnn model = new TestRnn(10, shape, options);
             Runner runner = model.runner(6, 9)) {
            try (Model miniature = WarmUpLoop.miniatureOf(model.model)) {
                assertNotNull(miniature, "a miniature of " + shape);
            }
            float[] x = model.input(9, 6);
            float[] before = new float[9 * 6 * shape.outputSize()];
            runner.forward(x, 9, 6, null, null, before, null, null);
            assertWarmUpLeavesNothingBehind(() -> runner.warmUp(Duration.ofSeconds(1)));
            float[] after = new float[before.length];
            runner.forward(x, 9, 6, null, null, after, null, null);
            assertArrayEquals(before, after);
        }
    }

    /**
     * A trainer's warm-up on a model wide enough for a miniature: it runs, frees the miniature's memory and threads,
     * and leaves the trainer's forward and backward as they were, bit for bit.
     */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void aWideModelsTrainerWarmUpLeavesNothingBehind(Cell cell) {
        RnnShape shape = RnnShape.of(cell, 70, 300).withLayers(2);
        try (TestRnn model = new TestRnn(14, shape, Options.DEFAULT.withThreads(2));
             Trainer trainer = model.trainer(6, 9);
             Gradients first = new Gradients(shape);
             Gradients second = new Gradients(shape)) {
            float[] x = model.input(9, 6);
            float[] dy = model.outputGradient(9, 6);
            float[] before = new float[9 * 6 * shape.outputSize()];
            trainer.forward(x, 9, 6, null, null, before, null, null);
            trainer.backward(dy, null, null, first, GradientMode.OVERWRITE, null, null, null);
            assertWarmUpLeavesNothingBehind(() -> trainer.warmUp(Duration.ofSeconds(1)));
            float[] after = new float[before.length];
            trainer.forward(x, 9, 6, null, null, after, null, null);
            trainer.backward(dy, null, null, second, GradientMode.OVERWRITE, null, null, null);
            assertArrayEquals(before, after);
            for (String name : first.names()) {
                assertArrayEquals(first.tensor(name).toArray(ValueLayout.JAVA_FLOAT),
                        second.tensor(name).toArray(ValueLayout.JAVA_FLOAT), name);
            }
        }
    }

    /** Runs {@code warmUp}, which must make calls and leave no off-heap bytes and no worker thread behind. */
    private static void assertWarmUpLeavesNothingBehind(Supplier<WarmUp> warmUp) {
        long liveBefore = NativeMemory.liveBytes();
        List<String> workersBefore = workerThreads();
        WarmUp report = warmUp.get();
        assertTrue(report.calls() > 4, "calls: " + report);
        assertEquals(liveBefore, NativeMemory.liveBytes(), "off-heap bytes left by the warm-up");
        assertEquals(workersBefore, workerThreads(), "worker threads left by the warm-up");
    }

    /** A warm-up stopped during its miniature's pass frees the miniature's memory and threads too. */
    @ParameterizedTest
    @ValueSource(ints = {1, 7})
    void aWarmUpStoppedDuringItsMiniatureLeavesNothingBehind(int callsBeforeStop) {
        try (TestRnn model = new TestRnn(13, RnnShape.of(Cell.LSTM, 70, 300), Options.DEFAULT.withThreads(2));
             Runner runner = model.runner(6, 9)) {
            long liveBefore = NativeMemory.liveBytes();
            List<String> workersBefore = workerThreads();
            int[] asked = {0};
            assertThrows(CancellationException.class,
                    () -> runner.warmUp(Duration.ofMinutes(1), () -> asked[0]++ > callsBeforeStop, () -> { }));
            assertEquals(callsBeforeStop + 2, asked[0], "asked before the warm-up and before each call");
            assertEquals(liveBefore, NativeMemory.liveBytes(), "off-heap bytes left by the stopped warm-up");
            assertEquals(workersBefore, workerThreads(), "worker threads left by the stopped warm-up");
        }
    }

    /** {@return the names of the live kernel worker threads, sorted} */
    private static List<String> workerThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive).map(Thread::getName)
                .filter(name -> name.startsWith(WORKER_THREAD)).sorted().toList();
    }

    /** Sizes cut to a few blocks keep their last block and the parity of their block count; small ones stay. */
    @Test
    void aMiniatureKeepsTheBlockStructureOfEachSize() {
        assertEquals(0, WarmUpLoop.miniature(0, 16));
        assertEquals(64, WarmUpLoop.miniature(64, 16));
        assertEquals(33, WarmUpLoop.miniature(65, 16));
        assertEquals(64, WarmUpLoop.miniature(256, 16));
        assertEquals(58, WarmUpLoop.miniature(250, 16));
        assertEquals(32, WarmUpLoop.miniature(1024, 8));
        assertEquals(12, WarmUpLoop.miniature(100, 4));
        try (TestRnn wide = new TestRnn(11, new RnnShape(Cell.LSTM, 200, 256, 2, Direction.BIDIRECTIONAL, 250, true),
                Options.DEFAULT.withPrecision(WeightPrecision.BFLOAT16));
             Model small = WarmUpLoop.miniatureOf(wide.model);
             TestRnn narrow = new TestRnn(12, RnnShape.of(Cell.GRU, 3, 5), Options.DEFAULT)) {
            int lanes = wide.model.options().backend().family().lanes();
            RnnShape shape = small.shape();
            assertEquals(Cell.LSTM, shape.cell());
            assertEquals(2, shape.layers());
            assertEquals(Direction.BIDIRECTIONAL, shape.direction());
            assertTrue(shape.peepholes());
            assertEquals(wide.model.options(), small.options());
            for (int[] sizes : new int[][] {{200, shape.inputSize()}, {256, shape.hiddenSize()},
                                            {250, shape.projectionSize()}}) {
                int blocks = (sizes[0] + lanes - 1) / lanes;
                int smallBlocks = (sizes[1] + lanes - 1) / lanes;
                assertTrue(smallBlocks <= Math.min(blocks, 4), sizes[0] + " -> " + sizes[1] + " at " + lanes);
                assertEquals(sizes[0] % lanes, sizes[1] % lanes, sizes[0] + " -> " + sizes[1] + " at " + lanes);
                assertEquals(blocks % 2, smallBlocks % 2, sizes[0] + " -> " + sizes[1] + " at " + lanes);
            }
            assertEquals(null, WarmUpLoop.miniatureOf(narrow.model), "a model of a few blocks is warmed as it is");
        }
    }

    /** Where H and P cut alike would leave P as wide as H, H keeps two more blocks at a time until it is wider. */
    @Test
    void aMiniatureKeepsItsProjectionNarrowerThanItsHiddenSize() {
        try (TestRnn wide = new TestRnn(14, RnnShape.of(Cell.LSTM, 40, 1024).withProjection(256), Options.DEFAULT);
             Model small = WarmUpLoop.miniatureOf(wide.model)) {
            int lanes = wide.model.options().backend().family().lanes();
            RnnShape shape = small.shape();
            assertTrue(shape.projectionSize() < shape.hiddenSize(), shape.toString());
            assertTrue(shape.hiddenSize() < 1024, shape.toString());
            assertEquals(1024 % lanes, shape.hiddenSize() % lanes, shape + " at " + lanes);
            assertEquals(256 % lanes, shape.projectionSize() % lanes, shape + " at " + lanes);
            assertEquals((1024 / lanes) % 2, ((shape.hiddenSize() + lanes - 1) / lanes) % 2, shape + " at " + lanes);
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void aLimitTooShortToSettleSaysSo(Cell cell) {
        try (TestRnn model = new TestRnn(8, RnnShape.of(cell, 3, 5), Options.DEFAULT);
             Runner runner = model.runner(1, 4)) {
            WarmUp report = runner.warmUp(Duration.ofNanos(1));
            assertFalse(report.settled(), "one round cannot see two quiet windows: " + report);
            assertEquals(2, report.calls(), "one forward and one step at batch 1");
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void badLimitsAndClosedRunnersAreRefused(Cell cell) {
        try (TestRnn model = new TestRnn(9, RnnShape.of(cell, 3, 5), Options.DEFAULT)) {
            Runner runner = model.runner(1, 4);
            assertTrue(assertThrows(IllegalArgumentException.class, () -> runner.warmUp(Duration.ZERO))
                    .getMessage().contains("limit"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> runner.warmUp(Duration.ofSeconds(-1)))
                    .getMessage().contains("limit"));
            assertTrue(assertThrows(NullPointerException.class, () -> runner.warmUp(null))
                    .getMessage().contains("limit"));
            runner.close();
            assertTrue(assertThrows(IllegalStateException.class, runner::warmUp).getMessage().contains("closed"));
        }
    }

    /** The kernel methods a child JVM listed as compiled by C1 during its first calls. */
    private static List<String> compiledKernels(String output) {
        for (String line : output.split("\n")) {
            if (line.startsWith("kernelsCompiled=[")) {
                String list = line.substring("kernelsCompiled=[".length(), line.lastIndexOf(']'));
                return list.isEmpty() ? List.of() : List.of(list.split(", "));
            }
        }
        throw new AssertionError("no line kernelsCompiled= in: " + output);
    }

    private static long value(String output, String prefix) {
        for (String line : output.split("\n")) {
            if (line.startsWith(prefix)) {
                return Long.parseLong(line.substring(prefix.length()).trim());
            }
        }
        throw new AssertionError("no line " + prefix + " in: " + output);
    }

    /**
     * Runs {@link FirstCalls} in a new JVM with this JVM's vector options, not its recompilation cutoff (the new JVM
     * is to be as a service's that only serves); returns its output.
     */
    private static String childJvm(Before before, Arguments arguments) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new ArrayList<>(List.of(java));
        command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .filter(option -> option.startsWith("-XX:") || option.startsWith("--add-modules")
                        || option.startsWith("-Dvlstm."))
                .filter(option -> !option.startsWith("-XX:PerMethodRecompilationCutoff="))
                .toList());
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), FirstCalls.class.getName(),
                before.name(), arguments.name()));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(3, TimeUnit.MINUTES), "child JVM timed out");
        assertEquals(0, process.exitValue(), "child JVM failed: " + output);
        return output;
    }
}
