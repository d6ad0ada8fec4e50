package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Function;

/**
 * Serves many streams of one unidirectional {@link Model} at once, as NVIDIA Triton's sequence batcher does
 * in-process: each stream ({@link Handle}, from {@link #open()}) sends one frame at a time, or a chunk of T frames,
 * and one dispatcher thread steps the pending frames of different streams together as one batch, so that the weights
 * are read once for up to {@link BatcherOptions#maxBatch()} frames instead of once per frame.
 *
 * <p>Semantics:
 * <ul>
 *   <li>Per stream, frames run in submission order, and each output is bit for bit what stepping that stream alone
 *       with {@link Runner#step} at batch 1 gives (rows of a batch are computed independently). A stream never has
 *       two frames in one batch: a chunk's frames run one per batched step, in order, and the chunk is delivered
 *       once, when its last frame has been stepped.</li>
 *   <li>The dispatcher takes ready streams oldest first, up to {@code maxBatch}; it waits at most
 *       {@link BatcherOptions#maxDelay()} from the submission of the oldest pending frame for a full batch, and not at
 *       all while frames are left over from the previous step or once every open stream has a frame pending (no
 *       other stream could join the batch: a lone stream, or a closed loop of N streams, is stepped at once).</li>
 *   <li>At most {@link BatcherOptions#queueCapacity()} frames are submitted and not finished (a chunk of T counts T
 *       until it is delivered); a submission beyond that is refused at once with a
 *       {@link RejectedExecutionException}, never blocking the producer.</li>
 *   <li>A frame may have a deadline: if its step has not started by then, it fails with a {@link TimeoutException}
 *       (delivered when the dispatcher reaches it), and the stream's state is as if it had not been submitted. A
 *       chunk's deadline holds for each of its frames.</li>
 *   <li>A chunk fails as a whole, once, at the first of its frames that fails (deadline, failed step, close): the
 *       frames after it are not stepped, no output is delivered, and the failure's message says how many of its
 *       frames were stepped, which the stream's state has advanced by.</li>
 *   <li>Any number of threads may open streams and submit frames; a stream's frames may come from several threads,
 *       in the order of their submissions.</li>
 *   <li>A blocking step of one frame that finds the batcher idle (no frame pending, no step under way, and either
 *       no maxDelay or no other open stream, so the dispatcher would step it alone at once) is stepped on the calling
 *       thread, which waits either way, as a batch of one: the same bits, without the two thread hand-offs (to the
 *       dispatcher and back) that would add to its latency. Frames submitted meanwhile wait for it, as they would
 *       for a batch; {@link #directSteps()} counts these steps.</li>
 *   <li>{@link #close()} lets the batch being stepped (or a caller's direct step) finish, fails every frame not yet
 *       stepped with a {@link CancellationException}, and frees all off-heap memory.</li>
 * </ul>
 *
 * <p>Outputs are delivered three ways, by frame: {@link Handle#step(MemorySegment, MemorySegment)} blocks until the
 * output is written; {@link Handle#submit(MemorySegment, FrameCallback)} calls back on the dispatcher thread (on the
 * thread calling {@link #close()} for the frames it cancels); and {@link Handle#stepAsync(MemorySegment)} completes a
 * future; each has a chunk form. Once warm, the MemorySegment forms of the blocking steps and of submit (frames and
 * chunks) allocate nothing on the Java heap, on the producer's thread or the batcher's: frames are pooled objects;
 * {@link Handle#step(float[], float[])} allocates the two segments that wrap its arrays, and the future forms
 * allocate their future and output array. A chunk's callback gets its outputs gathered into one heap buffer, grown
 * to the longest chunk called back.
 *
 * <p>Cost: each stream's h {@code [L][S]} and c {@code [L][H]} live in one off-heap slab of
 * {@link BatcherOptions#maxStreams()} slots. Around each batched step the dispatcher copies every frame's x and state
 * rows into staging buffers {@code [B][I]}, {@code [L][B][S]} and {@code [L][B][H]}, runs one
 * {@link Runner#forward} of one step over them (h0 = hT, c0 = cT, which {@link Runner#step} matches bit for bit, at
 * any batch up to maxBatch), and copies the state rows and the output rows back: {@code 2·L·(S + H) + I + S} floats
 * per frame, small beside the weights one step reads. A kernel that reads and writes state rows through an index
 * list would remove these copies.
 *
 * <p>Thread-safe. Made by {@link #start(Model, BatcherOptions)}; it starts the dispatcher thread (and the runner's
 * {@code threads - 1} workers), which {@link #close()} stops. The model must stay open while the batcher runs.
 */
public final class StreamBatcher implements AutoCloseable {

    /**
     * Receives one frame's output or failure, for the frames of each stream in their submission order: on the
     * dispatcher thread, except for the frames {@link StreamBatcher#close()} cancels, whose callbacks run on the
     * thread calling close(). It delays every stream while it runs, so it should hand work off rather than do it; it
     * may submit frames (also to its own stream) but must not block on this batcher. An exception it throws goes to
     * the uncaught exception handler of the thread it runs on, and the batcher carries on.
     */
    @FunctionalInterface
    public interface FrameCallback {

        /**
         * Receives the output or the failure of one frame.
         *
         * @param stream  the stream the frame was submitted to
         * @param h       the top layer's new h, {@code [S]} floats (for a chunk of T frames, {@code [T][S]}: the h
         *                after each frame), read-only and valid only during this call; null on failure
         * @param failure null on success; else a {@link TimeoutException} (the deadline passed before the step
         *                started), a {@link CancellationException} (the batcher was closed first), or an
         *                {@link IllegalStateException} whose cause is what the batched step threw, or the error that
         *                stopped the dispatcher thread
         */
        void completed(Handle stream, MemorySegment h, Throwable failure);
    }

    private static final String OWNER = "StreamBatcher";
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED;
    /** Longer deadlines and timeouts are cut to this (73 years), so that {@code now + nanos} cannot overflow. */
    private static final long LONGEST_NANOS = Long.MAX_VALUE / 4;
    private static final Duration LONGEST = Duration.ofNanos(LONGEST_NANOS);

    private final Model model;
    private final BatcherOptions options;
    private final int inputSize;
    /** S: the width of h. */
    private final int outputSize;
    /** H for an LSTM's c, 0 for a GRU, which has none. */
    private final int cellSize;
    private final int layers;
    private final long slotBytes;
    private final boolean rejectNonFinite;
    private final long maxDelayNanos;
    private final long idleTimeoutNanos;
    private final Runner runner;
    private final OffHeap memory;
    /** {@code [maxStreams][L·S + L·H]}: each stream's h, then its c. */
    private final MemorySegment slots;
    /** Index b - 1: the staging buffers of a batch of b, x {@code [b][I]}, h {@code [L][b][S]}, c, y {@code [b][S]}. */
    private final MemorySegment[] stagingX;
    private final MemorySegment[] stagingH;
    private final MemorySegment[] stagingC;
    private final MemorySegment[] stagingY;
    private final Thread dispatcher;

    private final Object lock = new Object();
    // Guarded by lock.
    private final Frame[] freeFrames;
    private int freeFrameCount;
    private final int[] freeSlots;
    private int freeSlotCount;
    /** Streams with a queued frame and none being stepped, in the order they became so. */
    private Handle readyFirst;
    private Handle readyLast;
    private int readyCount;
    /** Open streams, least recently active first. */
    private Handle leastActive;
    private Handle mostActive;
    private int openStreams;
    /**
     * True while frames submitted before the last step ended are left over: the next step does not wait for
     * maxDelay. A frame submitted after it ended (a closed loop's next frame, even before the dispatcher has put its
     * stream back in line) is not backlog: it waits for its batch as any new frame does.
     */
    private boolean backlog;
    /** True from the dispatcher's gather until its batch (or its expired frames) is delivered. */
    private boolean dispatcherStepping;
    /** True while a blocking step's caller steps its frame itself ({@link #stepDirectly}). */
    private boolean directStepping;
    private boolean open = true;
    /** The error that stopped the dispatcher thread, or null. */
    private Throwable fatalError;

