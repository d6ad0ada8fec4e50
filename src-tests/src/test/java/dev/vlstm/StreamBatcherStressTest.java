package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Queue;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.Test;

/**
 * 16 producer threads open 1,000 streams of a two-layer LSTM between them, up to four at a time each, submit their
 * frames at random by blocking step, callback and future (retrying what the full queue or the full slab refuses),
 * close some early and the rest after their last frame (often with frames still pending). Every frame is delivered
 * once, and every stream's outputs are those of stepping it alone: a frame lost, run twice or run out of order would
 * change the stream's state and every later output.
 */
class StreamBatcherStressTest {

    private static final int PRODUCERS = 16;
    private static final int STREAMS = 1000;
    private static final int MOST_FRAMES = 24;
    private static final int STREAMS_PER_PRODUCER = 4;
    private static final long PATIENCE_NANOS = TimeUnit.SECONDS.toNanos(60);

    /** One stream's frames and what was delivered for them. */
    private static final class Record {
        final float[] h0;
        final float[] c0;
        final float[][] frames;
        /** Set once per frame, by the producer (blocking) or the dispatcher (callback). */
        final float[][] outputs;
        final List<CompletableFuture<float[]>> futures = new ArrayList<>();
        final List<Integer> futureFrames = new ArrayList<>();
        /** Frames submitted (the producer's only); fewer than frames.length if the stream was closed early. */
        int submitted;
        StreamBatcher.Handle handle;

        Record(SplittableRandom random) {
            boolean start = random.nextBoolean();
            h0 = start ? ModelApiTest.uniform(random, 2 * 24) : null;
            c0 = start ? ModelApiTest.uniform(random, 2 * 24) : null;
            frames = StreamBatcherTest.frames(random, 1 + random.nextInt(MOST_FRAMES));
            outputs = new float[frames.length][];
        }
    }

    @Test
    void sixteenProducersAndAThousandStreamsLoseDuplicateAndReorderNothing() throws Exception {
        long nativeAtStart = NativeMemory.liveBytes();
        Record[] records = new Record[STREAMS];
        Queue<Throwable> errors = new ConcurrentLinkedQueue<>();
        AtomicLong callbackFrames = new AtomicLong();
        AtomicLong callbacksDelivered = new AtomicLong();
        try (Model model = StreamBatcherTest.model(Cell.LSTM, 2, 0, false, WeightPrecision.FLOAT32, 101)) {
            BatcherOptions options = BatcherOptions.DEFAULT.withMaxBatch(32).withMaxDelay(Duration.ofMillis(1))
                    .withQueueCapacity(128).withMaxStreams(80);
            try (StreamBatcher batcher = StreamBatcher.start(model, options)) {
                AtomicInteger tickets = new AtomicInteger();
                List<Thread> producers = new ArrayList<>();
                for (int p = 0; p < PRODUCERS; p++) {
                    long seed = 200 + p;
                    producers.add(Thread.ofPlatform().name("producer-" + p).start(() -> {
                        try {
                            produce(batcher, records, tickets, new SplittableRandom(seed), callbackFrames,
                                    callbacksDelivered, errors);
                        } catch (Throwable e) {
                            errors.add(e);
                        }
                    }));
                }
                for (Thread producer : producers) {
                    producer.join();
                }
                assertEquals(List.of(), List.copyOf(errors));
                long start = System.nanoTime();
                while (callbacksDelivered.get() < callbackFrames.get()) {
                    assertTrue(System.nanoTime() - start < PATIENCE_NANOS, "callbacks still missing");
                    Thread.sleep(1);
                }
                long submitted = 0;
                for (Record record : records) {
                    submitted += record.submitted;
                    for (int n = 0; n < record.futures.size(); n++) {
                        int t = record.futureFrames.get(n);
                        assertEquals(null, record.outputs[t], "a future's frame was delivered before");
                        record.outputs[t] = record.futures.get(n).get(60, TimeUnit.SECONDS);
                    }
                }
                assertEquals(List.of(), List.copyOf(errors));
                assertEquals(callbackFrames.get(), callbacksDelivered.get(), "each callback called once");
                assertEquals(submitted, batcher.steppedFrames(), "every frame stepped once");
                // The dispatcher gives a batch's frames back to the pool after their callbacks and futures complete.
                StreamBatcherTest.awaitTrue(() -> batcher.pendingFrames() == 0, "every frame back in the pool");
                assertEquals(0, batcher.openStreams());
            }
            try (Runner runner = model.runner(); State state = model.newState(1)) {
                for (int s = 0; s < STREAMS; s++) {
                    Record record = records[s];
                    state.reset();
                    if (record.h0 != null) {
                        state.setHidden(record.h0);
                        state.setCell(record.c0);
                    }
                    float[] expected = new float[24];
                    for (int t = 0; t < record.submitted; t++) {
                        runner.step(record.frames[t], state, expected);
                        assertNotNull(record.outputs[t], "stream " + s + " frame " + t + " delivered");
                        assertArrayEquals(expected, record.outputs[t], "stream " + s + " frame " + t);
                    }
                }
            }
        }
        assertEquals(nativeAtStart, NativeMemory.liveBytes(), "off-heap bytes after close");
    }

