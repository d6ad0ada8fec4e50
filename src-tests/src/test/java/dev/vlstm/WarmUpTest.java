package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A runner's warm-up brings a cold JVM's kernels to compiled code. Compiled code is checked without timing
 * anything: until C2 compiles a Vector API loop, the interpreter and C1 box every vector, so the bytes a thread
 * allocates over its calls tell compiled (0) from not yet compiled. Each check runs in a new JVM, since this one's
 * kernels are warm from the other tests; the control case shows that a cold JVM's first calls do allocate. The
 * report, its invisibility and its refusals are checked for LSTMs and GRUs.
 */
class WarmUpTest {

    private static final int INPUT_SIZE = 48;
    private static final int HIDDEN_SIZE = 96;
    private static final int STEPS = 6;
    private static final int BATCH = 5;
    private static final int CALLS = 100;
    /** What a few deoptimizations of tiles may re-materialize: vectors of up to 64 bytes, a few at a time. */
    private static final long FEW_DEOPTIMIZATIONS_BYTES = 2048;

    /** How a child JVM warms up before its first calls. */
    enum Before {
        /** No warm-up: the control. */
        NOTHING,
        /** {@link Runner#warmUp(Duration)} of the runner that then serves. */
        WARM_UP,
        /**
         * {@link Model#warmUpInBackground(Options, Duration)}, waited for; the serving runner and state are made
         * before it starts, as a service's are, and are not the ones it warms.
         */
        WARM_UP_IN_BACKGROUND
    }

    /**
     * Run in a child JVM: prints the bytes allocated by the first {@link #CALLS} forward and step calls of a new runner (on
     * segments of a confined arena, as a service's), after the warm-up its argument names ({@link Before}).
     */
    public static final class FirstCalls {
        public static void main(String[] args) throws Exception {
            Before before = Before.valueOf(args[0]);
            com.sun.management.ThreadMXBean threads =
                    (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
            try (TestRnn model = new TestRnn(5, RnnShape.of(Cell.LSTM, INPUT_SIZE, HIDDEN_SIZE), Options.DEFAULT);
                 Runner runner = model.runner(BATCH, STEPS);
                 State state = model.model.newState(BATCH);
                 Arena arena = Arena.ofConfined()) {
                switch (before) {
                    case NOTHING -> { }
                    case WARM_UP -> System.out.println("warmUp=" + runner.warmUp(Duration.ofMinutes(2)));
                    case WARM_UP_IN_BACKGROUND -> System.out.println("warmUp=" + model.model.warmUpInBackground(
                            model.model.options().withMaxBatch(BATCH).withMaxSteps(STEPS), Duration.ofMinutes(2))
                            .get());
                }
                MemorySegment x = arena.allocate((long) STEPS * BATCH * INPUT_SIZE * Float.BYTES);
                MemorySegment.copy(MemorySegment.ofArray(model.input(STEPS, BATCH)), 0, x, 0, x.byteSize());
                MemorySegment y = arena.allocate((long) STEPS * BATCH * HIDDEN_SIZE * Float.BYTES);
                MemorySegment h = arena.allocate((long) BATCH * HIDDEN_SIZE * Float.BYTES);
                MemorySegment frame = x.asSlice(0, (long) BATCH * INPUT_SIZE * Float.BYTES);
                long allocatedBefore = threads.getCurrentThreadAllocatedBytes();
                for (int call = 0; call < CALLS; call++) {
                    runner.forward(x, STEPS, BATCH, null, null, y, h, null);
                    runner.step(frame, state, h);
                }
                System.out.println("allocated=" + (threads.getCurrentThreadAllocatedBytes() - allocatedBefore));
            }
        }
    }

    /**
     * The first calls after a warm-up may allocate a few hundred bytes: compiled code that meets something new (here,
     * other segments) may be deoptimized and recompiled once, which re-materializes the vectors that C2 had kept in
     * registers (192 and 280 bytes measured, in one of the first calls or in a later one). Code that is not yet
     * compiled allocates megabytes over the same calls (the control below).
     */
    @ParameterizedTest
    @EnumSource(value = Before.class, names = {"WARM_UP", "WARM_UP_IN_BACKGROUND"})
    void afterAWarmUpTheFirstCallsOfAColdJvmRunCompiledCode(Before before) throws Exception {
        String output = childJvm(before);
        assertTrue(output.contains("settled=true"), "the warm-up should settle within its limit: " + output);
        assertTrue(allocated(output) <= FEW_DEOPTIMIZATIONS_BYTES, "the first calls after " + before + " allocated: "
                + output);
    }

    @Test
    void withoutAWarmUpTheFirstCallsOfAColdJvmAllocate() throws Exception {
        String output = childJvm(Before.NOTHING);
        assertTrue(allocated(output) > 100 * FEW_DEOPTIMIZATIONS_BYTES,
                "control: cold calls should box vectors: " + output);
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

    @ParameterizedTest
    @EnumSource(Cell.class)
    void aLimitTooShortToSettleSaysSo(Cell cell) {
        try (TestRnn model = new TestRnn(8, RnnShape.of(cell, 3, 5), Options.DEFAULT);
             Runner runner = model.runner(1, 4)) {
            WarmUp report = runner.warmUp(Duration.ofNanos(1));
            assertFalse(report.settled(), "one round cannot see three quiet windows: " + report);
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

    private static long allocated(String output) {
        for (String line : output.split("\n")) {
            if (line.startsWith("allocated=")) {
                return Long.parseLong(line.substring("allocated=".length()).trim());
            }
        }
        throw new AssertionError("no allocation line in: " + output);
    }

    /** Runs {@link FirstCalls} in a new JVM with this JVM's vector options; returns its output. */
    private static String childJvm(Before before) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new ArrayList<>(List.of(java));
        command.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments().stream()
                .filter(option -> option.startsWith("-XX:") || option.startsWith("--add-modules")
                        || option.startsWith("-Dvlstm."))
                .toList());
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), FirstCalls.class.getName(),
                before.name()));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(3, TimeUnit.MINUTES), "child JVM timed out");
        assertEquals(0, process.exitValue(), "child JVM failed: " + output);
        return output;
    }
}