    /** Held by close() while it frees, so that a concurrent close() returns only once all is freed. */
    private final Object closing = new Object();
    // Guarded by closing.
    private boolean freed;

    // A direct step's own, while directStepping.
    private final Frame[] directFrame = new Frame[1];
    private final Handle[] directStream = new Handle[1];

    // The dispatcher's own (and, once it has stopped, close()'s).
    private final Frame[] batch;
    private final Handle[] batchStreams;
    /** The rows of {@link #batch} gathered for the step under way. */
    private int batchSize;
    /** The rows of {@link #batch} whose delivery has begun: a delivered frame may already be reused. */
    private int deliveredRows;
    /**
     * Whether the dispatcher gives {@code batch[row]}'s chunk back to the pool: false when a waiter does, or when the
     * row is a chunk's frame stepped before its last, kept until the chunk is delivered.
     */
    private final boolean[] batchReleasedHere;
    private final Frame[] expired;
    private int expiredCount;
    /** The frames of {@link #expired} whose delivery has begun. */
    private int deliveredExpired;
    /** Whether the waiter, not the dispatcher, gives {@code expired[n]} back to the pool. */
    private final boolean[] pooledByWaiter;
    /**
     * A chunk's outputs {@code [T][S]} gathered for its callback, grown to the longest chunk called back so far, and
     * its read-only views, index T - 1, each made on first use.
     */
    private float[] callbackOutputs = new float[0];
    private final MemorySegment[] callbackOutputViews;
    /**
     * Written by the thread that steps, the dispatcher or a direct step's caller: one at a time, each after the
     * other's step has ended under the lock.
     */
    private volatile long batchedSteps;
    private volatile long steppedFrames;
    private volatile long directSteps;

    private StreamBatcher(Model model, BatcherOptions options, Runner runner, OffHeap memory) {
        RnnShape shape = model.shape();
        this.model = model;
        this.options = options;
        this.runner = runner;
        this.memory = memory;
        inputSize = shape.inputSize();
        outputSize = shape.hiddenStateSize();
        cellSize = shape.cell().hasCellState() ? shape.hiddenSize() : 0;
        layers = shape.layers();
        slotBytes = (long) layers * (outputSize + cellSize) * Float.BYTES;
        rejectNonFinite = model.options().nonFiniteInputs() == NonFiniteInputs.REJECT;
        maxDelayNanos = nanos(options.maxDelay());
        idleTimeoutNanos = nanos(options.idleTimeout());
        int maxBatch = options.maxBatch();
        slots = memory.floats((long) options.maxStreams() * layers * (outputSize + cellSize));
        stagingX = slices(memory.floats((long) maxBatch * inputSize), maxBatch, inputSize);
        stagingH = slices(memory.floats((long) maxBatch * layers * outputSize), maxBatch, layers * outputSize);
        stagingC = cellSize == 0 ? null
                : slices(memory.floats((long) maxBatch * layers * cellSize), maxBatch, layers * cellSize);
        stagingY = slices(memory.floats((long) maxBatch * outputSize), maxBatch, outputSize);
        freeFrames = new Frame[options.queueCapacity()];
        for (int n = 0; n < freeFrames.length; n++) {
            freeFrames[n] = new Frame(inputSize, outputSize);
        }
        freeFrameCount = freeFrames.length;
        freeSlots = new int[options.maxStreams()];
        for (int n = 0; n < freeSlots.length; n++) {
            freeSlots[n] = freeSlots.length - 1 - n;
        }
        freeSlotCount = freeSlots.length;
        batch = new Frame[maxBatch];
        batchStreams = new Handle[maxBatch];
        batchReleasedHere = new boolean[maxBatch];
        expired = new Frame[options.queueCapacity()];
        pooledByWaiter = new boolean[options.queueCapacity()];
        callbackOutputViews = new MemorySegment[options.queueCapacity()];
        dispatcher = new Thread(this::dispatch, "vlstm-stream-batcher");
        dispatcher.setDaemon(true);
    }

    /**
     * Starts a batcher over {@code model}: a runner for {@code options.maxBatch()} rows on {@code options.threads()}
     * threads (the model's load-time options apply; its {@link Options#nonFiniteInputs()} is honoured per frame, at
     * submission), the state slab, the pooled frames and the dispatcher thread.
     *
     * @param model   a unidirectional LSTM or GRU, any layers, projection, peepholes, precision; not owned
     * @param options batching, capacity and threads; not null
     * @return the running batcher, owned by the caller
     * @throws IllegalArgumentException for a bidirectional model
     * @throws IllegalStateException    if the model is closed
     */
    public static StreamBatcher start(Model model, BatcherOptions options) {
        Checks.notNull("model", model);
        Checks.notNull("options", options);
        if (model.shape().direction() != Direction.FORWARD) {
            throw new IllegalArgumentException("a bidirectional model cannot be streamed step by step: its reverse"
                    + " direction reads the sequence from the last step back");
        }
        Options runnerOptions = model.options().withMaxBatch(options.maxBatch()).withMaxSteps(1)
                .withThreads(options.threads()).withNonFiniteInputs(NonFiniteInputs.PROPAGATE);
        Runner runner = model.runner(runnerOptions);
        OffHeap memory = OffHeap.open();
        try {
            StreamBatcher batcher = new StreamBatcher(model, options, runner, memory);
            batcher.dispatcher.start();
            return batcher;
        } catch (RuntimeException | Error e) {
            memory.close();
            runner.close();
            throw e;
        }
    }

    /** {@return the model this batcher steps (not owned by the batcher)} */
    public Model model() {
        return model;
    }

    /** {@return the options this batcher was started with} */
    public BatcherOptions options() {
        return options;
    }

    /** {@return the streams open now: opened, and neither closed nor expired} */
    public int openStreams() {
        synchronized (lock) {
            return openStreams;
        }
    }

    /** {@return the frames submitted and not yet finished now, over all streams, at most the queue capacity} */
    public int pendingFrames() {
        synchronized (lock) {
            return freeFrames.length - freeFrameCount;
        }
    }

    /**
     * {@return the batched steps run so far, the direct ones included; {@link #steppedFrames()} over it is the mean
     * batch}
     */
    public long batchedSteps() {
        return batchedSteps;
    }

    /** {@return the frames stepped so far, over all streams (frames that failed are not counted)} */
    public long steppedFrames() {
        return steppedFrames;
    }

    /**
     * {@return the steps of one frame run so far on the thread of a blocking step that found the batcher idle, of
     * {@link #batchedSteps()}}
     */
    public long directSteps() {
        return directSteps;
    }

    /**
     * Opens a stream whose state is zero.
     *
     * @return the stream's handle
     * @throws RejectedExecutionException if {@link BatcherOptions#maxStreams()} streams are open
     * @throws IllegalStateException      if this batcher is closed
     */
    public Handle open() {
        return open((MemorySegment) null, null);
    }

    /**
     * Opens a stream whose state starts at {@code h0} and {@code c0}.
     *
     * @param h0 the initial h of every layer, {@code [L][S]} floats, layer 0 first, or null for zeros; only read
     *           during this call
     * @param c0 an LSTM's initial c, {@code [L][H]} floats, or null for zeros; null for a GRU
     * @return the stream's handle
     * @throws IllegalArgumentException   for a segment of another size, a c0 given for a GRU, or (with
     *                                    {@link NonFiniteInputs#REJECT}) a NaN or infinity, named as in
     *                                    {@code h0[l][j]}
     * @throws RejectedExecutionException if {@link BatcherOptions#maxStreams()} streams are open
     * @throws IllegalStateException      if this batcher is closed
     */
    public Handle open(MemorySegment h0, MemorySegment c0) {
        if (h0 != null) {
            Checks.floats("h0", h0, "L", layers, "S", outputSize);
        }
        if (cellSize == 0) {
            Checks.refuseCellState("c0", c0);
        } else if (c0 != null) {
            Checks.floats("c0", c0, "L", layers, "H", cellSize);
        }
        if (rejectNonFinite) {
            if (h0 != null) {
                Checks.finiteInput(OWNER, "h0", h0, layers, 0, outputSize, outputSize);
            }
            if (c0 != null) {
                Checks.finiteInput(OWNER, "c0", c0, layers, 0, cellSize, cellSize);
            }
        }
        boolean wake;
        Handle stream;
        synchronized (lock) {
            checkOpen();
            if (freeSlotCount == 0) {
                throw new RejectedExecutionException("all " + freeSlots.length + " stream slots are in use"
                        + " (BatcherOptions.maxStreams): close a stream, or let one expire, first");
            }
            int slot = freeSlots[freeSlotCount - 1];
            long start = slot * slotBytes;
            long hiddenBytes = (long) layers * outputSize * Float.BYTES;
            copyOrZero(h0, start, hiddenBytes);
            copyOrZero(c0, start + hiddenBytes, slotBytes - hiddenBytes);
            // Taken only once the copies, which throw if the caller's arena has closed meanwhile, are done.
            freeSlotCount--;
            stream = new Handle(slot);
            wake = idleTimeoutNanos > 0 && leastActive == null;
            openStreams++;
            touch(stream, System.nanoTime());
        }
        if (wake) {
            LockSupport.unpark(dispatcher);
        }
        return stream;
    }

