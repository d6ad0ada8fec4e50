package dev.vlstm.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import dev.vlstm.BatcherOptions;
import dev.vlstm.Model;
import dev.vlstm.NativeMemory;
import dev.vlstm.Options;
import dev.vlstm.Vlstm;

/**
 * {@link StreamLoad}'s open loop, its backlog, its peer closed loop and its timing of the batched step alone, on a
 * small nn.LSTM from the golden cases: what each counts, and the inputs each refuses. Speed itself is not asserted;
 * rates are held only to what a model of I = 3, H = 5 delivers on any machine.
 */
class StreamLoadTest {

    private static final Path LSTM = Path.of("src/test/resources/golden/i3_h5_t4_b2/model.safetensors");
    private static final StreamLoad.Plan SHORT = new StreamLoad.Plan(Duration.ofMillis(200), Duration.ofMillis(500));

    private static Model model;
    private static long memoryBefore;

    @BeforeAll
    static void load() throws IOException {
        memoryBefore = NativeMemory.liveBytes();
        model = Vlstm.load(LSTM, Options.DEFAULT);
        StreamLoad.warmUp(model, 1, Duration.ofSeconds(20));
    }

    @AfterAll
    static void close() {
        model.close();
        assertEquals(memoryBefore, NativeMemory.liveBytes(), "every batcher and runner freed its memory");
    }

    @Test
    void anOpenLoopBelowCapacityDeliversWhatArrivesAndRefusesNothing() {
        double rate = 2000;
        BatcherOptions options = BatcherOptions.DEFAULT.withMaxBatch(4).withMaxStreams(4).withQueueCapacity(4096);
        StreamLoad.Result result = StreamLoad.offered(model, options, 4, rate, SHORT);
        assertSame(StreamLoad.Serving.BATCHER, result.serving());
        assertEquals(4, result.streams());
        assertEquals(rate, result.offeredPerSecond());
        assertEquals(0, result.refused(), "a queue of 4,096 frames holds 2 s of a load of 2,000 frames/s");
        double expected = rate * SHORT.measured().toNanos() / 1e9;
        int arrived = result.sortedLatencyNanos().length;
        assertTrue(arrived > 0.5 * expected && arrived < 1.5 * expected, "Poisson arrivals of mean " + expected
                + " in the window (σ ≈ 32), each measured once delivered: " + arrived);
        assertTrue(result.frames() > 0 && result.frames() < 1.5 * expected, "delivered in the window: "
                + result.frames());
        assertTrue(result.latencyNanos(0.001) > 0 && result.latencyNanos(50) <= result.latencyNanos(99.9),
                "latencies from arrival, positive and sorted");
        assertTrue(result.meanBatch() >= 1 && result.meanBatch() <= 4, "mean batch " + result.meanBatch());
        assertTrue(result.submitLagNanosP99() >= 0 && result.submitLagNanosP99() <= result.latencyNanos(100),
                "each frame's lateness at submission is part of its latency, so no lag exceeds the largest latency: "
                        + result.submitLagNanosP99());
    }

    @Test
    void anOpenLoopBeyondItsQueueCountsTheFramesRefused() {
        BatcherOptions options = BatcherOptions.DEFAULT.withMaxBatch(1).withMaxStreams(1).withQueueCapacity(1);
        StreamLoad.Result result = StreamLoad.offered(model, options, 1, 5e6, SHORT);
        assertTrue(result.refused() > 0, "five million frames a second into a queue of one: some are refused");
        assertTrue(result.frames() > 0, "and those accepted are delivered");
    }

    @Test
    void aBacklogStepsTheQueuedFramesOfSeveralStreamsInBatches() {
        BatcherOptions options = BatcherOptions.DEFAULT.withMaxBatch(4).withMaxStreams(4).withQueueCapacity(256);
        StreamLoad.Backlog backlog = StreamLoad.backlog(model, options, 4, SHORT);
        assertTrue(backlog.stepsPerSecond() > 0, "frames per second: " + backlog.stepsPerSecond());
        assertTrue(backlog.meanBatch() > 1 && backlog.meanBatch() <= 4, "four streams with 64 frames queued each are "
                + "stepped together, at most four at a time: mean batch " + backlog.meanBatch());
    }

