package com.example.consumer;

import java.util.SplittableRandom;

import dev.vlstm.Cell;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
import dev.vlstm.reference.ReferenceLstm;

/**
 * Runs one sequence forward of a small random LSTM with vlstm and with its double-precision reference, and exits
 * with 1 unless they agree and the kernel is the expected one ({@code vector} or {@code scalar}, the argument).
 */
public final class Consumer {

    private static final int INPUT = 7, HIDDEN = 19, STEPS = 5, BATCH = 3;
    /** Float kernels against the double reference at these sizes: errors are a few 1e-7. */
    private static final double TOLERANCE = 1e-5;

    private Consumer() {
    }

    public static void main(String[] args) {
        String expectedKernel = args.length == 1 ? args[0] : "";
        SplittableRandom random = new SplittableRandom(42);
        float bound = (float) (1 / Math.sqrt(HIDDEN));
        float[] weightIh = uniform(random, 4 * HIDDEN * INPUT, bound);
        float[] weightHh = uniform(random, 4 * HIDDEN * HIDDEN, bound);
        float[] biasIh = uniform(random, 4 * HIDDEN, bound);
        float[] biasHh = uniform(random, 4 * HIDDEN, bound);
        float[] x = uniform(random, STEPS * BATCH * INPUT, 1);
        float[] y = new float[STEPS * BATCH * HIDDEN];
        String kernel;
        RnnShape shape = RnnShape.of(Cell.LSTM, INPUT, HIDDEN);
        Options options = Options.DEFAULT.withMaxBatch(BATCH).withMaxSteps(STEPS);
        try (Parameters parameters = Parameters.fromPyTorch(shape, weightIh, weightHh, biasIh, biasHh);
             Model model = Model.pack(parameters, options);
             Runner runner = model.runner()) {
            runner.forward(x, STEPS, BATCH, null, null, y, null, null);
            kernel = model.kernelName();
        }
        double[] expected = new ReferenceLstm(INPUT, HIDDEN, weightIh, weightHh, biasIh, biasHh)
                .forward(x, STEPS, BATCH, null, null).y();
        double worst = 0;
        for (int n = 0; n < y.length; n++) {
            worst = Math.max(worst, Math.abs(y[n] - expected[n]));
        }
        String report = "kernel " + kernel + ", max |y - reference| = " + worst;
        if (!kernel.startsWith(expectedKernel) || expectedKernel.isEmpty() || !(worst <= TOLERANCE)) {
            System.err.println("FAILED: " + report + " (expected kernel " + expectedKernel + ", tolerance "
                    + TOLERANCE + ")");
            System.exit(1);
        }
        System.out.println("ok: " + report);
    }

    private static float[] uniform(SplittableRandom random, int length, float bound) {
        float[] values = new float[length];
        for (int n = 0; n < length; n++) {
            values[n] = (float) ((random.nextDouble() * 2 - 1) * bound);
        }
        return values;
    }
}