    /**
     * Float-array form of {@link #open(MemorySegment, MemorySegment)}.
     *
     * @param h0 {@code [L][S]}, or null for zeros; copied
     * @param c0 {@code [L][H]}, or null for zeros; null for a GRU; copied
     * @return the stream's handle
     * @throws IllegalArgumentException   as the MemorySegment form
     * @throws RejectedExecutionException as the MemorySegment form
     * @throws IllegalStateException      as the MemorySegment form
     */
    public Handle open(float[] h0, float[] c0) {
        return open(Runner.wrap(h0), Runner.wrap(c0));
    }

    /**
     * Stops the dispatcher after the batch it is stepping (whose frames finish), waits for a caller's direct step under
     * way, fails every frame not yet stepped with a {@link CancellationException} (their callbacks run on this
     * thread), closes every stream, and frees the runner and all off-heap memory. Closing twice is harmless; a
     * close() concurrent with another returns once that one has freed everything.
     *
     * @throws IllegalStateException if called on the dispatcher thread (from a frame callback), which it would wait
     *                               for
     */
    @Override
    public void close() {
        if (Thread.currentThread() == dispatcher) {
            throw new IllegalStateException("close() cannot run in a frame callback, on the dispatcher thread that it"
                    + " waits for: close the StreamBatcher from another thread");
        }
        synchronized (lock) {
            open = false;
        }
        LockSupport.unpark(dispatcher);
        joinUninterruptibly(dispatcher);
        awaitDirectStep();
        synchronized (closing) {
            if (freed) {
                return;
            }
            freed = true;
            try {
                int cancelled;
                synchronized (lock) {
                    cancelled = takeQueuedFrames(0);
                    while (leastActive != null) {
                        closeStream(leastActive);
                    }
                }
                finish(cancelled, frame -> new CancellationException("the StreamBatcher was closed before this"
                        + " frame was stepped" + chunkProgress(frame)));
            } finally {
                try {
                    runner.close();
                } finally {
                    memory.close();
                }
            }
        }
    }

    /** The runner's workers, then the dispatcher thread, for the tests. */
    List<Thread> threads() {
        List<Thread> threads = new ArrayList<>(runner.workerThreads());
        threads.add(dispatcher);
        return List.copyOf(threads);
    }

    /**
     * Every frame still queued in a ready stream, taken out of it into {@link #expired} from index {@code from}; the
     * dispatcher has stopped. Under the lock.
     *
     * @return the index after the last frame taken
     */
    private int takeQueuedFrames(int from) {
        int count = from;
        for (Handle stream = readyFirst; stream != null; stream = stream.nextReady) {
            count = takeFrames(stream, count);
            stream.ready = false;
        }
        readyFirst = null;
        readyLast = null;
        readyCount = 0;
        return count;
    }

    /**
     * The frames queued in {@code stream}, taken out of it into {@link #expired} from {@code from}, one per chunk; the
     * end.
     */
    private int takeFrames(Handle stream, int from) {
        int count = from;
        for (Frame frame = stream.first; frame != null; frame = frame.next) {
            count = addExpired(frame, count);
        }
        stream.first = null;
        stream.last = null;
        return count;
    }

    private void dispatch() {
        try {
            while (true) {
                int size = 0;
                long parkNanos;
                synchronized (lock) {
                    if (!open) {
                        return;
                    }
                    long now = System.nanoTime();
                    parkNanos = expireIdleStreams(now);
                    if (readyCount > 0 && !directStepping) {
                        long waited = now - readyFirst.first.submitted;
                        if (backlog || readyCount >= batch.length || readyCount >= openStreams
                                || waited >= maxDelayNanos) {
                            size = gather(now);
                            dispatcherStepping = size > 0 || expiredCount > 0;
                        } else {
                            parkNanos = Math.min(parkNanos, maxDelayNanos - waited);
                        }
                    }
                }
                if (size > 0 || expiredCount > 0) {
                    stepBatch(size);
                } else {
                    // An interrupt status left set (a callback may restore one) would end every park at once.
                    Thread.interrupted();
                    if (parkNanos == Long.MAX_VALUE) {
                        LockSupport.park(this);
                    } else {
                        LockSupport.parkNanos(this, parkNanos);
                    }
                }
            }
        } catch (Throwable fatal) {
            failAfterFatal(fatal);
            throw fatal;
        }
    }

    /**
     * Takes up to maxBatch ready streams, oldest first, and the first frame of each into {@link #batch}; frames whose
     * deadline has passed go to {@link #expired} instead (one per chunk: a chunk's later frames share its deadline, so
     * they expire with it), and the stream's next frame is taken.
     */
    private int gather(long now) {
        backlog = false;
        int size = 0;
        batchSize = 0;
        deliveredRows = 0;
        while (size < batch.length && readyFirst != null) {
            Handle stream = readyFirst;
            readyFirst = stream.nextReady;
            if (readyFirst == null) {
                readyLast = null;
            }
            stream.nextReady = null;
            stream.ready = false;
            readyCount--;
            Frame frame = stream.first;
            while (frame != null && frame.hasDeadline && now - frame.deadline > 0) {
                expiredCount = addExpired(frame, expiredCount);
                Frame next = frame.next;
                frame.next = null;
                frame = next;
            }
            if (frame != null) {
                stream.first = frame.next;
                frame.next = null;
                stream.stepping = true;
                batch[size] = frame;
                batchStreams[size++] = stream;
                batchSize = size;
            } else {
                stream.first = null;
            }
            if (stream.first == null) {
                stream.last = null;
            }
        }
        return size;
    }

    /**
     * Steps the {@code size} gathered frames as one batch, delivers the expired frames' failures and then the
     * batch's outputs (a stream's expired frames precede its stepped one; a chunk's frame before its last is kept
     * with the chunk, and a failed one fails its chunk), and puts streams with more frames back in line.
     */
    private void stepBatch(int size) {
        RuntimeException failure = null;
        if (size > 0) {
            try {
                stepRows(size, batch, batchStreams);
                batchedSteps = batchedSteps + 1;
                steppedFrames = steppedFrames + size;
            } catch (RuntimeException e) {
                failure = e;
            }
        }
        long stepEnded = System.nanoTime();
        RuntimeException stepFailure = failure;
        if (stepFailure != null) {
            synchronized (lock) {
                for (int row = 0; row < size; row++) {
                    dropRestOfChunk(batch[row], batchStreams[row]);
                }
            }
        }
        while (deliveredExpired < expiredCount) {
            Frame frame = expired[deliveredExpired];
            pooledByWaiter[deliveredExpired++] = frame.head.waiter != null;
            deliver(frame, frame.stream, new TimeoutException("the frame's deadline passed before its step"
                    + " started" + chunkProgress(frame)));
        }
        releaseDelivered(expiredCount);
        expiredCount = 0;
        deliveredExpired = 0;
        while (deliveredRows < size) {
            int row = deliveredRows++;
            Frame frame = batch[row];
            if (stepFailure == null && frame.chunkIndex < frame.chunkLength - 1) {
                batchReleasedHere[row] = false;
                continue;
            }
            batchReleasedHere[row] = frame.head.waiter == null;
            deliver(frame, batchStreams[row], stepFailure == null ? null : new IllegalStateException(
                    "the batched step failed" + chunkProgress(frame) + ": " + stepFailure.getMessage(), stepFailure));
        }
        synchronized (lock) {
            // The oldest frame of a stream not in this batch, then each batch stream's next frame.
            boolean leftOver = readyFirst != null && readyFirst.first.submitted - stepEnded <= 0;
            for (int row = 0; row < size; row++) {
                Handle stream = batchStreams[row];
                stream.stepping = false;
                if (stream.first != null) {
                    addReady(stream);
                    leftOver |= stream.first.submitted - stepEnded <= 0;
                }
                if (batchReleasedHere[row]) {
                    release(batch[row].head);
                }
                batch[row] = null;
                batchStreams[row] = null;
            }
            batchSize = 0;
            deliveredRows = 0;
            backlog = leftOver;
            dispatcherStepping = false;
        }
    }