    @Test
    void aBacklogOfOneRowBatchesStepsOneFrameAtATime() {
        BatcherOptions options = BatcherOptions.DEFAULT.withMaxBatch(1).withMaxStreams(2).withQueueCapacity(2);
        StreamLoad.Backlog backlog = StreamLoad.backlog(model, options, 2, SHORT);
        assertEquals(1.0, backlog.meanBatch(), "a queue of two frames for two streams: chunks of one frame each");
        assertTrue(backlog.stepsPerSecond() > 0);
    }

    @Test
    void aPeerClosedLoopRunsEachStreamsStepsOnItsOwnThread() {
        AtomicLong[] calls = {new AtomicLong(), new AtomicLong(), new AtomicLong()};
        StreamLoad.Step[] steps = new StreamLoad.Step[calls.length];
        for (int n = 0; n < steps.length; n++) {
            AtomicLong count = calls[n];
            steps[n] = () -> {
                count.incrementAndGet();
                Thread.onSpinWait();
            };
        }
        StreamLoad.Result result = StreamLoad.peer(steps, SHORT);
        assertSame(StreamLoad.Serving.PEER, result.serving());
        assertEquals(3, result.streams());
        assertTrue(Double.isNaN(result.offeredPerSecond()), "a closed loop has no offered rate");
        assertTrue(Double.isNaN(result.submitLagNanosP99()), "nor a generator");
        long total = calls[0].get() + calls[1].get() + calls[2].get();
        assertTrue(result.frames() > 0 && result.frames() <= total, result.frames() + " frames measured of "
                + total + " steps run (warm-up included)");
        for (AtomicLong count : calls) {
            assertTrue(count.get() > 0, "every stream stepped");
        }
    }

    @Test
    void aPeerStepThatThrowsFailsTheRunWithItAsCause() {
        IllegalStateException thrown = new IllegalStateException("the peer broke");
        StreamLoad.Step[] steps = {() -> {
            throw thrown;
        }};
        IllegalStateException failure = assertThrows(IllegalStateException.class, () -> StreamLoad.peer(steps, SHORT));
        assertEquals("a peer step failed", failure.getMessage());
        assertSame(thrown, failure.getCause());
    }

    @Test
    void theBatchedStepAloneIsTimedInRowsPerSecond() {
        assertTrue(StreamLoad.kernelStepsPerSecond(model, 4, 1, SHORT) > 0);
    }

    @Test
    void badInputsAreRefusedBeforeAnythingRuns() {
        BatcherOptions two = BatcherOptions.DEFAULT.withMaxStreams(2);
        assertEquals("3 streams need maxStreams of at least 3, got " + two, assertThrows(
                IllegalArgumentException.class, () -> StreamLoad.offered(model, two, 3, 100, SHORT)).getMessage());
        for (double rate : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            assertEquals("the offered rate must be a positive number of frames per second, got " + rate,
                    assertThrows(IllegalArgumentException.class,
                            () -> StreamLoad.offered(model, two, 2, rate, SHORT)).getMessage());
        }
        assertEquals("streams must be >= 1, got 0", assertThrows(IllegalArgumentException.class,
                () -> StreamLoad.peer(new StreamLoad.Step[0], SHORT)).getMessage());
        BatcherOptions oneFrame = BatcherOptions.DEFAULT.withQueueCapacity(1);
        assertEquals("2 streams need maxStreams and queueCapacity of at least 2, got " + oneFrame, assertThrows(
                IllegalArgumentException.class, () -> StreamLoad.backlog(model, oneFrame, 2, SHORT)).getMessage());
        assertEquals("streams must be >= 1, got 0", assertThrows(IllegalArgumentException.class,
                () -> StreamLoad.backlog(model, BatcherOptions.DEFAULT, 0, SHORT)).getMessage());
        assertEquals("the batch must be >= 1, got 0", assertThrows(IllegalArgumentException.class,
                () -> StreamLoad.kernelStepsPerSecond(model, 0, 1, SHORT)).getMessage());
    }
}
