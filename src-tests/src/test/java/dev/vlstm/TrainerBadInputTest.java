package dev.vlstm;

import static dev.vlstm.ParametersBadInputTest.message;
import static dev.vlstm.RunnerBadInputTest.mustHold;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.MemorySegment;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

import dev.vlstm.train.Adam;
import dev.vlstm.train.Sgd;

/**
 * Every refusal of {@link Trainer} and of the optimizer's pairing, for both cells: a trainer too large to keep,
 * backward without (or twice after) a forward, gradients and parameters of another shape (other layers,
 * another projection, with or without peepholes), calls above its limits, tensors of the wrong shape (also H where
 * a projected model's P belongs), non-finite parameters (peepholes too; refused before any layer changes), and
 * closed objects.
 */
class TrainerBadInputTest {

    private static final int I = 3;
    private static final int H = 5;

    @ParameterizedTest
    @EnumSource(Cell.class)
    void trainerArgumentsAreCheckedBeforeAnythingChanges(Cell cell) {
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(2).withDirection(Direction.BIDIRECTIONAL);
        RnnShape deeper = shape.withLayers(3);
        try (TestRnn model = new TestRnn(1103, shape, Options.DEFAULT);
             TestRnn other = new TestRnn(1104, deeper, Options.DEFAULT);
             Trainer trainer = model.trainer(2, 4);
             Runner runner = model.runner(2, 4);
             Gradients gradients = new Gradients(shape);
             Gradients wrong = new Gradients(deeper)) {
            String noForward = "backward needs a forward of this trainer first (and runs once per forward)";
            assertEquals(noForward, message(IllegalStateException.class, () -> trainer.backward((MemorySegment) null,
                    null, null, gradients, GradientMode.OVERWRITE, null, null, null)));
            assertEquals("steps 5 exceeds this Trainer's maxSteps 4 (Options.maxSteps)", message(
                    IllegalArgumentException.class, () -> trainer.forward(model.input(5, 2), 5, 2, null, null, null,
                            null, null)));
            assertEquals("batch 3 exceeds this Trainer's maxBatch 2 (Options.maxBatch)", message(
                    IllegalArgumentException.class, () -> trainer.forward(model.input(1, 3), 1, 3, null, null, null,
                            null, null)));
            float[] x = model.input(4, 2);
            trainer.forward(MemorySegment.ofArray(x), 4, 2, null, null, null, null, null);
            assertEquals("gradients are for a model of " + deeper + ", but this trainer's is " + shape,
                    message(IllegalArgumentException.class, () -> trainer.backward((MemorySegment) null, null, null,
                            wrong, GradientMode.OVERWRITE, null, null, null)));
            assertEquals("gradients must not be null", message(NullPointerException.class, () -> trainer.backward(
                    (MemorySegment) null, null, null, null, GradientMode.OVERWRITE, null, null, null)));
            assertEquals("mode must not be null", message(NullPointerException.class, () -> trainer.backward(
                    (MemorySegment) null, null, null, gradients, null, null, null, null)));
            assertEquals("dy must hold [T=4][B=2][D*H=10] = 80 floats (320 bytes), but it holds 40 floats (160 bytes)",
                    message(IllegalArgumentException.class, () -> trainer.backward(segment(40), null, null,
                            gradients, GradientMode.OVERWRITE, null, null, null)));
            assertEquals("dhT must hold [L*D=4][B=2][H=5] = 40 floats (160 bytes), but it holds 10 floats (40 bytes)",
                    message(IllegalArgumentException.class, () -> trainer.backward(null, segment(10), null,
                            gradients, GradientMode.OVERWRITE, null, null, null)));
            String dcT = cell.hasCellState()
                    ? "dcT must hold [L*D=4][B=2][H=5] = 40 floats (160 bytes), but it holds 10 floats (40 bytes)"
                    : "dcT must be null for a GRU model: a GRU has no cell state";
            assertEquals(dcT, message(IllegalArgumentException.class, () -> trainer.backward(null, null, segment(10),
                    gradients, GradientMode.OVERWRITE, null, null, null)));
            assertEquals("dx must hold [T=4][B=2][I=3] = 24 floats (96 bytes), but it holds 3 floats (12 bytes)",
                    message(IllegalArgumentException.class, () -> trainer.backward(null, null, null, gradients,
                            GradientMode.OVERWRITE, segment(3), null, null)));
            assertEquals("dh0 must hold [L*D=4][B=2][H=5] = 40 floats (160 bytes), but it holds 3 floats (12 bytes)",
                    message(IllegalArgumentException.class, () -> trainer.backward(null, null, null, gradients,
                            GradientMode.OVERWRITE, null, segment(3), null)));
            trainer.backward((MemorySegment) null, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
            assertEquals(noForward, message(IllegalStateException.class, () -> trainer.backward((MemorySegment) null,
                    null, null, gradients, GradientMode.OVERWRITE, null, null, null)));

            assertEquals("parameters are for a model of " + deeper + ", but this trainer's is " + shape,
                    message(IllegalArgumentException.class, () -> trainer.updateWeights(other.parameters)));
            assertEquals("parameters must not be null",
                    message(NullPointerException.class, () -> trainer.updateWeights(null)));
            assertEquals("gradients are for a model of " + deeper + ", but the parameters are for " + shape,
                    message(IllegalArgumentException.class, () -> new Adam(model.parameters, wrong, 0.1)));
            float[] before = new float[4 * 2 * 10];
            runner.forward(x, 4, 2, null, null, before, null, null);
            float[][] flat = model.flatWeights.clone();
            flat[13] = flat[13].clone();   // layer 1 reverse, weight_hh
            flat[13][7] = Float.NaN;
            try (Parameters nan = Parameters.fromPyTorch(shape, flat)) {
                assertEquals("layer 1 reverse: weightHh[1][2] is NaN: weights must be finite (flat index 7)",
                        message(IllegalArgumentException.class, () -> trainer.updateWeights(nan)));
            }
            float[] after = new float[before.length];
            runner.forward(x, 4, 2, null, null, after, null, null);
            assertArrayEquals(before, after, "no layer changed by a refused update");
        }
    }

    /**
     * More rows than an int counts is refused before any memory is taken, by one layer and by a bidirectional
     * stack alike (whose layer buffers alone would be tens of gigabytes).
     */
    @ParameterizedTest
    @EnumSource(Cell.class)
    void aTrainerTooLargeToKeepIsRefused(Cell cell) {
        for (RnnShape shape : List.of(RnnShape.of(cell, I, H),
                RnnShape.of(cell, I, H).withLayers(2).withDirection(Direction.BIDIRECTIONAL))) {
            try (TestRnn model = new TestRnn(1, shape, Options.DEFAULT)) {
                assertEquals("maxBatch × maxSteps = 65536 × 32768 = 2147483648 rows, more than a trainer can keep"
                                + " (2147483647): train in shorter windows (TruncatedBptt) or smaller batches",
                        message(IllegalArgumentException.class, () -> model.trainer(1 << 16, 1 << 15)), "" + shape);
            }
        }
    }

    @Test
    void trainingMismatchedProjectionsIsRefusedNamingTheShapes() {
        RnnShape plainShape = RnnShape.of(Cell.LSTM, I, H);
        RnnShape projected = plainShape.withProjection(2);
        try (TestRnn model = new TestRnn(4, projected, Options.DEFAULT);
             TestRnn plain = new TestRnn(5, plainShape, Options.DEFAULT);
             Trainer trainer = plain.trainer(1, 1);
             Trainer projectedTrainer = model.trainer(1, 1);
             Gradients plainGradients = new Gradients(plainShape)) {
            assertEquals("parameters are for a model of " + projected + ", but this trainer's is " + plainShape,
                    message(IllegalArgumentException.class, () -> trainer.updateWeights(model.parameters)));
            assertEquals("parameters are for a model of " + plainShape + ", but this trainer's is " + projected,
                    message(IllegalArgumentException.class, () -> projectedTrainer.updateWeights(plain.parameters)));
            projectedTrainer.forward(MemorySegment.ofArray(new float[I]), 1, 1, null, null, null, null, null);
            assertEquals("gradients are for a model of " + plainShape + ", but this trainer's is " + projected,
                    message(IllegalArgumentException.class, () -> projectedTrainer.backward((MemorySegment) null,
                            null, null, plainGradients, GradientMode.OVERWRITE, null, null, null)));
        }
    }

    /** A projected trainer's h-shaped arguments hold P features and c-shaped ones H: H where P belongs is named. */
    @Test
    void aProjectedTrainerNamesHWherePBelongs() {
        RnnShape layer = RnnShape.of(Cell.LSTM, I, H).withProjection(2);
        try (TestRnn model = new TestRnn(1106, layer, Options.DEFAULT);
             Trainer trainer = model.trainer(2, 3)) {
            float[] x = model.input(3, 2);
            assertEquals(mustHold("h0", "[L*D=1][B=2][P=2]", 4, 10), message(IllegalArgumentException.class,
                    () -> trainer.forward(x, 3, 2, new float[2 * H], null, null, null, null)));
            assertEquals(mustHold("hT", "[L*D=1][B=2][P=2]", 4, 10), message(IllegalArgumentException.class,
                    () -> trainer.forward(x, 3, 2, null, null, null, new float[2 * H], null)));
            assertEquals(mustHold("c0", "[L*D=1][B=2][H=5]", 10, 4), message(IllegalArgumentException.class,
                    () -> trainer.forward(x, 3, 2, null, new float[4], null, null, null)));
        }
        for (RnnShape shape : List.of(layer, layer.withLayers(2).withDirection(Direction.BIDIRECTIONAL))) {
            int states = shape.stateCount();
            int outputs = shape.direction().count() * 2;
            try (TestRnn model = new TestRnn(1107, shape, Options.DEFAULT);
                 Trainer trainer = model.trainer(2, 3);
                 Gradients gradients = new Gradients(shape)) {
                trainer.forward(model.input(3, 2), 3, 2, null, null, null, null, null);
                String hidden = "[L*D=" + states + "][B=2][P=2]";
                assertEquals(mustHold("dhT", hidden, states * 4, states * 2 * H), message(
                        IllegalArgumentException.class, () -> trainer.backward(null, new float[states * 2 * H], null,
                                gradients, GradientMode.OVERWRITE, null, null, null)));
                assertEquals(mustHold("dh0", hidden, states * 4, states * 2 * H), message(
                        IllegalArgumentException.class, () -> trainer.backward(null, null, null, gradients,
                                GradientMode.OVERWRITE, null, new float[states * 2 * H], null)));
                assertEquals(mustHold("dy", "[T=3][B=2][D*P=" + outputs + "]", 6 * outputs, 6 * outputs / 2 * H),
                        message(IllegalArgumentException.class, () -> trainer.backward(
                                new float[6 * outputs / 2 * H], null, null, gradients, GradientMode.OVERWRITE, null,
                                null, null)));
            }
        }
    }

    /**
     * Peepholes are part of the shape: gradients and parameters given to a peephole trainer must have them in every
     * layer and direction, and those of a plain one none, as must the optimizer's pair; a mismatch is refused before
     * anything is written or repacked. A peephole update that is not finite is refused naming its layer, row and unit,
     * and leaves the weights (so the runner's output) as they were, though the update's other tensors differ.
     */
    @ParameterizedTest(name = "L={0}")
    @ValueSource(ints = {1, 2})
    void peepholesThatDoNotMatchTheModelAreRefused(int layers) {
        RnnShape plainShape = RnnShape.of(Cell.LSTM, I, H).withLayers(layers)
                .withDirection(layers > 1 ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        RnnShape shape = plainShape.withPeepholes(true);
        try (TestRnn model = new TestRnn(1360, shape, Options.DEFAULT);
             TestRnn plain = new TestRnn(1361, plainShape, Options.DEFAULT);
             Trainer trainer = model.trainer(2, 3);
             Trainer plainTrainer = plain.trainer(2, 3);
             Runner runner = model.runner(2, 3);
             Gradients withPeepholes = new Gradients(shape);
             Gradients without = new Gradients(plainShape)) {
            float[] x = model.input(3, 2);
            trainer.forward(x, 3, 2, null, null, null, null, null);
            assertEquals("gradients are for a model of " + plainShape + ", but this trainer's is " + shape,
                    message(IllegalArgumentException.class, () -> trainer.backward((MemorySegment) null, null, null,
                            without, GradientMode.OVERWRITE, null, null, null)));
            plainTrainer.forward(x, 3, 2, null, null, null, null, null);
            assertEquals("gradients are for a model of " + shape + ", but this trainer's is " + plainShape,
                    message(IllegalArgumentException.class, () -> plainTrainer.backward((MemorySegment) null, null,
                            null, withPeepholes, GradientMode.OVERWRITE, null, null, null)));
            assertEquals("parameters are for a model of " + plainShape + ", but this trainer's is " + shape,
                    message(IllegalArgumentException.class, () -> trainer.updateWeights(plain.parameters)));
            assertEquals("parameters are for a model of " + shape + ", but this trainer's is " + plainShape,
                    message(IllegalArgumentException.class, () -> plainTrainer.updateWeights(model.parameters)));
            assertEquals("gradients are for a model of " + plainShape + ", but the parameters are for " + shape,
                    message(IllegalArgumentException.class, () -> new Adam(model.parameters, without, 0.1)));
            assertEquals("gradients are for a model of " + shape + ", but the parameters are for " + plainShape,
                    message(IllegalArgumentException.class, () -> new Sgd(plain.parameters, withPeepholes, 0.1, 0)));

            float[] before = new float[3 * 2 * shape.outputSize()];
            runner.forward(x, 3, 2, null, null, before, null, null);
            float[][] flat = model.flatWeights.clone();
            int last = flat.length - 1;   // the top layer's last direction's peepholes
            flat[last] = flat[last].clone();
            flat[last][4] = Float.NaN;
            flat[0] = new float[flat[0].length];   // a finite change that must not reach the weights either
            String part = layers > 1 ? "layer 1 reverse" : "layer 0";
            try (Parameters update = Parameters.fromPyTorch(shape, flat)) {
                assertEquals(part + ": peepholes[0][4] is NaN: weights must be finite (flat index 4)",
                        message(IllegalArgumentException.class, () -> trainer.updateWeights(update)));
            }
            float[] after = new float[before.length];
            runner.forward(x, 3, 2, null, null, after, null, null);
            assertArrayEquals(before, after, "a refused update changes nothing");
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void closedTrainersModelsAndParametersAreRefused(Cell cell) {
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(2);
        TestRnn model = new TestRnn(1105, shape, Options.DEFAULT);
        Trainer trainer = model.trainer(1, 1);
        Trainer open = model.trainer(1, 1);
        trainer.close();
        assertEquals("this Trainer is closed", message(IllegalStateException.class,
                () -> trainer.forward(new float[I], 1, 1, null, null, null, null, null)));
        Parameters closed = Parameters.fromPyTorch(shape, model.flatWeights);
        closed.close();
        assertEquals("these Parameters are closed",
                message(IllegalStateException.class, () -> open.updateWeights(closed)));
        model.close();
        assertEquals("this Model is closed", message(IllegalStateException.class,
                () -> open.forward(new float[I], 1, 1, null, null, null, null, null)));
        assertEquals("this Model is closed", message(IllegalStateException.class, () -> model.model.trainer()));
        open.close();
    }

    private static MemorySegment segment(int floats) {
        return MemorySegment.ofArray(new float[floats]);
    }
}
