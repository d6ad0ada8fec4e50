package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceLstm;

/**
 * The reference with peephole connections (Graves 2012, ONNX's P): its backward against central finite differences
 * of its forward for every gradient (W_ih, W_hh, both biases, x, h0, c0, p_i/p_f/p_o, and W_hr with a projection),
 * on the loss L = Σ y·dy + Σ hT·dhT + Σ cT·dcT, with and without dhT/dcT, with and without variable lengths and
 * projection; and its forward against the equations written once more by hand for one step.
 *
 * <p>Criterion: {@link CentralDifferences} (ε = 1e-6, relative error &le; 1e-6 or absolute &le; 1e-8), and every
 * gradient must hold an element above {@value CentralDifferences#SIGNIFICANT}. Weights U(-2/√H, 2/√H), peepholes
 * and the rest U(-1, 1), so that the peephole terms weigh as much as the others.
 */
class PeepholeReferenceBackwardTest {

    private static final String[] NAMES = {"weightIh", "weightHh", "biasIh", "biasHh", "x", "h0", "c0", "peepholes",
        "weightHr"};

    private record Problem(int inputSize, int hiddenSize, int projectionSize, int steps, int batch, int[] lengths,
                           double[][] variables, double[] dy, double[] dhT, double[] dcT) {

        static Problem random(long seed, int inputSize, int hiddenSize, int projectionSize, int steps, int batch,
                              int[] lengths, boolean finalStateGradients) {
            SplittableRandom random = new SplittableRandom(seed);
            double bound = 2 / Math.sqrt(hiddenSize);
            int gates = 4 * hiddenSize;
            int output = projectionSize > 0 ? projectionSize : hiddenSize;
            List<double[]> variables = new ArrayList<>(List.of(
                    uniform(random, gates * inputSize, bound),
                    uniform(random, gates * output, bound),
                    uniform(random, gates, bound),
                    uniform(random, gates, bound),
                    uniform(random, steps * batch * inputSize, 1),
                    uniform(random, batch * output, 1),
                    uniform(random, batch * hiddenSize, 1),
                    uniform(random, 3 * hiddenSize, 1)));
            if (projectionSize > 0) {
                variables.add(uniform(random, projectionSize * hiddenSize, 2 / Math.sqrt(projectionSize)));
            }
            return new Problem(inputSize, hiddenSize, projectionSize, steps, batch, lengths,
                    variables.toArray(double[][]::new), uniform(random, steps * batch * output, 1),
                    finalStateGradients ? uniform(random, batch * output, 1) : null,
                    finalStateGradients ? uniform(random, batch * hiddenSize, 1) : null);
        }

        ReferenceLstm model(double[][] values) {
            ReferenceLstm model = projectionSize > 0
                    ? ReferenceLstm.projected(inputSize, hiddenSize, projectionSize, values[0], values[1], values[2],
                    values[3], values[8])
                    : new ReferenceLstm(inputSize, hiddenSize, values[0], values[1], values[2], values[3]);
            return model.withPeepholes(values[7]);
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
        int[][] shapes = {{3, 5, 0, 4, 2}, {1, 1, 0, 1, 1}, {4, 3, 0, 5, 3}, {2, 7, 3, 3, 1}, {3, 4, 2, 3, 2}};
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
        checkGradients(Problem.random(11, 3, 5, 0, 4, 3, new int[]{4, 0, 2}, true));
    }

    @Test
    void oneStepIsTheEquations() {
        Problem problem = Problem.random(12, 2, 3, 0, 1, 1, null, false);
        double[][] v = problem.variables();
        ReferenceLstm.Result result = problem.model(v).forward(v[4], 1, 1, v[5], v[6]);
        double[] h = new double[3];
        double[] c = new double[3];
        for (int u = 0; u < 3; u++) {
            double[] z = new double[4];
            for (int gate = 0; gate < 4; gate++) {
                int row = gate * 3 + u;
                z[gate] = v[2][row] + v[3][row] + v[0][row * 2] * v[4][0] + v[0][row * 2 + 1] * v[4][1]
                        + v[1][row * 3] * v[5][0] + v[1][row * 3 + 1] * v[5][1] + v[1][row * 3 + 2] * v[5][2];
            }
            double inputGate = ReferenceLstm.sigmoid(z[0] + v[7][u] * v[6][u]);
            double forgetGate = ReferenceLstm.sigmoid(z[1] + v[7][3 + u] * v[6][u]);
            c[u] = forgetGate * v[6][u] + inputGate * Math.tanh(z[2]);
            h[u] = ReferenceLstm.sigmoid(z[3] + v[7][6 + u] * c[u]) * Math.tanh(c[u]);
        }
        assertArrayEquals(c, result.cT(), 1e-15);
        assertArrayEquals(h, result.hT(), 1e-15);
        assertArrayEquals(h, result.y(), 1e-15);
    }

    @Test
    void zeroPeepholesAreNoPeepholes() {
        Problem problem = Problem.random(13, 3, 4, 0, 3, 2, null, true);
        double[][] v = problem.variables();
        ReferenceLstm plain = new ReferenceLstm(3, 4, v[0], v[1], v[2], v[3]);
        ReferenceLstm zero = plain.withPeepholes(new double[12]);
        assertFalse(plain.hasPeepholes());
        assertTrue(zero.hasPeepholes());
        assertArrayEquals(plain.forward(v[4], 3, 2, v[5], v[6]).y(), zero.forward(v[4], 3, 2, v[5], v[6]).y(), 0);
        ReferenceLstm.Gradients expected = plain.backward(v[4], 3, 2, v[5], v[6], problem.dy(), problem.dhT(),
                problem.dcT());
        ReferenceLstm.Gradients actual = zero.backward(v[4], 3, 2, v[5], v[6], problem.dy(), problem.dhT(),
                problem.dcT());
        assertNull(expected.peepholes());
        assertArrayEquals(expected.weightHh(), actual.weightHh(), 0);
        assertArrayEquals(expected.c0(), actual.c0(), 0);
        assertEquals(12, actual.peepholes().length);
    }

    @Test
    void badPeepholesAreNamed() {
        ReferenceLstm model = new ReferenceLstm(1, 2, new double[8], new double[16], null, null);
        assertEquals("peepholes must hold 6 doubles, got 5", assertThrows(IllegalArgumentException.class,
                () -> model.withPeepholes(new double[5])).getMessage());
        assertEquals("peepholes must hold 6 floats, got 8", assertThrows(IllegalArgumentException.class,
                () -> model.withPeepholes(new float[8])).getMessage());
        assertEquals("peepholes must not be null", assertThrows(NullPointerException.class,
                () -> model.withPeepholes((double[]) null)).getMessage());
    }

    private static void checkGradients(Problem problem) {
        ReferenceLstm.Gradients gradients = problem.backward();
        double[][] analytic = {gradients.weightIh(), gradients.weightHh(), gradients.biasIh(), gradients.biasHh(),
                gradients.x(), gradients.h0(), gradients.c0(), gradients.peepholes(), gradients.weightHr()};
        double[][] variables = problem.variables();
        for (int v = 0; v < variables.length; v++) {
            String name = NAMES[v];
            double largest = CentralDifferences.check(name, variables[v], analytic[v], () -> problem.loss(variables));
            assertTrue(largest > CentralDifferences.SIGNIFICANT, name + ": largest gradient " + largest
                    + " is too small to check");
        }
    }

    private static double[] uniform(SplittableRandom random, int length, double bound) {
        double[] values = new double[length];
        for (int n = 0; n < length; n++) {
            values[n] = (random.nextDouble() * 2 - 1) * bound;
        }
        return values;
    }
}