    /**
     * Copies the first {@code size} frames' x and their streams' state rows into the staging buffers of a batch of
     * {@code size}, runs one step, and copies the new state rows back into the slots and the output rows into the
     * frames.
     */
    private void stepRows(int size, Frame[] frames, Handle[] streams) {
        MemorySegment x = stagingX[size - 1];
        MemorySegment h = stagingH[size - 1];
        MemorySegment c = stagingC == null ? null : stagingC[size - 1];
        MemorySegment y = stagingY[size - 1];
        for (int row = 0; row < size; row++) {
            MemorySegment.copy(frames[row].x, 0, x, FLOAT, (long) row * inputSize * Float.BYTES, inputSize);
            copyStateRow(streams[row].slot * slotBytes, h, c, size, row, true);
        }
        runner.forward(x, 1, size, h, c, y, h, c);
        for (int row = 0; row < size; row++) {
            copyStateRow(streams[row].slot * slotBytes, h, c, size, row, false);
            MemorySegment.copy(y, FLOAT, (long) row * outputSize * Float.BYTES, frames[row].h, 0, outputSize);
        }
    }

    /** Copies one stream's h {@code [L][S]} and c {@code [L][H]} into (or out of) row {@code row} of a batch. */
    private void copyStateRow(long slot, MemorySegment h, MemorySegment c, int size, int row, boolean intoBatch) {
        long hiddenRow = (long) outputSize * Float.BYTES;
        long cellRow = (long) cellSize * Float.BYTES;
        long cellStart = slot + layers * hiddenRow;
        for (int layer = 0; layer < layers; layer++) {
            long batchRow = (long) layer * size + row;
            copy(slots, slot + layer * hiddenRow, h, batchRow * hiddenRow, hiddenRow, intoBatch);
            if (c != null) {
                copy(slots, cellStart + layer * cellRow, c, batchRow * cellRow, cellRow, intoBatch);
            }
        }
    }

    private static void copy(MemorySegment slab, long slabOffset, MemorySegment staging, long stagingOffset,
                             long bytes, boolean intoStaging) {
        if (intoStaging) {
            MemorySegment.copy(slab, slabOffset, staging, stagingOffset, bytes);
        } else {
            MemorySegment.copy(staging, stagingOffset, slab, slabOffset, bytes);
        }
    }

    /**
     * Hands the chunk of a finished frame (the frame itself, if lone) its result: wakes its waiter, who then gives
     * the chunk back to the pool, or calls its callback, or completes its future. Read whether it has a waiter
     * before: after, the chunk's frames may be reused. Success is delivered on the dispatcher thread only.
     */
    private void deliver(Frame frame, Handle stream, Throwable failure) {
        Frame head = frame.head;
        head.failure = failure;
        Thread waiter = head.waiter;
        if (waiter != null) {
            head.finished = true;
            LockSupport.unpark(waiter);
            return;
        }
        head.finished = true;
        if (head.callback != null) {
            try {
                head.callback.completed(stream, failure == null ? outputView(head) : null, failure);
            } catch (Throwable thrown) {
                Thread current = Thread.currentThread();
                current.getUncaughtExceptionHandler().uncaughtException(current, thrown);
            }
        } else if (failure == null) {
            float[] outputs = new float[head.chunkLength * outputSize];
            copyOutputs(head, outputs);
            head.future.complete(outputs);
        } else {
            head.future.completeExceptionally(failure);
        }
    }

    /**
     * The outputs of the chunk that starts at {@code head}, {@code [T][S]}, as a read-only view for its callback: the
     * frame's own for a lone frame, else gathered into {@link #callbackOutputs}. On the dispatcher thread.
     */
    private MemorySegment outputView(Frame head) {
        if (head.chunkLength == 1) {
            return head.hView;
        }
        int floats = head.chunkLength * outputSize;
        if (callbackOutputs.length < floats) {
            callbackOutputs = new float[floats];
            Arrays.fill(callbackOutputViews, null);
        }
        copyOutputs(head, callbackOutputs);
        MemorySegment view = callbackOutputViews[head.chunkLength - 1];
        if (view == null) {
            view = MemorySegment.ofArray(callbackOutputs).asSlice(0, (long) floats * Float.BYTES).asReadOnly();
            callbackOutputViews[head.chunkLength - 1] = view;
        }
        return view;
    }

    /** Copies the outputs of the chunk that starts at {@code head} into {@code outputs}, {@code [T][S]}. */
    private void copyOutputs(Frame head, float[] outputs) {
        int offset = 0;
        for (Frame frame = head; frame != null; frame = frame.chunkNext) {
            System.arraycopy(frame.h, 0, outputs, offset, outputSize);
            offset += outputSize;
        }
    }

    /**
     * Puts {@code frame} at {@code expired[count]}, unless the frame before it there is of its chunk: a chunk fails
     * once, at its first frame that fails. {@return the count after}
     */
    private int addExpired(Frame frame, int count) {
        if (count > 0 && expired[count - 1].head == frame.head) {
            return count;
        }
        expired[count] = frame;
        return count + 1;
    }

    /** Takes the frames after {@code frame} of its chunk, which failed, out of its stream's queue. Under the lock. */
    private static void dropRestOfChunk(Frame frame, Handle stream) {
        for (int t = frame.chunkIndex + 1; t < frame.chunkLength; t++) {
            stream.first = stream.first.next;
        }
        if (stream.first == null) {
            stream.last = null;
        }
    }

    /**
     * For a chunk's frame that failed, what the chunk did to its stream's state, in parentheses; empty for a lone
     * frame.
     */
    private static String chunkProgress(Frame frame) {
        if (frame.chunkLength == 1) {
            return "";
        }
        int stepped = frame.chunkIndex;
        String done = switch (stepped) {
            case 0 -> "no frame of the chunk was stepped, and the stream's state is unchanged";
            case 1 -> "its first frame was stepped, and the stream's state has advanced by it";
            default -> "its first " + stepped + " frames were stepped, and the stream's state has advanced by them";
        };
        return " (frame " + stepped + " of a chunk of " + frame.chunkLength + ": " + done + ")";
    }

    /**
     * Gives the first {@code count} frames of {@link #expired}, delivered, back to the pool, but those their waiters
     * give back.
     */
    private void releaseDelivered(int count) {
        synchronized (lock) {
            for (int n = 0; n < count; n++) {
                if (!pooledByWaiter[n]) {
                    release(expired[n].head);
                }
                expired[n] = null;
            }
        }
    }

    /**
     * Delivers {@code failure} of each of the first {@code count} frames of {@link #expired} to its chunk; releases
     * them.
     */
    private void finish(int count, Function<Frame, RuntimeException> failure) {
        for (int n = 0; n < count; n++) {
            Frame frame = expired[n];
            pooledByWaiter[n] = frame.head.waiter != null;
            deliver(frame, frame.stream, failure.apply(frame));
        }
        releaseDelivered(count);
    }

