package dev.vlstm;

import static dev.vlstm.TestRnn.doubles;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * The {@link Trainer} of LSTMs and GRUs against the double-precision reference backward (itself checked by finite
 * differences in ReferenceBackwardTest, ReferenceGruBackwardTest and, through dropout masks, ReferenceStackBackwardTest
 * and ReferenceGruStackBackwardTest): y, hT, every gradient and dx, dh0 and (LSTM) dc0, on odd shapes, with and without
 * initial states, final-state gradients and biases, for both kernels, in calls smaller than the trainer's limits: one
 * layer, and stacks with dropout between layers (the reference given the trainer's masks). Without dropout the
 * training forward's y is the runner's, bit for bit; the runner never drops. Stacks without dropout are in
 * StackVsReferenceTest.
 *
 * <p>Tolerance: for each gradient tensor, max |actual - expected| &le; {@value #RELATIVE_TOLERANCE} times
 * max |expected| (float accumulation over up to T·B = 150 rows and the activation approximation); y and hT within
 * ForwardVsReferenceTest's {@value ForwardVsReferenceTest#TOLERANCE}.
 */
class TrainerVsReferenceTest {

    static final double RELATIVE_TOLERANCE = 1e-4;

    static Stream<Arguments> cases() {
        return TestRnn.forEveryCell(Stream.of(
                Arguments.of(3, 5, 1, false, 4, 2, false, false, true, 0.0, Backend.PREFERRED),
                Arguments.of(1, 1, 1, false, 1, 1, true, true, true, 0.0, Backend.PREFERRED),
                Arguments.of(17, 33, 1, false, 7, 5, true, true, true, 0.0, Backend.PREFERRED),
                Arguments.of(33, 17, 1, false, 12, 3, false, true, true, 0.0, Backend.PREFERRED),
                Arguments.of(100, 40, 1, false, 3, 9, true, false, true, 0.0, Backend.PREFERRED),
                Arguments.of(5, 70, 1, false, 30, 5, true, true, true, 0.0, Backend.PREFERRED),
                Arguments.of(7, 3, 1, false, 6, 8, true, true, true, 0.0, Backend.PREFERRED),
                Arguments.of(3, 5, 1, false, 4, 2, true, true, true, 0.0, Backend.SCALAR),
                Arguments.of(17, 33, 1, false, 7, 5, false, false, true, 0.0, Backend.SCALAR),
                Arguments.of(3, 5, 2, false, 4, 2, true, true, true, 0.4, Backend.PREFERRED),
                Arguments.of(7, 9, 3, true, 6, 3, true, true, true, 0.25, Backend.PREFERRED),
                Arguments.of(17, 33, 2, true, 5, 5, true, true, true, 0.6, Backend.PREFERRED),
                Arguments.of(33, 17, 3, false, 6, 3, false, false, true, 0.3, Backend.PREFERRED),
                Arguments.of(5, 3, 3, true, 9, 4, true, true, false, 0.5, Backend.PREFERRED),
                Arguments.of(2, 33, 2, true, 4, 9, true, true, false, 0.2, Backend.PREFERRED),
                Arguments.of(3, 5, 2, true, 4, 2, true, true, true, 0.4, Backend.SCALAR)));
    }

    @ParameterizedTest(name = "{0} {11} I={1} H={2} L={3} bidirectional={4} T={5} B={6} initialState={7}"
            + " finalGradients={8} bias={9} p={10}")
    @MethodSource("cases")
    void everyGradientMatchesTheReference(Cell cell, int inputSize, int hiddenSize, int layers, boolean bidirectional,
                                          int steps, int batch, boolean initialState, boolean finalGradients,
                                          boolean bias, double dropout, Backend backend) {
        RnnShape shape = RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers)
                .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        try (TestRnn rnn = new TestRnn(500 + 10L * hiddenSize + layers, shape, Options.DEFAULT.withBackend(backend),
                bias, 1f);
             Trainer trainer = rnn.model.trainer(rnn.model.options().withMaxBatch(batch + 1).withMaxSteps(steps + 2)
                     .withDropout(dropout, 5));
             Runner runner = rnn.runner(batch, steps);
             Gradients gradients = new Gradients(shape)) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = initialState ? rnn.hiddenStates(batch) : null;
            float[] c0 = initialState ? rnn.cellStates(batch) : null;
            float[] dy = rnn.outputGradient(steps, batch);
            float[] dhT = finalGradients ? rnn.hiddenStates(batch) : null;
            float[] dcT = finalGradients ? rnn.cellStates(batch) : null;
            int states = shape.stateCount() * batch * hiddenSize;
            float[] y = new float[dy.length];
            float[] hT = new float[states];
            float[] dx = new float[x.length];
            float[] dh0 = new float[states];
            float[] dc0 = cell.hasCellState() ? new float[states] : null;
            trainer.forward(x, steps, batch, h0, c0, y, hT, null);
            trainer.backward(dy, dhT, dcT, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);

            float[] inferred = new float[y.length];
            runner.forward(x, steps, batch, h0, c0, inferred, null, null);
            ForwardVsReferenceTest.assertWithin("inference y (no dropout)", inferred,
                    rnn.reference.forward(x, steps, batch, h0, c0).y());
            double[][] masks = null;
            if (dropout > 0) {
                masks = new double[layers - 1][];
                for (int layer = 0; layer < layers - 1; layer++) {
                    masks[layer] = doubles(trainer.dropoutMask(layer));
                }
            } else {
                assertArrayEquals(inferred, y, "the training forward is the runner's forward");
            }
            ReferenceStack.Result expected = rnn.reference.forward(doubles(x), steps, batch, doubles(h0),
                    doubles(c0), masks);
            ForwardVsReferenceTest.assertWithin("y", y, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
            StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, rnn.reference.backward(doubles(x),
                    steps, batch, doubles(h0), doubles(c0), masks, doubles(dy), doubles(dhT), doubles(dcT)));
        }
    }

    /**
     * An LSTM with peepholes trains: every gradient, dL/dp_i, dL/dp_f and dL/dp_o ({@code peephole_l0}) included,
     * against the reference, with projection, a cell clip, stacks and both directions, for both kernels.
     */
    @ParameterizedTest(name = "{6} I={0} H={1} P={2} L={3} bidirectional={4} clip={5}")
    @CsvSource({"3, 5, 0, 1, false, Infinity, PREFERRED", "17, 33, 0, 2, true, 0.5, PREFERRED",
        "5, 9, 4, 2, false, Infinity, PREFERRED", "7, 9, 4, 1, true, 0.8, SCALAR", "4, 6, 0, 2, true, Infinity, SCALAR"})
    void peepholeGradientsMatchTheReference(int inputSize, int hiddenSize, int projectionSize, int layers,
                                            boolean bidirectional, float clip, Backend backend) {
        RnnShape shape = RnnShape.of(Cell.LSTM, inputSize, hiddenSize).withLayers(layers).withProjection(projectionSize)
                .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD).withPeepholes(true);
        int steps = 5;
        int batch = 3;
        try (TestRnn rnn = new TestRnn(590 + hiddenSize, shape, Options.DEFAULT.withBackend(backend)
                .withCellClip(clip).withMaxBatch(batch).withMaxSteps(steps));
             Trainer trainer = rnn.model.trainer();
             Gradients gradients = new Gradients(shape)) {
            float[] x = rnn.input(steps, batch);
            float[] h0 = rnn.hiddenStates(batch);
            float[] c0 = rnn.cellStates(batch);
            float[] dy = rnn.outputGradient(steps, batch);
            float[] dhT = rnn.hiddenStates(batch);
            float[] dcT = rnn.cellStates(batch);
            float[] y = new float[dy.length];
            float[] dx = new float[x.length];
            float[] dh0 = new float[h0.length];
            float[] dc0 = new float[c0.length];
            trainer.forward(x, steps, batch, h0, c0, y, null, null);
            trainer.backward(dy, dhT, dcT, gradients, GradientMode.OVERWRITE, dx, dh0, dc0);
            ForwardVsReferenceTest.assertWithin("y", y, rnn.reference.forward(x, steps, batch, h0, c0).y());
            StackVsReferenceTest.assertGradients(shape, gradients, dx, dh0, dc0, rnn.reference.backward(doubles(x),
                    steps, batch, doubles(h0), doubles(c0), null, doubles(dy), doubles(dhT), doubles(dcT)));
        }
    }

    /**
     * ACCUMULATE adds a backward's gradients to what is there (two equal backwards give twice one), OVERWRITE
     * replaces them (every tensor as after one backward), and {@link Gradients#zero} clears them, in every layer and
     * direction (dW_hr too with projection). An LSTM's two bias gradients are one sum of the gates' gradients, so they
     * are equal.
     */
    @ParameterizedTest(name = "{0} H={1} L={2} P={3}")
    @CsvSource({"LSTM, 9, 1, 0", "LSTM, 6, 2, 0", "LSTM, 9, 1, 3", "GRU, 9, 1, 0", "GRU, 6, 2, 0"})
    void accumulateAddsAndOverwriteReplaces(Cell cell, int hiddenSize, int layers, int projectionSize) {
        RnnShape shape = RnnShape.of(cell, 4, hiddenSize).withLayers(layers).withProjection(projectionSize)
                .withDirection(layers > 1 ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        try (TestRnn rnn = new TestRnn(600 + layers, shape, Options.DEFAULT);
             Trainer trainer = rnn.trainer(2, 5);
             Gradients once = new Gradients(shape);
             Gradients twice = new Gradients(shape)) {
            float[] x = rnn.input(5, 2);
            float[] dy = rnn.outputGradient(5, 2);
            trainer.forward(x, 5, 2, null, null, null, null, null);
            trainer.backward(dy, null, null, once, GradientMode.OVERWRITE, null, null, null);
            for (int n = 0; n < 2; n++) {
                trainer.forward(x, 5, 2, null, null, null, null, null);
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
            trainer.forward(x, 5, 2, null, null, null, null, null);
            trainer.backward(dy, null, null, twice, GradientMode.OVERWRITE, null, null, null);
            for (String name : once.names()) {
                assertArrayEquals(floats(once.tensor(name)), floats(twice.tensor(name)), name);
                if (cell.hasCellState() && name.startsWith("bias_ih")) {
                    assertArrayEquals(floats(once.tensor(name)), floats(once.tensor(name.replace("_ih", "_hh"))));
                }
            }
            once.zero();
            for (String name : once.names()) {
                assertArrayEquals(new float[(int) (once.tensor(name).byteSize() / Float.BYTES)],
                        floats(once.tensor(name)), name);
            }
        }
    }

    static void assertClose(String name, float[] actual, double[] expected) {
        double scale = 0;
        for (double value : expected) {
            scale = Math.max(scale, Math.abs(value));
        }
        double error = TestRnn.maxAbsError(actual, expected);
        assertTrue(error <= RELATIVE_TOLERANCE * scale, name + ": max abs error " + error + " > "
                + RELATIVE_TOLERANCE + " * " + scale);
    }

    static MemorySegment segment(float[] values) {
        return values == null ? null : MemorySegment.ofArray(values);
    }

    static float[] floats(MemorySegment segment) {
        return segment.toArray(ValueLayout.JAVA_FLOAT);
    }
}
