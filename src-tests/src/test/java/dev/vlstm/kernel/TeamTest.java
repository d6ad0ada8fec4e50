package dev.vlstm.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReferenceArray;

import org.junit.jupiter.api.Test;

/**
 * The barrier of {@link Team} (and its {@link WorkerPool}): every call runs each block exactly once, split among the
 * threads, and returns only when all are done, also when the workers have parked between calls; a failure in a
 * worker's share reaches the caller as an exception (never a hang) and leaves the pool usable; close() ends the
 * threads; a team of one runs everything on the calling thread. A recording GEMM stands in for the real ones, whose
 * bits are checked in ThreadsTest and PackedGemmTest.
 */
class TeamTest {

    private static final Duration NO_HANG = Duration.ofSeconds(60);
    private static final int BLOCKS = 7;
    private static final GateLayout LAYOUT = GateLayout.lstm(1, BLOCKS, 1);

    @Test
    void everyCallRunsEachBlockOnceAndReturnsWhenAllAreDone() {
        RecordingGemm recording = new RecordingGemm();
        assertTimeoutPreemptively(NO_HANG, () -> {
            try (Team team = recording.team(3)) {
                for (int call = 1; call <= 300; call++) {
                    if (call % 50 == 0) {
                        Thread.sleep(2);   // longer than the idle spell: the workers park and must be woken
                    }
                    if (call % 2 == 0) {
                        // The depth given per call (a weight-gradient GEMM's row count) reaches every share.
                        team.multiply(gemm(call));
                        for (int block = 0; block < BLOCKS; block++) {
                            assertEquals(call, recording.depths.get(block), "depth of block " + block);
                        }
                    } else {
                        team.step(step());
                    }
                    for (int block = 0; block < BLOCKS; block++) {
                        assertEquals(call, recording.runs.get(block), "block " + block + " after call " + call);
                    }
                }
            }
        });
    }

    @Test
    void aWorkersFailureReachesTheCallerAndThePoolGoesOn() {
        RecordingGemm recording = new RecordingGemm();
        assertTimeoutPreemptively(NO_HANG, () -> {
            try (Team team = recording.team(2)) {
                recording.failFrom = 1;   // the worker's share (blocks 3..6) fails, the caller's (0..2) does not
                IllegalStateException e = assertThrows(IllegalStateException.class, () -> team.multiply(gemm(1)));
                assertEquals("failed at blocks 3..7", e.getMessage());
                recording.failFrom = Integer.MAX_VALUE;
                team.step(step());
                recording.failFrom = 0;   // both shares fail: the caller's first, the worker's suppressed
                e = assertThrows(IllegalStateException.class, () -> team.step(step()));
                assertEquals("failed at blocks 0..3", e.getMessage());
                assertEquals(1, e.getSuppressed().length);
                assertEquals("failed at blocks 3..7", e.getSuppressed()[0].getMessage());
                recording.failFrom = Integer.MAX_VALUE;
                recording.error = new OutOfMemoryError("a worker's Error");
                OutOfMemoryError error = assertThrows(OutOfMemoryError.class, () -> team.multiply(gemm(1)));
                assertSame(recording.error, error);
                recording.errorFrom = 0;   // both shares throw the same object, which cannot suppress itself
                error = assertThrows(OutOfMemoryError.class, () -> team.step(step()));
                assertSame(recording.error, error);
                assertEquals(0, error.getSuppressed().length);
                recording.error = null;
                team.multiply(gemm(1));
            }
        });
    }

    @Test
    void closeEndsTheWorkersAndTheCallsAfterAreRefused() {
        Team team = new RecordingGemm().team(4);
        assertEquals(4, team.threads());
        assertEquals(3, team.workerThreads().size());
        team.close();
        for (Thread worker : team.workerThreads()) {
            assertFalse(worker.isAlive(), worker.getName());
        }
        team.close();
        assertThrows(IllegalStateException.class, () -> team.multiply(gemm(1)));
        assertThrows(IllegalArgumentException.class, () -> new RecordingGemm().team(0));
    }

    @Test
    void aTeamOfOneRunsEveryBlockOnTheCallingThread() {
        RecordingGemm recording = new RecordingGemm();
        try (Team team = recording.team(1)) {
            assertEquals(1, team.threads());
            assertTrue(team.workerThreads().isEmpty());
            team.multiply(gemm(5));
            team.step(step());
            for (int block = 0; block < BLOCKS; block++) {
                assertEquals(2, recording.runs.get(block), "block " + block);
                assertSame(Thread.currentThread(), recording.threads.get(block), "block " + block);
            }
        }
    }

    private static GemmCall gemm(int depth) {
        return new GemmCall().set(WeightFormat.FLOAT32, LAYOUT, null, depth, null, null, 0, 0, 1, null, 0);
    }

    private static StepCall step() {
        return new StepCall().set(WeightFormat.FLOAT32, LAYOUT, null, 1, Postgemm.LSTM, 1f, null, null, 0, null, 0,
                null, 0, null, null, 1);
    }

    /** Counts how often each block runs; the share that starts at or after block {@code failFrom} throws. */
    private static final class RecordingGemm implements PackedGemm {
        final AtomicIntegerArray runs = new AtomicIntegerArray(BLOCKS);
        /** The depth each block's last GEMM was given. */
        final AtomicIntegerArray depths = new AtomicIntegerArray(BLOCKS);
        /** The thread that ran each block last. */
        final AtomicReferenceArray<Thread> threads = new AtomicReferenceArray<>(BLOCKS);
        volatile int failFrom = Integer.MAX_VALUE;
        /** Thrown, if not null, by the shares that start at or after block {@code errorFrom}. */
        volatile Error error;
        volatile int errorFrom = 1;

        Team team(int threads) {
            return new Team(new Family("recording", 1, this, ScalarPointwise.INSTANCE, ScalarTensorKernel.INSTANCE),
                    threads);
        }

        private void record(int blockFrom, int blockTo) {
            if (error != null && blockFrom >= errorFrom) {
                throw error;
            }
            if (blockFrom >= failFrom) {
                throw new IllegalStateException("failed at blocks " + blockFrom + ".." + blockTo);
            }
            for (int block = blockFrom; block < blockTo; block++) {
                runs.incrementAndGet(block);
                threads.set(block, Thread.currentThread());
            }
        }

        @Override
        public int lanes() {
            return 1;
        }

        @Override
        public void multiply(GemmCall c, int blockFrom, int blockTo) {
            for (int block = blockFrom; block < blockTo; block++) {
                depths.set(block, c.depth);
            }
            record(blockFrom, blockTo);
        }

        @Override
        public void step(StepCall c, int blockFrom, int blockTo) {
            record(blockFrom, blockTo);
        }
    }
}
