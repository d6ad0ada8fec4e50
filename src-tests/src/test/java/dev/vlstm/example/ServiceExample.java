package dev.vlstm.example;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import dev.vlstm.Cell;
import dev.vlstm.Model;
import dev.vlstm.NonFiniteInputs;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
import dev.vlstm.WarmUp;

/** docs/service-guide.md's example, compiled and run by ReadmeExampleTest; the page quotes the marked region. */
public final class ServiceExample {

    private ServiceExample() {
    }

    /**
     * Answers each request (x {@code [T=100][B=1][I=40]}) with its hT {@code [1][256]}, on {@code workers} threads
     * after a warm-up of at most {@code warmUpLimit}; a request with a NaN or infinite input fails its future.
     */
    public static List<Future<float[]>> serve(float[] weightIh, float[] weightHh, float[] biasIh, float[] biasHh,
                                              List<float[]> requests, int workers, Duration warmUpLimit) {
        int inputSize = 40, hiddenSize = 256, steps = 100;
        // README-BEGIN
        // Once per process: validated, packed, immutable weights that every thread shares.
        RnnShape shape = RnnShape.of(Cell.LSTM, inputSize, hiddenSize);
        Options options = Options.DEFAULT.withMaxSteps(steps).withNonFiniteInputs(NonFiniteInputs.REJECT);
        try (Parameters parameters = Parameters.fromPyTorch(shape, weightIh, weightHh, biasIh, biasHh);
             Model model = Model.pack(parameters, options)) {
            // One runner per worker thread, its scratch allocated up front. REJECT: an input with NaN or infinity
            // fails with its name and index ("x[7][0][3] is NaN") instead of answering NaN.
            BlockingQueue<Runner> runners = new ArrayBlockingQueue<>(workers);
            for (int n = 0; n < workers; n++) {
                runners.add(model.runner());
            }
            // Before taking traffic, run the kernels until the JIT has compiled them (a few seconds; warmUp() has a
            // 20 s limit). The JIT compiles code, not objects: warming one runner warms them all.
            WarmUp warmUp = runners.peek().warmUp(warmUpLimit);
            if (!warmUp.settled()) {   // still allocating after a long limit? See "Training and serving in one JVM"
                System.getLogger("service").log(System.Logger.Level.WARNING,
                        (warmUp.allocating() ? "kernels still allocating after " : "not settled after ") + warmUp);
            }
            List<Future<float[]>> answers = new ArrayList<>();
            try (ExecutorService pool = Executors.newFixedThreadPool(workers)) {   // close() waits for the tasks
                for (float[] x : requests) {                                       // x [T][B=1][I]
                    answers.add(pool.submit(() -> {
                        Runner runner = runners.take();   // a runner serves one thread at a time
                        try {
                            float[] hT = new float[hiddenSize];
                            runner.forward(x, steps, 1, null, null, null, hT, null);
                            return hT;
                        } finally {
                            runners.put(runner);
                        }
                    }));
                }
            } finally {
                runners.forEach(Runner::close);   // off-heap memory is freed by close(), never by the GC
            }
            return answers;
        }
        // README-END
    }
}
