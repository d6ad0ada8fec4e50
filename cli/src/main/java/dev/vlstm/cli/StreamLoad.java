package dev.vlstm.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import dev.vlstm.BatcherOptions;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Runner;
import dev.vlstm.State;
import dev.vlstm.StreamBatcher;
import dev.vlstm.kernel.Settling;

/**
 * Offered loads of N streams on one {@link Model}, two kinds:
 * <ul>
 *   <li>A <em>closed loop</em>, as N connections of a service each waiting for its reply: N producer threads, each
 *       owning one stream, submit one frame of random input and wait for its output before submitting the next. The
 *       streams are served by one {@link StreamBatcher} ({@link Serving#BATCHER}: each producer calls its stream's
 *       blocking {@link StreamBatcher.Handle#step(MemorySegment, MemorySegment)}), each alone
 *       ({@link Serving#ALONE}: each producer steps its own stream with {@link Runner#step} at batch 1, on a runner
 *       of its own, one thread, over the same model), or by a caller's {@link Step}s ({@link Serving#PEER}: another
 *       library). A closed loop measures capacity: it offers exactly as many frames as the server finishes.</li>
 *   <li>An <em>open loop</em> ({@link #offered}) at a fixed mean rate, as N independent clients that do not wait for
 *       each other: each stream receives frames as a Poisson process of rate R / N (together: arrivals of rate R,
 *       each to a stream chosen uniformly at random), submitted by one generator thread to one batcher with a
 *       callback ({@link StreamBatcher.Handle#trySubmit}, so that refusing a frame costs the generator no exception).
 *       Each latency runs from the frame's scheduled arrival, not from when the generator got to submit it, so a
 *       late generator or a full queue adds to the latencies instead of hiding them.</li>
 * </ul>
 * Everything runs on whatever cores the JVM has. A run warms up for {@link Plan#warmUp()}, then measures for
 * {@link Plan#measured()}: the frames whose output arrived within the measured window, and latencies: a closed loop's
 * from submission to output of those frames, an open loop's from arrival to output of the frames that arrived within
 * the window, however late their output came. Used by {@code vlstm bench --streams} and the bench module's stream
 * sweep, so that both measure the same way.
 */
public final class StreamLoad {

