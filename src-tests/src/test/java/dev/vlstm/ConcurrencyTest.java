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

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * One {@link Model} (LSTM and GRU) shared by many threads, each with its own {@link Runner} and states: every result
 * of a bounded stress run (8 threads, mixed sequence and streaming jobs of mixed shapes) equals the single-threaded
 * result bit for bit.
 */
class ConcurrencyTest {

    private static final int THREADS = 8;
    private static final int JOBS = 400;
    private static final int INPUT = 24;
    private static final int HIDDEN = 40;
    private static final int MAX_BATCH = 6;
    private static final int MAX_STEPS = 12;

    /** One call: a sequence forward ({@code streaming == false}) or T streaming steps; returns all outputs. */
    private record Job(float[] x, int steps, int batch, boolean streaming) {

        float[] run(Model model, Runner runner) {
            float[] y = new float[steps * batch * HIDDEN];
            if (!streaming) {
                runner.forward(x, steps, batch, null, null, y, null, null);
                return y;
            }
            try (State state = model.newState(batch)) {
                float[] h = new float[batch * HIDDEN];
                for (int t = 0; t < steps; t++) {
                    runner.step(Arrays.copyOfRange(x, t * batch * INPUT, (t + 1) * batch * INPUT), state, h);
                    System.arraycopy(h, 0, y, t * batch * HIDDEN, h.length);
                }
            }
            return y;
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void aSharedModelGivesEveryThreadTheSingleThreadedResultBitForBit(Cell cell) throws Exception {
        try (TestRnn rnn = new TestRnn(900, RnnShape.of(cell, INPUT, HIDDEN), Options.DEFAULT)) {
            Model model = rnn.model;
            SplittableRandom random = new SplittableRandom(901);
            List<Job> jobs = new ArrayList<>();
            for (int n = 0; n < JOBS; n++) {
                int steps = 1 + random.nextInt(MAX_STEPS);
                int batch = 1 + random.nextInt(MAX_BATCH);
                jobs.add(new Job(rnn.input(steps, batch), steps, batch, random.nextInt(3) == 0));
            }
            List<float[]> expected = new ArrayList<>();
            try (Runner runner = rnn.runner(MAX_BATCH, MAX_STEPS)) {
                for (Job job : jobs) {
                    expected.add(job.run(model, runner));
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
                        try (Runner runner = rnn.runner(MAX_BATCH, MAX_STEPS)) {
                            for (int n = 0; n < JOBS; n++) {
                                int index = (first * 53 + n) % JOBS;
                                float[] actual = jobs.get(index).run(model, runner);
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
