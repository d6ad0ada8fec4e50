package dev.vlstm;

import static dev.vlstm.TestRnn.doubles;
import static dev.vlstm.TrainerVsReferenceTest.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.Arrays;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * Stacked and bidirectional LSTMs and GRUs against the double-precision {@link ReferenceStack} (itself checked by
 * finite differences in ReferenceStackBackwardTest and ReferenceGruStackBackwardTest): the runner's y, h_n and c_n,
 * and the trainer's every gradient (its forward's y being the runner's, bit for bit), on odd shapes (H = 1, 3, 5, 9,
 * 17, 20, 33; B = 1..9; L = 1..3; one and two directions), with and without initial states, final-state gradients and
 * biases, for both kernels. Dropout is in TrainerVsReferenceTest and DropoutTest.
 *
 * <p>Tolerances: forward, ForwardVsReferenceTest's max |error| &le; {@value ForwardVsReferenceTest#TOLERANCE} (the
 * largest error measured here, through up to three layers, is below a tenth of it); gradients, as
 * TrainerVsReferenceTest, max |error| &le; {@value TrainerVsReferenceTest#RELATIVE_TOLERANCE} of each tensor's largest
 * value.
 */
class StackVsReferenceTest {

    static Stream<Arguments> stacks() {
        return TestRnn.forEveryCell(Stream.of(
                Arguments.of(3, 5, 2, false, 4, 2, true, true, Backend.PREFERRED),
                Arguments.of(1, 1, 3, true, 1, 1, false, true, Backend.PREFERRED),
                Arguments.of(1, 1, 3, true, 2, 1, false, true, Backend.PREFERRED),
                Arguments.of(17, 33, 2, true, 7, 5, true, true, Backend.PREFERRED),
                Arguments.of(33, 17, 3, false, 6, 3, false, true, Backend.PREFERRED),
                Arguments.of(5, 20, 3, true, 9, 4, true, false, Backend.PREFERRED),
                Arguments.of(5, 3, 3, true, 9, 4, true, false, Backend.PREFERRED),
                Arguments.of(7, 3, 1, true, 5, 6, true, true, Backend.PREFERRED),
                Arguments.of(4, 17, 1, false, 3, 9, true, true, Backend.PREFERRED),
                Arguments.of(2, 33, 2, true, 4, 7, false, false, Backend.PREFERRED),
                Arguments.of(6, 1, 2, false, 5, 8, true, true, Backend.PREFERRED),
                Arguments.of(3, 5, 2, true, 4, 2, true, true, Backend.SCALAR),
                Arguments.of(17, 9, 3, false, 5, 3, false, false, Backend.SCALAR),
                Arguments.of(17, 33, 3, false, 5, 3, false, false, Backend.SCALAR),
                Arguments.of(1, 3, 1, true, 3, 9, true, true, Backend.SCALAR)));
    }

    @ParameterizedTest(name = "{0} {9} I={1} H={2} L={3} bidirectional={4} T={5} B={6} initialState={7} bias={8}")
    @MethodSource("stacks")
    void forwardAndEveryGradientMatchTheReference(Cell cell, int inputSize, int hiddenSize, int layers,
                                                  boolean bidirectional, int steps, int batch, boolean initialState,
                                                  boolean bias, Backend backend) {
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers)
                .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        try (TestRnn rnn = new TestRnn(700 + 10L * hiddenSize + layers, shape, Options.DEFAULT.withBackend(backend),
                bias, 1f);
             Runner runner = rnn.runner(batch + 1, steps + 2);
             Trainer trainer = rnn.trainer(batch, steps);
             Gradients gradients = new Gradients(shape)) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = initialState ? rnn.hiddenStates(batch) : null;
            float[] c0 = initialState ? rnn.cellStates(batch) : null;
            float[] y = ForwardVsReferenceTest.assertForwardMatchesReference(rnn, runner, x, steps, batch, h0, c0);

            float[] dy = rnn.outputGradient(steps, batch);
            float[] dhT = initialState ? rnn.hiddenStates(batch) : null;
            float[] dcT = initialState ? rnn.cellStates(batch) : null;
            float[] trainedY = new float[y.length];
            float[] dx = new float[x.length];
            float[] dh0 = new float[shape.stateCount() * batch * hiddenSize];
            float[] dc0 = cell.hasCellState() ? new float[dh0.length] : null;
            trainer.forward(x, steps, batch, h0, c0, trainedY, null, null);
            trainer.backward(dy, dhT, dcT, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
            assertArrayEquals(y, trainedY, "the training forward is the runner's forward");
            assertGradients(shape, gradients, dx, dh0, dc0, rnn.reference.backward(doubles(x), steps, batch,
                    doubles(h0), doubles(c0), null, doubles(dy), doubles(dhT), doubles(dcT)));
        }
    }

    @ParameterizedTest(name = "{0} I={1} H={2} L={3}")
    @CsvSource({"LSTM, 5, 17, 1", "LSTM, 5, 7, 3", "GRU, 5, 17, 1", "GRU, 5, 7, 3"})
    void statesMayBeCarriedAcrossWindowsInTheSameBuffers(Cell cell, int inputSize, int hiddenSize, int layers) {
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers);
        try (TestRnn rnn = new TestRnn(711 + hiddenSize, shape, Options.DEFAULT);
             Runner runner = rnn.runner(2, 4)) {
            float[] x = rnn.input(8, 2);
            float[] hT = new float[layers * 2 * hiddenSize];
            float[] cT = cell.hasCellState() ? new float[hT.length] : null;
            int window = 4 * 2 * inputSize;
            runner.forward(Arrays.copyOfRange(x, 0, window), 4, 2, null, null, null, hT, cT);
            runner.forward(Arrays.copyOfRange(x, window, 2 * window), 4, 2, hT, cT, null, hT, cT);
            ReferenceStack.Result expected = rnn.reference.forward(x, 8, 2, null, null);
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            if (cT != null) {
                ForwardVsReferenceTest.assertWithin("cT", cT, expected.cT());
            }
        }
    }

    /** The helper's projection, peepholes and cell clip reach the model and the reference alike. */
    @ParameterizedTest(name = "{0}")
    @EnumSource(Backend.class)
    void anLstmWithProjectionPeepholesAndCellClipMatchesTheReference(Backend backend) {
        RnnShape shape = RnnShape.of(Cell.LSTM, 5, 7).withLayers(2).withDirection(Direction.BIDIRECTIONAL)
                .withProjection(3).withPeepholes(true);
        try (TestRnn rnn = new TestRnn(712, shape, Options.DEFAULT.withBackend(backend).withCellClip(0.5f));
             Runner runner = rnn.runner(3, 6)) {
            ForwardVsReferenceTest.assertForwardMatchesReference(rnn, runner, rnn.input(6, 3), 6, 3,
                    rnn.hiddenStates(3), rnn.cellStates(3));
        }
    }

    /**
     * Every parameter gradient of every layer and direction (dW_hr too with projection, dp with peepholes), and dx,
     * dh0 and (LSTM) dc0, against the reference's.
     */
    static void assertGradients(RnnShape shape, Gradients gradients, float[] dx, float[] dh0, float[] dc0,
                                ReferenceStack.Gradients expected) {
        int directions = shape.direction().count();
        TensorByStem actual = (stem, layer, direction) -> floats(gradients.tensor(shape.tensorName(stem, layer,
                direction)));
        for (int index = 0; index < expected.weightIh().length; index++) {
            int layer = index / directions;
            int direction = index % directions;
            String name = "layer " + layer + " direction " + direction + " ";
            TrainerVsReferenceTest.assertClose(name + "weightIh", actual.get("weight_ih", layer, direction),
                    expected.weightIh()[index]);
            TrainerVsReferenceTest.assertClose(name + "weightHh", actual.get("weight_hh", layer, direction),
                    expected.weightHh()[index]);
            if (expected.weightHr() != null) {
                TrainerVsReferenceTest.assertClose(name + "weightHr", actual.get("weight_hr", layer, direction),
                        expected.weightHr()[index]);
            }
            if (expected.biasIh()[index] == null) {
                assertNull(expected.biasHh()[index], "a bias-free model has neither bias");
            } else {
                TrainerVsReferenceTest.assertClose(name + "biasIh", actual.get("bias_ih", layer, direction),
                        expected.biasIh()[index]);
                TrainerVsReferenceTest.assertClose(name + "biasHh", actual.get("bias_hh", layer, direction),
                        expected.biasHh()[index]);
            }
            if (expected.peepholes()[index] != null) {
                TrainerVsReferenceTest.assertClose(name + "peepholes", actual.get("peephole", layer, direction),
                        expected.peepholes()[index]);
            }
        }
        TrainerVsReferenceTest.assertClose("x", dx, expected.x());
        TrainerVsReferenceTest.assertClose("h0", dh0, expected.h0());
        if (expected.c0() == null) {
            assertNull(dc0, "a GRU has no c0");
        } else {
            TrainerVsReferenceTest.assertClose("c0", dc0, expected.c0());
        }
    }

    /** A gradient tensor by its state_dict stem, layer and direction. */
    private interface TensorByStem {

        float[] get(String stem, int layer, int direction);
    }
}