    /**
     * After an error that stopped the dispatcher (on its thread): no more submissions; every frame not yet delivered
     * (expired, in the batch, queued behind a stream of the batch, or queued in a ready stream) fails with it as the
     * cause. Frames whose delivery had begun are not delivered again, as one may already be reused.
     */
    private void failAfterFatal(Throwable fatal) {
        releaseDelivered(deliveredExpired);
        int failed = 0;
        for (int n = deliveredExpired; n < expiredCount; n++) {
            Frame frame = expired[n];
            expired[n] = null;
            expired[failed++] = frame;
        }
        expiredCount = 0;
        deliveredExpired = 0;
        synchronized (lock) {
            open = false;
            fatalError = fatal;
            // A caller stepping directly puts its stream's queued frames in line when it ends: wait, then take them.
            awaitDirectStep();
            for (int row = 0; row < batchSize; row++) {
                if (row >= deliveredRows) {
                    failed = addExpired(batch[row], failed);
                } else if (batch[row] != null && batchReleasedHere[row]) {
                    release(batch[row].head);
                }
                Handle stream = batchStreams[row];
                if (stream != null) {
                    failed = takeFrames(stream, failed);
                    stream.stepping = false;
                }
                batch[row] = null;
                batchStreams[row] = null;
            }
            batchSize = 0;
            deliveredRows = 0;
            failed = takeQueuedFrames(failed);
        }
        finish(failed, frame -> new IllegalStateException("the dispatcher thread failed", fatal));
    }

    /**
     * Closes every stream that has been idle for idleTimeout with no frame unfinished; streams with unfinished frames
     * count as active.
     *
     * @return nanoseconds until the next stream could expire, or Long.MAX_VALUE for none
     */
    private long expireIdleStreams(long now) {
        if (idleTimeoutNanos == 0) {
            return Long.MAX_VALUE;
        }
        Handle stream = leastActive;
        while (stream != null) {
            long idle = now - stream.lastActive;
            if (idle < idleTimeoutNanos) {
                return idleTimeoutNanos - idle;
            }
            Handle next = stream.moreActive;
            if (stream.unfinished == 0) {
                stream.expired = true;
                closeStream(stream);
            } else {
                touch(stream, now);
            }
            stream = next;
        }
        // The streams left, if any, were all touched now.
        return leastActive == null ? Long.MAX_VALUE : idleTimeoutNanos;
    }

    /**
     * Checks a chunk's length and its x {@code [T][I]}: T from 1 to the queue's capacity, which a longer chunk could
     * never fit.
     */
    private MemorySegment chunkInput(int steps, MemorySegment x) {
        Checks.positive("steps", steps);
        if (steps > freeFrames.length) {
            throw new IllegalArgumentException("a chunk of " + steps + " frames can never fit the queue of "
                    + freeFrames.length + " frames (BatcherOptions.queueCapacity): submit it in parts, or raise the"
                    + " capacity");
        }
        return Checks.floats("x", x, "T", steps, "I", inputSize);
    }

    /**
     * Queues the {@code steps} frames of x {@code [steps][I]}, checked, for {@code stream} as one chunk, having copied
     * them; the chunk's delivery is set by the caller's arguments.
     *
     * @return the chunk's first frame, which carries its delivery
     */
    private Frame enqueue(Handle stream, int steps, MemorySegment x, Duration deadline, FrameCallback callback,
                          CompletableFuture<float[]> future, Thread waiter) {
        return enqueue(stream, steps, x, deadline, callback, future, waiter, true);
    }

    /**
     * As {@link #enqueue(Handle, int, MemorySegment, Duration, FrameCallback, CompletableFuture, Thread)}; with
     * {@code refuseByException} false a full queue returns null instead of throwing, and nothing is queued.
     */
    private Frame enqueue(Handle stream, int steps, MemorySegment x, Duration deadline, FrameCallback callback,
                          CompletableFuture<float[]> future, Thread waiter, boolean refuseByException) {
        long deadlineNanos = deadline == null ? 0 : deadlineNanos(deadline);
        boolean wake = false;
        Frame head;
        synchronized (lock) {
            checkSubmittable(stream);
            if (freeFrameCount < steps) {
                if (!refuseByException) {
                    return null;
                }
                throw new RejectedExecutionException(queueFull(steps));
            }
            long now = System.nanoTime();
            head = takeFromPool(stream, steps, x, now);
            head.callback = callback;
            head.future = future;
            head.waiter = waiter;
            for (Frame frame = head; frame != null; frame = frame.chunkNext) {
                frame.hasDeadline = deadline != null;
                frame.deadline = now + deadlineNanos;
                if (stream.last == null) {
                    stream.first = frame;
                } else {
                    stream.last.next = frame;
                }
                stream.last = frame;
            }
            if (!stream.stepping && !stream.ready) {
                addReady(stream);
                wake = readyCount == 1 || readyCount == batch.length || readyCount >= openStreams;
            }
        }
        if (wake) {
            LockSupport.unpark(dispatcher);
        }
        return head;
    }

    /**
     * Takes {@code steps} frames from the pool (the caller has checked there are as many) for a chunk of
     * {@code stream}, with x {@code [steps][I]} copied into them and checked, and counts them unfinished; no
     * delivery, no deadline, queued nowhere. Under the lock.
     *
     * @return the chunk's first frame
     */
    private Frame takeFromPool(Handle stream, int steps, MemorySegment x, long now) {
        for (int t = 0; t < steps; t++) {
            Frame frame = freeFrames[freeFrameCount - 1 - t];
            MemorySegment.copy(x, FLOAT, (long) t * inputSize * Float.BYTES, frame.x, 0, inputSize);
            if (rejectNonFinite) {
                // The copy, which a concurrent writer of x can no longer change.
                Checks.finiteRow(OWNER, "x", t, frame.xView, inputSize);
            }
        }
        // Taken only once the copies (which throw if the caller's arena has closed meanwhile) and the checks pass.
        Frame head = freeFrames[freeFrameCount - 1];
        head.failure = null;
        head.finished = false;
        Frame previous = null;
        for (int t = 0; t < steps; t++) {
            Frame frame = freeFrames[--freeFrameCount];
            freeFrames[freeFrameCount] = null;
            frame.stream = stream;
            frame.head = head;
            frame.chunkIndex = t;
            frame.chunkLength = steps;
            frame.submitted = now;
            frame.hasDeadline = false;
            frame.next = null;
            if (previous != null) {
                previous.chunkNext = frame;
            }
            previous = frame;
        }
        stream.unfinished += steps;
        touch(stream, now);
        return head;
    }

    /**
     * Steps one frame of {@code stream} on this thread, as a batch of one, if the batcher is idle: no frame is
     * pending, neither the dispatcher nor another caller is stepping, and the dispatcher would not wait for another
     * stream's frame (maxDelay is zero, or no other stream is open). Frames submitted meanwhile queue, this stream's
     * too, and the dispatcher steps them once this step has ended. A deadline cannot pass: the step starts now.
     *
     * @return the frame, finished (its failure set if the step threw an exception), to be read and released as a
     *         delivered one; null if the batcher was not idle, having done nothing
     * @throws Error what the step threw, once the batcher is left as after any step and the frame is released
     */
    private Frame stepDirectly(Handle stream, MemorySegment x) {
        Frame frame;
        synchronized (lock) {
            checkSubmittable(stream);
            if (dispatcherStepping || directStepping || readyCount > 0 || freeFrameCount == 0
                    || maxDelayNanos > 0 && openStreams > 1) {
                return null;
            }
            frame = takeFromPool(stream, 1, x, System.nanoTime());
            stream.stepping = true;
            directStepping = true;
        }
        Throwable failure = null;
        directFrame[0] = frame;
        directStream[0] = stream;
        try {
            stepRows(1, directFrame, directStream);
            batchedSteps = batchedSteps + 1;
            steppedFrames = steppedFrames + 1;
            directSteps = directSteps + 1;
        } catch (Throwable e) {
            failure = e;
        }
        directFrame[0] = null;
        directStream[0] = null;
        boolean wake;
        synchronized (lock) {
            stream.stepping = false;
            if (stream.first != null) {
                addReady(stream);
            }
            // Frames that arrived during this step have waited for it, as for a batch: the dispatcher takes them now.
            backlog |= readyCount > 0;
            wake = readyCount > 0;
            directStepping = false;
            lock.notifyAll();
            if (failure instanceof Error) {
                release(frame);
            }
        }
        if (wake) {
            LockSupport.unpark(dispatcher);
        }
        if (failure instanceof Error error) {
            throw error;
        }
        frame.failure = failure == null ? null
                : new IllegalStateException("the batched step failed: " + failure.getMessage(), failure);
        frame.finished = true;
        return frame;
    }

