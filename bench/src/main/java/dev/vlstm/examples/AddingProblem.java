package dev.vlstm.examples;

import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.SplittableRandom;

import dev.vlstm.Cell;
import dev.vlstm.GradientMode;
import dev.vlstm.Gradients;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
import dev.vlstm.Trainer;
import dev.vlstm.train.Adam;
import dev.vlstm.train.GradientClipping;

/**
 * The adding problem (Hochreiter and Schmidhuber 1997, in its common modern form), learned with vlstm: each of
 * T = 100 steps carries a value in U[0, 1] and a marker; exactly two steps are marked, one in each half; the
 * target at the end is the sum of the two marked values. Predicting the constant 1 gives MSE 1/6 ≈ 0.167.
 *
 * <p>An LSTM (vlstm's trainer, Adam, gradient clipping) and a plain tanh RNN ({@link TanhRnn}, the same readout,
 * optimizer settings, batch and number of updates) are trained side by side, one per core; progress goes to
 * stdout. Before training, the sensitivity of the loss to each input, ||dL/dx_t||, is drawn for both into an SVG:
 * the vanishing-gradient picture.
 *
 * <p>Usage: {@code AddingProblem [outputDirectory]}; writes {@code adding-gradients.svg} and
 * {@code adding-loss.csv} there (default: the working directory).
 */
public final class AddingProblem {

    static final int STEPS = 100;
    static final int INPUTS = 2;
    static final int HIDDEN = 64;
    static final int BATCH = 32;
    static final int MAX_UPDATES = 4000;
    static final int EVALUATE_EVERY = 100;
    static final int TEST_SEQUENCES = 1000;
    static final double LEARNING_RATE = 3e-3;
    static final double MAX_GRADIENT_NORM = 1.0;
    static final double SOLVED_MSE = 0.01;

    private AddingProblem() {
    }

    /** A batch of sequences {@code x [T][B][2]} and their targets {@code [B]}. */
    record Batch(float[] x, float[] targets, int size) {

        static Batch sample(SplittableRandom random, int size) {
            float[] x = new float[STEPS * size * INPUTS];
            float[] targets = new float[size];
            for (int b = 0; b < size; b++) {
                int first = random.nextInt(STEPS / 2);
                int second = STEPS / 2 + random.nextInt(STEPS / 2);
                for (int t = 0; t < STEPS; t++) {
                    float value = (float) random.nextDouble();
                    int at = (t * size + b) * INPUTS;
                    x[at] = value;
                    if (t == first || t == second) {
                        x[at + 1] = 1f;
                        targets[b] += value;
                    }
                }
            }
            return new Batch(x, targets, size);
        }
    }

    public static void main(String[] args) throws Exception {
        Path output = Path.of(args.length > 0 ? args[0] : ".");
        Files.createDirectories(output);
        Batch test = Batch.sample(new SplittableRandom(1), TEST_SEQUENCES);
        System.out.printf(Locale.ROOT, "Adding problem: T=%d, H=%d, batch %d, Adam lr %.0e, clip %.1f, at most %d "
                + "updates; constant prediction MSE = %.3f on the test set%n", STEPS, HIDDEN, BATCH, LEARNING_RATE,
                MAX_GRADIENT_NORM, MAX_UPDATES, constantMse(test));
        TanhRnn rnn = new TanhRnn(7, HIDDEN, LEARNING_RATE);
        try (LstmLearner lstm = new LstmLearner(7)) {
            Batch probe = Batch.sample(new SplittableRandom(2), BATCH);
            double[] lstmSensitivity = lstm.inputGradientNorms(probe);
            double[] rnnSensitivity = rnn.inputGradientNorms(probe);
            Path svg = output.resolve("adding-gradients.svg");
            Files.writeString(svg, GradientPicture.svg(lstmSensitivity, rnnSensitivity));
            System.out.printf(Locale.ROOT, "At initialisation, ||dL/dx_t|| at t=0 relative to t=T-1: LSTM %.2e, "
                            + "tanh RNN %.2e (picture: %s)%n", lstmSensitivity[0] / lstmSensitivity[STEPS - 1],
                    rnnSensitivity[0] / rnnSensitivity[STEPS - 1], svg);

            StringBuilder curve = new StringBuilder("update,lstm_test_mse,rnn_test_mse\n");
            long start = System.nanoTime();
            SplittableRandom lstmData = new SplittableRandom(3);
            SplittableRandom rnnData = new SplittableRandom(3);
            int solvedAt = -1;
            double lstmMse = Double.NaN;
            double rnnMse = Double.NaN;
            for (int update = 1; update <= MAX_UPDATES; update++) {
                Batch lstmBatch = Batch.sample(lstmData, BATCH);
                Batch rnnBatch = Batch.sample(rnnData, BATCH);
                // One core each: the RNN is plain Java and slower per update.
                Thread rnnThread = Thread.ofPlatform().start(() -> rnn.train(rnnBatch));
                lstm.train(lstmBatch);
                rnnThread.join();
                if (update % EVALUATE_EVERY == 0) {
                    lstmMse = lstm.testMse(test);
                    rnnMse = rnn.testMse(test);
                    curve.append(update).append(',').append(lstmMse).append(',').append(rnnMse).append('\n');
                    System.out.printf(Locale.ROOT, "update %5d  test MSE  LSTM %.4f   tanh RNN %.4f   (%.0f s)%n",
                            update, lstmMse, rnnMse, (System.nanoTime() - start) / 1e9);
                    if (solvedAt < 0 && lstmMse < SOLVED_MSE) {
                        solvedAt = update;
                        break;
                    }
                }
            }
            Files.writeString(output.resolve("adding-loss.csv"), curve);
            double seconds = (System.nanoTime() - start) / 1e9;
            if (solvedAt > 0) {
                System.out.printf(Locale.ROOT, "Solved: LSTM test MSE %.4f < %.2f after %d updates (%d sequences), "
                        + "%.0f s; the tanh RNN, same updates: %.4f%n", lstmMse, SOLVED_MSE, solvedAt,
                        solvedAt * BATCH, seconds, rnnMse);
            } else {
                System.out.printf(Locale.ROOT, "Not solved within %d updates: LSTM %.4f, tanh RNN %.4f, %.0f s%n",
                        MAX_UPDATES, lstmMse, rnnMse, seconds);
                System.exit(1);
            }
        }
    }

