package dev.vlstm.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicIntegerArray;

import org.junit.jupiter.api.Test;

/**
 * The barrier of {@link ParallelKernel} (and its {@link WorkerPool}): every call runs each block exactly once, split
 * among the threads, and returns only when all are done, also when the workers have parked between calls; a
 * failure in a worker's share reaches the caller as an exception (never a hang) and leaves the pool usable; close()
 * ends the threads, which the kernels for the other weight formats share. A recording kernel stands in for the real
 * ones, whose bits are checked in ThreadsTest.
 */
class ParallelKernelTest {

    private static final Duration NO_HANG = Duration.ofSeconds(60);
    private static final int BLOCKS = 7;
    private static final GateLayout LAYOUT = GateLayout.lstm(1, BLOCKS, 1);

    @Test
    void everyCallRunsEachBlockOnceAndReturnsWhenAllAreDone() {
        RecordingKernel recording = new RecordingKernel();
        assertTimeoutPreemptively(NO_HANG, () -> {
            try (ParallelKernel kernel = new ParallelKernel(recording, 3)) {
                for (int call = 1; call <= 300; call++) {
                    if (call % 50 == 0) {
                        Thread.sleep(2);   // longer than the idle spell: the workers park and must be woken
                    }
                    if (call % 2 == 0) {
                        // The depth given per call (a weight-gradient GEMM's row count) reaches every share.
                        kernel.projectInput(LAYOUT, call, null, null, null, 0, 0, 0, 1, null, 0);
                        for (int block = 0; block < BLOCKS; block++) {
                            assertEquals(call, recording.depths.get(block), "depth of block " + block);
                        }
                    } else {
                        kernel.recurrentStep(LAYOUT, null, null, 0, null, 0, null, null, null, 1, 1f);
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
        RecordingKernel recording = new RecordingKernel();
        assertTimeoutPreemptively(NO_HANG, () -> {
            try (ParallelKernel kernel = new ParallelKernel(recording, 2)) {
                recording.failFrom = 1;   // the worker's share (blocks 3..6) fails, the caller's (0..2) does not
                IllegalStateException e = assertThrows(IllegalStateException.class,
                        () -> kernel.projectInput(LAYOUT, null, null, null, 0, 0, 0, 1, null, 0));
                assertEquals("failed at blocks 3..7", e.getMessage());
                recording.failFrom = Integer.MAX_VALUE;
                kernel.recurrentStep(LAYOUT, null, null, 0, null, 0, null, null, null, 1, 1f);
                recording.failFrom = 0;   // both shares fail: the caller's first, the worker's suppressed
                e = assertThrows(IllegalStateException.class,
                        () -> kernel.recurrentStep(LAYOUT, null, null, 0, null, 0, null, null, null, 1, 1f));
                assertEquals("failed at blocks 0..3", e.getMessage());
                assertEquals(1, e.getSuppressed().length);
                assertEquals("failed at blocks 3..7", e.getSuppressed()[0].getMessage());
                recording.failFrom = Integer.MAX_VALUE;
                recording.error = new OutOfMemoryError("a worker's Error");
                OutOfMemoryError error = assertThrows(OutOfMemoryError.class,
                        () -> kernel.projectInput(LAYOUT, null, null, null, 0, 0, 0, 1, null, 0));
                assertSame(recording.error, error);
                recording.errorFrom = 0;   // both shares throw the same object, which cannot suppress itself
                error = assertThrows(OutOfMemoryError.class,
                        () -> kernel.recurrentStep(LAYOUT, null, null, 0, null, 0, null, null, null, 1, 1f));
                assertSame(recording.error, error);
                assertEquals(0, error.getSuppressed().length);
                recording.error = null;
                kernel.projectInput(LAYOUT, null, null, null, 0, 0, 0, 1, null, 0);
            }
        });
    }

    @Test
    void closeEndsTheWorkersAndTheCallsAfterAreRefused() {
        ParallelKernel kernel = new ParallelKernel(new RecordingKernel(), 4);
        assertEquals(4, kernel.threads());
        assertEquals(3, kernel.workerThreads().size());
        kernel.close();
        for (Thread worker : kernel.workerThreads()) {
            assertFalse(worker.isAlive(), worker.getName());
        }
        kernel.close();
        assertThrows(IllegalStateException.class,
                () -> kernel.projectInput(LAYOUT, null, null, null, 0, 0, 0, 1, null, 0));
        assertThrows(IllegalArgumentException.class, () -> new ParallelKernel(new RecordingKernel(), 1));
    }

    @Test
    void theKernelsForOtherFormatsRunOnTheSameThreadsAndCloseTogether() {
        ParallelKernel kernel = new ParallelKernel(ScalarLstmKernel.INSTANCE, 3);
        for (WeightFormat format : WeightFormat.values()) {
            ParallelKernel sibling = kernel.withWeightFormat(format);
            assertEquals(format, sibling.weightFormat());
            assertEquals(ScalarLstmKernel.INSTANCE.withWeightFormat(format).name() + " x3", sibling.name());
            assertEquals(kernel.workerThreads(), sibling.workerThreads());
            assertSame(kernel, sibling.withWeightFormat(WeightFormat.FLOAT32));
        }
        kernel.withWeightFormat(WeightFormat.INT8).close();
        for (Thread worker : kernel.workerThreads()) {
            assertFalse(worker.isAlive(), worker.getName() + " still runs after a sibling's close()");
        }
        RecordingKernel recording = new RecordingKernel();
        assertTimeoutPreemptively(NO_HANG, () -> {
            try (ParallelKernel family = new ParallelKernel(recording, 3)) {
                family.withWeightFormat(WeightFormat.BFLOAT16).recurrentStep(LAYOUT, null, null, 0, null, 0, null,
                        null, null, 1, 1f);
                family.withWeightFormat(WeightFormat.INT8).projectInput(LAYOUT, null, null, null, 0, 0, 0, 1, null,
                        0);
                for (int block = 0; block < BLOCKS; block++) {
                    assertEquals(2, recording.runs.get(block), "block " + block);
                }
            }
        });
    }

    /** Counts how often each block runs; the share that starts at or after block {@code failFrom} throws. */
    private static final class RecordingKernel implements LstmKernel, PackedGemm {
        final AtomicIntegerArray runs = new AtomicIntegerArray(BLOCKS);
        /** The depth each block's last GEMM was given. */
        final AtomicIntegerArray depths = new AtomicIntegerArray(BLOCKS);
        volatile int failFrom = Integer.MAX_VALUE;
        /** Thrown, if not null, by the shares that start at or after block {@code errorFrom}. */
        volatile Error error;
        volatile int errorFrom = 1;

        private void record(int blockFrom, int blockTo) {
            if (error != null && blockFrom >= errorFrom) {
                throw error;
            }
            if (blockFrom >= failFrom) {
                throw new IllegalStateException("failed at blocks " + blockFrom + ".." + blockTo);
            }
            for (int block = blockFrom; block < blockTo; block++) {
                runs.incrementAndGet(block);
            }
        }

        @Override
        public String name() {
            return "recording";
        }

        @Override
        public int lanes() {
            return 1;
        }

        @Override
        public WeightFormat weightFormat() {
            return WeightFormat.FLOAT32;
        }

        @Override
        public LstmKernel withWeightFormat(WeightFormat format) {
            return this;
        }

        @Override
        public TensorKernel tensors() {
            return ScalarTensorKernel.INSTANCE;
        }

        /** Itself: the split GEMMs reach {@link #multiply}. */
        @Override
        public PackedGemm packedGemm() {
            return this;
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

        @Override
        public void projectInput(GateLayout layout, int depth, MemorySegment packedInput, MemorySegment packedBias,
                                 MemorySegment x, long xOffset, long xRowBytes, long xColumnBytes, int rows,
                                 MemorySegment gates, long gatesOffset, int blockFrom, int blockTo) {
            for (int block = blockFrom; block < blockTo; block++) {
                depths.set(block, depth);
            }
            record(blockFrom, blockTo);
        }

        @Override
        public void recurrentStep(GateLayout layout, MemorySegment packedRecurrent, int recurrentDepth,
                                  MemorySegment inputGates, long inputGatesOffset, MemorySegment gates,
                                  long gatesOffset, MemorySegment hPrev, long hPrevRowBytes, MemorySegment c,
                                  MemorySegment hNext, int batch, float clip, MemorySegment peepholes,
                                  int blockFrom, int blockTo) {
            record(blockFrom, blockTo);
        }

        @Override
        public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset, MemorySegment cell,
                                 long cellOffset, MemorySegment cellPrev, long cellPrevOffset, MemorySegment dh,
                                 int dhRowFloats, MemorySegment dc, MemorySegment scratch, int batch, float clip) {
            throw new UnsupportedOperationException();
        }

        @Override
        public void cellBackward(GateLayout layout, MemorySegment gates, long gatesOffset,
                                 MemorySegment preActivations, long preActivationsOffset, MemorySegment cell,
                                 long cellOffset, MemorySegment cellPrev, long cellPrevOffset, MemorySegment dh,
                                 int dhRowFloats, MemorySegment dc, MemorySegment scratch, int batch, float clip,
                                 MemorySegment peepholes, MemorySegment peepholeGradients) {
            throw new UnsupportedOperationException();
        }
    }
}
