package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.time.Duration;
import java.util.SplittableRandom;

import com.sun.management.ThreadMXBean;

/**
 * Runs a runner's forward and step paths on made-up data until HotSpot has compiled them. Two signals say when:
 * the JIT's total compilation time stops growing, and the calls stop allocating (before C2 compiles a Vector API
 * loop, the interpreter and C1 box every vector).
 * Calls are made in windows of at least {@link #WINDOW_NANOS}; the warm-up has
 * settled after {@link #QUIET_WINDOWS} windows in a row without either, and its last window no slower than
 * {@link #SLOWER_THAN_BEST} times its fastest.
 *
 * <p>The warmed paths are the ones a runner's calls take: one batch row (the one-row tiles) and, if the runner takes
 * four or more, four rows (the four-row tiles), each through {@code forward} (with and without initial states
 * and outputs, so that the JIT sees both branches) and through {@code step}. The JIT compiles code, not objects:
 * every runner on the same kernel benefits, whatever its weights.
 */
final class RunnerWarmUp {

    static final Duration DEFAULT_LIMIT = Duration.ofSeconds(20);
    /** Long enough to see the JIT idle between compilations, short enough not to waste a settled JVM's time. */
    private static final long WINDOW_NANOS = 200_000_000L;
    private static final int QUIET_WINDOWS = 3;
    private static final double SLOWER_THAN_BEST = 1.25;
    /** Time steps of a warm-up sequence: several, so that the sequence loop is compiled as such. */
    private static final int STEPS = 4;
    private static final long SEED = 0x5eedL;

    private final LstmRunner runner;
    private final OffHeap memory = OffHeap.open();
    /** Per warmed batch size: a state, and slices of the shared buffers made once (a slice is an object). */
    private final int[] batches;
    private final LstmState[] states;
    private final MemorySegment[] sequences;
    private final MemorySegment[] stepInputs;
    private final MemorySegment[] initialHidden;
    private final MemorySegment[] initialCell;
    private final MemorySegment[] outputs;
    private final MemorySegment[] lastHidden;
    private final MemorySegment[] lastCell;

    private RunnerWarmUp(LstmRunner runner) {
        this.runner = runner;
        this.batches = runner.maxBatch() >= 4 ? new int[] {1, 4} : new int[] {1};
        int count = batches.length;
        this.states = new LstmState[count];
        this.sequences = new MemorySegment[count];
        this.stepInputs = new MemorySegment[count];
        this.initialHidden = new MemorySegment[count];
        this.initialCell = new MemorySegment[count];
        this.outputs = new MemorySegment[count];
        this.lastHidden = new MemorySegment[count];
        this.lastCell = new MemorySegment[count];
        int rows = batches[count - 1];
        int inputSize = runner.weights().inputSize();
        int hiddenSize = runner.weights().hiddenSize();
        int outputSize = runner.weights().outputSize();
        long inputRowBytes = (long) inputSize * Float.BYTES;
        long hiddenRowBytes = (long) hiddenSize * Float.BYTES;
        long outputRowBytes = (long) outputSize * Float.BYTES;
        try {
            MemorySegment x = memory.floats((long) STEPS * rows * inputSize);
            MemorySegment h0 = memory.floats((long) rows * outputSize);
            MemorySegment c0 = memory.floats((long) rows * hiddenSize);
            MemorySegment y = memory.floats((long) STEPS * rows * outputSize);
            MemorySegment hT = memory.floats((long) rows * outputSize);
            MemorySegment cT = memory.floats((long) rows * hiddenSize);
            fill(x, SEED);
            fill(h0, SEED + 1);
            fill(c0, SEED + 2);
            for (int n = 0; n < count; n++) {
                int batch = batches[n];
                states[n] = new LstmState(runner.weights(), batch);
                sequences[n] = x.asSlice(0, STEPS * batch * inputRowBytes);
                stepInputs[n] = x.asSlice(0, batch * inputRowBytes);
                initialHidden[n] = h0.asSlice(0, batch * outputRowBytes);
                initialCell[n] = c0.asSlice(0, batch * hiddenRowBytes);
                outputs[n] = y.asSlice(0, STEPS * batch * outputRowBytes);
                lastHidden[n] = hT.asSlice(0, batch * outputRowBytes);
                lastCell[n] = cT.asSlice(0, batch * hiddenRowBytes);
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /** Warms {@code runner}, whose guard the calling thread holds, for at most {@code limit}. */
    static WarmUp run(LstmRunner runner, Duration limit) {
        RunnerWarmUp warmUp = new RunnerWarmUp(runner);
        try {
            return warmUp.until(System.nanoTime() + limit.toNanos());
        } finally {
            warmUp.close();
        }
    }

    private WarmUp until(long deadline) {
        CompilationMXBean jit = ManagementFactory.getCompilationMXBean();
        boolean jitObservable = jit != null && jit.isCompilationTimeMonitoringSupported();
        ThreadMXBean threads = (ThreadMXBean) ManagementFactory.getThreadMXBean();
        long start = System.nanoTime();
        long calls = 0;
        long rounds = 0;
        int quietWindows = 0;
        double fastestRound = Double.POSITIVE_INFINITY;
        long compilationMillis = jitObservable ? jit.getTotalCompilationTime() : 0;
        while (true) {
            long windowStart = System.nanoTime();
            long allocatedBefore = threads.getCurrentThreadAllocatedBytes();
            long windowRounds = 0;
            long now;
            do {
                calls += round(rounds++);
                windowRounds++;
                now = System.nanoTime();
            } while (now - windowStart < WINDOW_NANOS && now < deadline);
            boolean allocated = threads.getCurrentThreadAllocatedBytes() != allocatedBefore;
            long compiled = jitObservable ? jit.getTotalCompilationTime() : compilationMillis;
            double round = (double) (now - windowStart) / windowRounds;
            fastestRound = Math.min(fastestRound, round);
            quietWindows = allocated || compiled != compilationMillis ? 0 : quietWindows + 1;
            compilationMillis = compiled;
            boolean settled = quietWindows >= QUIET_WINDOWS && round <= SLOWER_THAN_BEST * fastestRound;
            if (settled || now >= deadline) {
                return new WarmUp(calls, Duration.ofNanos(now - start), settled);
            }
        }
    }

    /** One forward and one step at each batch size; even rounds pass initial states and take every output. */
    private int round(long round) {
        boolean everything = (round & 1) == 0;
        for (int n = 0; n < batches.length; n++) {
            if (everything) {
                runner.checkedForward(sequences[n], STEPS, batches[n], initialHidden[n], initialCell[n], outputs[n],
                        lastHidden[n], lastCell[n]);
                runner.checkedStep(stepInputs[n], states[n], lastHidden[n]);
            } else {
                runner.checkedForward(sequences[n], STEPS, batches[n], null, null, null, lastHidden[n], null);
                runner.checkedStep(stepInputs[n], states[n], null);
            }
        }
        return 2 * batches.length;
    }

    /** Values in [-1, 1): inputs and states of the size a trained model sees. */
    private static void fill(MemorySegment floats, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (long offset = 0; offset < floats.byteSize(); offset += Float.BYTES) {
            floats.set(ValueLayout.JAVA_FLOAT, offset, (float) (2 * random.nextDouble() - 1));
        }
    }

    private void close() {
        for (LstmState state : states) {
            if (state != null) {
                state.close();
            }
        }
        memory.close();
    }
}
