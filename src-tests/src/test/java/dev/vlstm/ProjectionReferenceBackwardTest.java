package dev.vlstm;

import static dev.vlstm.CentralDifferences.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/**
 * The projected reference (LSTMP, PyTorch's {@code proj_size}): its backward against central finite differences of its
 * forward for every gradient (W_ih, W_hh {@code [4H][P]}, W_hr {@code [P][H]}, both biases, x, h0 {@code [B][P]},
 * c0), on the loss L = Σ y·dy + Σ hT·dhT + Σ cT·dcT, with and without dhT/dcT, with and without variable lengths;
 * and its forward against the equations written once more by hand for one step. The same for stacks of projected
 * cells (layers above the first read D·P), bidirectional and with dropout masks between layers.
 *
 * <p>Criterion: {@link CentralDifferences} (ε = 1e-6, relative error &le; 1e-6 or absolute &le; 1e-8), and every
 * gradient must hold an element above {@value CentralDifferences#SIGNIFICANT}. Weights U(-2/√H, 2/√H), the rest
 * U(-1, 1), as in {@link ReferenceBackwardTest}.
 */
class ProjectionReferenceBackwardTest {

    private static final String[] NAMES = {"weightIh", "weightHh", "biasIh", "biasHh", "x", "h0", "c0", "weightHr"};

    private record Problem(int inputSize, int hiddenSize, int projectionSize, int steps, int batch, int[] lengths,
                           double[][] variables, double[] dy, double[] dhT, double[] dcT) {

        static Problem random(long seed, int inputSize, int hiddenSize, int projectionSize, int steps, int batch,
                              int[] lengths, boolean finalStateGradients) {
            SplittableRandom random = new SplittableRandom(seed);
            double bound = 2 / Math.sqrt(hiddenSize);
            int gates = 4 * hiddenSize;
            double[][] variables = {
                    uniform(random, gates * inputSize, bound),
                    uniform(random, gates * projectionSize, bound),
                    uniform(random, gates, bound),
                    uniform(random, gates, bound),
                    uniform(random, steps * batch * inputSize, 1),
                    uniform(random, batch * projectionSize, 1),
                    uniform(random, batch * hiddenSize, 1),
                    uniform(random, projectionSize * hiddenSize, 2 / Math.sqrt(projectionSize))};
            return new Problem(inputSize, hiddenSize, projectionSize, steps, batch, lengths, variables,
                    uniform(random, steps * batch * projectionSize, 1),
                    finalStateGradients ? uniform(random, batch * projectionSize, 1) : null,
                    finalStateGradients ? uniform(random, batch * hiddenSize, 1) : null);
        }

        ReferenceLstm model(double[][] values) {
            return ReferenceLstm.projected(inputSize, hiddenSize, projectionSize, values[0], values[1], values[2],
                    values[3], values[7]);
        }

        double loss(double[][] values) {
            ReferenceLstm.Result result = model(values).forward(values[4], steps, batch, lengths, values[5], values[6]);
            return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT)
                    + CentralDifferences.dot(result.cT(), dcT);
        }

