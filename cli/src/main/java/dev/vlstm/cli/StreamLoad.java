package dev.vlstm.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;
import java.util.concurrent.locks.LockSupport;

import dev.vlstm.BatcherOptions;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Runner;
import dev.vlstm.State;
import dev.vlstm.StreamBatcher;
import dev.vlstm.kernel.Settling;

/**
 * A closed-loop offered load of N streams on one {@link Model}, as N connections of a service each waiting for its
 * reply: N producer threads, each owning one stream, submit one frame of random input and wait for its output before
 * submitting the next. The streams are served one of two ways:
 * <ul>
 *   <li>{@link Serving#BATCHER}: by one {@link StreamBatcher}; each producer calls its stream's blocking
 *       {@link StreamBatcher.Handle#step(MemorySegment, MemorySegment)}.</li>
 *   <li>{@link Serving#ALONE}: each producer steps its own stream with {@link Runner#step} at batch 1, on a runner
 *       of its own (one thread) over the same model.</li>
 * </ul>
 * Both run on whatever cores the JVM has. A run warms up for {@link Plan#warmUp()}, then measures for
 * {@link Plan#measured()}: the frames whose output arrived within the measured window, and each one's latency from
 * submission to output. Used by {@code vlstm bench --streams} and the bench module's stream sweep, so that both
 * measure the same way.
 */
public final class StreamLoad {

    /** How the streams are served. */
    public enum Serving {
        /** Every stream's frames stepped together by one {@link StreamBatcher}. */
        BATCHER("batcher"),
        /** Every stream stepped alone, at batch 1, on its producer's own runner. */
        ALONE("alone");

        private final String label;

        Serving(String label) {
            this.label = label;
        }

        /** {@return the name in tables: "batcher" or "alone"} */
        public String label() {
            return label;
        }
    }

    /**
     * How long a run lasts: its warm-up, whose frames are not counted, then its measured window.
     *
     * @param warmUp   &ge; 0
     * @param measured &gt; 0
     */
    public record Plan(Duration warmUp, Duration measured) {

        /**
         * Checks both durations.
         *
         * @throws IllegalArgumentException for a negative warm-up or a measured window that is not positive
         */
        public Plan {
            if (warmUp.isNegative() || !measured.isPositive()) {
                throw new IllegalArgumentException("the warm-up must be >= 0 and the measured window > 0, got "
                        + warmUp + " and " + measured);
            }
        }
    }

    /**
     * What one run measured.
     *
     * @param serving            how the streams were served
     * @param streams            N, the streams and producer threads
     * @param frames             the frames whose output arrived within the measured window, over all streams
     * @param windowNanos        the measured window's length
     * @param sortedLatencyNanos the latencies from submission to output of those frames (of the last
     *                           {@link StreamLoad#SAMPLES}{@code / N} of each stream's, if there were more), sorted
     * @param meanBatch          the frames per batched step in the window (1 when every stream is stepped alone)
     */
    public record Result(Serving serving, int streams, long frames, long windowNanos, long[] sortedLatencyNanos,
                         double meanBatch) {

        /** {@return frames stepped per second, over all streams} */
        public double stepsPerSecond() {
            return frames * 1e9 / windowNanos;
        }

        /**
         * {@return the latency at {@code percentile} (0 to 100, to a thousandth) of the frames measured, nearest rank,
         * in nanoseconds; NaN if none was}
         *
         * @param percentile e.g. 99.9
         */
        public double latencyNanos(double percentile) {
            if (sortedLatencyNanos.length == 0) {
                return Double.NaN;
            }
            return NearestRank.of(sortedLatencyNanos, percentile);
        }
    }

    /** Latencies kept over all streams: at most this many (16 MiB), shared out equally between the streams. */
    public static final int SAMPLES = 1 << 21;
    /** The fewest latencies kept per stream, however many streams there are. */
    private static final int MIN_SAMPLES_PER_STREAM = 1024;
    private static final long RANDOM_SEED = 19;

    private StreamLoad() {
    }

