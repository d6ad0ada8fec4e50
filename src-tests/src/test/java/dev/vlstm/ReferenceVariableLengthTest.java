package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceCell;
import dev.vlstm.reference.ReferenceGru;
import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/**
 * The references' variable-length backward ({@link ReferenceLstm}, {@link ReferenceGru}, and {@link ReferenceStack}
 * of either) against central finite differences of their variable-length forward, element by element, for every
 * gradient, on the loss L = Σ y·dy + Σ hT·dhT (+ Σ cT·dcT for an LSTM); lengths include 0 and T, unsorted. Also what
 * the lengths mean on their own: y is zero and dx is zero past each end, a length-0 sequence passes h0 to hT and dhT
 * to dh0, and lengths all T are the plain call.
 *
 * <p>Criterion: {@link CentralDifferences} (ε = 1e-6, relative error &le; 1e-6 or absolute &le; 1e-8), and every
 * checked gradient must hold an element above {@value CentralDifferences#SIGNIFICANT}. Weights U(-2/√H, 2/√H),
 * inputs, states and loss weights U(-1, 1), as in {@link ReferenceGruBackwardTest}.
 */
class ReferenceVariableLengthTest {

    private static final String[] NAMES = {"weightIh", "weightHh", "biasIh", "biasHh"};

