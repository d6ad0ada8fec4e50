package dev.vlstm;

import static dev.vlstm.TestModel.doubles;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static dev.vlstm.TrainerVsReferenceTest.segment;
import static dev.vlstm.VariableLengthTest.fromLayout;
import static dev.vlstm.VariableLengthTest.toLayout;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;
import dev.vlstm.train.Adam;

/**
 * Training stacks with projection (PyTorch's {@code proj_size} P; layers above the first read D·P, h is P wide, c is
 * H wide): the projected reference stack's backward against central finite differences (every tensor of every cell,
 * W_hr included, and x, h0, c0; {@link CentralDifferences}' criterion); {@link LstmStackTrainer} against that
 * reference for every gradient (relative error &le; {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} of each
 * tensor's largest value, as StackVsReferenceTest), on odd shapes, both kernels, bidirectional, with lengths in both
 * layouts and with dropout; a training loop from {@link LstmStackParameters#initialize} whose loss falls; and
 * segments of the wrong width named.
 */
class ProjectionStackTrainingTest {

    @ParameterizedTest(name = "I={0} H={1} P={2} L={3} bidirectional={4} T={5} B={6} p={7}")
    @CsvSource({
            "3, 4, 2, 2, false, 3, 2, 0",
            "2, 3, 1, 2, true, 4, 2, 0.4",
            "2, 5, 3, 1, true, 3, 3, 0"})
    void theProjectedReferenceStackMatchesCentralDifferences(int inputSize, int hiddenSize, int projectionSize,
                                                            int layers, boolean bidirectional, int steps, int batch,
                                                            double dropout) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, bidirectional, projectionSize);
        SplittableRandom random = new SplittableRandom(1000L * hiddenSize + 10L * projectionSize + layers);
        double bound = 2 / Math.sqrt(hiddenSize);
        List<double[]> parameters = new ArrayList<>();
        for (int n = 0; n < shape.stateCount(); n++) {
            parameters.add(uniform(random, 4 * hiddenSize * shape.layerInputSize(n / shape.directions()), bound));
            parameters.add(uniform(random, 4 * hiddenSize * projectionSize, bound));
            parameters.add(uniform(random, 4 * hiddenSize, bound));
            parameters.add(uniform(random, 4 * hiddenSize, bound));
            parameters.add(uniform(random, projectionSize * hiddenSize, bound));
        }
        int outputs = steps * batch * shape.outputSize();
        double[][] masks = null;
        if (dropout > 0) {
            masks = new double[layers - 1][outputs];
            for (double[] mask : masks) {
                for (int n = 0; n < outputs; n++) {
                    mask[n] = random.nextDouble() < dropout ? 0 : 1 / (1 - dropout);
                }
            }
        }
        double[][] fixedMasks = masks;
        double[] x = uniform(random, steps * batch * inputSize, 1);
        double[] h0 = uniform(random, shape.stateCount() * batch * projectionSize, 1);
        double[] c0 = uniform(random, shape.stateCount() * batch * hiddenSize, 1);
        double[] dy = uniform(random, outputs, 1);
        double[] dhT = uniform(random, h0.length, 1);
        double[] dcT = uniform(random, c0.length, 1);
        ReferenceStack.Gradients gradients = stack(shape, parameters).backward(x, steps, batch, h0, c0, masks, dy,
                dhT, dcT);
        DoubleSupplier loss = () -> {
            ReferenceStack.Result result = stack(shape, parameters).forward(x, steps, batch, h0, c0, fixedMasks);
            return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT)
                    + CentralDifferences.dot(result.cT(), dcT);
        };
        String[] names = {"weightIh", "weightHh", "biasIh", "biasHh", "weightHr"};
        for (int n = 0; n < parameters.size(); n++) {
            int cell = n / 5;
            double[][] analytic = {gradients.weightIh()[cell], gradients.weightHh()[cell], gradients.biasIh()[cell],
                    gradients.biasHh()[cell], gradients.weightHr()[cell]};
            String name = "cell " + cell + " " + names[n % 5];
            significant(name, CentralDifferences.check(name, parameters.get(n), analytic[n % 5], loss));
        }
        significant("x", CentralDifferences.check("x", x, gradients.x(), loss));
        significant("h0", CentralDifferences.check("h0", h0, gradients.h0(), loss));
        significant("c0", CentralDifferences.check("c0", c0, gradients.c0(), loss));
    }

    @ParameterizedTest(name = "{9} I={0} H={1} P={2} L={3} bidirectional={4} T={5} B={6} lengths={7} {8}")
    @CsvSource({
            "3, 5, 2, 2, true, 6, 4, false, TIME_MAJOR, PREFERRED",
            "17, 33, 16, 2, true, 5, 7, false, TIME_MAJOR, PREFERRED",
            "5, 20, 1, 3, false, 4, 3, false, TIME_MAJOR, PREFERRED",
            "4, 17, 5, 2, true, 6, 9, true, BATCH_FIRST, PREFERRED",
            "4, 17, 5, 2, false, 6, 5, true, TIME_MAJOR, PREFERRED",
            "3, 3, 2, 2, true, 4, 1, false, TIME_MAJOR, SCALAR",
            "6, 9, 5, 2, true, 5, 4, true, BATCH_FIRST, SCALAR"})
    void everyGradientMatchesTheReference(int inputSize, int hiddenSize, int projectionSize, int layers,
                                          boolean bidirectional, int steps, int batch, boolean withLengths,
                                          SequenceLayout layout, Backend backend) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, bidirectional, projectionSize);
        try (StackProjectionTest.Model model = StackProjectionTest.Model.random(1300 + 10L * hiddenSize
                + projectionSize, shape, backend);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights(), batch, steps);
             LstmStackGradients gradients = new LstmStackGradients(model.weights())) {
            SplittableRandom random = new SplittableRandom(hiddenSize);
            int[] lengths = withLengths ? random.ints(batch, 0, steps + 1).toArray() : null;
            if (withLengths) {
                lengths[0] = steps;
            }
            int hiddenStates = shape.stateCount() * batch * projectionSize;
            int cellStates = shape.stateCount() * batch * hiddenSize;
            float[] x = TestModel.uniform(random, steps * batch * inputSize, 1f);
            float[] h0 = TestModel.uniform(random, hiddenStates, 1f);
            float[] c0 = TestModel.uniform(random, cellStates, 1f);
            float[] dy = TestModel.uniform(random, steps * batch * shape.outputSize(), 1f);
            float[] dhT = TestModel.uniform(random, hiddenStates, 1f);
            float[] dcT = TestModel.uniform(random, cellStates, 1f);
            float[] y = new float[dy.length];
            float[] dx = new float[x.length];
            float[] dh0 = new float[hiddenStates];
            float[] dc0 = new float[cellStates];
            if (withLengths) {
                trainer.forward(segment(toLayout(x, layout, steps, batch, inputSize)), layout, steps, batch, lengths,
                        segment(h0), segment(c0), segment(y), null, null);
                trainer.backward(segment(toLayout(dy, layout, steps, batch, shape.outputSize())), segment(dhT),
                        segment(dcT), gradients, GradientMode.OVERWRITE, segment(dx), segment(dh0), segment(dc0));
                dx = fromLayout(dx, layout, steps, batch, inputSize);
                y = fromLayout(y, layout, steps, batch, shape.outputSize());
                ForwardVsReferenceTest.assertWithin("y", y, model.reference().forward(doubles(x), steps, batch,
                        lengths, doubles(h0), doubles(c0), null).y());
            } else {
                trainer.forward(segment(x), steps, batch, segment(h0), segment(c0), segment(y), null, null);
                trainer.backward(segment(dy), segment(dhT), segment(dcT), gradients, GradientMode.OVERWRITE,
                        segment(dx), segment(dh0), segment(dc0));
                ForwardVsReferenceTest.assertWithin("y", y, model.reference().forward(x, steps, batch, h0, c0).y());
            }
            ReferenceStack.Gradients expected = withLengths
                    ? model.reference().backward(doubles(x), steps, batch, lengths, doubles(h0), doubles(c0), null,
                            doubles(dy), doubles(dhT), doubles(dcT))
                    : model.reference().backward(doubles(x), steps, batch, doubles(h0), doubles(c0), null,
                            doubles(dy), doubles(dhT), doubles(dcT));
            StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, expected);
        }
    }

    /** With dropout between layers: the trainer's own masks, given to the reference, give the same gradients. */
    @Test
    void dropoutMatchesTheReferenceWithTheTrainersMasks() {
        int steps = 5;
        int batch = 3;
        LstmStackShape shape = new LstmStackShape(4, 11, 3, true, 3);
        try (StackProjectionTest.Model model = StackProjectionTest.Model.random(1350, shape, Backend.PREFERRED);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights(), batch, steps, 0.3, 77);
             LstmStackGradients gradients = new LstmStackGradients(model.weights())) {
            SplittableRandom random = new SplittableRandom(1351);
            float[] x = TestModel.uniform(random, steps * batch * 4, 1f);
            float[] dy = TestModel.uniform(random, steps * batch * shape.outputSize(), 1f);
            float[] dx = new float[x.length];
            float[] dh0 = new float[shape.stateCount() * batch * 3];
            float[] dc0 = new float[shape.stateCount() * batch * 11];
            trainer.forward(segment(x), steps, batch, null, null, null, null, null);
            double[][] masks = {doubles(trainer.dropoutMask(0)), doubles(trainer.dropoutMask(1))};
            trainer.backward(segment(dy), null, null, gradients, GradientMode.OVERWRITE, segment(dx), segment(dh0),
                    segment(dc0));
            StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, model.reference().backward(
                    doubles(x), steps, batch, null, null, masks, doubles(dy), null, null));
        }
    }

    /**
     * A projected two-layer bidirectional stack from {@link LstmStackParameters#initialize} learns a fixed target
     * under one Adam per layer and direction with {@code updateWeights}: the loss after 100 steps is below half the
     * first.
     */
    @Test
    void aProjectedStacksLossFalls() {
        int steps = 6;
        int batch = 3;
        LstmStackShape shape = new LstmStackShape(3, 10, 2, true, 2);
        try (LstmStackParameters parameters = LstmStackParameters.initialize(shape, 31);
             LstmStackWeights weights = parameters.pack();
             LstmStackTrainer trainer = new LstmStackTrainer(weights, batch, steps);
             LstmStackGradients gradients = new LstmStackGradients(weights)) {
            assertEquals(2 * 10 * Float.BYTES, parameters.layer(1, 1).weightHr().byteSize());
            Adam[] optimizers = new Adam[shape.stateCount()];
            for (int n = 0; n < optimizers.length; n++) {
                optimizers[n] = new Adam(parameters.layer(n / 2, n % 2), gradients.layer(n / 2, n % 2), 0.02);
            }
            try {
                SplittableRandom random = new SplittableRandom(32);
                float[] x = TestModel.uniform(random, steps * batch * 3, 1f);
                float[] target = TestModel.uniform(random, steps * batch * shape.outputSize(), 0.5f);
                float[] y = new float[target.length];
                float[] dy = new float[target.length];
                double first = 0;
                double last = 0;
                for (int iteration = 0; iteration < 100; iteration++) {
                    trainer.forward(segment(x), steps, batch, null, null, segment(y), null, null);
                    double loss = 0;
                    for (int n = 0; n < y.length; n++) {
                        double error = y[n] - target[n];
                        loss += error * error / y.length;
                        dy[n] = (float) (2 * error / y.length);
                    }
                    first = iteration == 0 ? loss : first;
                    last = loss;
                    trainer.backward(MemorySegment.ofArray(dy), null, null, gradients, GradientMode.OVERWRITE, null,
                            null, null);
                    for (Adam optimizer : optimizers) {
                        optimizer.step();
                    }
                    trainer.updateWeights(parameters);
                }
                assertTrue(last < first / 2, "loss " + first + " -> " + last);
                assertTrue(floats(gradients.layer(0, 1).weightHr()).length == 20);
            } finally {
                for (Adam optimizer : optimizers) {
                    optimizer.close();
                }
            }
        }
    }

    /** Segments of the unprojected widths (H where P belongs) and gradients of another shape are named. */
    @Test
    void wrongWidthsAreRefusedByName() {
        int steps = 3;
        int batch = 2;
        LstmStackShape shape = new LstmStackShape(3, 6, 2, true, 2);
        try (StackProjectionTest.Model model = StackProjectionTest.Model.random(1360, shape, Backend.PREFERRED);
             LstmStackTrainer trainer = new LstmStackTrainer(model.weights(), batch, steps);
             LstmStackGradients unprojected = new LstmStackGradients(new LstmStackShape(3, 6, 2, true));
             LstmStackGradients gradients = new LstmStackGradients(model.weights())) {
            MemorySegment x = segment(new float[steps * batch * 3]);
            MemorySegment hiddenWide = segment(new float[4 * batch * 6]);
            trainer.forward(x, steps, batch, null, null, null, null, null);
            ProjectionTrainerTest.assertMessage(() -> trainer.backward(null, hiddenWide, null, gradients,
                    GradientMode.OVERWRITE, null, null, null), "dhT must hold [L*D=4][B=2][P=2] = 16 floats");
            ProjectionTrainerTest.assertMessage(() -> trainer.backward(null, null, null, gradients,
                    GradientMode.OVERWRITE, null, hiddenWide, null), "dh0 must hold [L*D=4][B=2][P=2] = 16 floats");
            ProjectionTrainerTest.assertMessage(() -> trainer.backward(segment(new float[steps * batch * 12]), null,
                    null, gradients, GradientMode.OVERWRITE, null, null, null),
                    "dy must hold [T=3][B=2][D*P=4] = 24 floats");
            ProjectionTrainerTest.assertMessage(() -> trainer.backward(null, null, null, unprojected,
                    GradientMode.OVERWRITE, null, null, null), "gradients are for a model of");
        }
    }

    private static ReferenceStack stack(LstmStackShape shape, List<double[]> values) {
        ReferenceLstm[] cells = new ReferenceLstm[shape.stateCount()];
        for (int n = 0; n < cells.length; n++) {
            cells[n] = ReferenceLstm.projected(shape.layerInputSize(n / shape.directions()), shape.hiddenSize(),
                    shape.projectionSize(), values.get(5 * n), values.get(5 * n + 1), values.get(5 * n + 2),
                    values.get(5 * n + 3), values.get(5 * n + 4));
        }
        return new ReferenceStack(shape.bidirectional(), cells);
    }

    private static double[] uniform(SplittableRandom random, int length, double bound) {
        double[] values = new double[length];
        for (int n = 0; n < length; n++) {
            values[n] = (random.nextDouble() * 2 - 1) * bound;
        }
        return values;
    }

    private static void significant(String name, double largest) {
        assertTrue(largest > CentralDifferences.SIGNIFICANT, name + ": largest gradient " + largest
                + " is too small to check");
    }
}