    /** How the streams are served. */
    public enum Serving {
        /** Every stream's frames stepped together by one {@link StreamBatcher}. */
        BATCHER("batcher"),
        /** Every stream stepped alone, at batch 1, on its producer's own runner. */
        ALONE("alone"),
        /** Every stream stepped by another library, through the caller's {@link Step}s. */
        PEER("peer");

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
     * @param streams            N, the streams (and a closed loop's producer threads)
     * @param frames             the frames whose output arrived within the measured window, over all streams
     * @param windowNanos        the measured window's length
     * @param sortedLatencyNanos sorted latencies: a closed loop's from submission to output of those frames (of the
     *                           last {@link StreamLoad#SAMPLES}{@code / N} of each stream's, if there were more); an
     *                           open loop's from arrival to output of the frames that arrived in the window and were
     *                           queued, however late their output came (the last {@link StreamLoad#SAMPLES})
     * @param meanBatch          the frames per batched step in the window (1 when every stream is stepped alone)
     * @param offeredPerSecond   an open loop's mean arrival rate over all streams, frames per second; NaN for a
     *                           closed loop
     * @param refused            an open loop's frames that arrived in the measured window and were refused because
     *                           the batcher's queue was full; 0 for a closed loop
     * @param submitLagNanosP99  an open loop's 99th percentile, over the frames that arrived in the measured window
     *                           and were queued, of the time from a frame's arrival to its submission (how late the
     *                           generator thread got to it: part of every latency, and of the machine rather than
     *                           the batcher); NaN for a closed loop
     */
    public record Result(Serving serving, int streams, long frames, long windowNanos, long[] sortedLatencyNanos,
                         double meanBatch, double offeredPerSecond, long refused, double submitLagNanosP99) {

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

    /**
     * What {@link #backlog} measured: the batcher draining queued frames with no producer running.
     *
     * @param stepsPerSecond frames stepped per second over the measured rounds, all streams together
     * @param meanBatch      the frames per batched step in those rounds
     */
    public record Backlog(double stepsPerSecond, double meanBatch) {
    }

    /** Latencies kept over all streams: at most this many (16 MiB), shared out equally between the streams. */
    public static final int SAMPLES = 1 << 21;
    /** The fewest latencies kept per stream, however many streams there are. */
    private static final int MIN_SAMPLES_PER_STREAM = 1024;
    private static final long RANDOM_SEED = 19;
    /** An open loop's queue: frames per stream, up to {@link #OPEN_LOOP_QUEUE_MAX} in all. */
    private static final int OPEN_LOOP_QUEUE_PER_STREAM = 64;
    /** The most frames a stream submits per round of {@link #backlog}, as one chunk. */
    private static final int BACKLOG_CHUNK = 64;
    /** The most frames an open loop's queue holds (each is {@code I + S} pooled floats). */
    private static final int OPEN_LOOP_QUEUE_MAX = 4096;
    /** How long an open loop waits after its window for the frames still queued before it calls the run failed. */
    public static final Duration DRAIN_LIMIT = Duration.ofSeconds(60);
    private static final long DRAIN_POLL_NANOS = 100_000;

    private StreamLoad() {
    }

    /**
     * Brings both servings to compiled speed before any run is timed: {@link Runner#warmUp(Duration)} (the kernels,
     * at batch 1 and 5), then one stream's frames through a batcher of up to 4 rows until the JIT has gone quiet and
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
        try (Runner runner = model.runner(model.options().withMaxBatch(5).withMaxSteps(1).withThreads(threads))) {
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
            return drive(Serving.BATCHER, steps, plan, batcher);
        }
    }

    /**
     * The batcher's own ceiling: its steps per second when every stream already has frames queued and no producer
     * runs while it steps. Each round, every one of N streams submits one chunk of frames (as many as the queue holds
     * per stream, at most 64) with a callback, and the round ends when the last chunk has been delivered; rounds
     * repeat through {@code plan}'s warm-up, then are timed, whole, until the measured window has passed. A closed or
     * open loop's producers run on the same cores as the batcher; this measures the batcher alone, against which
     * {@link #kernelStepsPerSecond} at the same batch is the bound.
     *
     * @param model   a unidirectional LSTM or GRU; not owned
     * @param options the batcher's; {@code maxStreams} and {@code queueCapacity} must be at least {@code streams}
     * @param streams N &ge; 1
     * @param plan    the warm-up and the measured window
     * @return the frames per second and the mean batch of the timed rounds
     * @throws IllegalArgumentException for a bidirectional model or too few slots or frames in {@code options}
     * @throws IllegalStateException    if a step failed (with its exception as cause), or a round was not delivered
     *                                  within {@link #DRAIN_LIMIT}
     */
    public static Backlog backlog(Model model, BatcherOptions options, int streams, Plan plan) {
        checkStreams(streams);
        if (options.maxStreams() < streams || options.queueCapacity() < streams) {
            throw new IllegalArgumentException(streams + " streams need maxStreams and queueCapacity of at least "
                    + streams + ", got " + options);
        }
        int chunk = Math.min(BACKLOG_CHUNK, options.queueCapacity() / streams);
        try (StreamBatcher batcher = StreamBatcher.start(model, options); Arena arena = Arena.ofShared()) {
            StreamBatcher.Handle[] handles = new StreamBatcher.Handle[streams];
            MemorySegment[] inputs = new MemorySegment[streams];
            for (int n = 0; n < streams; n++) {
                handles[n] = batcher.open();
                inputs[n] = random(arena, chunk * model.shape().inputSize(), n);
            }
            long from = System.nanoTime() + plan.warmUp().toNanos();
            while (System.nanoTime() < from) {
                backlogRound(batcher, handles, inputs, chunk);
            }
            long batchesBefore = batcher.batchedSteps();
            long framesBefore = batcher.steppedFrames();
            long timed = 0;
            long frames = 0;
            while (timed < plan.measured().toNanos()) {
                timed += backlogRound(batcher, handles, inputs, chunk);
                frames += (long) chunk * streams;
            }
            double meanBatch = (double) (batcher.steppedFrames() - framesBefore)
                    / Math.max(1, batcher.batchedSteps() - batchesBefore);
            return new Backlog(frames * 1e9 / timed, meanBatch);
        }
    }

    /**
     * One round of {@link #backlog}: a chunk per stream, until all are delivered and the batcher has finished them
     * (a chunk is delivered before its frames return to the queue); returns its nanoseconds.
     */
    private static long backlogRound(StreamBatcher batcher, StreamBatcher.Handle[] handles, MemorySegment[] inputs,
                                     int chunk) {
        CountDownLatch delivered = new CountDownLatch(handles.length);
        AtomicReference<Throwable> failed = new AtomicReference<>();
        long start = System.nanoTime();
        for (int n = 0; n < handles.length; n++) {
            handles[n].submitChunk(chunk, inputs[n], (stream, h, failure) -> {
                if (failure != null) {
                    failed.compareAndSet(null, failure);
                }
                delivered.countDown();
            });
        }
        boolean[] drained = new boolean[1];
        uninterruptibly(() -> drained[0] = delivered.await(DRAIN_LIMIT.toNanos(), TimeUnit.NANOSECONDS));
        long limit = System.nanoTime() + DRAIN_LIMIT.toNanos();
        while (drained[0] && batcher.pendingFrames() > 0) {
            drained[0] = System.nanoTime() < limit;
            Thread.onSpinWait();
        }
        long elapsed = System.nanoTime() - start;
        if (failed.get() != null) {
            throw new IllegalStateException("a batched step failed: " + failed.get().getMessage(), failed.get());
        }
        if (!drained[0]) {
            throw new IllegalStateException("a round of " + handles.length + " chunks of " + chunk
                    + " frames was not delivered within " + DRAIN_LIMIT);
        }
        return elapsed;
    }

    /**
     * {@return the queue capacity an open loop of {@code streams} is given: 64 frames per stream, at most 4,096 in all,
     * deep enough that mostly a load beyond the batcher's capacity is refused}
     *
     * @param streams N &ge; 1
     */
    public static int openLoopQueue(int streams) {
        return (int) Math.min(OPEN_LOOP_QUEUE_MAX, (long) streams * OPEN_LOOP_QUEUE_PER_STREAM);
    }

    /**
     * Runs N streams served by a {@link StreamBatcher} of {@code options} over {@code model} in an open loop: frames
     * arrive at a mean {@code framesPerSecond} over all streams, each stream a Poisson process of an equal share (the
     * class comment says how), and are submitted with a callback. Frames that find the queue full are refused and
     * counted, not retried. After the measured window no frame arrives, and the run ends once every submitted frame
     * has been delivered, so that the frames of the window that a stall or a long queue delayed are measured too. It
     * holds {@code N × (queueCapacity + 1)} arrival times, 8 bytes each.
     *
     * @param model           a unidirectional LSTM or GRU; not owned
     * @param options         the batcher's; {@code maxStreams} must be at least {@code streams}
     * @param streams         N &ge; 1
     * @param framesPerSecond R, the mean arrival rate over all streams, positive
     * @param plan            the warm-up (arrivals not counted) and the measured window
     * @return what was measured: the frames delivered in the window, the latencies from arrival of the frames that
     *         arrived in it, the refusals
     * @throws IllegalArgumentException for a bidirectional model, too few slots, or a rate that is not positive
     * @throws IllegalStateException    if a step failed (with its exception as cause), or the frames submitted were
     *                                  not all delivered within {@link #DRAIN_LIMIT} of the window's end
     */
    public static Result offered(Model model, BatcherOptions options, int streams, double framesPerSecond,
                                 Plan plan) {
        checkStreams(streams);
        if (options.maxStreams() < streams) {
            throw new IllegalArgumentException(streams + " streams need maxStreams of at least " + streams + ", got "
                    + options);
        }
        if (!(framesPerSecond > 0) || Double.isInfinite(framesPerSecond)) {
            throw new IllegalArgumentException("the offered rate must be a positive number of frames per second, got "
                    + framesPerSecond);
        }
        try (StreamBatcher batcher = StreamBatcher.start(model, options); Arena arena = Arena.ofShared()) {
            OpenLoop loop = new OpenLoop(batcher, arena, model.shape().inputSize(), streams, options.queueCapacity());
            long from = System.nanoTime() + plan.warmUp().toNanos();
            long to = from + plan.measured().toNanos();
            loop.start(framesPerSecond, from, to);
            return loop.finish(meanBatchOver(batcher, from, to));
        }
    }

    /**
     * The speed of {@code model}'s batched step itself at {@code batch} rows: {@link Runner#step} of all rows at once
     * on one runner of {@code threads}, back to back for {@code plan}'s warm-up, then timed for its measured window,
     * with nothing around it. What a batcher whose steps are all this big could reach at best.
     *
     * @param model   a unidirectional LSTM or GRU; not owned
     * @param batch   the rows of each step, &ge; 1
     * @param threads the runner's threads
     * @param plan    the warm-up and the measured window
     * @return rows stepped per second
     * @throws IllegalArgumentException for a bidirectional model or a batch below 1
     */
    public static double kernelStepsPerSecond(Model model, int batch, int threads, Plan plan) {
        if (batch < 1) {
            throw new IllegalArgumentException("the batch must be >= 1, got " + batch);
        }
        Options options = model.options().withMaxBatch(batch).withMaxSteps(1).withThreads(threads);
        try (Runner runner = model.runner(options); State state = model.newState(batch);
             Arena arena = Arena.ofConfined()) {
            MemorySegment x = random(arena, batch * model.shape().inputSize(), 0);
            MemorySegment h = arena.allocate((long) batch * model.shape().hiddenStateSize() * Float.BYTES, 64);
            long from = System.nanoTime() + plan.warmUp().toNanos();
            long to = from + plan.measured().toNanos();
            long now = System.nanoTime();
            while (now < from) {
                runner.step(x, state, h);
                now = System.nanoTime();
            }
            long calls = 0;
            for (; now < to; now = System.nanoTime()) {
                runner.step(x, state, h);
                calls++;
            }
            return (double) calls * batch * 1e9 / (now - from);
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

    /**
     * Runs N closed-loop streams each stepped by one of {@code steps}, on a producer thread of its own: how
     * {@link Serving#PEER} measures another library's streams the same way as the batcher's and alone's.
     *
     * @param steps one per stream, each stepping its stream by one frame and returning once the output is there
     * @param plan  the warm-up and the measured window
     * @return what was measured, as {@link Serving#PEER}
     * @throws IllegalArgumentException for no steps
     * @throws IllegalStateException    if a step threw (with what it threw as cause)
     */
    public static Result peer(Step[] steps, Plan plan) {
        checkStreams(steps.length);
        return drive(Serving.PEER, steps.clone(), plan, null);
    }

    /** One frame of one stream: submit it and return once its output is there. */
    @FunctionalInterface
    public interface Step {

        /** Steps the stream by one frame; an exception it throws ends the run. */
        void run();
    }

    /**
     * Sleeps until {@code to}, reading {@code batcher}'s counters at {@code from} and {@code to}: the frames per
     * batched step within that window.
     */
    private static double meanBatchOver(StreamBatcher batcher, long from, long to) {
        sleepUntil(from);
        long batchesBefore = batcher.batchedSteps();
        long framesBefore = batcher.steppedFrames();
        sleepUntil(to);
        return (double) (batcher.steppedFrames() - framesBefore) / Math.max(1, batcher.batchedSteps() - batchesBefore);
    }

    /**
     * Runs one producer thread per step until the window closes, then gathers what they measured; the mean batch from
     * {@code batcher}'s counters, or 1 without one.
     */
    private static Result drive(Serving serving, Step[] steps, Plan plan, StreamBatcher batcher) {
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
        double meanBatch = batcher == null ? 1 : meanBatchOver(batcher, window[0], window[1]);
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
        return new Result(serving, streams, total, window[1] - window[0], sorted, meanBatch, Double.NaN, 0,
                Double.NaN);
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

    /**
     * One open loop's streams, arrivals and deliveries. The generator thread schedules and submits frames; the
     * callbacks run on the batcher's dispatcher thread. Each stream keeps the arrival times of its frames submitted and
     * not yet delivered in a ring: written by the generator before it submits a frame, read by the callback, ordered by
     * the batcher's own hand-off of the frame.
     */
    private static final class OpenLoop {

        private final StreamBatcher.Handle[] handles;
        private final MemorySegment[] inputs;
        private final StreamBatcher.FrameCallback[] callbacks;
        /** Per stream, a ring one longer than the queue's capacity, so a refused frame never overwrites a live one. */
        private final long[][] arrivals;
        /** The generator's next slot per stream. */
        private final int[] tails;
        /** The dispatcher's next slot per stream. */
        private final int[] heads;
        /** The dispatcher's: the latencies of the frames that arrived in the window, the last {@link #SAMPLES}. */
        private final long[] latencies = new long[SAMPLES];
        /** The generator's: from arrival to submission, of those frames that were queued, the last ones. */
        private final long[] lags = new long[SAMPLES];
        private long lagged;
        private final AtomicLong completed = new AtomicLong();
        private final AtomicReference<Throwable> failure = new AtomicReference<>();
        /** The dispatcher's: frames delivered in the window, and frames that arrived in it (whenever delivered). */
        private long delivered;
        private long measured;
        /** The generator's: frames submitted, and those refused that arrived in the window. */
        private long submitted;
        private long refused;
        private long from;
        private long to;
        private double framesPerSecond;
        private Thread generator;

        OpenLoop(StreamBatcher batcher, Arena arena, int inputSize, int streams, int queueCapacity) {
            handles = new StreamBatcher.Handle[streams];
            inputs = new MemorySegment[streams];
            callbacks = new StreamBatcher.FrameCallback[streams];
            arrivals = new long[streams][queueCapacity + 1];
            tails = new int[streams];
            heads = new int[streams];
            for (int n = 0; n < streams; n++) {
                int stream = n;
                handles[n] = batcher.open();
                inputs[n] = random(arena, inputSize, n);
                callbacks[n] = (handle, h, failed) -> delivered(stream, failed);
            }
        }

        /**
         * Starts the generator: frames arrive from now until {@code windowTo}; those that arrive from
         * {@code windowFrom} are measured, and those delivered within the window count as its throughput.
         */
        void start(double rate, long windowFrom, long windowTo) {
            framesPerSecond = rate;
            from = windowFrom;
            to = windowTo;
            generator = new Thread(this::generate, "vlstm-open-loop-generator");
            generator.setDaemon(true);
            generator.start();
        }

        private void generate() {
            SplittableRandom random = new SplittableRandom(RANDOM_SEED);
            double meanGap = 1e9 / framesPerSecond;
            double next = System.nanoTime();
            try {
                for (long arrival = (long) next; arrival < to; arrival = (long) next) {
                    long wait = arrival - System.nanoTime();
                    if (wait > 0) {
                        LockSupport.parkNanos(wait);
                        continue;
                    }
                    if (failure.get() != null) {
                        return;
                    }
                    int stream = random.nextInt(handles.length);
                    int slot = tails[stream];
                    arrivals[stream][slot] = arrival;
                    long lag = System.nanoTime() - arrival;
                    if (handles[stream].trySubmit(inputs[stream], callbacks[stream])) {
                        tails[stream] = slot + 1 == arrivals[stream].length ? 0 : slot + 1;
                        submitted++;
                        if (arrival >= from) {
                            lags[(int) (lagged++ % lags.length)] = lag;
                        }
                    } else if (arrival >= from) {
                        refused++;
                    }
                    next -= Math.log(1 - random.nextDouble()) * meanGap;
                }
            } catch (RuntimeException | Error e) {
                failure.compareAndSet(null, e);
            }
        }

        private void delivered(int stream, Throwable failed) {
            long now = System.nanoTime();
            int slot = heads[stream];
            heads[stream] = slot + 1 == arrivals[stream].length ? 0 : slot + 1;
            long arrival = arrivals[stream][slot];
            if (failed != null) {
                failure.compareAndSet(null, failed);
            } else {
                if (now >= from && now <= to) {
                    delivered++;
                }
                if (arrival >= from && arrival < to) {
                    latencies[(int) (measured++ % latencies.length)] = now - arrival;
                }
            }
            completed.incrementAndGet();
        }

        /** Waits for the generator and for every frame it submitted, then gathers what was measured. */
        Result finish(double meanBatch) {
            uninterruptibly(generator::join);
            long deadline = System.nanoTime() + DRAIN_LIMIT.toNanos();
            while (completed.get() < submitted && failure.get() == null) {
                if (System.nanoTime() - deadline > 0) {
                    throw new IllegalStateException(String.format(Locale.ROOT, "%d of %d frames submitted were not "
                            + "delivered within %d s of the window's end", submitted - completed.get(), submitted,
                            DRAIN_LIMIT.toSeconds()));
                }
                LockSupport.parkNanos(DRAIN_POLL_NANOS);
            }
            if (failure.get() != null) {
                throw new IllegalStateException("an open-loop frame failed", failure.get());
            }
            long[] sorted = Arrays.copyOf(latencies, (int) Math.min(measured, latencies.length));
            Arrays.sort(sorted);
            long[] sortedLags = Arrays.copyOf(lags, (int) Math.min(lagged, lags.length));
            Arrays.sort(sortedLags);
            return new Result(Serving.BATCHER, handles.length, delivered, to - from, sorted, meanBatch,
                    framesPerSecond, refused, sortedLags.length == 0 ? Double.NaN : NearestRank.of(sortedLags, 99));
        }
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
