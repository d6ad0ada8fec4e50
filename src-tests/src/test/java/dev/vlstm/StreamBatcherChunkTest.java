package dev.vlstm;

import static dev.vlstm.StreamBatcherTest.HIDDEN;
import static dev.vlstm.StreamBatcherTest.INPUT;
import static dev.vlstm.StreamBatcherTest.PATIENCE_SECONDS;
import static dev.vlstm.StreamBatcherTest.alone;
import static dev.vlstm.StreamBatcherTest.assertMessage;
import static dev.vlstm.StreamBatcherTest.awaitTrue;
import static dev.vlstm.StreamBatcherTest.frames;
import static dev.vlstm.StreamBatcherTest.holdDispatcher;
import static dev.vlstm.StreamBatcherTest.model;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link StreamBatcher}'s chunks of frames: every output bit for bit what stepping its stream alone gives, one frame
 * per batched step, interleaved with other streams' frames and chunks and from several producers; a chunk that fails
 * mid-way (deadline, close, an error that stops the dispatcher) fails once, says how far it got, and leaves no pooled
 * frame or off-heap memory behind; and every refusal with its message.
 */
class StreamBatcherChunkTest {

    /**
     * Three streams queue before the first step (maxDelay is ten minutes, and the last submission makes every open
     * stream ready): two single frames, a callback chunk of 5 from h0 and c0, and a future chunk of 3.
     * They run as batches of 3, 3, 2, 1 and 1, so no batch holds two frames of one stream; then a blocking chunk of 4
     * continues the third stream.
     */
    @ParameterizedTest(name = "{0} L={1} P={2}")
    @CsvSource({"LSTM, 1, 0", "GRU, 1, 0", "LSTM, 2, 0", "LSTM, 2, 7", "GRU, 2, 0"})
    void everyChunkOutputIsItsStreamSteppedAloneBitForBit(Cell cell, int layers, int projection) throws Exception {
        long nativeAtStart = NativeMemory.liveBytes();
        SplittableRandom random = new SplittableRandom(131);
        try (Model model = model(cell, layers, projection, false, WeightPrecision.FLOAT32, 132)) {
            int outputSize = model.shape().hiddenStateSize();
            float[] h0 = ModelApiTest.uniform(random, layers * outputSize);
            float[] c0 = cell.hasCellState() ? ModelApiTest.uniform(random, layers * HIDDEN) : null;
            float[][] called = frames(random, 5);
            float[][] futured = frames(random, 3);
            float[][] single = frames(random, 6);
            List<float[]> calledBack = new ArrayList<>();
            CountDownLatch done = new CountDownLatch(1);
            float[][] singleOutputs = new float[6][];
            try (StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withMaxBatch(4)
                    .withMaxDelay(Duration.ofMinutes(10)))) {
                StreamBatcher.Handle first = batcher.open(h0, c0);
                StreamBatcher.Handle second = batcher.open();
                StreamBatcher.Handle third = batcher.open();
                CompletableFuture<float[]> singleFirst = third.stepAsync(MemorySegment.ofArray(single[0]));
                CompletableFuture<float[]> singleSecond = third.stepAsync(MemorySegment.ofArray(single[1]));
                first.submitChunk(5, segment(called), (stream, h, failure) -> {
                    assertSame(first, stream);
                    calledBack.add(failure == null ? h.toArray(ValueLayout.JAVA_FLOAT) : null);
                    done.countDown();
                });
                CompletableFuture<float[]> future = second.stepChunkAsync(3, segment(futured));
                assertTrue(done.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
                float[] futureOutputs = future.get(PATIENCE_SECONDS, TimeUnit.SECONDS);
                singleOutputs[0] = singleFirst.get(PATIENCE_SECONDS, TimeUnit.SECONDS);
                singleOutputs[1] = singleSecond.get(PATIENCE_SECONDS, TimeUnit.SECONDS);
                assertEquals(5, batcher.batchedSteps(), "one frame of a stream per batch");
                assertEquals(10, batcher.steppedFrames());
                first.close();
                second.close();   // else the lone stream's chunk would wait maxDelay for them
                float[] blocking = new float[4 * outputSize];
                third.stepChunk(4, segment(Arrays.copyOfRange(single, 2, 6)), MemorySegment.ofArray(blocking));
                for (int t = 0; t < 4; t++) {
                    singleOutputs[2 + t] = Arrays.copyOfRange(blocking, t * outputSize, (t + 1) * outputSize);
                }
                assertEquals(1, calledBack.size(), "the callback is called once");
                assertRows(alone(model, h0, c0, called), calledBack.getFirst(), "callback chunk");
                assertRows(alone(model, null, null, futured), futureOutputs, "future chunk");
                float[][] expected = alone(model, null, null, single);
                for (int t = 0; t < single.length; t++) {
                    assertArrayEquals(expected[t], singleOutputs[t], "third stream, frame " + t);
                }
                assertEquals(0, batcher.pendingFrames());
            }
        }
        assertEquals(nativeAtStart, NativeMemory.liveBytes(), "off-heap bytes after close");
    }