    /**
     * Brings both servings to compiled speed before any run is timed: {@link Runner#warmUp(Duration)} (the kernels,
     * at batch 1 and 4), then one stream's frames through a batcher of up to 4 rows until the JIT has gone quiet and
     * the producer's calls allocate nothing ({@link Settling}). Without it, the first point measures the interpreter:
     * a batcher's path is more than the runner's step.
     *
     * @param model   a unidirectional LSTM or GRU; not owned
     * @param threads the threads of each batched step
     * @param limit   the longest each of the two warm-ups may take, positive
     * @return whether both settled before their limit
     */
    public static boolean warmUp(Model model, int threads, Duration limit) {
        boolean settled;
        try (Runner runner = model.runner(model.options().withMaxBatch(4).withMaxSteps(1).withThreads(threads))) {
            settled = runner.warmUp(limit).settled();
        }
        BatcherOptions options = BatcherOptions.DEFAULT.withMaxBatch(4).withMaxStreams(1).withQueueCapacity(1)
                .withThreads(threads);
        try (StreamBatcher batcher = StreamBatcher.start(model, options); Arena arena = Arena.ofConfined()) {
            StreamBatcher.Handle stream = batcher.open();
            MemorySegment x = random(arena, model.shape().inputSize(), 0);
            MemorySegment h = arena.allocate((long) model.shape().hiddenStateSize() * Float.BYTES, 64);
            settled &= Settling.repeat(round -> {
                stream.step(x, h);
                return 1;
            }, System.nanoTime() + limit.toNanos()).settled();
        }
        return settled;
    }

    /**
     * Runs N closed-loop streams served by a {@link StreamBatcher} of {@code options} over {@code model}.
     *
     * @param model   a unidirectional LSTM or GRU; not owned
     * @param options the batcher's; {@code maxStreams} and {@code queueCapacity} must be at least {@code streams}
     * @param streams N &ge; 1
     * @param plan    the warm-up and the measured window
     * @return what was measured
     * @throws IllegalArgumentException for a bidirectional model or too few slots or frames in {@code options}
     * @throws IllegalStateException    if a step failed (with its exception as cause)
     */
    public static Result batcher(Model model, BatcherOptions options, int streams, Plan plan) {
        checkStreams(streams);
        if (options.maxStreams() < streams || options.queueCapacity() < streams) {
            throw new IllegalArgumentException(streams + " streams need maxStreams and queueCapacity of at least "
                    + streams + ", got " + options);
        }
        int inputSize = model.shape().inputSize();
        int outputSize = model.shape().hiddenStateSize();
        try (StreamBatcher batcher = StreamBatcher.start(model, options); Arena arena = Arena.ofShared()) {
            Step[] steps = new Step[streams];
            for (int n = 0; n < streams; n++) {
                StreamBatcher.Handle stream = batcher.open();
                MemorySegment x = random(arena, inputSize, n);
                MemorySegment h = arena.allocate((long) outputSize * Float.BYTES, 64);
                steps[n] = () -> stream.step(x, h);
            }
            return drive(Serving.BATCHER, steps, plan,
                    new Counters(batcher::batchedSteps, batcher::steppedFrames));
        }
    }

    /**
     * Runs N closed-loop streams, each stepped alone on its producer's own one-thread runner of {@code model}.
     *
     * @param model   a unidirectional LSTM or GRU; not owned
     * @param streams N &ge; 1
     * @param plan    the warm-up and the measured window
     * @return what was measured
     * @throws IllegalArgumentException for a bidirectional model
     * @throws IllegalStateException    if a step failed (with its exception as cause)
     */
    public static Result alone(Model model, int streams, Plan plan) {
        checkStreams(streams);
        Options single = model.options().withMaxBatch(1).withMaxSteps(1).withThreads(1);
        int inputSize = model.shape().inputSize();
        int outputSize = model.shape().hiddenStateSize();
        List<AutoCloseable> owned = new ArrayList<>();
        try (Arena arena = Arena.ofShared()) {
            Step[] steps = new Step[streams];
            for (int n = 0; n < streams; n++) {
                Runner runner = model.runner(single);
                owned.add(runner);
                State state = model.newState(1);
                owned.add(state);
                MemorySegment x = random(arena, inputSize, n);
                MemorySegment h = arena.allocate((long) outputSize * Float.BYTES, 64);
                steps[n] = () -> runner.step(x, state, h);
            }
            return drive(Serving.ALONE, steps, plan, null);
        } finally {
            for (AutoCloseable resource : owned.reversed()) {
                try {
                    resource.close();
                } catch (Exception e) {
                    throw new IllegalStateException("closing a stream's " + resource.getClass().getSimpleName(), e);
                }
            }
        }
    }

    /** One frame of one stream: submit it and wait for its output. */
    @FunctionalInterface
    private interface Step {
        void run();
    }