        ReferenceLstm.Gradients backward() {
            return model(variables).backward(variables[4], steps, batch, lengths, variables[5], variables[6], dy,
                    dhT, dcT);
        }
    }

    static Stream<Arguments> shapes() {
        List<Arguments> cases = new ArrayList<>();
        int[][] shapes = {{3, 5, 2, 4, 2}, {1, 2, 1, 1, 1}, {4, 3, 2, 5, 3}, {2, 7, 3, 3, 1}};
        for (int[] shape : shapes) {
            for (boolean finalStateGradients : new boolean[]{false, true}) {
                cases.add(Arguments.of(shape[0], shape[1], shape[2], shape[3], shape[4], finalStateGradients));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "I={0} H={1} P={2} T={3} B={4} dhT,dcT={5}")
    @MethodSource("shapes")
    void everyGradientMatchesCentralDifferences(int inputSize, int hiddenSize, int projectionSize, int steps,
                                                int batch, boolean finalStateGradients) {
        long seed = 10000L * inputSize + 1000L * hiddenSize + 100L * projectionSize + 10L * steps + batch;
        checkGradients(Problem.random(seed, inputSize, hiddenSize, projectionSize, steps, batch, null,
                finalStateGradients));
    }

    @Test
    void variableLengthsKeepEveryGradientRight() {
        checkGradients(Problem.random(11, 3, 5, 2, 4, 3, new int[]{4, 0, 2}, true));
    }

    @Test
    void oneStepIsTheEquations() {
        Problem problem = Problem.random(12, 2, 3, 2, 1, 1, null, false);
        double[][] v = problem.variables();
        ReferenceLstm.Result result = problem.model(v).forward(v[4], 1, 1, v[5], v[6]);
        double[] m = new double[3];
        double[] c = new double[3];
        for (int u = 0; u < 3; u++) {
            double[] z = new double[4];
            for (int gate = 0; gate < 4; gate++) {
                int row = gate * 3 + u;
                z[gate] = v[2][row] + v[3][row] + v[0][row * 2] * v[4][0] + v[0][row * 2 + 1] * v[4][1]
                        + v[1][row * 2] * v[5][0] + v[1][row * 2 + 1] * v[5][1];
            }
            c[u] = ReferenceLstm.sigmoid(z[1]) * v[6][u] + ReferenceLstm.sigmoid(z[0]) * Math.tanh(z[2]);
            m[u] = ReferenceLstm.sigmoid(z[3]) * Math.tanh(c[u]);
        }
        double[] h = new double[2];
        for (int p = 0; p < 2; p++) {
            h[p] = v[7][p * 3] * m[0] + v[7][p * 3 + 1] * m[1] + v[7][p * 3 + 2] * m[2];
        }
        assertArrayEquals(c, result.cT(), 1e-15);
        assertArrayEquals(h, result.hT(), 1e-15);
        assertArrayEquals(h, result.y(), 1e-15);
    }

    @Test
    void withoutProjectionThereIsNoWeightHrGradient() {
        ReferenceLstm plain = new ReferenceLstm(1, 2, new double[8], new double[16], null, null);
        assertEquals(0, plain.projectionSize());
        assertEquals(2, plain.outputSize());
        assertNull(plain.backward(new double[1], 1, 1, null, null, new double[2], null, null).weightHr());
    }

    @Test
    void badProjectionsAreNamed() {
        double[] weightIh = new double[4 * 5 * 3];
        double[] weightHh = new double[4 * 5 * 2];
        double[] weightHr = new double[2 * 5];
        assertEquals("projectionSize must be in 1..hiddenSize-1 (PyTorch's 0 < proj_size < hidden_size):"
                        + " projectionSize=5, hiddenSize=5",
                assertThrows(IllegalArgumentException.class, () -> ReferenceLstm.projected(3, 5, 5, weightIh,
                        new double[100], null, null, new double[25])).getMessage());
        assertEquals("projectionSize must be in 1..hiddenSize-1 (PyTorch's 0 < proj_size < hidden_size):"
                        + " projectionSize=0, hiddenSize=5",
                assertThrows(IllegalArgumentException.class, () -> ReferenceLstm.projected(3, 5, 0, weightIh,
                        weightHh, null, null, weightHr)).getMessage());
        assertEquals("weightHh must hold 40 doubles, got 100",
                assertThrows(IllegalArgumentException.class, () -> ReferenceLstm.projected(3, 5, 2, weightIh,
                        new double[100], null, null, weightHr)).getMessage());
        assertEquals("weightHr must hold 10 floats, got 9",
                assertThrows(IllegalArgumentException.class, () -> ReferenceLstm.projected(3, 5, 2,
                        new float[60], new float[40], null, null, new float[9])).getMessage());
        assertEquals("weightHr must not be null",
                assertThrows(NullPointerException.class, () -> ReferenceLstm.projected(3, 5, 2, weightIh, weightHh,
                        null, null, null)).getMessage());
        ReferenceLstm model = ReferenceLstm.projected(3, 5, 2, weightIh, weightHh, null, null, weightHr);
        assertEquals("h0 must hold 2 doubles, got 5", assertThrows(IllegalArgumentException.class,
                () -> model.forward(new double[3], 1, 1, new double[5], null)).getMessage());
        assertEquals("dhT must hold 2 doubles, got 5", assertThrows(IllegalArgumentException.class,
                () -> model.backward(new double[3], 1, 1, null, null, null, new double[5], null)).getMessage());
    }

    @ParameterizedTest(name = "I={0} H={1} P={2} L={3} bidirectional={4} T={5} B={6} p={7}")
    @CsvSource({"3, 4, 2, 2, false, 3, 2, 0", "2, 3, 1, 2, true, 4, 2, 0.4", "2, 5, 3, 1, true, 3, 3, 0"})
    void theProjectedReferenceStackMatchesCentralDifferences(int inputSize, int hiddenSize, int projectionSize,
                                                            int layers, boolean bidirectional, int steps, int batch,
                                                            double dropout) {
        RnnShape shape = RnnShape.of(Cell.LSTM, inputSize, hiddenSize).withProjection(projectionSize)
                .withLayers(layers).withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
        int directions = shape.direction().count();
        SplittableRandom random = new SplittableRandom(1000L * hiddenSize + 10L * projectionSize + layers);
        double bound = 2 / Math.sqrt(hiddenSize);
        List<double[]> parameters = new ArrayList<>();
        for (int n = 0; n < shape.stateCount(); n++) {
            parameters.add(uniform(random, 4 * hiddenSize * shape.layerInputSize(n / directions), bound));
            parameters.add(uniform(random, 4 * hiddenSize * projectionSize, bound));
            parameters.add(uniform(random, 4 * hiddenSize, bound));
            parameters.add(uniform(random, 4 * hiddenSize, bound));
            parameters.add(uniform(random, projectionSize * hiddenSize, bound));
        }
        int outputs = steps * batch * shape.outputSize();
        double[][] masks = CentralDifferences.dropoutMasks(random, layers - 1, outputs, dropout);
        double[] x = uniform(random, steps * batch * inputSize, 1);
        double[] h0 = uniform(random, shape.stateCount() * batch * projectionSize, 1);
        double[] c0 = uniform(random, shape.stateCount() * batch * hiddenSize, 1);
        double[] dy = uniform(random, outputs, 1);
        double[] dhT = uniform(random, h0.length, 1);
        double[] dcT = uniform(random, c0.length, 1);
        ReferenceStack.Gradients gradients = stack(shape, parameters).backward(x, steps, batch, h0, c0, masks, dy,
                dhT, dcT);
        DoubleSupplier loss = () -> {
            ReferenceStack.Result result = stack(shape, parameters).forward(x, steps, batch, h0, c0, masks);
            return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT)
                    + CentralDifferences.dot(result.cT(), dcT);
        };
        String[] names = {"weightIh", "weightHh", "biasIh", "biasHh", "weightHr"};
        for (int n = 0; n < parameters.size(); n++) {
            int cell = n / 5;
            double[][] analytic = {gradients.weightIh()[cell], gradients.weightHh()[cell], gradients.biasIh()[cell],
                gradients.biasHh()[cell], gradients.weightHr()[cell]};
            String name = "cell " + cell + " " + names[n % 5];
            CentralDifferences.checkSignificant(name, parameters.get(n), analytic[n % 5], loss);
        }
        CentralDifferences.checkSignificant("x", x, gradients.x(), loss);
        CentralDifferences.checkSignificant("h0", h0, gradients.h0(), loss);
        CentralDifferences.checkSignificant("c0", c0, gradients.c0(), loss);
    }

    /** The reference stack of projected cells of {@code shape}, five tensors per cell in state_dict order. */
    private static ReferenceStack stack(RnnShape shape, List<double[]> values) {
        int directions = shape.direction().count();
        ReferenceLstm[] cells = new ReferenceLstm[shape.stateCount()];
        for (int n = 0; n < cells.length; n++) {
            cells[n] = ReferenceLstm.projected(shape.layerInputSize(n / directions), shape.hiddenSize(),
                    shape.projectionSize(), values.get(5 * n), values.get(5 * n + 1), values.get(5 * n + 2),
                    values.get(5 * n + 3), values.get(5 * n + 4));
        }
        return new ReferenceStack(directions == 2, cells);
    }

    private static void checkGradients(Problem problem) {
        ReferenceLstm.Gradients gradients = problem.backward();
        double[][] analytic = {gradients.weightIh(), gradients.weightHh(), gradients.biasIh(), gradients.biasHh(),
                gradients.x(), gradients.h0(), gradients.c0(), gradients.weightHr()};
        double[][] variables = problem.variables();
        for (int v = 0; v < variables.length; v++) {
            String name = NAMES[v];
            double largest = CentralDifferences.check(name, variables[v], analytic[v], () -> problem.loss(variables));
            // With one step, U meets only h0 (non-zero here), so every gradient must be significant.
            assertTrue(largest > CentralDifferences.SIGNIFICANT, name + ": largest gradient " + largest
                    + " is too small to check");
        }
    }
}