    /**
     * Four producers submit chunks of 1 to 4 frames and single frames to one shared stream, each submission recorded
     * in the order the batcher took it (under a lock the producers share); the callbacks' outputs are the stream
     * stepped alone over the frames in that order. Each producer also steps a stream of its own with blocking chunks.
     */
    @Test
    void chunksFromSeveralProducersRunInTheOrderTheyWereSubmitted() throws Exception {
        int producers = 4;
        int submissions = 40;
        try (Model model = model(Cell.LSTM, 2, 0, false, WeightPrecision.FLOAT32, 141);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withMaxBatch(8))) {
            StreamBatcher.Handle shared = batcher.open();
            Object order = new Object();
            List<float[][]> submitted = new ArrayList<>();
            List<float[]> delivered = new ArrayList<>();
            CountDownLatch done = new CountDownLatch(producers * submissions);
            StreamBatcher.FrameCallback callback = (stream, h, failure) -> {
                delivered.add(failure == null ? h.toArray(ValueLayout.JAVA_FLOAT) : null);
                done.countDown();
            };
            List<Thread> threads = new ArrayList<>();
            AtomicReference<Throwable> failed = new AtomicReference<>();
            for (int p = 0; p < producers; p++) {
                SplittableRandom random = new SplittableRandom(142 + p);
                threads.add(Thread.ofPlatform().start(() -> {
                    try (StreamBatcher.Handle own = batcher.open()) {
                        List<float[]> ownFrames = new ArrayList<>();
                        List<float[]> ownOutputs = new ArrayList<>();
                        for (int n = 0; n < submissions; n++) {
                            float[][] chunk = frames(random, 1 + random.nextInt(4));
                            synchronized (order) {
                                if (chunk.length == 1 && random.nextBoolean()) {
                                    shared.submit(MemorySegment.ofArray(chunk[0]), callback);
                                } else {
                                    shared.submitChunk(chunk.length, segment(chunk), callback);
                                }
                                submitted.add(chunk);
                            }
                            float[] h = new float[chunk.length * HIDDEN];
                            own.stepChunk(chunk.length, segment(chunk), MemorySegment.ofArray(h));
                            for (int t = 0; t < chunk.length; t++) {
                                ownFrames.add(chunk[t]);
                                ownOutputs.add(Arrays.copyOfRange(h, t * HIDDEN, (t + 1) * HIDDEN));
                            }
                        }
                        float[][] expected = alone(model, null, null, ownFrames.toArray(float[][]::new));
                        for (int t = 0; t < expected.length; t++) {
                            assertArrayEquals(expected[t], ownOutputs.get(t), "own stream, frame " + t);
                        }
                    } catch (Throwable e) {
                        failed.set(e);
                    }
                }));
            }
            for (Thread thread : threads) {
                thread.join();
            }
            assertNull(failed.get());
            assertTrue(done.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
            float[][] frames = submitted.stream().flatMap(Arrays::stream).toArray(float[][]::new);
            float[][] expected = alone(model, null, null, frames);
            int frame = 0;
            for (int n = 0; n < submitted.size(); n++) {
                int length = submitted.get(n).length;
                assertRows(Arrays.copyOfRange(expected, frame, frame + length), delivered.get(n), "submission " + n);
                frame += length;
            }
            assertEquals(0, batcher.pendingFrames());
        }
    }