    /** Waits, ignoring interrupts (and keeping the status), until no caller is stepping directly. */
    private void awaitDirectStep() {
        boolean interrupted = false;
        synchronized (lock) {
            while (directStepping) {
                try {
                    lock.wait();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private String queueFull(int steps) {
        int pending = freeFrames.length - freeFrameCount;
        if (steps == 1) {
            return "the StreamBatcher's queue is full: " + pending + " frames are pending"
                    + " (BatcherOptions.queueCapacity); retry later";
        }
        return "the StreamBatcher's queue has room for " + freeFrameCount + " more frames, not for this chunk of "
                + steps + ": " + pending + " of its " + freeFrames.length + " frames are pending"
                + " (BatcherOptions.queueCapacity); retry later";
    }

    /**
     * Queues the checked chunk x {@code [steps][I]} and waits for its outputs, which it copies into the checked h
     * {@code [steps][S]}.
     */
    private void step(Handle stream, int steps, MemorySegment x, MemorySegment h, Duration deadline)
            throws TimeoutException {
        if (Thread.currentThread() == dispatcher) {
            throw new IllegalStateException("a blocking step cannot run in a frame callback, on the dispatcher thread"
                    + " that it would wait for: use submit or stepAsync");
        }
        if (deadline != null) {
            deadlineNanos(deadline);
        }
        Frame head = steps == 1 ? stepDirectly(stream, x) : null;
        if (head == null) {
            head = enqueue(stream, steps, x, deadline, null, null, Thread.currentThread());
        }
        boolean interrupted = false;
        while (!head.finished) {
            LockSupport.park(this);
            interrupted |= Thread.interrupted();
        }
        Throwable failure = head.failure;
        if (failure == null) {
            long offset = 0;
            for (Frame frame = head; frame != null; frame = frame.chunkNext) {
                MemorySegment.copy(frame.h, 0, h, FLOAT, offset, outputSize);
                offset += (long) outputSize * Float.BYTES;
            }
        }
        synchronized (lock) {
            release(head);
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure instanceof TimeoutException timeout) {
            throw timeout;
        }
        if (failure != null) {
            throw (RuntimeException) failure;
        }
    }

    /**
     * Gives a delivered chunk (a lone frame is a chunk of one), from its first frame, back to the pool; its stream
     * may then free its slot. Under the lock.
     */
    private void release(Frame head) {
        Handle stream = head.stream;
        int frames = head.chunkLength;
        Frame frame = head;
        while (frame != null) {
            Frame next = frame.chunkNext;
            frame.stream = null;
            frame.head = null;
            frame.chunkNext = null;
            frame.callback = null;
            frame.future = null;
            frame.waiter = null;
            frame.failure = null;
            freeFrames[freeFrameCount++] = frame;
            frame = next;
        }
        stream.unfinished -= frames;
        if (stream.closed) {
            if (stream.unfinished == 0) {
                freeSlots[freeSlotCount++] = stream.slot;
            }
        } else {
            touch(stream, System.nanoTime());
        }
    }

    /** Marks a stream closed and takes it out of the activity list; its slot is free once its frames finish. */
    private void closeStream(Handle stream) {
        stream.closed = true;
        openStreams--;
        unlinkActive(stream);
        if (stream.unfinished == 0) {
            freeSlots[freeSlotCount++] = stream.slot;
        }
    }

    private void addReady(Handle stream) {
        stream.ready = true;
        if (readyLast == null) {
            readyFirst = stream;
        } else {
            readyLast.nextReady = stream;
        }
        readyLast = stream;
        readyCount++;
    }

    /** Marks a stream active now: it moves to the end of the activity list. */
    private void touch(Handle stream, long now) {
        stream.lastActive = now;
        if (mostActive == stream) {
            return;
        }
        if (stream.lessActive != null || leastActive == stream) {
            unlinkActive(stream);
        }
        stream.lessActive = mostActive;
        if (mostActive == null) {
            leastActive = stream;
        } else {
            mostActive.moreActive = stream;
        }
        mostActive = stream;
    }

    private void unlinkActive(Handle stream) {
        if (stream.lessActive == null) {
            leastActive = stream.moreActive;
        } else {
            stream.lessActive.moreActive = stream.moreActive;
        }
        if (stream.moreActive == null) {
            mostActive = stream.lessActive;
        } else {
            stream.moreActive.lessActive = stream.lessActive;
        }
        stream.lessActive = null;
        stream.moreActive = null;
    }

    private MemorySegment frameInput(MemorySegment x) {
        return Checks.floats("x", x, "I", inputSize);
    }

    private MemorySegment frameOutput(MemorySegment h) {
        return Checks.output("h", h, "S", outputSize);
    }

    private MemorySegment chunkOutput(int steps, MemorySegment h) {
        return Checks.output("h", h, "T", steps, "S", outputSize);
    }

    private void checkOpen() {
        if (fatalError != null) {
            throw new IllegalStateException("this StreamBatcher failed: its dispatcher thread stopped on "
                    + fatalError, fatalError);
        }
        if (!open) {
            throw new IllegalStateException("this StreamBatcher is closed");
        }
    }

    private void checkSubmittable(Handle stream) {
        checkOpen();
        if (stream.expired) {
            throw new IllegalStateException("this stream expired: it was idle for longer than "
                    + options.idleTimeout() + " (BatcherOptions.idleTimeout)");
        }
        if (stream.closed) {
            throw new IllegalStateException("this stream is closed");
        }
    }

    /** Copies {@code source} into the slab at {@code offset}, or zeroes those bytes for null. */
    private void copyOrZero(MemorySegment source, long offset, long bytes) {
        if (source == null) {
            slots.asSlice(offset, bytes).fill((byte) 0);
        } else {
            MemorySegment.copy(source, 0, slots, offset, bytes);
        }
    }

    private static long deadlineNanos(Duration deadline) {
        if (deadline.isNegative() || deadline.isZero()) {
            throw new IllegalArgumentException("deadline must be positive, got " + deadline);
        }
        return nanos(deadline);
    }

    private static long nanos(Duration duration) {
        return duration.compareTo(LONGEST) >= 0 ? LONGEST_NANOS : duration.toNanos();
    }

    /** {@code count} slices of {@code buffer}: slice b - 1 holds the first {@code b × rowFloats} floats. */
    private static MemorySegment[] slices(MemorySegment buffer, int count, int rowFloats) {
        MemorySegment[] slices = new MemorySegment[count];
        for (int b = 1; b <= count; b++) {
            slices[b - 1] = buffer.asSlice(0, (long) b * rowFloats * Float.BYTES);
        }
        return slices;
    }

    private static void joinUninterruptibly(Thread thread) {
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * One submitted frame, pooled: its input, its output, and where it stands in its chunk (a lone frame is a chunk of
     * one); the chunk's first frame holds how the chunk is delivered, and its result.
     */
    private static final class Frame {
        final float[] x;
        /** A view of {@link #x}, made once, for the check of non-finite inputs. */
        final MemorySegment xView;
        final float[] h;
        /** A read-only view of {@link #h}, made once, for callbacks. */
        final MemorySegment hView;
        Handle stream;
        /** The next frame queued in {@link #stream}. */
        Frame next;
        /** The chunk's first frame (this one for a lone frame). */
        Frame head;
        /** The chunk's next frame, null for its last; kept until the chunk is given back to the pool. */
        Frame chunkNext;
        /** t, this frame's index in its chunk. */
        int chunkIndex;
        /** T, its chunk's length. */
        int chunkLength;
        long submitted;
        long deadline;
        boolean hasDeadline;
        FrameCallback callback;
        CompletableFuture<float[]> future;
        Thread waiter;
        Throwable failure;
        /** Written after the output and {@link #failure}, read by the waiter. */
        volatile boolean finished;

        Frame(int inputSize, int outputSize) {
            x = new float[inputSize];
            xView = MemorySegment.ofArray(x);
            h = new float[outputSize];
            hView = MemorySegment.ofArray(h).asReadOnly();
        }
    }

    /**
     * One open stream of a {@link StreamBatcher}: where its frames are submitted. Its state lives in the batcher's
     * slab until it is closed or expires. Any thread may use it; frames submitted by one thread run in the order it
     * submitted them, and frames from several threads in the order the batcher received them.
     */
    public final class Handle implements AutoCloseable {

        private final int slot;
        // Guarded by the batcher's lock.
        private Frame first;
        private Frame last;
        /** Frames submitted and not yet given back to the pool. */
        private int unfinished;
        private boolean stepping;
        private boolean ready;
        private Handle nextReady;
        private Handle lessActive;
        private Handle moreActive;
        private long lastActive;
        private boolean closed;
        private boolean expired;

        private Handle(int slot) {
            this.slot = slot;
        }

        /** {@return whether frames may be submitted: neither this stream nor its batcher is closed or expired} */
        public boolean isOpen() {
            synchronized (lock) {
                return open && !closed;
            }
        }

        /**
         * Steps this stream by one frame and waits for the output, without a deadline. The wait ignores interrupts
         * (the thread's interrupt status is kept).
         *
         * @param x the frame, {@code [I]} floats; copied before this call returns or throws
         * @param h output, {@code [S]} floats: the top layer's new h; written by this thread
         * @throws NullPointerException       for a null x or h
         * @throws IllegalArgumentException   for a segment of another size, a read-only h, or (with
         *                                    {@link NonFiniteInputs#REJECT}) a NaN or infinity in x, named as in
         *                                    {@code x[0][j]}
         * @throws RejectedExecutionException if the queue is full
         * @throws IllegalStateException      if this stream or the batcher is closed or expired, if called from a frame
         *                                    callback, or (with the step's exception as cause) if the step failed
         * @throws CancellationException      if the batcher was closed before the frame was stepped
         */
        public void step(MemorySegment x, MemorySegment h) {
            try {
                StreamBatcher.this.step(this, 1, frameInput(x), frameOutput(h), null);
            } catch (TimeoutException e) {
                throw new AssertionError("a frame without a deadline timed out", e);
            }
        }

        /**
         * Steps this stream by one frame and waits for the output, unless the frame's step has not started within
         * {@code deadline}.
         *
         * @param x        the frame, {@code [I]} floats; copied before this call returns or throws
         * @param h        output, {@code [S]} floats; written only on success
         * @param deadline the longest the frame may wait for its step to start, positive
         * @throws TimeoutException           if the deadline passed first: the stream's state is unchanged
         * @throws NullPointerException       for a null argument
         * @throws IllegalArgumentException   as {@link #step(MemorySegment, MemorySegment)}, and for a deadline that is
         *                                    not positive
         * @throws RejectedExecutionException if the queue is full
         * @throws IllegalStateException      as {@link #step(MemorySegment, MemorySegment)}
         * @throws CancellationException      if the batcher was closed before the frame was stepped
         */
        public void step(MemorySegment x, MemorySegment h, Duration deadline) throws TimeoutException {
            StreamBatcher.this.step(this, 1, frameInput(x), frameOutput(h), Checks.notNull("deadline", deadline));
        }

        /**
         * Float-array form of {@link #step(MemorySegment, MemorySegment)}.
         *
         * @param x the frame, {@code [I]} floats; copied
         * @param h output, {@code [S]} floats
         * @throws NullPointerException       as the MemorySegment form
         * @throws IllegalArgumentException   as the MemorySegment form
         * @throws RejectedExecutionException as the MemorySegment form
         * @throws IllegalStateException      as the MemorySegment form
         * @throws CancellationException      as the MemorySegment form
         */
        public void step(float[] x, float[] h) {
            step(MemorySegment.ofArray(Checks.notNull("x", x)), MemorySegment.ofArray(Checks.notNull("h", h)));
        }

        /**
         * Submits one frame; {@code callback} receives its output on the dispatcher thread (or, if
         * {@link StreamBatcher#close()} cancels the frame, its failure on the thread calling close()).
         *
         * @param x        the frame, {@code [I]} floats; copied before this call returns or throws
         * @param callback called once with the output or the failure; not null
         * @throws NullPointerException       for a null argument
         * @throws IllegalArgumentException   for an x of another size, or a NaN or infinity in it with
         *                                    {@link NonFiniteInputs#REJECT}
         * @throws RejectedExecutionException if the queue is full
         * @throws IllegalStateException      if this stream or the batcher is closed or expired
         */
        public void submit(MemorySegment x, FrameCallback callback) {
            enqueue(this, 1, frameInput(x), null, Checks.notNull("callback", callback), null, null);
        }

        /**
         * As {@link #submit(MemorySegment, FrameCallback)}, but a full queue is answered with false instead of a
         * {@link RejectedExecutionException}: for a producer that sheds load when the batcher is saturated, at the
         * cost of the check alone (once warm, neither answer allocates).
         *
         * @param x        the frame, {@code [I]} floats; copied before this call returns true, not read if it
         *                 returns false
         * @param callback called once with the output or the failure if this returns true; never if it returns false
         * @return true if the frame was queued; false if the queue was full, and then nothing changed (not even the
         *         stream's idle time: a stream whose frames are all refused can expire)
         * @throws NullPointerException     for a null argument
         * @throws IllegalArgumentException for an x of another size; with {@link NonFiniteInputs#REJECT}, for a NaN
         *                                  or infinity in x if the queue has room (a full queue answers false first)
         * @throws IllegalStateException    if this stream or the batcher is closed or expired
         */
        public boolean trySubmit(MemorySegment x, FrameCallback callback) {
            return enqueue(this, 1, frameInput(x), null, Checks.notNull("callback", callback), null, null, false)
                    != null;
        }

        /**
         * As {@link #submit(MemorySegment, FrameCallback)}, with a deadline: if the frame's step has not started
         * within it, the callback receives a {@link TimeoutException} and the stream's state is unchanged.
         *
         * @param x        the frame, {@code [I]} floats; copied before this call returns or throws
         * @param deadline the longest the frame may wait for its step to start, positive
         * @param callback called once with the output or the failure; not null
         * @throws NullPointerException       for a null argument
         * @throws IllegalArgumentException   as the form without a deadline, and for a deadline that is not positive
         * @throws RejectedExecutionException if the queue is full
         * @throws IllegalStateException      if this stream or the batcher is closed or expired
         */
        public void submit(MemorySegment x, Duration deadline, FrameCallback callback) {
            enqueue(this, 1, frameInput(x), Checks.notNull("deadline", deadline), Checks.notNull("callback", callback),
                    null, null);
        }

        /**
         * Submits one frame; the future completes with the output, {@code [S]} floats, or with the failure a
         * callback would receive (a frame that {@link StreamBatcher#close()} cancels leaves it cancelled). Its
         * dependent actions that are not {@code Async} run on the dispatcher thread (on the thread calling
         * close() for a frame it cancels). Cancelling the future does not withdraw the frame.
         *
         * @param x the frame, {@code [I]} floats; copied before this call returns or throws
         * @return the output's future
         * @throws NullPointerException       for a null x
         * @throws IllegalArgumentException   as {@link #submit(MemorySegment, FrameCallback)}
         * @throws RejectedExecutionException if the queue is full
         * @throws IllegalStateException      if this stream or the batcher is closed or expired
         */
        public CompletableFuture<float[]> stepAsync(MemorySegment x) {
            CompletableFuture<float[]> future = new CompletableFuture<>();
            enqueue(this, 1, frameInput(x), null, null, future, null);
            return future;
        }

        /**
         * As {@link #stepAsync(MemorySegment)}, with a deadline: if the frame's step has not started within it, the
         * future fails with a {@link TimeoutException} and the stream's state is unchanged.
         *
         * @param x        the frame, {@code [I]} floats; copied before this call returns or throws
         * @param deadline the longest the frame may wait for its step to start, positive
         * @return the output's future
         * @throws NullPointerException       for a null argument
         * @throws IllegalArgumentException   as the form without a deadline, and for a deadline that is not positive
         * @throws RejectedExecutionException if the queue is full
         * @throws IllegalStateException      if this stream or the batcher is closed or expired
         */
        public CompletableFuture<float[]> stepAsync(MemorySegment x, Duration deadline) {
            CompletableFuture<float[]> future = new CompletableFuture<>();
            enqueue(this, 1, frameInput(x), Checks.notNull("deadline", deadline), null, future, null);
            return future;
        }

        /**
         * Steps this stream by a chunk of T frames, one per batched step in order (each output bit for bit what
         * stepping the stream alone gives), and waits for all their outputs, without a deadline. The wait ignores
         * interrupts (the thread's interrupt status is kept).
         *
         * @param steps T, the chunk's frames, 1 to {@link BatcherOptions#queueCapacity()}
         * @param x     the frames, {@code [T][I]} floats, row-major; copied before this call returns or throws
         * @param h     output, {@code [T][S]} floats: the top layer's new h after each frame; written by this thread,
         *              only on success
         * @throws NullPointerException       for a null x or h
         * @throws IllegalArgumentException   for steps below 1 or above the queue capacity, a segment of another size,
         *                                    a read-only h, or (with {@link NonFiniteInputs#REJECT}) a NaN or infinity
         *                                    in x, named as in {@code x[t][j]}
         * @throws RejectedExecutionException if the queue has room for fewer than T frames
         * @throws IllegalStateException      as {@link #step(MemorySegment, MemorySegment)}; if a step failed, its
         *                                    message says how many of the chunk's frames were stepped
         * @throws CancellationException      if the batcher was closed before the chunk's last frame was stepped; the
         *                                    message says how many were
         */
        public void stepChunk(int steps, MemorySegment x, MemorySegment h) {
            try {
                StreamBatcher.this.step(this, steps, chunkInput(steps, x), chunkOutput(steps, h), null);
            } catch (TimeoutException e) {
                throw new AssertionError("a chunk without a deadline timed out", e);
            }
        }

        /**
         * As {@link #stepChunk(int, MemorySegment, MemorySegment)}, unless a frame's step has not started within
         * {@code deadline} from this call.
         *
         * @param steps    T, 1 to {@link BatcherOptions#queueCapacity()}
         * @param x        the frames, {@code [T][I]} floats; copied before this call returns or throws
         * @param h        output, {@code [T][S]} floats; written only on success
         * @param deadline the longest each of the chunk's frames may wait for its step to start, positive
         * @throws TimeoutException           if the deadline passed first; the message says how many of the chunk's
         *                                    frames were stepped, which the stream's state has advanced by
         * @throws NullPointerException       for a null argument
         * @throws IllegalArgumentException   as the form without a deadline, and for a deadline that is not positive
         * @throws RejectedExecutionException if the queue has room for fewer than T frames
         * @throws IllegalStateException      as the form without a deadline
         * @throws CancellationException      as the form without a deadline
         */
        public void stepChunk(int steps, MemorySegment x, MemorySegment h, Duration deadline)
                throws TimeoutException {
            StreamBatcher.this.step(this, steps, chunkInput(steps, x), chunkOutput(steps, h),
                    Checks.notNull("deadline", deadline));
        }

        /**
         * Submits a chunk of T frames, stepped one per batched step in order; {@code callback} is called once, with
         * the outputs {@code [T][S]} when the last frame has been stepped, or with the failure of the first frame
         * that failed (then the frames after it are not stepped).
         *
         * @param steps    T, 1 to {@link BatcherOptions#queueCapacity()}
         * @param x        the frames, {@code [T][I]} floats; copied before this call returns or throws
         * @param callback called once with the chunk's outputs or its failure; not null
         * @throws NullPointerException       for a null argument
         * @throws IllegalArgumentException   for steps below 1 or above the queue capacity, an x of another size, or a
         *                                    NaN or infinity in it with {@link NonFiniteInputs#REJECT}
         * @throws RejectedExecutionException if the queue has room for fewer than T frames
         * @throws IllegalStateException      if this stream or the batcher is closed or expired
         */
        public void submitChunk(int steps, MemorySegment x, FrameCallback callback) {
            enqueue(this, steps, chunkInput(steps, x), null, Checks.notNull("callback", callback), null, null);
        }

        /**
         * As {@link #submitChunk(int, MemorySegment, FrameCallback)}, with a deadline for each of the chunk's frames:
         * if one's step has not started within it from this call, the callback receives a {@link TimeoutException}
         * saying how many frames were stepped.
         *
         * @param steps    T, 1 to {@link BatcherOptions#queueCapacity()}
         * @param x        the frames, {@code [T][I]} floats; copied before this call returns or throws
         * @param deadline the longest each frame may wait for its step to start, positive
         * @param callback called once with the chunk's outputs or its failure; not null
         * @throws NullPointerException       for a null argument
         * @throws IllegalArgumentException   as the form without a deadline, and for a deadline that is not positive
         * @throws RejectedExecutionException if the queue has room for fewer than T frames
         * @throws IllegalStateException      if this stream or the batcher is closed or expired
         */
        public void submitChunk(int steps, MemorySegment x, Duration deadline, FrameCallback callback) {
            enqueue(this, steps, chunkInput(steps, x), Checks.notNull("deadline", deadline),
                    Checks.notNull("callback", callback), null, null);
        }

        /**
         * Submits a chunk of T frames; the future completes with the outputs, {@code [T][S]} floats, or with the
         * failure a chunk callback would receive, as {@link #stepAsync(MemorySegment)} does for one frame.
         *
         * @param steps T, 1 to {@link BatcherOptions#queueCapacity()}
         * @param x     the frames, {@code [T][I]} floats; copied before this call returns or throws
         * @return the outputs' future
         * @throws NullPointerException       for a null x
         * @throws IllegalArgumentException   as {@link #submitChunk(int, MemorySegment, FrameCallback)}
         * @throws RejectedExecutionException if the queue has room for fewer than T frames
         * @throws IllegalStateException      if this stream or the batcher is closed or expired
         */
        public CompletableFuture<float[]> stepChunkAsync(int steps, MemorySegment x) {
            CompletableFuture<float[]> future = new CompletableFuture<>();
            enqueue(this, steps, chunkInput(steps, x), null, null, future, null);
            return future;
        }

        /**
         * As {@link #stepChunkAsync(int, MemorySegment)}, with a deadline for each of the chunk's frames.
         *
         * @param steps    T, 1 to {@link BatcherOptions#queueCapacity()}
         * @param x        the frames, {@code [T][I]} floats; copied before this call returns or throws
         * @param deadline the longest each frame may wait for its step to start, positive
         * @return the outputs' future
         * @throws NullPointerException       for a null argument
         * @throws IllegalArgumentException   as the form without a deadline, and for a deadline that is not positive
         * @throws RejectedExecutionException if the queue has room for fewer than T frames
         * @throws IllegalStateException      if this stream or the batcher is closed or expired
         */
        public CompletableFuture<float[]> stepChunkAsync(int steps, MemorySegment x, Duration deadline) {
            CompletableFuture<float[]> future = new CompletableFuture<>();
            enqueue(this, steps, chunkInput(steps, x), Checks.notNull("deadline", deadline), null, future, null);
            return future;
        }

        /**
         * Closes this stream: no more frames may be submitted; those already submitted still run, and its slot is
         * free once they have finished. Closing twice, or after the batcher or after expiry, is harmless.
         */
        @Override
        public void close() {
            boolean wake = false;
            synchronized (lock) {
                if (!closed) {
                    closeStream(this);
                    // The pending frames may now be those of every open stream: no reason left to wait.
                    wake = readyCount > 0 && readyCount >= openStreams;
                }
            }
            if (wake) {
                LockSupport.unpark(dispatcher);
            }
        }
    }
}
