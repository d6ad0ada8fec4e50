package dev.vlstm;

import static dev.vlstm.TestRnn.doubles;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static dev.vlstm.VariableLengthTest.fromLayout;
import static dev.vlstm.VariableLengthTest.toLayout;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;
import dev.vlstm.train.Adam;
import dev.vlstm.train.GradientClipping;
import dev.vlstm.train.Sgd;

/**
 * Training one LSTM layer with peephole connections: the {@link Trainer}'s forward and backward against the reference
 * backward (itself checked by central differences in {@link PeepholeReferenceBackwardTest}) for every gradient
 * including {@code peephole_l0} (dp_i, dp_f, dp_o), on odd shapes, for both kernels, with variable lengths in both
 * layouts and with a cell clip (also with projection); accumulate and overwrite; the optimizers update the peepholes
 * and {@link Trainer#updateWeights} repacks them, refusing a non-finite one. Peephole stacks are in StackPeepholeTest;
 * refusals of mismatched peepholes in TrainerBadInputTest.
 *
 * <p>Tolerance: as {@link TrainerVsReferenceTest}, for each gradient tensor max |actual - expected| &le;
 * {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} times max |expected|.
 */
class PeepholeTrainerTest {

    private static RnnShape peepholes(int inputSize, int hiddenSize) {
        return RnnShape.of(Cell.LSTM, inputSize, hiddenSize).withPeepholes(true);
    }

    @ParameterizedTest(name = "{6} I={0} H={1} T={2} B={3} initialState={4} finalGradients={5}")
    @CsvSource({
            "3, 5, 4, 2, false, false, PREFERRED",
            "1, 1, 1, 1, true, true, PREFERRED",
            "2, 3, 6, 9, true, true, PREFERRED",
            "17, 33, 7, 5, true, true, PREFERRED",
            "33, 17, 12, 3, false, true, PREFERRED",
            "5, 40, 20, 7, true, true, PREFERRED",
            "3, 5, 4, 2, true, true, SCALAR",
            "2, 3, 6, 9, true, false, SCALAR",
            "17, 33, 7, 5, false, true, SCALAR"})
    void everyGradientMatchesTheReference(int inputSize, int hiddenSize, int steps, int batch, boolean initialState,
                                          boolean finalGradients, Backend backend) {
        RnnShape shape = peepholes(inputSize, hiddenSize);
        try (TestRnn rnn = new TestRnn(900 + hiddenSize, shape, Options.DEFAULT.withBackend(backend));
             Trainer trainer = rnn.trainer(batch + 1, steps + 2);
             Gradients gradients = new Gradients(shape)) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = initialState ? rnn.hiddenStates(batch) : null;
            float[] c0 = initialState ? rnn.cellStates(batch) : null;
            float[] dy = rnn.outputGradient(steps, batch);
            float[] dhT = finalGradients ? rnn.hiddenStates(batch) : null;
            float[] dcT = finalGradients ? rnn.cellStates(batch) : null;
            float[] y = new float[dy.length];
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * hiddenSize];
            float[] dc0 = new float[batch * hiddenSize];
            trainer.forward(x, steps, batch, h0, c0, y, null, null);
            trainer.backward(dy, dhT, dcT, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);