    /**
     * A chunk of 3 whose frame 0 is stepped in a batch with a frame whose callback then holds the dispatcher past the
     * chunk's deadline: the chunk fails once with a TimeoutException that says its first frame was stepped, and the
     * stream's state has advanced by exactly that frame. A chunk that could not start in time says none was.
     */
    @Test
    void aChunkWhoseDeadlinePassesMidWayFailsOnceAndSaysHowFarItGot() throws Exception {
        SplittableRandom random = new SplittableRandom(151);
        float[][] frames = frames(random, 4);
        try (Model model = model(Cell.LSTM, 2, 0, false, WeightPrecision.FLOAT32, 152);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT
                     .withMaxDelay(Duration.ofMinutes(10)))) {
            StreamBatcher.Handle held = batcher.open();
            StreamBatcher.Handle stream = batcher.open();
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            held.submit(MemorySegment.ofArray(frames[0]), (handle, out, failure) -> holdDispatcher(entered, release));
            List<Throwable> failures = new ArrayList<>();
            stream.submitChunk(3, segment(Arrays.copyOfRange(frames, 0, 3)), Duration.ofMillis(200),
                    (handle, out, failure) -> failures.add(out == null ? failure : new AssertionError("an output")));
            assertTrue(entered.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
            StreamBatcher.Handle other = batcher.open();
            CompletableFuture<float[]> notStarted = other.stepChunkAsync(2, segment(Arrays.copyOfRange(frames, 0, 2)),
                    Duration.ofMillis(1));
            Thread.sleep(300);   // past both deadlines
            release.countDown();
            ExecutionException timedOut = assertThrows(ExecutionException.class,
                    () -> notStarted.get(PATIENCE_SECONDS, TimeUnit.SECONDS));
            assertInstanceOf(TimeoutException.class, timedOut.getCause());
            assertEquals("the frame's deadline passed before its step started (frame 0 of a chunk of 2: no frame of"
                    + " the chunk was stepped, and the stream's state is unchanged)", timedOut.getCause().getMessage());
            awaitTrue(() -> batcher.pendingFrames() == 0, "every chunk given back");
            assertEquals(1, failures.size(), "the chunk fails once");
            assertInstanceOf(TimeoutException.class, failures.getFirst());
            assertEquals("the frame's deadline passed before its step started (frame 1 of a chunk of 3: its first"
                    + " frame was stepped, and the stream's state has advanced by it)",
                    failures.getFirst().getMessage());
            held.close();
            CompletableFuture<float[]> next = stream.stepAsync(MemorySegment.ofArray(frames[3]));
            CompletableFuture<float[]> first = other.stepAsync(MemorySegment.ofArray(frames[3]));
            assertArrayEquals(alone(model, null, null, new float[][] {frames[0], frames[3]})[1],
                    next.get(PATIENCE_SECONDS, TimeUnit.SECONDS), "the state advanced by frame 0 only");
            assertArrayEquals(alone(model, null, null, new float[][] {frames[3]})[0],
                    first.get(PATIENCE_SECONDS, TimeUnit.SECONDS), "the state unchanged");
        }
    }

