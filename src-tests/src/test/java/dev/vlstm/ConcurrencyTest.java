package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/**
 * One set of packed weights shared by many threads, each with its own runner and states: every result of a
 * bounded stress run (8 threads, mixed sequence and streaming jobs of mixed shapes) equals the single-threaded
 * result bit for bit.
 */
class ConcurrencyTest {

    private static final int THREADS = 8;
    private static final int JOBS = 400;
    private static final int INPUT = 24;
    private static final int HIDDEN = 40;
    private static final int MAX_BATCH = 6;

    /** One call: a sequence forward ({@code streaming == false}) or T streaming steps; returns all outputs. */
    private record Job(float[] x, int steps, int batch, boolean streaming) {

        float[] run(LstmWeights weights, LstmRunner runner) {
            float[] y = new float[steps * batch * HIDDEN];
            if (!streaming) {
                runner.forward(x, steps, batch, null, null, y, null, null);
                return y;
            }
            try (LstmState state = new LstmState(weights, batch)) {
                float[] h = new float[batch * HIDDEN];
                for (int t = 0; t < steps; t++) {
                    runner.step(Arrays.copyOfRange(x, t * batch * INPUT, (t + 1) * batch * INPUT), state, h);
                    System.arraycopy(h, 0, y, t * batch * HIDDEN, h.length);
                }
            }
            return y;
        }
    }

    @Test
    void sharedWeightsGiveEveryThreadTheSingleThreadedResultBitForBit() throws Exception {
        try (TestModel model = new TestModel(900, INPUT, HIDDEN)) {
            SplittableRandom random = new SplittableRandom(901);
            List<Job> jobs = new ArrayList<>();
            for (int n = 0; n < JOBS; n++) {
                int steps = 1 + random.nextInt(12);
                int batch = 1 + random.nextInt(MAX_BATCH);
                jobs.add(new Job(model.input(steps, batch), steps, batch, random.nextInt(3) == 0));
            }
            List<float[]> expected = new ArrayList<>();
            try (LstmRunner runner = new LstmRunner(model.weights, MAX_BATCH)) {
                for (Job job : jobs) {
                    expected.add(job.run(model.weights, runner));
                }
            }
            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            try {
                List<Future<Integer>> results = new ArrayList<>();
                for (int thread = 0; thread < THREADS; thread++) {
                    int first = thread;
                    results.add(pool.submit(() -> {
                        int checked = 0;
                        // Each thread runs every job, starting at a different one, with its own runner.
                        try (LstmRunner runner = new LstmRunner(model.weights, MAX_BATCH)) {
                            for (int n = 0; n < JOBS; n++) {
                                int index = (first * 53 + n) % JOBS;
                                float[] actual = jobs.get(index).run(model.weights, runner);
                                if (!Arrays.equals(expected.get(index), actual)) {
                                    throw new AssertionError("job " + index + " differs on thread " + first);
                                }
                                checked++;
                            }
                        }
                        return checked;
                    }));
                }
                int total = 0;
                for (Future<Integer> result : results) {
                    total += result.get(120, TimeUnit.SECONDS);
                }
                assertEquals(THREADS * JOBS, total);
            } finally {
                pool.shutdownNow();
                assertTrue(pool.awaitTermination(30, TimeUnit.SECONDS));
            }
        }
    }
}
