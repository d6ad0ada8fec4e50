package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Field;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link StreamBatcher}: every output bit for bit what stepping its stream alone with {@link Runner#step} at batch 1
 * gives, for every kind of model; the three ways of delivery; idle expiry, queue-full refusal, deadlines, close with
 * pending frames; an error that stops the dispatcher; an interrupt a callback leaves; a submission whose copy fails;
 * bad input with its messages; and no off-heap memory left after close.
 */
class StreamBatcherTest {

    static final int INPUT = 11;
    static final int HIDDEN = 24;
    /** The longest any test waits for the dispatcher: a guard against a hang, not a timing assertion. */
    static final long PATIENCE_SECONDS = 60;

    /**
     * Eight streams of 1 to 8 frames, all queued before the first step (the last one submitted is the only frame of
     * the eighth stream, which fills the batch of 8 that maxDelay waits for), so the batches hold 8, 7, ..., 1
     * frames, one per stream, and the rows of a stream move as streams drop out. Odd streams start from random h0
     * and c0.
     */
    @ParameterizedTest(name = "{0} L={1} P={2} peepholes={3} {4} threads={5}")
    @CsvSource({"LSTM, 1, 0, false, FLOAT32, 1", "GRU, 1, 0, false, FLOAT32, 1", "LSTM, 2, 0, false, FLOAT32, 1",
            "GRU, 2, 0, false, FLOAT32, 2", "LSTM, 2, 7, false, FLOAT32, 1", "LSTM, 1, 0, true, FLOAT32, 1",
            "LSTM, 2, 0, false, BFLOAT16, 1", "LSTM, 1, 5, false, INT8, 1", "LSTM, 2, 7, false, FLOAT32, 2"})
    void everyOutputIsItsStreamSteppedAloneBitForBit(Cell cell, int layers, int projection, boolean peepholes,
                                                     WeightPrecision precision, int threads)
            throws InterruptedException {
        long nativeAtStart = NativeMemory.liveBytes();
        int streams = 8;
        SplittableRandom random = new SplittableRandom(31);
        try (Model model = model(cell, layers, projection, peepholes, precision, 32)) {
            RnnShape shape = model.shape();
            float[][][] frames = new float[streams][][];
            float[][] h0 = new float[streams][];
            float[][] c0 = new float[streams][];
            for (int s = 0; s < streams; s++) {
                frames[s] = frames(random, s + 1);
                if (s % 2 == 1) {
                    h0[s] = ModelApiTest.uniform(random, layers * shape.hiddenStateSize());
                    c0[s] = cell.hasCellState() ? ModelApiTest.uniform(random, layers * HIDDEN) : null;
                }
            }
            float[][][] outputs = new float[streams][][];
            int[] delivered = new int[streams];
            List<Throwable> failures = new ArrayList<>();
            CountDownLatch done = new CountDownLatch(36);
            BatcherOptions options = BatcherOptions.DEFAULT.withMaxBatch(streams)
                    .withMaxDelay(Duration.ofMinutes(10)).withThreads(threads);
            try (StreamBatcher batcher = StreamBatcher.start(model, options)) {
                // Every stream is open before the first frame: the dispatcher waits for the full batch.
                StreamBatcher.Handle[] handles = new StreamBatcher.Handle[streams];
                for (int s = 0; s < streams; s++) {
                    handles[s] = batcher.open(h0[s], c0[s]);
                }
                for (int s = streams - 1; s >= 0; s--) {
                    int index = s;
                    outputs[s] = new float[frames[s].length][];
                    StreamBatcher.Handle stream = handles[s];
                    for (float[] x : frames[s]) {
                        stream.submit(MemorySegment.ofArray(x), (handle, h, failure) -> {
                            if (failure != null) {
                                failures.add(failure);
                            } else {
                                outputs[index][delivered[index]++] = h.toArray(ValueLayout.JAVA_FLOAT);
                            }
                            done.countDown();
                        });
                    }
                }
                assertTrue(done.await(PATIENCE_SECONDS, TimeUnit.SECONDS), "every frame delivered");
                assertEquals(List.of(), failures);
                assertEquals(8, batcher.batchedSteps(), "one batch per frame of the longest stream");
                assertEquals(36, batcher.steppedFrames());
            }
            for (int s = 0; s < streams; s++) {
                float[][] expected = alone(model, h0[s], c0[s], frames[s]);
                for (int t = 0; t < expected.length; t++) {
                    assertArrayEquals(expected[t], outputs[s][t], "stream " + s + " frame " + t);
                }
            }
        }
        assertEquals(nativeAtStart, NativeMemory.liveBytes(), "off-heap bytes after close");
    }

    /**
     * The blocking forms (MemorySegment from a confined arena, float[]), the future and the callback give one
     * stream's outputs alike, while four streams run at once.
     */
    @Test
    void everyFormOfDeliveryGivesTheSameOutputs() throws Exception {
        SplittableRandom random = new SplittableRandom(41);
        float[][] frames = frames(random, 6);
        float[] h0 = ModelApiTest.uniform(random, HIDDEN);
        float[] c0 = ModelApiTest.uniform(random, HIDDEN);
        try (Model model = model(Cell.LSTM, 1, 0, false, WeightPrecision.FLOAT32, 42);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withMaxBatch(4));
             Arena arena = Arena.ofConfined()) {
            float[][] expected = alone(model, h0, c0, frames);
            StreamBatcher.Handle segments = batcher.open(h0, c0);
            StreamBatcher.Handle arrays = batcher.open(h0, c0);
            StreamBatcher.Handle futures = batcher.open(h0, c0);
            StreamBatcher.Handle callbacks = batcher.open(h0, c0);
            MemorySegment x = arena.allocate(INPUT * Float.BYTES);
            MemorySegment h = arena.allocate(HIDDEN * Float.BYTES);
            List<float[]> called = new ArrayList<>();
            CountDownLatch done = new CountDownLatch(frames.length);
            for (int t = 0; t < frames.length; t++) {
                MemorySegment.copy(frames[t], 0, x, ValueLayout.JAVA_FLOAT, 0, INPUT);
                CompletableFuture<float[]> future = futures.stepAsync(x);
                callbacks.submit(x, (stream, out, failure) -> {
                    called.add(out.toArray(ValueLayout.JAVA_FLOAT));
                    done.countDown();
                });
                segments.step(x, h);
                assertArrayEquals(expected[t], h.toArray(ValueLayout.JAVA_FLOAT), "blocking segment, frame " + t);
                float[] out = new float[HIDDEN];
                arrays.step(frames[t], out);
                assertArrayEquals(expected[t], out, "blocking array, frame " + t);
                assertArrayEquals(expected[t], future.get(PATIENCE_SECONDS, TimeUnit.SECONDS), "future, frame " + t);
            }
            assertTrue(done.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
            for (int t = 0; t < frames.length; t++) {
                assertArrayEquals(expected[t], called.get(t), "callback, frame " + t);
            }
            assertEquals(4, batcher.openStreams());
            segments.close();
            assertFalse(segments.isOpen());
            assertEquals(3, batcher.openStreams());
        }
    }

    /**
     * maxDelay is ten minutes, yet no frame waits for it when no other stream could join its batch: a lone stream's
     * frame runs at once; with a second stream open and idle the frame waits, until that stream closes; two streams
     * with a frame each run as one batch of two.
     */
    @Test
    void noFrameWaitsForAStreamThatCannotJoinItsBatch() throws Exception {
        float[][] frames = frames(new SplittableRandom(71), 4);
        float[] h = new float[HIDDEN];
        try (Model model = model(Cell.LSTM, 1, 0, false, WeightPrecision.FLOAT32, 70);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withMaxBatch(4)
                     .withMaxDelay(Duration.ofMinutes(10)))) {
            StreamBatcher.Handle lone = batcher.open();
            CompletableFuture<float[]> first = lone.stepAsync(MemorySegment.ofArray(frames[0]));
            assertArrayEquals(alone(model, null, null, frames)[0], first.get(PATIENCE_SECONDS, TimeUnit.SECONDS));
            assertEquals(1, batcher.batchedSteps());

            StreamBatcher.Handle idle = batcher.open();
            CompletableFuture<float[]> second = lone.stepAsync(MemorySegment.ofArray(frames[1]));
            Thread.sleep(200);
            assertFalse(second.isDone(), "a frame waits for the batch while another open stream may join it");
            idle.close();
            assertArrayEquals(alone(model, null, null, frames)[1], second.get(PATIENCE_SECONDS, TimeUnit.SECONDS));
            assertEquals(2, batcher.batchedSteps());

            StreamBatcher.Handle other = batcher.open();
            CompletableFuture<float[]> third = lone.stepAsync(MemorySegment.ofArray(frames[2]));
            other.step(frames[3], h);
            assertArrayEquals(alone(model, null, null, frames)[2], third.get(PATIENCE_SECONDS, TimeUnit.SECONDS));
            assertArrayEquals(alone(model, null, null, new float[][]{frames[3]})[0], h);
            assertEquals(3, batcher.batchedSteps(), "the two streams' frames in one batch");
            assertEquals(4, batcher.steppedFrames());
        }
    }

    /**
     * A blocking step that finds the batcher idle is stepped by its caller, as a batch of one, with the same bits: a
     * lone stream's steps, whatever maxDelay. With a second stream open that could join its batch within maxDelay,
     * the step waits for the dispatcher as before; alone again, the next is direct again.
     */
    @Test
    void aBlockingStepOnAnIdleBatcherIsSteppedByItsCaller() throws Exception {
        float[][] frames = frames(new SplittableRandom(111), 5);
        try (Model model = model(Cell.LSTM, 2, 0, false, WeightPrecision.FLOAT32, 110);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withMaxBatch(4)
                     .withMaxDelay(Duration.ofMinutes(10)))) {
            float[][] expected = alone(model, null, null, frames);
            StreamBatcher.Handle stream = batcher.open();
            float[] h = new float[HIDDEN];
            for (int t = 0; t < 3; t++) {
                stream.step(frames[t], h);
                assertArrayEquals(expected[t], h, "frame " + t);
            }
            assertEquals(3, batcher.directSteps());
            assertEquals(3, batcher.batchedSteps());

            StreamBatcher.Handle idle = batcher.open();
            CompletableFuture<Void> waiting = CompletableFuture.runAsync(() -> stream.step(frames[3], h));
            awaitTrue(() -> batcher.pendingFrames() == 1, "the frame is queued");
            Thread.sleep(200);
            assertFalse(waiting.isDone(), "a frame waits for the batch while another open stream may join it");
            idle.close();
            waiting.get(PATIENCE_SECONDS, TimeUnit.SECONDS);
            assertArrayEquals(expected[3], h, "frame 3, stepped by the dispatcher");
            assertEquals(3, batcher.directSteps());

            // The dispatcher wakes a waiter before it ends its batch; parked, it is idle.
            Thread dispatcher = batcher.threads().getLast();
            awaitTrue(() -> dispatcher.getState() == Thread.State.WAITING, "the dispatcher has parked");
            stream.step(frames[4], h);
            assertArrayEquals(expected[4], h, "frame 4");
            assertEquals(4, batcher.directSteps());
            assertEquals(5, batcher.steppedFrames());
        }
    }

    /**
     * A blocking step never overtakes its stream's queued frames, nor runs beside the dispatcher's batch: submitted
     * while the dispatcher is busy and the stream has two frames queued, it waits for them, and the three outputs are
     * those of stepping the stream alone, in order.
     */
    @Test
    void aBlockingStepWaitsForItsStreamsQueuedFrames() throws Exception {
        float[][] frames = frames(new SplittableRandom(121), 3);
        try (Model model = model(Cell.GRU, 1, 0, false, WeightPrecision.FLOAT32, 120);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withMaxBatch(4))) {
            StreamBatcher.Handle held = batcher.open();
            StreamBatcher.Handle stream = batcher.open();
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            held.submit(MemorySegment.ofArray(new float[INPUT]), (handle, out, failure) ->
                    holdDispatcher(entered, release));
            assertTrue(entered.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
            CompletableFuture<float[]> first = stream.stepAsync(MemorySegment.ofArray(frames[0]));
            CompletableFuture<float[]> second = stream.stepAsync(MemorySegment.ofArray(frames[1]));
            float[] third = new float[HIDDEN];
            CompletableFuture<Void> blocking = CompletableFuture.runAsync(() -> stream.step(frames[2], third));
            awaitTrue(() -> batcher.pendingFrames() == 4, "the blocking frame is queued");
            release.countDown();
            blocking.get(PATIENCE_SECONDS, TimeUnit.SECONDS);
            float[][] expected = alone(model, null, null, frames);
            assertArrayEquals(expected[0], first.get(PATIENCE_SECONDS, TimeUnit.SECONDS));
            assertArrayEquals(expected[1], second.get(PATIENCE_SECONDS, TimeUnit.SECONDS));
            assertArrayEquals(expected[2], third);
            assertEquals(0, batcher.directSteps());
        }
    }

    /**
     * One thread submits a stream's frames with stepAsync while another steps the same stream with blocking steps, in
     * an order the test fixes (each submission under its own lock): a blocking step that arrives while the other
     * thread's frames wait in line, not yet taken by the dispatcher, must not be stepped before them. Every output is
     * that of stepping the stream alone in that order.
     */
    @Test
    void aBlockingStepNeverOvertakesItsStreamsQueuedFrames() throws Exception {
        int count = 400;
        float[][] frames = frames(new SplittableRandom(141), count);
        try (Model model = model(Cell.LSTM, 1, 0, false, WeightPrecision.FLOAT32, 140);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withQueueCapacity(count))) {
            StreamBatcher.Handle stream = batcher.open();
            Object order = new Object();
            int[] next = {0};
            float[][] outputs = new float[count][];
            List<CompletableFuture<float[]>> futures = new ArrayList<>();
            List<Integer> futureFrames = new ArrayList<>();
            Thread async = Thread.ofPlatform().start(() -> {
                while (true) {
                    synchronized (order) {
                        if (next[0] == count) {
                            return;
                        }
                        int t = next[0]++;
                        futures.add(stream.stepAsync(MemorySegment.ofArray(frames[t])));
                        futureFrames.add(t);
                    }
                    Thread.yield();
                }
            });
            while (true) {
                synchronized (order) {
                    if (next[0] == count) {
                        break;
                    }
                    int t = next[0]++;
                    outputs[t] = new float[HIDDEN];
                    stream.step(frames[t], outputs[t]);
                }
                Thread.yield();
            }
            async.join();
            for (int n = 0; n < futures.size(); n++) {
                outputs[futureFrames.get(n)] = futures.get(n).get(PATIENCE_SECONDS, TimeUnit.SECONDS);
            }
            float[][] expected = alone(model, null, null, frames);
            for (int t = 0; t < count; t++) {
                assertArrayEquals(expected[t], outputs[t], "frame " + t);
            }
        }
    }

    /**
     * close() while a caller steps its frames directly, one after the other (a model large enough that the close
     * most likely lands in a step), three times: every step before the close succeeds, the first after it is refused
     * as on a closed batcher, and all off-heap memory is freed.
     */
    @Test
    void closeWaitsForADirectStep() throws Exception {
        long nativeAtStart = NativeMemory.liveBytes();
        int inputSize = 64;
        try (Parameters parameters = Parameters.initialize(RnnShape.of(Cell.LSTM, inputSize, 512).withLayers(2), 130);
             Model model = Model.pack(parameters, Options.DEFAULT)) {
            float[] x = ModelApiTest.uniform(new SplittableRandom(131), inputSize);
            for (int round = 0; round < 3; round++) {
                StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT);
                StreamBatcher.Handle stream = batcher.open();
                AtomicInteger steps = new AtomicInteger();
                AtomicReference<Throwable> ended = new AtomicReference<>();
                Thread stepper = Thread.ofPlatform().start(() -> {
                    float[] h = new float[512];
                    try {
                        while (true) {
                            stream.step(x, h);
                            steps.incrementAndGet();
                        }
                    } catch (Throwable e) {
                        ended.set(e);
                    }
                });
                awaitTrue(() -> steps.get() >= 20, "the caller has stepped");
                batcher.close();
                stepper.join();
                assertInstanceOf(IllegalStateException.class, ended.get());
                assertEquals("this StreamBatcher is closed", ended.get().getMessage());
                assertTrue(batcher.directSteps() >= 20);
            }
        }
        assertEquals(nativeAtStart, NativeMemory.liveBytes(), "off-heap bytes after close");
    }

    @Test
    void anIdleStreamExpiresAndFreesItsSlot() throws Exception {
        try (Model model = model(Cell.GRU, 1, 0, false, WeightPrecision.FLOAT32, 51);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withMaxStreams(1)
                     .withIdleTimeout(Duration.ofMillis(50)))) {
            StreamBatcher.Handle stream = batcher.open();
            float[] h = new float[HIDDEN];
            stream.step(new float[INPUT], h);
            awaitTrue(() -> !stream.isOpen(), "the stream expires");
            assertEquals(0, batcher.openStreams());
            IllegalStateException expired = assertThrows(IllegalStateException.class,
                    () -> stream.step(new float[INPUT], h));
            assertEquals("this stream expired: it was idle for longer than PT0.05S (BatcherOptions.idleTimeout)",
                    expired.getMessage());
            float[][] frames = frames(new SplittableRandom(52), 1);
            batcher.open().step(frames[0], h);   // the only slot is free again, and zero
            assertArrayEquals(alone(model, null, null, frames)[0], h);
        }
    }

    @Test
    void aFullQueueRefusesAndThenAcceptsAgain() throws Exception {
        try (Model model = model(Cell.LSTM, 1, 0, false, WeightPrecision.FLOAT32, 61);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withQueueCapacity(3))) {
            StreamBatcher.Handle held = batcher.open();
            StreamBatcher.Handle other = batcher.open();
            MemorySegment x = MemorySegment.ofArray(new float[INPUT]);
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            held.submit(x, (stream, h, failure) -> holdDispatcher(entered, release));
            assertTrue(entered.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
            CompletableFuture<float[]> second = other.stepAsync(x);
            CompletableFuture<float[]> third = other.stepAsync(x);
            RejectedExecutionException full = assertThrows(RejectedExecutionException.class,
                    () -> other.stepAsync(x));
            assertEquals("the StreamBatcher's queue is full: 3 frames are pending (BatcherOptions.queueCapacity);"
                    + " retry later", full.getMessage());
            assertEquals(3, batcher.pendingFrames());
            release.countDown();
            assertEquals(HIDDEN, third.get(PATIENCE_SECONDS, TimeUnit.SECONDS).length);
            assertTrue(second.isDone());
            assertEquals(HIDDEN, other.stepAsync(x).get(PATIENCE_SECONDS, TimeUnit.SECONDS).length);
        }
    }

    /**
     * trySubmit answers a full queue with false, queues nothing and never calls that frame's callback; with room it
     * queues the frame as submit does, whose output is that of stepping the stream alone; closed streams still throw.
     */
    @Test
    void trySubmitAnswersAFullQueueWithFalseAndQueuesOtherwise() throws Exception {
        SplittableRandom random = new SplittableRandom(63);
        float[][] frames = frames(random, 2);
        try (Model model = model(Cell.LSTM, 1, 0, false, WeightPrecision.FLOAT32, 64);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withQueueCapacity(2))) {
            CountDownLatch release = holdTheDispatcher(batcher);
            StreamBatcher.Handle stream = batcher.open();
            List<float[]> outputs = new CopyOnWriteArrayList<>();
            AtomicReference<String> wrong = new AtomicReference<>();
            AtomicInteger calls = new AtomicInteger();
            StreamBatcher.FrameCallback record = (handle, h, failure) -> {
                if (handle != stream || failure != null) {
                    wrong.compareAndSet(null, "callback for " + handle + " with failure " + failure);
                } else {
                    outputs.add(h.toArray(ValueLayout.JAVA_FLOAT));
                }
                calls.incrementAndGet();
            };
            assertTrue(stream.trySubmit(MemorySegment.ofArray(frames[0]), record), "one slot of two is free");
            assertEquals(2, batcher.pendingFrames());
            float[] ignored = {Float.NaN};
            assertFalse(stream.trySubmit(MemorySegment.ofArray(frames[1]), record), "the queue is full");
            assertFalse(stream.trySubmit(MemorySegment.ofArray(frames[1]), (handle, h, failure) -> ignored[0] = 0));
            assertEquals(2, batcher.pendingFrames(), "nothing was queued");
            release.countDown();
            awaitTrue(() -> calls.get() == 1, "the queued frame is delivered");
            assertTrue(stream.trySubmit(MemorySegment.ofArray(frames[1]), record), "room again");
            awaitTrue(() -> calls.get() == 2, "and delivered");
            assertArrayEquals(alone(model, null, null, frames)[0], outputs.get(0));
            assertArrayEquals(alone(model, null, null, frames)[1], outputs.get(1),
                    "the refused frames left the stream's state as it was");
            assertTrue(Float.isNaN(ignored[0]), "a refused frame's callback is never called");
            assertNull(wrong.get());
            MemorySegment wrongSize = MemorySegment.ofArray(new float[1]);
            assertEquals(assertThrows(IllegalArgumentException.class, () -> stream.submit(wrongSize, record))
                            .getMessage(),
                    assertThrows(IllegalArgumentException.class, () -> stream.trySubmit(wrongSize, record))
                            .getMessage(), "a frame of another size, refused as submit refuses it");
            stream.close();
            assertEquals("this stream is closed", assertThrows(IllegalStateException.class,
                    () -> stream.trySubmit(MemorySegment.ofArray(frames[0]), record)).getMessage());
        }
    }

    /**
     * A frame whose deadline passes while the dispatcher is held fails with a TimeoutException and leaves its stream
     * as it was: the stream's next outputs are those of stepping it alone without that frame.
     */
    @Test
    void aFrameWhoseDeadlinePassesFailsAndLeavesTheStateAsItWas() throws Exception {
        SplittableRandom random = new SplittableRandom(71);
        float[][] frames = frames(random, 4);
        try (Model model = model(Cell.LSTM, 2, 0, false, WeightPrecision.FLOAT32, 72);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT)) {
            StreamBatcher.Handle held = batcher.open();
            StreamBatcher.Handle stream = batcher.open();
            float[] h = new float[HIDDEN];
            stream.step(frames[0], h);
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            held.submit(MemorySegment.ofArray(frames[0]), (handle, out, failure) -> holdDispatcher(entered, release));
            assertTrue(entered.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
            CompletableFuture<float[]> late = stream.stepAsync(MemorySegment.ofArray(frames[1]), Duration.ofMillis(1));
            AtomicReference<Throwable> lateCallback = new AtomicReference<>();
            CountDownLatch called = new CountDownLatch(1);
            stream.submit(MemorySegment.ofArray(frames[1]), Duration.ofMillis(1), (handle, out, failure) -> {
                lateCallback.set(out == null ? failure : new AssertionError("an output with the failure"));
                called.countDown();
            });
            CompletableFuture<float[]> inTime = stream.stepAsync(MemorySegment.ofArray(frames[2]),
                    Duration.ofMinutes(10));
            Thread.sleep(20);   // past both 1 ms deadlines
            release.countDown();
            ExecutionException failed = assertThrows(ExecutionException.class,
                    () -> late.get(PATIENCE_SECONDS, TimeUnit.SECONDS));
            assertInstanceOf(TimeoutException.class, failed.getCause());
            assertEquals("the frame's deadline passed before its step started", failed.getCause().getMessage());
            assertTrue(called.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
            assertInstanceOf(TimeoutException.class, lateCallback.get());
            float[][] expected = alone(model, null, null, new float[][] {frames[0], frames[2], frames[3]});
            assertArrayEquals(expected[1], inTime.get(PATIENCE_SECONDS, TimeUnit.SECONDS));
            stream.step(MemorySegment.ofArray(frames[3]), MemorySegment.ofArray(h), Duration.ofMinutes(10));
            assertArrayEquals(expected[2], h);
        }
    }

    /**
     * close() while a batch is being stepped: that frame finishes, every queued frame (callback, future, blocking)
     * fails with a CancellationException, and nothing may be submitted or opened after.
     */
    @Test
    void closeFinishesTheBatchBeingSteppedAndCancelsTheQueuedFrames() throws Exception {
        long nativeAtStart = NativeMemory.liveBytes();
        try (Model model = model(Cell.LSTM, 1, 0, false, WeightPrecision.FLOAT32, 81)) {
            StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT);
            StreamBatcher.Handle held = batcher.open();
            StreamBatcher.Handle queued = batcher.open();
            StreamBatcher.Handle blocked = batcher.open();
            MemorySegment x = MemorySegment.ofArray(new float[INPUT]);
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            AtomicReference<Throwable> first = new AtomicReference<>(new AssertionError("not called"));
            held.submit(x, (stream, h, failure) -> {
                first.set(failure);
                holdDispatcher(entered, release);
            });
            assertTrue(entered.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
            AtomicReference<Throwable> second = new AtomicReference<>();
            held.submit(x, (stream, h, failure) -> second.set(failure));
            CompletableFuture<float[]> future = queued.stepAsync(x);
            AtomicReference<Throwable> blocking = new AtomicReference<>();
            Thread waiter = Thread.ofPlatform().start(() -> {
                try {
                    blocked.step(new float[INPUT], new float[HIDDEN]);
                } catch (RuntimeException e) {
                    blocking.set(e);
                }
            });
            awaitTrue(() -> batcher.pendingFrames() == 4, "the blocking frame is queued");
            Thread closer = Thread.ofPlatform().start(batcher::close);
            awaitTrue(() -> !held.isOpen(), "close() has begun");
            release.countDown();
            closer.join();
            waiter.join();
            assertNull(first.get(), "the frame being stepped finishes");
            assertCancelled(second.get());
            assertTrue(future.isCancelled());
            assertCancelled(future.handle((output, failure) -> failure).join());
            assertCancelled(blocking.get());
            IllegalStateException closed = assertThrows(IllegalStateException.class, () -> queued.stepAsync(x));
            assertEquals("this StreamBatcher is closed", closed.getMessage());
            assertThrows(IllegalStateException.class, batcher::open);
            assertEquals(0, batcher.openStreams());
            batcher.close();
        }
        assertEquals(nativeAtStart, NativeMemory.liveBytes(), "off-heap bytes after close");
    }

    /**
     * An error escapes the dispatcher (the uncaught exception handler that a callback's exception goes to throws it)
     * while the batch's second row is delivered, after the first row's frame has been given back by its waiter and
     * reused for a new submission. Every frame not delivered fails with the error as the cause, once: the reused
     * frame, the frame queued behind the second row's stream, and the frame of a stream left in line; the pool is
     * whole again, and later submissions say why the batcher stopped.
     */
    @Test
    void anErrorThatStopsTheDispatcherFailsEveryFrameNotDeliveredOnce() throws Exception {
        long nativeAtStart = NativeMemory.liveBytes();
        try (Model model = model(Cell.LSTM, 1, 0, false, WeightPrecision.FLOAT32, 101)) {
            StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withMaxBatch(2));
            Thread dispatcher = batcher.threads().getLast();
            RuntimeException thrown = new RuntimeException("a callback's exception");
            Error fatal = new Error("an error the dispatcher cannot carry on after");
            dispatcher.setUncaughtExceptionHandler((thread, exception) -> {
                if (exception == thrown) {
                    throw fatal;
                }
            });
            StreamBatcher.Handle held = batcher.open();
            StreamBatcher.Handle waited = batcher.open();
            StreamBatcher.Handle failing = batcher.open();
            StreamBatcher.Handle inLine = batcher.open();
            MemorySegment x = MemorySegment.ofArray(new float[INPUT]);
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch resubmitted = new CountDownLatch(1);
            held.submit(x, (stream, h, failure) -> holdDispatcher(entered, release));
            assertTrue(entered.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
            AtomicReference<CompletableFuture<float[]>> reused = new AtomicReference<>();
            Thread waiter = Thread.ofPlatform().start(() -> {
                waited.step(new float[INPUT], new float[HIDDEN]);   // row 0; its frame is the pool's next
                reused.set(waited.stepAsync(x));   // queued behind row 0's stream, still in the batch
                resubmitted.countDown();
            });
            awaitTrue(() -> batcher.pendingFrames() == 2, "the blocking frame is queued");
            AtomicInteger calls = new AtomicInteger();
            failing.submit(x, (stream, h, failure) -> {   // row 1
                calls.incrementAndGet();
                try {
                    assertTrue(resubmitted.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                throw thrown;
            });
            CompletableFuture<float[]> behind = failing.stepAsync(x);
            CompletableFuture<float[]> waiting = inLine.stepAsync(x);   // left in line: maxBatch is 2
            release.countDown();
            dispatcher.join(TimeUnit.SECONDS.toMillis(PATIENCE_SECONDS));
            assertFalse(dispatcher.isAlive(), "the dispatcher stopped");
            waiter.join();
            assertEquals(1, calls.get(), "row 1's callback runs once");
            for (CompletableFuture<float[]> future : List.of(reused.get(), behind, waiting)) {
                assertTrue(future.isDone(), "a frame not delivered fails");
                Throwable failure = future.handle((output, exception) -> exception).join();
                assertInstanceOf(IllegalStateException.class, failure);
                assertEquals("the dispatcher thread failed", failure.getMessage());
                assertSame(fatal, failure.getCause());
            }
            assertEquals(0, batcher.pendingFrames());
            IllegalStateException later = assertThrows(IllegalStateException.class, () -> inLine.stepAsync(x));
            assertEquals("this StreamBatcher failed: its dispatcher thread stopped on java.lang.Error: an error the"
                    + " dispatcher cannot carry on after", later.getMessage());
            assertSame(fatal, later.getCause());
            assertSame(fatal, assertThrows(IllegalStateException.class, batcher::open).getCause());
            batcher.close();
            assertEquals(0, batcher.openStreams());
        }
        assertEquals(nativeAtStart, NativeMemory.liveBytes(), "off-heap bytes after close");
    }

    /**
     * A callback that leaves its thread's interrupt status set does not keep the dispatcher from parking: a park
     * returns at once while the status is set, so the dispatcher must clear it (its thread state alone cannot tell,
     * as a park that returns at once shows WAITING for a moment).
     */
    @Test
    void anInterruptACallbackLeavesDoesNotKeepTheDispatcherAwake() throws Exception {
        try (Model model = model(Cell.GRU, 1, 0, false, WeightPrecision.FLOAT32, 111);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT)) {
            Thread dispatcher = batcher.threads().getLast();
            CountDownLatch interrupted = new CountDownLatch(1);
            batcher.open().submit(MemorySegment.ofArray(new float[INPUT]), (stream, h, failure) -> {
                Thread.currentThread().interrupt();
                interrupted.countDown();
            });
            assertTrue(interrupted.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
            awaitTrue(() -> !dispatcher.isInterrupted() && dispatcher.getState() == Thread.State.WAITING,
                    "the dispatcher clears the interrupt status and parks");
            float[][] frames = frames(new SplittableRandom(112), 1);
            float[] h = new float[HIDDEN];
            batcher.open().step(frames[0], h);
            assertArrayEquals(alone(model, null, null, frames)[0], h);
        }
    }

    /**
     * A submission and an open whose copy of the caller's segment throws, because its arena closed after the checks
     * (the test holds the batcher's lock, which the copies are made under, across the close), take no frame and no
     * slot: the queue of one frame and the second of two slots are still free.
     */
    @Test
    void aCopyThatFailsTakesNoFrameAndNoSlot() throws Exception {
        try (Model model = model(Cell.LSTM, 1, 0, false, WeightPrecision.FLOAT32, 121);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withQueueCapacity(1)
                     .withMaxStreams(2))) {
            StreamBatcher.Handle stream = batcher.open();
            Field lockField = StreamBatcher.class.getDeclaredField("lock");
            lockField.setAccessible(true);
            Object lock = lockField.get(batcher);
            Arena arena = Arena.ofShared();
            MemorySegment x = arena.allocate((long) INPUT * Float.BYTES);
            MemorySegment h0 = arena.allocate((long) HIDDEN * Float.BYTES);
            AtomicReference<Throwable> submitFailure = new AtomicReference<>();
            AtomicReference<Throwable> openFailure = new AtomicReference<>();
            Thread submitter;
            Thread opener;
            synchronized (lock) {
                submitter = Thread.ofPlatform().start(() -> {
                    try {
                        stream.submit(x, (handle, h, failure) -> { });
                    } catch (RuntimeException e) {
                        submitFailure.set(e);
                    }
                });
                opener = Thread.ofPlatform().start(() -> {
                    try {
                        batcher.open(h0, null);
                    } catch (RuntimeException e) {
                        openFailure.set(e);
                    }
                });
                awaitTrue(() -> submitter.getState() == Thread.State.BLOCKED
                        && opener.getState() == Thread.State.BLOCKED, "both wait for the lock, past the checks");
                arena.close();
            }
            submitter.join();
            opener.join();
            assertInstanceOf(IllegalStateException.class, submitFailure.get());
            assertInstanceOf(IllegalStateException.class, openFailure.get());
            assertEquals(0, batcher.pendingFrames());
            assertEquals(1, batcher.openStreams());
            float[][] frames = frames(new SplittableRandom(122), 1);
            float[] h = new float[HIDDEN];
            batcher.open().step(frames[0], h);
            assertArrayEquals(alone(model, null, null, frames)[0], h);
            assertEquals(HIDDEN, stream.stepAsync(MemorySegment.ofArray(frames[0]))
                    .get(PATIENCE_SECONDS, TimeUnit.SECONDS).length);
        }
    }

    @Test
    void badInputIsRefusedWithItsName() throws Exception {
        try (Model model = model(Cell.LSTM, 2, 5, false, WeightPrecision.FLOAT32, 91);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withMaxStreams(2))) {
            StreamBatcher.Handle stream = batcher.open();
            float[] h = new float[5];
            assertMessage(NullPointerException.class, "x must not be null (expected [I=11] floats)",
                    () -> stream.submit(null, (s, out, failure) -> { }));
            assertMessage(NullPointerException.class, "x must not be null", () -> stream.step((float[]) null, h));
            assertMessage(IllegalArgumentException.class,
                    "x must hold [I=11] = 11 floats (44 bytes), but it holds 10 floats (40 bytes)",
                    () -> stream.step(new float[10], h));
            assertMessage(IllegalArgumentException.class,
                    "h must hold [S=5] = 5 floats (20 bytes), but it holds 24 floats (96 bytes)",
                    () -> stream.step(new float[INPUT], new float[HIDDEN]));
            assertMessage(IllegalArgumentException.class, "h is an output but the segment is read-only",
                    () -> stream.step(MemorySegment.ofArray(new float[INPUT]),
                            MemorySegment.ofArray(h).asReadOnly()));
            assertMessage(NullPointerException.class, "callback must not be null",
                    () -> stream.submit(MemorySegment.ofArray(new float[INPUT]), null));
            assertMessage(NullPointerException.class, "deadline must not be null",
                    () -> stream.stepAsync(MemorySegment.ofArray(new float[INPUT]), null));
            assertMessage(IllegalArgumentException.class, "deadline must be positive, got PT0S",
                    () -> stream.stepAsync(MemorySegment.ofArray(new float[INPUT]), Duration.ZERO));
            assertMessage(IllegalArgumentException.class,
                    "h0 must hold [L=2][S=5] = 10 floats (40 bytes), but it holds 48 floats (192 bytes)",
                    () -> batcher.open(new float[2 * HIDDEN], null));
            assertMessage(IllegalArgumentException.class,
                    "c0 must hold [L=2][H=24] = 48 floats (192 bytes), but it holds 10 floats (40 bytes)",
                    () -> batcher.open(null, new float[10]));
            assertEquals(0, batcher.pendingFrames(), "nothing refused was queued");
            batcher.open().close();
            assertMessage(RejectedExecutionException.class, "all 2 stream slots are in use"
                    + " (BatcherOptions.maxStreams): close a stream, or let one expire, first", () -> {
                        batcher.open();
                        batcher.open();
                    });
            stream.close();
            stream.close();
            assertMessage(IllegalStateException.class, "this stream is closed", () -> stream.step(new float[INPUT], h));
            assertMessage(IllegalStateException.class, "this stream is closed",
                    () -> stream.stepAsync(MemorySegment.ofArray(new float[INPUT])));
        }
    }

    @Test
    void aGruTakesNoCellStateAndRejectModeChecksEachFrame() {
        Options reject = Options.DEFAULT.withNonFiniteInputs(NonFiniteInputs.REJECT);
        try (Parameters parameters = Parameters.initialize(RnnShape.of(Cell.GRU, INPUT, HIDDEN), 93);
             Model model = Model.pack(parameters, reject);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT)) {
            assertMessage(IllegalArgumentException.class, "c0 must be null for a GRU model: a GRU has no cell state",
                    () -> batcher.open(null, new float[HIDDEN]));
            float[] h0 = new float[HIDDEN];
            h0[2] = Float.POSITIVE_INFINITY;
            assertMessage(IllegalArgumentException.class, "h0[0][2] is Infinity: this StreamBatcher rejects NaN and"
                    + " infinite inputs (NonFiniteInputs.REJECT)", () -> batcher.open(h0, null));
            StreamBatcher.Handle stream = batcher.open();
            float[] x = new float[INPUT];
            x[3] = Float.NaN;
            assertMessage(IllegalArgumentException.class, "x[0][3] is NaN: this StreamBatcher rejects NaN and infinite"
                    + " inputs (NonFiniteInputs.REJECT)", () -> stream.step(x, new float[HIDDEN]));
            assertEquals(0, batcher.pendingFrames());
        }
    }

    @Test
    void callbacksMayNotBlockOnTheBatcherNorCloseIt() throws InterruptedException {
        try (Model model = model(Cell.LSTM, 1, 0, false, WeightPrecision.FLOAT32, 95);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT)) {
            StreamBatcher.Handle stream = batcher.open();
            List<String> messages = new ArrayList<>();
            CountDownLatch done = new CountDownLatch(1);
            stream.submit(MemorySegment.ofArray(new float[INPUT]), (handle, h, failure) -> {
                messages.add(assertThrows(IllegalStateException.class,
                        () -> handle.step(new float[INPUT], new float[HIDDEN])).getMessage());
                messages.add(assertThrows(IllegalStateException.class, batcher::close).getMessage());
                done.countDown();
            });
            assertTrue(done.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
            assertEquals(List.of("a blocking step cannot run in a frame callback, on the dispatcher thread that it"
                    + " would wait for: use submit or stepAsync", "close() cannot run in a frame callback, on the"
                    + " dispatcher thread that it waits for: close the StreamBatcher from another thread"), messages);
        }
    }

    @Test
    void optionsAndModelsAreCheckedWithTheirNames() {
        assertMessage(IllegalArgumentException.class, "maxBatch must be >= 1, got 0",
                () -> BatcherOptions.DEFAULT.withMaxBatch(0));
        assertMessage(IllegalArgumentException.class, "maxDelay must be >= 0 (Duration.ZERO to step what is pending"
                + " at once), got PT-0.001S", () -> BatcherOptions.DEFAULT.withMaxDelay(Duration.ofMillis(-1)));
        assertMessage(NullPointerException.class, "maxDelay must not be null",
                () -> BatcherOptions.DEFAULT.withMaxDelay(null));
        assertMessage(IllegalArgumentException.class, "queueCapacity must be >= 1, got 0",
                () -> BatcherOptions.DEFAULT.withQueueCapacity(0));
        assertMessage(IllegalArgumentException.class, "maxStreams must be >= 1, got -3",
                () -> BatcherOptions.DEFAULT.withMaxStreams(-3));
        assertMessage(IllegalArgumentException.class, "idleTimeout must be >= 0 (Duration.ZERO for no expiry), got"
                + " PT-1S", () -> BatcherOptions.DEFAULT.withIdleTimeout(Duration.ofSeconds(-1)));
        assertMessage(IllegalArgumentException.class, "threads must be <= 256, got 257",
                () -> BatcherOptions.DEFAULT.withThreads(257));
        RnnShape bidirectional = RnnShape.of(Cell.LSTM, INPUT, HIDDEN).withDirection(Direction.BIDIRECTIONAL);
        try (Parameters parameters = Parameters.initialize(bidirectional, 97);
             Model model = Model.pack(parameters, Options.DEFAULT)) {
            assertMessage(IllegalArgumentException.class, "a bidirectional model cannot be streamed step by step:"
                    + " its reverse direction reads the sequence from the last step back",
                    () -> StreamBatcher.start(model, BatcherOptions.DEFAULT));
            assertMessage(NullPointerException.class, "options must not be null",
                    () -> StreamBatcher.start(model, null));
        }
    }

    /**
     * A model of the given kind from seeded values: {@link Parameters#initialize} without peepholes, and with them
     * {@link Parameters#fromPyTorch} of one layer's random tensors.
     */
    static Model model(Cell cell, int layers, int projection, boolean peepholes, WeightPrecision precision,
                       long seed) {
        RnnShape shape = RnnShape.of(cell, INPUT, HIDDEN).withLayers(layers).withProjection(projection);
        Options options = Options.DEFAULT.withPrecision(precision);
        if (!peepholes) {
            try (Parameters parameters = Parameters.initialize(shape, seed)) {
                return Model.pack(parameters, options);
            }
        }
        SplittableRandom random = new SplittableRandom(seed);
        float bound = (float) (1 / Math.sqrt(HIDDEN));
        try (Parameters parameters = Parameters.fromPyTorch(shape.withPeepholes(true),
                TestRnn.uniform(random, 4 * HIDDEN * INPUT, bound), TestRnn.uniform(random, 4 * HIDDEN * HIDDEN,
                        bound), TestRnn.uniform(random, 4 * HIDDEN, bound),
                TestRnn.uniform(random, 4 * HIDDEN, bound), TestRnn.uniform(random, 3 * HIDDEN, bound))) {
            return Model.pack(parameters, options);
        }
    }

    /** {@code count} random frames of I floats. */
    static float[][] frames(SplittableRandom random, int count) {
        float[][] frames = new float[count][];
        for (int t = 0; t < count; t++) {
            frames[t] = ModelApiTest.uniform(random, INPUT);
        }
        return frames;
    }

    /** The outputs of stepping one stream alone from h0 and c0 (null for zeros) with Runner.step at batch 1. */
    static float[][] alone(Model model, float[] h0, float[] c0, float[][] frames) {
        float[][] outputs = new float[frames.length][model.shape().hiddenStateSize()];
        try (Runner runner = model.runner(Options.DEFAULT); State state = model.newState(1)) {
            if (h0 != null) {
                state.setHidden(h0);
            }
            if (c0 != null) {
                state.setCell(c0);
            }
            for (int t = 0; t < frames.length; t++) {
                runner.step(frames[t], state, outputs[t]);
            }
        }
        return outputs;
    }

    /** In a callback: tells the test the dispatcher is here, and keeps it here until released. */
    static void holdDispatcher(CountDownLatch entered, CountDownLatch release) {
        entered.countDown();
        try {
            assertTrue(release.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void assertCancelled(Throwable failure) {
        assertInstanceOf(CancellationException.class, failure);
        assertEquals("the StreamBatcher was closed before this frame was stepped", failure.getMessage());
    }

    /**
     * Opens a stream and submits one frame whose callback holds the dispatcher thread until the returned latch is
     * counted down; returns once the dispatcher is held. That stream's frame takes one place in the queue.
     */
    static CountDownLatch holdTheDispatcher(StreamBatcher batcher) throws InterruptedException {
        CountDownLatch entered = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        batcher.open().submit(MemorySegment.ofArray(new float[INPUT]), (handle, h, failure) -> holdDispatcher(entered,
                release));
        assertTrue(entered.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
        return release;
    }

    static void awaitTrue(BooleanSupplier condition, String what) throws InterruptedException {
        long start = System.nanoTime();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - start > TimeUnit.SECONDS.toNanos(PATIENCE_SECONDS)) {
                throw new AssertionError("not within " + PATIENCE_SECONDS + " s: " + what);
            }
            Thread.sleep(1);
        }
    }

    static void assertMessage(Class<? extends Throwable> type, String message,
                                      org.junit.jupiter.api.function.Executable call) {
        assertEquals(message, assertThrows(type, call).getMessage());
    }
}
