package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;

/**
 * Serves many streams of one unidirectional {@link Model} at once, as NVIDIA Triton's sequence batcher does
 * in-process: each stream ({@link Handle}, from {@link #open()}) sends one frame at a time, and one dispatcher thread
 * steps the pending frames of different streams together as one batch, so that the weights are read once for up to
 * {@link BatcherOptions#maxBatch()} frames instead of once per frame.
 *
 * <p>Semantics:
 * <ul>
 *   <li>Per stream, frames run in submission order, and each output is bit for bit what stepping that stream alone
 *       with {@link Runner#step} at batch 1 gives (rows of a batch are computed independently). A stream never has
 *       two frames in one batch.</li>
 *   <li>The dispatcher takes ready streams oldest first, up to {@code maxBatch}; it waits at most
 *       {@link BatcherOptions#maxDelay()} from the submission of the oldest pending frame for a full batch, and not at
 *       all while frames are left over from the previous step or once every open stream has a frame pending (no
 *       other stream could join the batch: a lone stream, or a closed loop of N streams, is stepped at once).</li>
 *   <li>At most {@link BatcherOptions#queueCapacity()} frames are submitted and not finished; a submission beyond
 *       that is refused at once with a {@link RejectedExecutionException}, never blocking the producer.</li>
 *   <li>A frame may have a deadline: if its step has not started by then, it fails with a {@link TimeoutException}
 *       (delivered when the dispatcher reaches it), and the stream's state is as if it had not been submitted.</li>
 *   <li>Any number of threads may open streams and submit frames; a stream's frames may come from several threads,
 *       in the order of their submissions.</li>
 *   <li>{@link #close()} lets the batch being stepped finish, fails every frame not yet stepped with a
 *       {@link CancellationException}, and frees all off-heap memory.</li>
 * </ul>
 *
 * <p>Outputs are delivered three ways, by frame: {@link Handle#step(MemorySegment, MemorySegment)} blocks until the
 * output is written; {@link Handle#submit(MemorySegment, FrameCallback)} calls back on the dispatcher thread (on the
 * thread calling {@link #close()} for the frames it cancels); and {@link Handle#stepAsync(MemorySegment)} completes a
 * future. Once warm, the MemorySegment forms of the blocking step and of submit allocate nothing on the Java heap, on
 * the producer's thread or the batcher's: frames are pooled objects; {@link Handle#step(float[], float[])} allocates
 * the two segments that wrap its arrays, and the future form allocates its future and its output array.
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
         * @param h       the top layer's new h, {@code [S]} floats, read-only and valid only during this call; null on
         *                failure
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
    private boolean open = true;
    /** The error that stopped the dispatcher thread, or null. */
    private Throwable fatalError;

    /** Held by close() while it frees, so that a concurrent close() returns only once all is freed. */
    private final Object closing = new Object();
    // Guarded by closing.
    private boolean freed;

    // The dispatcher's own (and, once it has stopped, close()'s).
    private final Frame[] batch;
    private final Handle[] batchStreams;
    /** The rows of {@link #batch} gathered for the step under way. */
    private int batchSize;
    /** The rows of {@link #batch} whose delivery has begun: a delivered frame may already be reused. */
    private int deliveredRows;
    /** Whether the waiter, not the dispatcher, gives {@code batch[row]} back to the pool. */
    private final boolean[] batchPooledByWaiter;
    private final Frame[] expired;
    private int expiredCount;
    /** The frames of {@link #expired} whose delivery has begun. */
    private int deliveredExpired;
    /** Whether the waiter, not the dispatcher, gives {@code expired[n]} back to the pool. */
    private final boolean[] pooledByWaiter;
    /** Written by the dispatcher only. */
    private volatile long batchedSteps;
    private volatile long steppedFrames;

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
        batchPooledByWaiter = new boolean[maxBatch];
        expired = new Frame[options.queueCapacity()];
        pooledByWaiter = new boolean[options.queueCapacity()];
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

    /** {@return the batched steps run so far; {@link #steppedFrames()} over it is the mean batch} */
    public long batchedSteps() {
        return batchedSteps;
    }

    /** {@return the frames stepped so far, over all streams (frames that failed are not counted)} */
    public long steppedFrames() {
        return steppedFrames;
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
     * Stops the dispatcher after the batch it is stepping (whose frames finish), fails every frame not yet stepped
     * with a {@link CancellationException} (their callbacks run on this thread), closes every stream, and frees the
     * runner and all off-heap memory. Closing twice is harmless; a close() concurrent with another returns once that
     * one has freed everything.
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
                finish(cancelled, () -> new CancellationException("the StreamBatcher was closed before this frame"
                        + " was stepped"));
            } finally {
                try {
                    runner.close();
                } finally {
                    memory.close();
                }
            }
        }
    }

    /** The dispatcher thread and the runner's workers, for the allocation test. */
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

    /** The frames queued in {@code stream}, taken out of it into {@link #expired} from {@code from}; the end. */
    private int takeFrames(Handle stream, int from) {
        int count = from;
        for (Frame frame = stream.first; frame != null; frame = frame.next) {
            expired[count++] = frame;
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
                    if (readyCount > 0) {
                        long waited = now - readyFirst.first.submitted;
                        if (backlog || readyCount >= batch.length || readyCount >= openStreams
                                || waited >= maxDelayNanos) {
                            size = gather(now);
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
     * deadline has passed go to {@link #expired} instead, and the stream's next frame is taken.
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
                expired[expiredCount++] = frame;
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
     * batch's outputs (a stream's expired frames precede its stepped one), and puts streams with more frames back in
     * line.
     */
    private void stepBatch(int size) {
        RuntimeException failure = null;
        if (size > 0) {
            try {
                stepRows(size);
                batchedSteps = batchedSteps + 1;
                steppedFrames = steppedFrames + size;
            } catch (RuntimeException e) {
                failure = e;
            }
        }
        long stepEnded = System.nanoTime();
        RuntimeException stepFailure = failure;
        while (deliveredExpired < expiredCount) {
            Frame frame = expired[deliveredExpired];
            pooledByWaiter[deliveredExpired++] = frame.waiter != null;
            deliver(frame, frame.stream, new TimeoutException("the frame's deadline passed before its step"
                    + " started"));
        }
        releaseDelivered(expiredCount);
        expiredCount = 0;
        deliveredExpired = 0;
        while (deliveredRows < size) {
            int row = deliveredRows++;
            batchPooledByWaiter[row] = batch[row].waiter != null;
            deliver(batch[row], batchStreams[row], stepFailure == null ? null
                    : new IllegalStateException("the batched step failed: " + stepFailure.getMessage(), stepFailure));
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
                if (!batchPooledByWaiter[row]) {
                    release(batch[row]);
                }
                batch[row] = null;
                batchStreams[row] = null;
            }
            batchSize = 0;
            deliveredRows = 0;
            backlog = leftOver;
        }
    }

    /**
     * Copies the frames' x and their streams' state rows into the staging buffers of a batch of {@code size}, runs
     * one step, and copies the new state rows back into the slots and the output rows into the frames.
     */
    private void stepRows(int size) {
        MemorySegment x = stagingX[size - 1];
        MemorySegment h = stagingH[size - 1];
        MemorySegment c = stagingC == null ? null : stagingC[size - 1];
        MemorySegment y = stagingY[size - 1];
        for (int row = 0; row < size; row++) {
            MemorySegment.copy(batch[row].x, 0, x, FLOAT, (long) row * inputSize * Float.BYTES, inputSize);
            copyStateRow(batchStreams[row].slot * slotBytes, h, c, size, row, true);
        }
        runner.forward(x, 1, size, h, c, y, h, c);
        for (int row = 0; row < size; row++) {
            copyStateRow(batchStreams[row].slot * slotBytes, h, c, size, row, false);
            MemorySegment.copy(y, FLOAT, (long) row * outputSize * Float.BYTES, batch[row].h, 0, outputSize);
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
     * Hands a finished frame its result: wakes its waiter, who then gives the frame back to the pool, or calls its
     * callback, or completes its future. Read whether it has a waiter before: after, the frame may be reused.
     */
    private void deliver(Frame frame, Handle stream, Throwable failure) {
        frame.failure = failure;
        Thread waiter = frame.waiter;
        if (waiter != null) {
            frame.finished = true;
            LockSupport.unpark(waiter);
            return;
        }
        frame.finished = true;
        if (frame.callback != null) {
            try {
                frame.callback.completed(stream, failure == null ? frame.hView : null, failure);
            } catch (Throwable thrown) {
                Thread current = Thread.currentThread();
                current.getUncaughtExceptionHandler().uncaughtException(current, thrown);
            }
        } else if (failure == null) {
            frame.future.complete(frame.h.clone());
        } else {
            frame.future.completeExceptionally(failure);
        }
    }

    /**
     * Gives the first {@code count} frames of {@link #expired}, delivered, back to the pool, but those their waiters
     * give back.
     */
    private void releaseDelivered(int count) {
        synchronized (lock) {
            for (int n = 0; n < count; n++) {
                if (!pooledByWaiter[n]) {
                    release(expired[n]);
                }
                expired[n] = null;
            }
        }
    }

    /** Delivers a new {@code failure} to each of the first {@code count} frames of {@link #expired}; releases them. */
    private void finish(int count, Supplier<RuntimeException> failure) {
        for (int n = 0; n < count; n++) {
            pooledByWaiter[n] = expired[n].waiter != null;
            deliver(expired[n], expired[n].stream, failure.get());
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
            for (int row = 0; row < batchSize; row++) {
                if (row >= deliveredRows) {
                    expired[failed++] = batch[row];
                } else if (batch[row] != null && !batchPooledByWaiter[row]) {
                    release(batch[row]);
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
        finish(failed, () -> new IllegalStateException("the dispatcher thread failed", fatal));
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

    /** Queues one frame for {@code stream}, having copied x; the frame's delivery is set by the caller's arguments. */
    private Frame enqueue(Handle stream, MemorySegment x, Duration deadline, FrameCallback callback,
                         CompletableFuture<float[]> future, Thread waiter) {
        Checks.floats("x", x, "I", inputSize);
        long deadlineNanos = deadline == null ? 0 : deadlineNanos(deadline);
        boolean wake = false;
        Frame frame;
        synchronized (lock) {
            checkSubmittable(stream);
            if (freeFrameCount == 0) {
                throw new RejectedExecutionException("the StreamBatcher's queue is full: " + freeFrames.length
                        + " frames are pending (BatcherOptions.queueCapacity); retry later");
            }
            frame = freeFrames[freeFrameCount - 1];
            MemorySegment.copy(x, FLOAT, 0, frame.x, 0, inputSize);
            if (rejectNonFinite) {
                // The copy, which a concurrent writer of x can no longer change.
                Checks.finiteInput(OWNER, "x", frame.xView, 1, 0, inputSize, inputSize);
            }
            // Taken only once the copy (which throws if the caller's arena has closed meanwhile) and the check pass.
            freeFrames[--freeFrameCount] = null;
            long now = System.nanoTime();
            frame.stream = stream;
            frame.submitted = now;
            frame.hasDeadline = deadline != null;
            frame.deadline = now + deadlineNanos;
            frame.callback = callback;
            frame.future = future;
            frame.waiter = waiter;
            frame.failure = null;
            frame.next = null;
            frame.finished = false;
            if (stream.last == null) {
                stream.first = frame;
            } else {
                stream.last.next = frame;
            }
            stream.last = frame;
            stream.unfinished++;
            touch(stream, now);
            if (!stream.stepping && !stream.ready) {
                addReady(stream);
                wake = readyCount == 1 || readyCount == batch.length || readyCount >= openStreams;
            }
        }
        if (wake) {
            LockSupport.unpark(dispatcher);
        }
        return frame;
    }

    private void step(Handle stream, MemorySegment x, MemorySegment h, Duration deadline) throws TimeoutException {
        if (Thread.currentThread() == dispatcher) {
            throw new IllegalStateException("a blocking step cannot run in a frame callback, on the dispatcher thread"
                    + " that it would wait for: use submit or stepAsync");
        }
        Checks.output("h", h, "S", outputSize);
        Frame frame = enqueue(stream, x, deadline, null, null, Thread.currentThread());
        boolean interrupted = false;
        while (!frame.finished) {
            LockSupport.park(this);
            interrupted |= Thread.interrupted();
        }
        Throwable failure = frame.failure;
        if (failure == null) {
            MemorySegment.copy(frame.h, 0, h, FLOAT, 0, outputSize);
        }
        synchronized (lock) {
            release(frame);
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

    /** Gives a finished frame back to the pool; its stream may then free its slot. Under the lock. */
    private void release(Frame frame) {
        Handle stream = frame.stream;
        frame.stream = null;
        frame.callback = null;
        frame.future = null;
        frame.waiter = null;
        frame.failure = null;
        freeFrames[freeFrameCount++] = frame;
        stream.unfinished--;
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

    /** One submitted frame, pooled: its input, its output, and how it is delivered. */
    private static final class Frame {
        final float[] x;
        /** A view of {@link #x}, made once, for the check of non-finite inputs. */
        final MemorySegment xView;
        final float[] h;
        /** A read-only view of {@link #h}, made once, for callbacks. */
        final MemorySegment hView;
        Handle stream;
        Frame next;
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
                StreamBatcher.this.step(this, x, h, null);
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
            StreamBatcher.this.step(this, x, h, Checks.notNull("deadline", deadline));
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
            enqueue(this, x, null, Checks.notNull("callback", callback), null, null);
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
            enqueue(this, x, Checks.notNull("deadline", deadline), Checks.notNull("callback", callback), null, null);
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
            enqueue(this, x, null, null, future, null);
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
            enqueue(this, x, Checks.notNull("deadline", deadline), null, future, null);
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