    /**
     * close() while a chunk is half done (its frame 0 stepped, the dispatcher held in a callback of the same batch):
     * the blocking chunk and a queued callback chunk fail once with a CancellationException that says how far they
     * got; no pooled frame and no off-heap memory is left.
     */
    @Test
    void closeMidChunkCancelsItOnceAndLeaksNothing() throws Exception {
        long nativeAtStart = NativeMemory.liveBytes();
        float[][] frames = frames(new SplittableRandom(161), 3);
        try (Model model = model(Cell.GRU, 2, 0, false, WeightPrecision.FLOAT32, 162)) {
            StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT
                    .withMaxDelay(Duration.ofMinutes(10)));
            StreamBatcher.Handle held = batcher.open();
            StreamBatcher.Handle blocked = batcher.open();
            CountDownLatch entered = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            held.submit(MemorySegment.ofArray(frames[0]), (handle, out, failure) -> holdDispatcher(entered, release));
            AtomicReference<Throwable> blocking = new AtomicReference<>();
            Thread waiter = Thread.ofPlatform().start(() -> {
                try {
                    blocked.stepChunk(3, segment(frames), MemorySegment.ofArray(new float[3 * HIDDEN]));
                } catch (RuntimeException e) {
                    blocking.set(e);
                }
            });
            assertTrue(entered.await(PATIENCE_SECONDS, TimeUnit.SECONDS));
            List<Throwable> queued = new ArrayList<>();
            held.submitChunk(2, segment(Arrays.copyOfRange(frames, 0, 2)), (handle, out, failure) -> queued.add(
                    out == null ? failure : new AssertionError("an output")));
            assertEquals(6, batcher.pendingFrames(), "the frame being delivered, and two chunks");
            Thread closer = Thread.ofPlatform().start(batcher::close);
            awaitTrue(() -> !held.isOpen(), "close() has begun");
            release.countDown();
            closer.join();
            waiter.join();
            assertInstanceOf(CancellationException.class, blocking.get());
            assertEquals("the StreamBatcher was closed before this frame was stepped (frame 1 of a chunk of 3: its"
                    + " first frame was stepped, and the stream's state has advanced by it)",
                    blocking.get().getMessage());
            assertEquals(1, queued.size(), "the queued chunk fails once");
            assertInstanceOf(CancellationException.class, queued.getFirst());
            assertEquals("the StreamBatcher was closed before this frame was stepped (frame 0 of a chunk of 2: no"
                    + " frame of the chunk was stepped, and the stream's state is unchanged)",
                    queued.getFirst().getMessage());
            assertEquals(0, batcher.pendingFrames(), "every pooled frame given back");
        }
        assertEquals(nativeAtStart, NativeMemory.liveBytes(), "off-heap bytes after close");
    }

    /**
     * An error stops the dispatcher while it delivers the batch that stepped a chunk's frame 0: the chunk fails once
     * with the error as the cause, and every pooled frame is given back.
     */
    @Test
    void anErrorThatStopsTheDispatcherMidChunkFailsItOnce() throws Exception {
        long nativeAtStart = NativeMemory.liveBytes();
        try (Model model = model(Cell.LSTM, 1, 0, false, WeightPrecision.FLOAT32, 171)) {
            StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT
                    .withMaxDelay(Duration.ofMinutes(10)));
            Thread dispatcher = batcher.threads().getLast();
            RuntimeException thrown = new RuntimeException("a callback's exception");
            Error fatal = new Error("an error the dispatcher cannot carry on after");
            dispatcher.setUncaughtExceptionHandler((thread, exception) -> {
                if (exception == thrown) {
                    throw fatal;
                }
            });
            StreamBatcher.Handle throwing = batcher.open();
            StreamBatcher.Handle chunked = batcher.open();
            MemorySegment x = MemorySegment.ofArray(new float[INPUT]);
            throwing.submit(x, (stream, h, failure) -> {
                throw thrown;
            });
            CompletableFuture<float[]> chunk = chunked.stepChunkAsync(3, MemorySegment.ofArray(new float[3 * INPUT]));
            dispatcher.join(TimeUnit.SECONDS.toMillis(PATIENCE_SECONDS));
            Throwable failure = chunk.handle((output, exception) -> exception).join();
            assertInstanceOf(IllegalStateException.class, failure);
            assertEquals("the dispatcher thread failed", failure.getMessage());
            assertSame(fatal, failure.getCause());
            assertEquals(0, batcher.pendingFrames());
            batcher.close();
        }
        assertEquals(nativeAtStart, NativeMemory.liveBytes(), "off-heap bytes after close");
    }

    @Test
    void badChunksAreRefusedWithTheirNames() throws Exception {
        try (Model model = model(Cell.LSTM, 2, 5, false, WeightPrecision.FLOAT32, 181);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT.withQueueCapacity(4)
                     .withMaxDelay(Duration.ofMinutes(10)))) {
            StreamBatcher.Handle stream = batcher.open();
            batcher.open();   // keeps the dispatcher waiting: the queue fills
            MemorySegment x = MemorySegment.ofArray(new float[3 * INPUT]);
            MemorySegment h = MemorySegment.ofArray(new float[3 * 5]);
            StreamBatcher.FrameCallback ignored = (s, out, failure) -> { };
            assertMessage(IllegalArgumentException.class, "steps must be >= 1, got 0",
                    () -> stream.stepChunk(0, MemorySegment.ofArray(new float[0]),
                            MemorySegment.ofArray(new float[0])));
            assertMessage(IllegalArgumentException.class, "steps must be >= 1, got -1",
                    () -> stream.submitChunk(-1, x, ignored));
            assertMessage(IllegalArgumentException.class, "a chunk of 5 frames can never fit the queue of 4 frames"
                    + " (BatcherOptions.queueCapacity): submit it in parts, or raise the capacity",
                    () -> stream.stepChunkAsync(5, MemorySegment.ofArray(new float[5 * INPUT])));
            assertMessage(NullPointerException.class, "x must not be null (expected [T=3][I=11] floats)",
                    () -> stream.submitChunk(3, null, ignored));
            assertMessage(IllegalArgumentException.class,
                    "x must hold [T=2][I=11] = 22 floats (88 bytes), but it holds 33 floats (132 bytes)",
                    () -> stream.stepChunk(2, x, MemorySegment.ofArray(new float[2 * 5])));
            assertMessage(IllegalArgumentException.class,
                    "h must hold [T=3][S=5] = 15 floats (60 bytes), but it holds 72 floats (288 bytes)",
                    () -> stream.stepChunk(3, x, MemorySegment.ofArray(new float[3 * HIDDEN])));
            assertMessage(IllegalArgumentException.class, "h is an output but the segment is read-only",
                    () -> stream.stepChunk(3, x, h.asReadOnly()));
            assertMessage(NullPointerException.class, "callback must not be null",
                    () -> stream.submitChunk(3, x, null));
            assertMessage(NullPointerException.class, "deadline must not be null",
                    () -> stream.stepChunk(3, x, h, null));
            assertMessage(IllegalArgumentException.class, "deadline must be positive, got PT-1S",
                    () -> stream.submitChunk(3, x, Duration.ofSeconds(-1), ignored));
            assertEquals(0, batcher.pendingFrames(), "nothing refused was queued");
            stream.submitChunk(3, x, ignored);
            assertMessage(RejectedExecutionException.class, "the StreamBatcher's queue has room for 1 more frames, not"
                    + " for this chunk of 2: 3 of its 4 frames are pending (BatcherOptions.queueCapacity); retry later",
                    () -> stream.stepChunkAsync(2, MemorySegment.ofArray(new float[2 * INPUT]), Duration.ofDays(1)));
            assertEquals(3, batcher.pendingFrames());
            stream.close();
            assertMessage(IllegalStateException.class, "this stream is closed", () -> stream.submitChunk(1,
                    MemorySegment.ofArray(new float[INPUT]), ignored));
        }
        Options reject = Options.DEFAULT.withNonFiniteInputs(NonFiniteInputs.REJECT);
        try (Parameters parameters = Parameters.initialize(RnnShape.of(Cell.GRU, INPUT, HIDDEN), 183);
             Model model = Model.pack(parameters, reject);
             StreamBatcher batcher = StreamBatcher.start(model, BatcherOptions.DEFAULT)) {
            float[] x = new float[3 * INPUT];
            x[2 * INPUT + 4] = Float.NEGATIVE_INFINITY;
            assertMessage(IllegalArgumentException.class, "x[2][4] is -Infinity: this StreamBatcher rejects NaN and"
                    + " infinite inputs (NonFiniteInputs.REJECT)",
                    () -> batcher.open().stepChunk(3, MemorySegment.ofArray(x), MemorySegment.ofArray(
                            new float[3 * HIDDEN])));
            assertEquals(0, batcher.pendingFrames());
        }
    }

    /** The frames as one row-major {@code [T][I]} segment. */
    static MemorySegment segment(float[][] frames) {
        float[] flat = new float[frames.length * INPUT];
        for (int t = 0; t < frames.length; t++) {
            System.arraycopy(frames[t], 0, flat, t * INPUT, INPUT);
        }
        return MemorySegment.ofArray(flat);
    }

    /** {@code actual} {@code [T][S]} row by row against {@code expected}. */
    private static void assertRows(float[][] expected, float[] actual, String what) {
        int width = expected[0].length;
        assertEquals(expected.length * width, actual.length, what + ": floats");
        for (int t = 0; t < expected.length; t++) {
            assertArrayEquals(expected[t], Arrays.copyOfRange(actual, t * width, (t + 1) * width),
                    what + ", frame " + t);
        }
    }
}