    /** The batcher's counters, read at the window's edges for the mean batch. */
    private record Counters(LongSupplier batches, LongSupplier frames) {
    }

    /** Runs one producer thread per step until the window closes, then gathers what they measured. */
    private static Result drive(Serving serving, Step[] steps, Plan plan, Counters counters) {
        int streams = steps.length;
        int capacity = Math.max(MIN_SAMPLES_PER_STREAM, SAMPLES / streams);
        long[][] latencies = new long[streams][capacity];
        long[] frames = new long[streams];
        CountDownLatch ready = new CountDownLatch(streams);
        CountDownLatch go = new CountDownLatch(1);
        long[] window = new long[2];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread[] producers = new Thread[streams];
        for (int n = 0; n < streams; n++) {
            int stream = n;
            producers[n] = new Thread(() -> {
                ready.countDown();
                try {
                    go.await();
                    frames[stream] = produce(steps[stream], window[0], window[1], latencies[stream]);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                } catch (RuntimeException | Error e) {
                    failure.compareAndSet(null, e);
                }
            }, "vlstm-stream-producer-" + n);
            producers[n].setDaemon(true);
            producers[n].start();
        }
        uninterruptibly(ready::await);
        window[0] = System.nanoTime() + plan.warmUp().toNanos();
        window[1] = window[0] + plan.measured().toNanos();
        go.countDown();
        long batchesBefore = 0;
        long framesBefore = 0;
        long batchesAfter = 0;
        long framesAfter = 0;
        if (counters != null) {
            sleepUntil(window[0]);
            batchesBefore = counters.batches().getAsLong();
            framesBefore = counters.frames().getAsLong();
            sleepUntil(window[1]);
            batchesAfter = counters.batches().getAsLong();
            framesAfter = counters.frames().getAsLong();
        }
        for (Thread producer : producers) {
            uninterruptibly(producer::join);
        }
        if (failure.get() != null) {
            throw new IllegalStateException("a " + serving.label() + " step failed", failure.get());
        }
        long total = Arrays.stream(frames).sum();
        long[] sorted = new long[(int) Arrays.stream(frames).map(count -> Math.min(count, capacity)).sum()];
        int at = 0;
        for (int n = 0; n < streams; n++) {
            int kept = (int) Math.min(frames[n], capacity);
            System.arraycopy(latencies[n], 0, sorted, at, kept);
            at += kept;
        }
        Arrays.sort(sorted);
        double meanBatch = counters == null ? 1
                : (double) (framesAfter - framesBefore) / Math.max(1, batchesAfter - batchesBefore);
        return new Result(serving, streams, total, window[1] - window[0], sorted, meanBatch);
    }

    /**
     * One producer's closed loop: steps until {@code to}; keeps the latency of each frame whose output arrived in
     * [{@code from}, {@code to}], the last {@code latencies.length} of them in a ring. Returns how many there were.
     */
    private static long produce(Step step, long from, long to, long[] latencies) {
        long measured = 0;
        for (long submitted = System.nanoTime(); submitted < to; submitted = System.nanoTime()) {
            step.run();
            long done = System.nanoTime();
            if (done >= from && done <= to) {
                latencies[(int) (measured++ % latencies.length)] = done - submitted;
            }
        }
        return measured;
    }

    private static MemorySegment random(Arena arena, int floats, long stream) {
        MemorySegment segment = arena.allocate((long) floats * Float.BYTES, 64);
        SplittableRandom random = new SplittableRandom(RANDOM_SEED + stream);
        for (int n = 0; n < floats; n++) {
            segment.setAtIndex(ValueLayout.JAVA_FLOAT, n, (float) (2 * random.nextDouble() - 1));
        }
        return segment;
    }

    private static void checkStreams(int streams) {
        if (streams < 1) {
            throw new IllegalArgumentException("streams must be >= 1, got " + streams);
        }
    }

    private static void sleepUntil(long deadline) {
        for (long left = deadline - System.nanoTime(); left > 0; left = deadline - System.nanoTime()) {
            LockSupport.parkNanos(left);
        }
    }

    /** A wait that an interrupt may cut short. */
    @FunctionalInterface
    private interface Wait {
        void await() throws InterruptedException;
    }

    /** Waits until {@code wait} returns, through interrupts, and keeps the thread's interrupt status. */
    private static void uninterruptibly(Wait wait) {
        boolean interrupted = false;
        while (true) {
            try {
                wait.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