            ForwardVsReferenceTest.assertWithin("y", y, rnn.reference.forward(x, steps, batch, h0, c0).y());
            StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, rnn.reference.backward(doubles(x),
                    steps, batch, doubles(h0), doubles(c0), null, doubles(dy), doubles(dhT), doubles(dcT)));
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(SequenceLayout.class)
    void variableLengthsMatchTheReference(SequenceLayout layout) {
        int steps = 6;
        int batch = 7;
        int inputSize = 4;
        int hiddenSize = 19;
        int[] lengths = {6, 0, 3, 1, 6, 5, 2};
        RnnShape shape = peepholes(inputSize, hiddenSize);
        try (TestRnn rnn = new TestRnn(910, shape, Options.DEFAULT);
             Trainer trainer = rnn.trainer(batch, steps);
             Gradients gradients = new Gradients(shape)) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = rnn.hiddenStates(batch);
            float[] c0 = rnn.cellStates(batch);
            float[] dy = rnn.outputGradient(steps, batch);
            float[] dhT = rnn.hiddenStates(batch);
            float[] dcT = rnn.cellStates(batch);
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * hiddenSize];
            float[] dc0 = new float[batch * hiddenSize];
            trainer.forward(toLayout(x, layout, steps, batch, inputSize), layout, steps, batch, lengths, h0, c0, null,
                    null, null);
            trainer.backward(toLayout(dy, layout, steps, batch, hiddenSize), dhT, dcT, gradients,
                    GradientMode.OVERWRITE, dx, dh0, dc0);
            StackVsReferenceTest.assertGradients(shape, gradients, fromLayout(dx, layout, steps, batch, inputSize),
                    dh0, dc0, rnn.reference.backward(doubles(x), steps, batch, lengths, doubles(h0), doubles(c0), null,
                            doubles(dy), doubles(dhT), doubles(dcT)));
        }
    }

    /**
     * A cell clip, with and without PyTorch's projection, on both kernels: every gradient against the clipped
     * reference, and the clip must change dp here (against the reference of the same weights unclipped), or the
     * comparison would not show that the backward applies it.
     */
    @ParameterizedTest(name = "{0} P={1}")
    @CsvSource({"PREFERRED, 0", "SCALAR, 0", "PREFERRED, 5", "SCALAR, 5"})
    void theCellClipMatchesTheReference(Backend backend, int projectionSize) {
        int steps = 6;
        int batch = 3;
        int inputSize = 4;
        int hiddenSize = 17;
        float clip = 0.75f;
        RnnShape shape = peepholes(inputSize, hiddenSize).withProjection(projectionSize);
        Options options = Options.DEFAULT.withBackend(backend);
        try (TestRnn rnn = new TestRnn(920 + projectionSize, shape, options.withCellClip(clip));
             TestRnn unclipped = new TestRnn(920 + projectionSize, shape, options);
             Trainer trainer = rnn.trainer(batch, steps);
             Gradients gradients = new Gradients(shape)) {
            float[] x = rnn.uniform(steps * batch * inputSize, 3f);
            float[] c0 = rnn.uniform(batch * hiddenSize, 2f);
            float[] dy = rnn.outputGradient(steps, batch);
            float[] dx = new float[x.length];
            float[] dh0 = new float[batch * shape.hiddenStateSize()];
            float[] dc0 = new float[batch * hiddenSize];
            trainer.forward(x, steps, batch, null, c0, null, null, null);
            trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
            ReferenceStack.Gradients expected = rnn.reference.backward(doubles(x), steps, batch, null, doubles(c0),
                    null, doubles(dy), null, null);
            StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, expected);
            ReferenceStack.Gradients withoutClip = unclipped.reference.backward(doubles(x), steps, batch, null,
                    doubles(c0), null, doubles(dy), null, null);
            assertTrue(TestRnn.maxAbsError(floats(gradients.tensor("peephole_l0")), withoutClip.peepholes()[0])
                    > 1e-3, "the clip must change dp here");
        }
    }

    /** ACCUMULATE adds (two equal backwards give twice one), OVERWRITE replaces, zero clears: the peepholes too. */
    @Test
    void accumulateAddsAndOverwriteReplaces() {
        RnnShape shape = peepholes(4, 9);
        try (TestRnn rnn = new TestRnn(930, shape, Options.DEFAULT);
             Trainer trainer = rnn.trainer(2, 5);
             Gradients once = new Gradients(shape);
             Gradients twice = new Gradients(shape)) {
            assertTrue(once.names().contains("peephole_l0"), once.names().toString());
            float[] x = rnn.input(5, 2);
            float[] c0 = rnn.cellStates(2);
            float[] dy = rnn.outputGradient(5, 2);
            trainer.forward(x, 5, 2, null, c0, null, null, null);
            trainer.backward(dy, null, null, once, GradientMode.OVERWRITE, null, null, null);
            for (int n = 0; n < 2; n++) {
                trainer.forward(x, 5, 2, null, c0, null, null, null);
                trainer.backward(dy, null, null, twice, GradientMode.ACCUMULATE, null, null, null);
            }
            for (String name : once.names()) {
                float[] single = floats(once.tensor(name));
                float[] doubled = floats(twice.tensor(name));
                for (int n = 0; n < single.length; n++) {
                    assertTrue(Math.abs(doubled[n] - 2 * single[n]) <= 1e-6f * (1 + Math.abs(single[n])),
                            name + " element " + n);
                }
            }
            trainer.forward(x, 5, 2, null, c0, null, null, null);
            trainer.backward(dy, null, null, twice, GradientMode.OVERWRITE, null, null, null);
            for (String name : once.names()) {
                assertArrayEquals(floats(once.tensor(name)), floats(twice.tensor(name)), name);
            }
            once.zero();
            assertArrayEquals(new float[3 * 9], floats(once.tensor("peephole_l0")));
        }
    }

    /**
     * Adam and SGD (and gradient clipping) move the peepholes, and {@code updateWeights} repacks them: after three
     * steps the runner and the trainer match the reference of the new parameters, and so do the trainer's
     * gradients; a NaN peephole is then refused, naming its row and unit.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"adam", "sgd"})
    void optimizersTrainThePeepholesAndUpdateWeightsRepacksThem(String optimizer) {
        int inputSize = 5;
        int hiddenSize = 11;
        RnnShape shape = peepholes(inputSize, hiddenSize);
        try (TestRnn rnn = new TestRnn(940, shape, Options.DEFAULT);
             Trainer trainer = rnn.trainer(2, 6);
             Runner runner = rnn.runner(2, 6);
             Gradients gradients = new Gradients(shape);
             Adam adam = new Adam(rnn.parameters, gradients, 0.05);
             Sgd sgd = new Sgd(rnn.parameters, gradients, 0.5, 0.9)) {
            Parameters parameters = rnn.parameters;
            float[] x = rnn.input(6, 2);
            float[] c0 = rnn.cellStates(2);
            float[] dy = rnn.outputGradient(6, 2);
            for (int step = 0; step < 3; step++) {
                trainer.forward(x, 6, 2, null, c0, null, null, null);
                trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
                GradientClipping.clipGlobalNorm(gradients, 10);
                if (optimizer.equals("adam")) {
                    adam.step();
                } else {
                    sgd.step();
                }
                trainer.updateWeights(parameters);
            }
            float[] peepholes = floats(parameters.tensor("peephole_l0"));
            assertFalse(Arrays.equals(rnn.flatWeights[4], peepholes), "the optimizer must change the peepholes");
            ReferenceStack updated = new ReferenceStack(false, new ReferenceLstm(inputSize, hiddenSize,
                    floats(parameters.tensor("weight_ih_l0")), floats(parameters.tensor("weight_hh_l0")),
                    floats(parameters.tensor("bias_ih_l0")), floats(parameters.tensor("bias_hh_l0")))
                    .withPeepholes(peepholes));
            float[] y = new float[6 * 2 * hiddenSize];
            runner.forward(x, 6, 2, null, c0, y, null, null);
            ReferenceStack.Result expected = updated.forward(x, 6, 2, null, c0);
            ForwardVsReferenceTest.assertWithin("runner y", y, expected.y());
            float[] trained = new float[y.length];
            trainer.forward(x, 6, 2, null, c0, trained, null, null);
            ForwardVsReferenceTest.assertWithin("trainer y", trained, expected.y());
            float[] dx = new float[x.length];
            float[] dh0 = new float[2 * hiddenSize];
            float[] dc0 = new float[2 * hiddenSize];
            trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
            StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, updated.backward(doubles(x), 6, 2,
                    null, doubles(c0), null, doubles(dy), null, null));

            parameters.tensor("peephole_l0").setAtIndex(ValueLayout.JAVA_FLOAT, 13, Float.NaN);
            assertEquals("layer 0: peepholes[1][2] is NaN: weights must be finite (flat index 13)",
                    assertThrows(IllegalArgumentException.class, () -> trainer.updateWeights(parameters))
                            .getMessage());
        }
    }
}
