package dev.vlstm;

import static dev.vlstm.TrainerVsReferenceTest.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.stream.Stream;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Dropout between the layers of an LSTM or GRU stack, as {@code nn.LSTM(dropout=p)} and {@code nn.GRU(dropout=p)}
 * in training ({@link Options#withDropout}): p = 0 changes nothing, masks are 0 or 1/(1-p) with the expected share
 * of zeros, reproducible from the seed and fresh every forward. The forward and every gradient through the masks
 * are held to the reference in TrainerVsReferenceTest.
 */
class DropoutTest {

    /** A trainer of {@code rnn} for up to B sequences of up to T steps, dropping with p and seed. */
    private static Trainer trainer(TestRnn rnn, int maxBatch, int maxSteps, double p, long seed) {
        return rnn.model.trainer(rnn.model.options().withMaxBatch(maxBatch).withMaxSteps(maxSteps)
                .withDropout(p, seed));
    }

    private static RnnShape stack(Cell cell, int inputSize, int hiddenSize, int layers, boolean bidirectional) {
        return RnnShape.of(cell, inputSize, hiddenSize).withLayers(layers)
                .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void zeroProbabilityChangesNothingBitForBit(Cell cell) {
        RnnShape shape = stack(cell, 5, 9, 3, true);
        try (TestRnn rnn = new TestRnn(1000, shape, Options.DEFAULT);
             Trainer plain = rnn.trainer(3, 6);
             Trainer dropped = trainer(rnn, 3, 6, 0.0, 42);
             Gradients expected = new Gradients(shape);
             Gradients actual = new Gradients(shape)) {
            float[] x = rnn.input(6, 3);
            float[] dy = rnn.outputGradient(6, 3);
            float[][] outputs = new float[2][6 * 3 * 18];
            float[][] dx = new float[2][x.length];
            Trainer[] trainers = {plain, dropped};
            Gradients[] gradients = {expected, actual};
            for (int n = 0; n < 2; n++) {
                trainers[n].forward(x, 6, 3, null, null, outputs[n], null, null);
                trainers[n].backward(dy, null, null, gradients[n], GradientMode.OVERWRITE, dx[n], null, null);
            }
            assertEquals(0.0, plain.dropout());
            assertArrayEquals(outputs[0], outputs[1], "y");
            assertArrayEquals(dx[0], dx[1], "dx");
            for (String name : expected.names()) {
                assertArrayEquals(floats(expected.tensor(name)), floats(actual.tensor(name)), name);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Cell.class)
    void masksAreReproducibleFromTheSeedAndFreshEveryForward(Cell cell) {
        try (TestRnn rnn = new TestRnn(1001, stack(cell, 4, 6, 3, false), Options.DEFAULT);
             Trainer first = trainer(rnn, 2, 5, 0.5, 7);
             Trainer again = trainer(rnn, 2, 5, 0.5, 7);
             Trainer other = trainer(rnn, 2, 5, 0.5, 8)) {
            assertEquals("no dropout mask before the first forward",
                    assertThrows(IllegalStateException.class, () -> first.dropoutMask(0)).getMessage());
            float[] x = rnn.input(5, 2);
            float[] previous = null;
            for (int call = 0; call < 3; call++) {
                for (Trainer trainer : new Trainer[] {first, again, other}) {
                    trainer.forward(x, 5, 2, null, null, null, null, null);
                }
                for (int layer = 0; layer < 2; layer++) {
                    assertArrayEquals(first.dropoutMask(layer), again.dropoutMask(layer), "same seed, call " + call);
                    assertFalse(Arrays.equals(first.dropoutMask(layer), other.dropoutMask(layer)), "other seed");
                }
                assertFalse(Arrays.equals(first.dropoutMask(0), first.dropoutMask(1)), "each layer its own mask");
                if (previous != null) {
                    assertFalse(Arrays.equals(previous, first.dropoutMask(0)), "a fresh mask every forward");
                }
                previous = first.dropoutMask(0);
            }
            assertEquals("layer 2 is outside [0, 2): only the layers below the top one are dropped",
                    assertThrows(IndexOutOfBoundsException.class, () -> first.dropoutMask(2)).getMessage());
        }
    }

    static Stream<Arguments> probabilities() {
        return TestRnn.forEveryCell(Stream.of(0.1, 0.3, 0.5, 0.9).map(Arguments::of));
    }

    /**
     * Over N mask elements the number of zeros is Binomial(N, p): its share lies within 5 standard deviations,
     * 5·sqrt(p(1-p)/N), of p (a false alarm has probability below 1e-6; the masks are seeded, so the test is
     * deterministic), and every other element is exactly 1/(1-p) in float.
     */
    @ParameterizedTest(name = "{0} p={1}")
    @MethodSource("probabilities")
    void masksDropTheExpectedShareAndScaleTheRest(Cell cell, double probability) {
        try (TestRnn rnn = new TestRnn(1002, stack(cell, 3, 16, 3, true), Options.DEFAULT);
             Trainer trainer = trainer(rnn, 8, 20, probability, 11)) {
            assertEquals(probability, trainer.dropout());
            trainer.forward(rnn.input(20, 8), 20, 8, null, null, null, null, null);
            float scale = (float) (1 / (1 - probability));
            long zeros = 0;
            long count = 0;
            for (int layer = 0; layer < 2; layer++) {
                for (float value : trainer.dropoutMask(layer)) {
                    assertTrue(value == 0f || value == scale, "mask value " + value);
                    zeros += value == 0f ? 1 : 0;
                    count++;
                }
            }
            assertEquals(2L * 20 * 8 * 32, count);
            double share = (double) zeros / count;
            double bound = 5 * Math.sqrt(probability * (1 - probability) / count);
            assertTrue(Math.abs(share - probability) <= bound,
                    "share of zeros " + share + " is more than " + bound + " from " + probability);
        }
    }
}