    /** One producer: takes stream tickets until all are gone, keeping up to four streams going at once. */
    private static void produce(StreamBatcher batcher, Record[] records, AtomicInteger tickets,
                                SplittableRandom random, AtomicLong callbackFrames, AtomicLong callbacksDelivered,
                                Queue<Throwable> errors) {
        List<Record> active = new ArrayList<>();
        boolean ticketsLeft = true;
        while (ticketsLeft || !active.isEmpty()) {
            if (ticketsLeft && active.size() < STREAMS_PER_PRODUCER) {
                int ticket = tickets.getAndIncrement();
                if (ticket < STREAMS) {
                    Record record = new Record(random);
                    record.handle = openRetrying(batcher, record);
                    records[ticket] = record;
                    active.add(record);
                } else {
                    ticketsLeft = false;
                }
                continue;
            }
            Record record = active.get(random.nextInt(active.size()));
            if (submit(record, random.nextInt(3), callbackFrames, callbacksDelivered, errors)) {
                record.submitted++;
            } else {
                Thread.yield();
            }
            if (record.submitted == record.frames.length || random.nextInt(40) == 0) {
                record.handle.close();
                active.remove(record);
            }
        }
    }

    private static StreamBatcher.Handle openRetrying(StreamBatcher batcher, Record record) {
        while (true) {
            try {
                return batcher.open(record.h0, record.c0);
            } catch (RejectedExecutionException slabFull) {
                Thread.yield();
            }
        }
    }

    /**
     * Submits the record's next frame by blocking step (0), callback (1) or future (2).
     *
     * @return false if the full queue refused it
     */
    private static boolean submit(Record record, int kind, AtomicLong callbackFrames, AtomicLong callbacksDelivered,
                                  Queue<Throwable> errors) {
        int t = record.submitted;
        MemorySegment x = MemorySegment.ofArray(record.frames[t]);
        try {
            switch (kind) {
                case 0 -> {
                    float[] h = new float[24];
                    record.handle.step(x, MemorySegment.ofArray(h));
                    record.outputs[t] = h;
                }
                case 1 -> {
                    record.handle.submit(x, (stream, h, failure) -> {
                        if (failure != null) {
                            errors.add(failure);
                        } else if (stream != record.handle || record.outputs[t] != null) {
                            errors.add(new AssertionError("frame " + t + " delivered twice or to another stream"));
                        } else {
                            record.outputs[t] = h.toArray(ValueLayout.JAVA_FLOAT);
                        }
                        callbacksDelivered.incrementAndGet();
                    });
                    callbackFrames.incrementAndGet();
                }
                default -> {
                    record.futures.add(record.handle.stepAsync(x));
                    record.futureFrames.add(t);
                }
            }
            return true;
        } catch (RejectedExecutionException queueFull) {
            return false;
        }
    }
}
