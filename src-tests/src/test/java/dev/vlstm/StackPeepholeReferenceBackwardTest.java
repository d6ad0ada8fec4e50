package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/**
 * The reference stack with peephole connections in some of its cells (and a cell clip, and a projection): its
 * backward against central finite differences of its forward for every parameter of every cell (the peepholes
 * included), x, h0 and c0, on the loss L = Σ y·dy + Σ h_n·dh_n + Σ c_n·dc_n, with variable lengths (0 and T among
 * them); {@link ReferenceStack.Gradients#peepholes()} is null exactly for the cells without peepholes.
 *
 * <p>Criterion: {@link CentralDifferences} (ε = 1e-6, relative error &le; 1e-6 or absolute &le; 1e-8), and every
 * gradient must hold an element above {@value CentralDifferences#SIGNIFICANT}. A clip of 0.9 acts on these values
 * (checked: it changes y) while no value sits within ε of it, so the differences see no kink.
 */
class StackPeepholeReferenceBackwardTest {

    private static final String[] NAMES = {"weightIh", "weightHh", "biasIh", "biasHh", "peepholes", "weightHr"};

    @ParameterizedTest(name = "L={0} bidirectional={1} P={2} peepholes={3} clip={4}")
    @CsvSource({"2, true, 0, 1011, Infinity", "2, true, 0, 0110, 0.9", "3, false, 0, 101, 0.9",
            "2, true, 2, 1101, Infinity"})
    void backwardMatchesCentralDifferences(int layers, boolean bidirectional, int projectionSize, String peepholes,
                                           double clip) {
        int inputSize = 2;
        int hiddenSize = 3;
        int steps = 4;
        int[] lengths = {2, 4, 0};
        int batch = lengths.length;
        RnnShape shape = RnnShape.of(Cell.LSTM, inputSize, hiddenSize).withProjection(projectionSize)
                .withLayers(layers).withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        int directions = shape.direction().count();
        SplittableRandom random = new SplittableRandom(1350 + layers + projectionSize);
        double bound = 2 / Math.sqrt(hiddenSize);
        int cells = shape.stateCount();
        int stateSize = shape.hiddenStateSize();
        double[][] parameters = new double[NAMES.length * cells][];
        for (int n = 0; n < cells; n++) {
            int input = shape.layerInputSize(n / directions);
            parameters[NAMES.length * n] = uniform(random, 4 * hiddenSize * input, bound);
            parameters[NAMES.length * n + 1] = uniform(random, 4 * hiddenSize * stateSize, bound);
            parameters[NAMES.length * n + 2] = uniform(random, 4 * hiddenSize, bound);
            parameters[NAMES.length * n + 3] = uniform(random, 4 * hiddenSize, bound);
            parameters[NAMES.length * n + 4] = peepholes.charAt(n) == '1' ? uniform(random, 3 * hiddenSize, 1) : null;
            parameters[NAMES.length * n + 5] = projectionSize > 0
                    ? uniform(random, projectionSize * hiddenSize, 2 / Math.sqrt(projectionSize)) : null;
        }
        int hiddenStates = cells * batch * stateSize;
        int cellStates = cells * batch * hiddenSize;
        int outputs = steps * batch * shape.outputSize();
        double[] x = uniform(random, steps * batch * inputSize, 1);
        double[] h0 = uniform(random, hiddenStates, 1);
        double[] c0 = uniform(random, cellStates, 1);
        double[] dy = uniform(random, outputs, 1);
        double[] dhT = uniform(random, hiddenStates, 1);
        double[] dcT = uniform(random, cellStates, 1);
        if (clip < Double.POSITIVE_INFINITY) {
            double[] clipped = stack(shape, parameters, clip).forward(x, steps, batch, lengths, h0, c0, null).y();
            double[] unclipped = stack(shape, parameters, Double.POSITIVE_INFINITY)
                    .forward(x, steps, batch, lengths, h0, c0, null).y();
            double largest = 0;
            for (int n = 0; n < outputs; n++) {
                largest = Math.max(largest, Math.abs(clipped[n] - unclipped[n]));
            }
            assertTrue(largest > 1e-3, "the clip changes y by " + largest + " only");
        }
        ReferenceStack.Gradients gradients = stack(shape, parameters, clip).backward(x, steps, batch, lengths, h0,
                c0, null, dy, dhT, dcT);
        DoubleSupplier loss = () -> {
            ReferenceStack.Result result = stack(shape, parameters, clip).forward(x, steps, batch, lengths, h0, c0,
                    null);
            return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT)
                    + CentralDifferences.dot(result.cT(), dcT);
        };
        for (int n = 0; n < parameters.length; n++) {
            int cell = n / NAMES.length;
            double[][] analytic = {gradients.weightIh()[cell], gradients.weightHh()[cell], gradients.biasIh()[cell],
                gradients.biasHh()[cell], gradients.peepholes()[cell],
                gradients.weightHr() == null ? null : gradients.weightHr()[cell]};
            String name = "cell " + cell + " " + NAMES[n % NAMES.length];
            if (parameters[n] == null) {
                assertNull(analytic[n % NAMES.length], name + ": a cell without it has no gradient for it");
            } else {
                significant(name, CentralDifferences.check(name, parameters[n], analytic[n % NAMES.length], loss));
            }
        }
        significant("x", CentralDifferences.check("x", x, gradients.x(), loss));
        significant("h0", CentralDifferences.check("h0", h0, gradients.h0(), loss));
        significant("c0", CentralDifferences.check("c0", c0, gradients.c0(), loss));
    }

    private static ReferenceStack stack(RnnShape shape, double[][] parameters, double clip) {
        int directions = shape.direction().count();
        ReferenceLstm[] cells = new ReferenceLstm[shape.stateCount()];
        for (int n = 0; n < cells.length; n++) {
            int input = shape.layerInputSize(n / directions);
            int at = NAMES.length * n;
            ReferenceLstm cell = shape.projectionSize() > 0
                    ? ReferenceLstm.projected(input, shape.hiddenSize(), shape.projectionSize(), parameters[at],
                    parameters[at + 1], parameters[at + 2], parameters[at + 3], parameters[at + 5])
                    : new ReferenceLstm(input, shape.hiddenSize(), parameters[at], parameters[at + 1],
                    parameters[at + 2], parameters[at + 3]);
            cell = cell.withCellClip(clip);
            cells[n] = parameters[at + 4] == null ? cell : cell.withPeepholes(parameters[at + 4]);
        }
        return new ReferenceStack(directions == 2, cells);
    }

    private static void significant(String name, double largest) {
        assertTrue(largest > CentralDifferences.SIGNIFICANT, name + " is all zeros: the check would prove nothing");
    }

    private static double[] uniform(SplittableRandom random, int length, double bound) {
        double[] values = new double[length];
        for (int n = 0; n < length; n++) {
            values[n] = (random.nextDouble() * 2 - 1) * bound;
        }
        return values;
    }
}