    private static double constantMse(Batch batch) {
        double sum = 0;
        for (float target : batch.targets()) {
            sum += (target - 1) * (target - 1);
        }
        return sum / batch.size();
    }

    /** vlstm's LSTM with a linear readout of the last hidden state, trained with Adam and clipping. */
    static final class LstmLearner implements AutoCloseable {

        private final Parameters parameters;
        private final Model model;
        private final Trainer trainer;
        private final Runner runner;
        private final Gradients gradients;
        private final Adam adam;
        private final Readout readout;
        private final float[] hT = new float[BATCH * HIDDEN];
        private final float[] dhT = new float[BATCH * HIDDEN];

        LstmLearner(long seed) {
            parameters = Parameters.initialize(RnnShape.of(Cell.LSTM, INPUTS, HIDDEN), seed);
            model = Model.pack(parameters, Options.DEFAULT);
            trainer = model.trainer(Options.DEFAULT.withMaxBatch(BATCH).withMaxSteps(STEPS));
            runner = model.runner(Options.DEFAULT.withMaxBatch(TEST_SEQUENCES).withMaxSteps(STEPS));
            gradients = new Gradients(model.shape());
            adam = new Adam(parameters, gradients, LEARNING_RATE);
            readout = new Readout(HIDDEN, seed, LEARNING_RATE);
        }

        void train(Batch batch) {
            trainer.forward(MemorySegment.ofArray(batch.x()), STEPS, batch.size(), null, null, null,
                    MemorySegment.ofArray(hT), null);
            readout.lossGradient(hT, batch.targets(), dhT);
            trainer.backward(null, MemorySegment.ofArray(dhT), null, gradients, GradientMode.OVERWRITE, null, null,
                    null);
            GradientClipping.clipGlobalNorm(gradients, MAX_GRADIENT_NORM);
            adam.step();
            trainer.updateWeights(parameters);
            readout.step();
        }

        double testMse(Batch test) {
            float[] last = new float[test.size() * HIDDEN];
            runner.forward(test.x(), STEPS, test.size(), null, null, null, last, null);
            return readout.mse(last, test.targets());
        }

        /** ||dL/dx_t|| averaged over the batch, for t = 0 .. T-1, at the current weights. */
        double[] inputGradientNorms(Batch batch) {
            float[] dx = new float[batch.x().length];
            trainer.forward(MemorySegment.ofArray(batch.x()), STEPS, batch.size(), null, null, null,
                    MemorySegment.ofArray(hT), null);
            readout.lossGradient(hT, batch.targets(), dhT);
            readout.discardGradient();
            try (Gradients scratch = new Gradients(model.shape())) {
                trainer.backward(null, MemorySegment.ofArray(dhT), null, scratch, GradientMode.OVERWRITE,
                        MemorySegment.ofArray(dx), null, null);
            }
            return GradientPicture.normsPerStep(dx, batch.size(), INPUTS);
        }

        @Override
        public void close() {
            adam.close();
            gradients.close();
            runner.close();
            trainer.close();
            model.close();
            parameters.close();
        }
    }
}