    @ParameterizedTest(name = "I={0} H={1} T={2} lengths={3}")
    @CsvSource(delimiter = ';', value = {"3; 4; 5; 2 5 0 3", "2; 3; 4; 4 4 4", "1; 1; 3; 0 3 1", "4; 5; 6; 6 1"})
    void oneGruLayerBackwardMatchesCentralDifferences(int inputSize, int hiddenSize, int steps, String lengthList) {
        int[] lengths = parse(lengthList);
        int batch = lengths.length;
        SplittableRandom random = new SplittableRandom(60L + 7L * hiddenSize + steps);
        double bound = 2 / Math.sqrt(hiddenSize);
        int gates = 3 * hiddenSize;
        double[][] variables = {
                uniform(random, gates * inputSize, bound), uniform(random, gates * hiddenSize, bound),
                uniform(random, gates, bound), uniform(random, gates, bound),
                uniform(random, steps * batch * inputSize, 1), uniform(random, batch * hiddenSize, 1)};
        double[] dy = uniform(random, steps * batch * hiddenSize, 1);
        double[] dhT = uniform(random, batch * hiddenSize, 1);
        ReferenceGru.Gradients gradients = cell(inputSize, hiddenSize, variables).backward(variables[4], steps, batch,
                lengths, variables[5], dy, dhT);
        double[][] analytic = {gradients.weightIh(), gradients.weightHh(), gradients.biasIh(), gradients.biasHh(),
                gradients.x(), gradients.h0()};
        String[] names = {"weightIh", "weightHh", "biasIh", "biasHh", "x", "h0"};
        DoubleSupplier loss = () -> {
            ReferenceGru.Result result = cell(inputSize, hiddenSize, variables).forward(variables[4], steps, batch,
                    lengths, variables[5]);
            return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT);
        };
        for (int n = 0; n < names.length; n++) {
            significant(names[n], CentralDifferences.check(names[n], variables[n], analytic[n], loss));
        }
        for (int b = 0; b < batch; b++) {
            for (int t = lengths[b]; t < steps; t++) {
                for (int i = 0; i < inputSize; i++) {
                    assertEquals(0.0, gradients.x()[(t * batch + b) * inputSize + i], "dx past the end of " + b);
                }
            }
            if (lengths[b] == 0) {
                for (int u = 0; u < hiddenSize; u++) {
                    assertEquals(dhT[b * hiddenSize + u], gradients.h0()[b * hiddenSize + u], "dh0 = dhT, length 0");
                }
            }
        }
    }

    /** One LSTM layer, lengths 2, 5, 0, 3; the length-0 row passes dhT and dcT back untouched. */
    @Test
    void oneLstmLayerBackwardMatchesCentralDifferences() {
        int inputSize = 3;
        int hiddenSize = 4;
        int steps = 5;
        int batch = 4;
        int[] lengths = {2, 5, 0, 3};
        SplittableRandom random = new SplittableRandom(46);
        double bound = 2 / Math.sqrt(hiddenSize);
        double[][] variables = {
                uniform(random, 4 * hiddenSize * inputSize, bound), uniform(random, 4 * hiddenSize * hiddenSize, bound),
                uniform(random, 4 * hiddenSize, bound), uniform(random, 4 * hiddenSize, bound),
                uniform(random, steps * batch * inputSize, 1), uniform(random, batch * hiddenSize, 1),
                uniform(random, batch * hiddenSize, 1)};
        double[] dy = uniform(random, steps * batch * hiddenSize, 1);
        double[] dhT = uniform(random, batch * hiddenSize, 1);
        double[] dcT = uniform(random, batch * hiddenSize, 1);
        ReferenceLstm.Gradients gradients = new ReferenceLstm(inputSize, hiddenSize, variables[0], variables[1],
                variables[2], variables[3]).backward(variables[4], steps, batch, lengths, variables[5], variables[6], dy,
                dhT, dcT);
        double[][] analytic = {gradients.weightIh(), gradients.weightHh(), gradients.biasIh(), gradients.biasHh(),
                gradients.x(), gradients.h0(), gradients.c0()};
        String[] names = {"weightIh", "weightHh", "biasIh", "biasHh", "x", "h0", "c0"};
        for (int n = 0; n < names.length; n++) {
            significant(names[n], CentralDifferences.check(names[n], variables[n], analytic[n], () -> {
                ReferenceLstm.Result result = new ReferenceLstm(inputSize, hiddenSize, variables[0], variables[1],
                        variables[2], variables[3]).forward(variables[4], steps, batch, lengths, variables[5],
                        variables[6]);
                return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT)
                        + CentralDifferences.dot(result.cT(), dcT);
            }));
        }
        // Row 2 (length 0): its state passes through untouched.
        for (int u = 0; u < hiddenSize; u++) {
            assertEquals(dhT[2 * hiddenSize + u], gradients.h0()[2 * hiddenSize + u]);
            assertEquals(dcT[2 * hiddenSize + u], gradients.c0()[2 * hiddenSize + u]);
        }
    }

    @Test
    void oneLayerForwardStopsEachSequenceAtItsLength() {
        int inputSize = 3;
        int hiddenSize = 4;
        int steps = 5;
        int[] lengths = {2, 5, 0};
        int batch = lengths.length;
        SplittableRandom random = new SplittableRandom(61);
        double[][] variables = {uniform(random, 3 * hiddenSize * inputSize, 1), uniform(random, 3 * hiddenSize
                * hiddenSize, 1), uniform(random, 3 * hiddenSize, 1), uniform(random, 3 * hiddenSize, 1),
                uniform(random, steps * batch * inputSize, 1), uniform(random, batch * hiddenSize, 1)};
        ReferenceGru model = cell(inputSize, hiddenSize, variables);
        ReferenceGru.Result result = model.forward(variables[4], steps, batch, lengths, variables[5]);
        for (int b = 0; b < batch; b++) {
            int length = lengths[b];
            double[] alone = new double[Math.max(1, length) * inputSize];
            for (int t = 0; t < length; t++) {
                System.arraycopy(variables[4], (t * batch + b) * inputSize, alone, t * inputSize, inputSize);
            }
            double[] h0 = Arrays.copyOfRange(variables[5], b * hiddenSize, (b + 1) * hiddenSize);
            double[] expectedHT = length == 0 ? h0 : model.forward(alone, length, 1, h0).hT();
            assertArrayEquals(expectedHT, Arrays.copyOfRange(result.hT(), b * hiddenSize,
                    (b + 1) * hiddenSize), "hT of sequence " + b);
            for (int t = length; t < steps; t++) {
                for (int u = 0; u < hiddenSize; u++) {
                    assertEquals(0.0, result.y()[(t * batch + b) * hiddenSize + u], "y past the end of " + b);
                }
            }
        }
        int[] full = {steps, steps, steps};
        ReferenceGru.Result plain = model.forward(variables[4], steps, batch, variables[5]);
        ReferenceGru.Result allT = model.forward(variables[4], steps, batch, full, variables[5]);
        assertArrayEquals(plain.y(), allT.y());
        assertArrayEquals(plain.hT(), allT.hT());
    }

    /** The stack reverses each sequence within its length: checked against central differences, for each cell. */
    @ParameterizedTest(name = "{0} L={1} bidirectional={2} p={3}")
    @CsvSource({"LSTM, 2, true, 0", "LSTM, 2, true, 0.4", "LSTM, 3, false, 0", "LSTM, 1, true, 0",
            "GRU, 2, true, 0", "GRU, 2, true, 0.4", "GRU, 3, false, 0", "GRU, 1, true, 0"})
    void stackBackwardMatchesCentralDifferences(Cell cellType, int layers, boolean bidirectional, double dropout) {
        int inputSize = 2;
        int hiddenSize = 3;
        int steps = 4;
        int[] lengths = {2, 4, 0, 3};
        int batch = lengths.length;
        RnnShape shape = RnnShape.of(cellType, inputSize, hiddenSize).withLayers(layers)
                .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        boolean lstm = cellType == Cell.LSTM;
        SplittableRandom random = new SplittableRandom(940 + layers);
        double bound = 2 / Math.sqrt(hiddenSize);
        int cells = shape.stateCount();
        int gateRows = shape.gates() * hiddenSize;
        double[][] parameters = new double[4 * cells][];
        for (int n = 0; n < cells; n++) {
            int input = shape.layerInputSize(n / shape.direction().count());
            parameters[4 * n] = uniform(random, gateRows * input, bound);
            parameters[4 * n + 1] = uniform(random, gateRows * hiddenSize, bound);
            parameters[4 * n + 2] = uniform(random, gateRows, bound);
            parameters[4 * n + 3] = uniform(random, gateRows, bound);
        }
        int states = cells * batch * hiddenSize;
        int outputs = steps * batch * shape.outputSize();
        double[] x = uniform(random, steps * batch * inputSize, 1);
        double[] h0 = uniform(random, states, 1);
        double[] c0 = lstm ? uniform(random, states, 1) : null;
        double[] dy = uniform(random, outputs, 1);
        double[] dhT = uniform(random, states, 1);
        double[] dcT = lstm ? uniform(random, states, 1) : null;
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
        ReferenceStack.Gradients gradients = stack(shape, parameters).backward(x, steps, batch, lengths, h0, c0,
                masks, dy, dhT, dcT);
        DoubleSupplier loss = () -> {
            ReferenceStack.Result result = stack(shape, parameters).forward(x, steps, batch, lengths, h0, c0,
                    fixedMasks);
            double value = CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT);
            return lstm ? value + CentralDifferences.dot(result.cT(), dcT) : value;
        };
        for (int n = 0; n < parameters.length; n++) {
            int cell = n / 4;
            double[][] analytic = {gradients.weightIh()[cell], gradients.weightHh()[cell], gradients.biasIh()[cell],
                    gradients.biasHh()[cell]};
            String name = "cell " + cell + " " + NAMES[n % 4];
            significant(name, CentralDifferences.check(name, parameters[n], analytic[n % 4], loss));
        }
        significant("x", CentralDifferences.check("x", x, gradients.x(), loss));
        significant("h0", CentralDifferences.check("h0", h0, gradients.h0(), loss));
        if (lstm) {
            significant("c0", CentralDifferences.check("c0", c0, gradients.c0(), loss));
        }
        for (int t = lengths[0]; t < steps; t++) {
            for (int i = 0; i < inputSize; i++) {
                assertEquals(0.0, gradients.x()[(t * batch) * inputSize + i], "dx past the end of sequence 0");
            }
        }
    }

    @Test
    void badLengthsAreNamed() {
        ReferenceGru model = new ReferenceGru(2, 3, new double[18], new double[27], null, null);
        double[] x = new double[4 * 2 * 2];
        fails(() -> model.forward(x, 4, 2, new int[]{1, 5}, null), "lengths[1] = 5 is outside 0..T=4");
        fails(() -> model.forward(x, 4, 2, new int[]{-1, 2}, null), "lengths[0] = -1 is outside 0..T=4");
        fails(() -> model.backward(x, 4, 2, new int[]{1, 2, 3}, null, null, null), "lengths must hold 2 ints, got 3");
        ReferenceStack stack = new ReferenceStack(true, model, model);
        fails(() -> stack.forward(x, 4, 2, new int[]{4, 7}, null, null, null), "lengths[1] = 7 is outside 0..T=4");
    }

    private static ReferenceGru cell(int inputSize, int hiddenSize, double[][] variables) {
        return new ReferenceGru(inputSize, hiddenSize, variables[0], variables[1], variables[2], variables[3]);
    }

    /** The reference stack of {@code shape}'s cell with W_ih, W_hh, b_ih, b_hh of each cell in turn. */
    private static ReferenceStack stack(RnnShape shape, double[][] parameters) {
        ReferenceCell[] cells = new ReferenceCell[shape.stateCount()];
        for (int n = 0; n < cells.length; n++) {
            int inputSize = shape.layerInputSize(n / shape.direction().count());
            cells[n] = shape.cell() == Cell.LSTM
                    ? new ReferenceLstm(inputSize, shape.hiddenSize(), parameters[4 * n], parameters[4 * n + 1],
                            parameters[4 * n + 2], parameters[4 * n + 3])
                    : new ReferenceGru(inputSize, shape.hiddenSize(), parameters[4 * n], parameters[4 * n + 1],
                            parameters[4 * n + 2], parameters[4 * n + 3]);
        }
        return new ReferenceStack(shape.direction() == Direction.BIDIRECTIONAL, cells);
    }

    private static int[] parse(String list) {
        String[] items = list.trim().split(" ");
        int[] values = new int[items.length];
        for (int n = 0; n < items.length; n++) {
            values[n] = Integer.parseInt(items[n]);
        }
        return values;
    }

    private static void significant(String name, double largest) {
        assertTrue(largest > CentralDifferences.SIGNIFICANT, name + " is all zeros: the check would prove nothing");
    }

    private static void fails(org.junit.jupiter.api.function.Executable call, String message) {
        Throwable thrown = assertThrows(IllegalArgumentException.class, call);
        assertEquals(message, thrown.getMessage());
    }

    private static double[] uniform(SplittableRandom random, int length, double bound) {
        double[] values = new double[length];
        for (int n = 0; n < length; n++) {
            values[n] = (random.nextDouble() * 2 - 1) * bound;
        }
        return values;
    }
}