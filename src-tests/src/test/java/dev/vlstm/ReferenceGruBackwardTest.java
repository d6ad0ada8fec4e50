package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceGru;

/**
 * The GRU reference's backward against central finite differences of its forward, element by element, for every
 * gradient it returns, on the loss L = Σ y·dy + Σ hT·dhT with random dy and dhT.
 *
 * <p>Criterion: {@link CentralDifferences} (ε = 1e-6, relative error &le; 1e-6 or absolute &le; 1e-8), and every
 * checked gradient must hold an element above {@value CentralDifferences#SIGNIFICANT} in magnitude. Weights and
 * biases are U(-2/√H, 2/√H), inputs, states and loss weights U(-1, 1), as in {@link ReferenceBackwardTest}.
 */
class ReferenceGruBackwardTest {

    private static final String[] NAMES = {"weightIh", "weightHh", "biasIh", "biasHh", "x", "h0"};

    private record Problem(int inputSize, int hiddenSize, int steps, int batch, double[] weightIh, double[] weightHh,
                           double[] biasIh, double[] biasHh, double[] x, double[] h0, double[] dy, double[] dhT) {

        static Problem random(long seed, int inputSize, int hiddenSize, int steps, int batch, boolean biasIh,
                              boolean biasHh, boolean initialState, boolean outputGradients,
                              boolean finalStateGradients) {
            SplittableRandom random = new SplittableRandom(seed);
            double bound = 2 / Math.sqrt(hiddenSize);
            int gates = 3 * hiddenSize;
            int frame = batch * hiddenSize;
            return new Problem(inputSize, hiddenSize, steps, batch,
                    uniform(random, gates * inputSize, bound),
                    uniform(random, gates * hiddenSize, bound),
                    biasIh ? uniform(random, gates, bound) : null,
                    biasHh ? uniform(random, gates, bound) : null,
                    uniform(random, steps * batch * inputSize, 1),
                    initialState ? uniform(random, frame, 1) : null,
                    outputGradients ? uniform(random, steps * frame, 1) : null,
                    finalStateGradients ? uniform(random, frame, 1) : null);
        }

        ReferenceGru.Gradients backward() {
            return new ReferenceGru(inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh)
                    .backward(x, steps, batch, h0, dy, dhT);
        }

        /** The variables in the order of {@link #NAMES}, as fresh copies, with zeros for an absent h0. */
        double[][] variables() {
            return new double[][]{weightIh.clone(), weightHh.clone(), copy(biasIh), copy(biasHh), x.clone(),
                    h0 == null ? new double[batch * hiddenSize] : h0.clone()};
        }

        double loss(double[][] variables) {
            ReferenceGru.Result result = new ReferenceGru(inputSize, hiddenSize, variables[0], variables[1],
                    variables[2], variables[3]).forward(variables[4], steps, batch, variables[5]);
            return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT);
        }
    }

    static Stream<Arguments> shapes() {
        List<Arguments> cases = new ArrayList<>();
        int[][] shapes = {{3, 5, 4, 2}, {1, 1, 1, 1}, {4, 3, 6, 3}, {2, 7, 3, 1}};
        for (int[] shape : shapes) {
            for (boolean initialState : new boolean[]{false, true}) {
                for (boolean finalStateGradients : new boolean[]{false, true}) {
                    cases.add(Arguments.of(shape[0], shape[1], shape[2], shape[3], initialState, true,
                            finalStateGradients));
                }
            }
            // The loss on the final state alone: everything flows back from hT.
            cases.add(Arguments.of(shape[0], shape[1], shape[2], shape[3], true, false, true));
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "I={0} H={1} T={2} B={3} h0={4} dy={5} dhT={6}")
    @MethodSource("shapes")
    void everyGradientMatchesCentralDifferences(int inputSize, int hiddenSize, int steps, int batch,
                                                boolean initialState, boolean outputGradients,
                                                boolean finalStateGradients) {
        long seed = 1000L * inputSize + 100L * hiddenSize + 10L * steps + batch;
        checkGradients(Problem.random(seed, inputSize, hiddenSize, steps, batch, true, true, initialState,
                outputGradients, finalStateGradients));
    }

    @ParameterizedTest(name = "biasIh={0} biasHh={1}")
    @CsvSource({"false, false", "false, true", "true, false"})
    void aMissingBiasHasANullGradientAndTheOthersStayRight(boolean biasIh, boolean biasHh) {
        checkGradients(Problem.random(7, 3, 5, 4, 2, biasIh, biasHh, true, true, true));
    }

    @Test
    void theRecurrentCandidateBiasHasItsOwnGradient() {
        ReferenceGru.Gradients gradients = Problem.random(8, 3, 5, 4, 2, true, true, true, true, true).backward();
        int hidden = 5;
        for (int m = 0; m < 2 * hidden; m++) {
            assertEquals(gradients.biasIh()[m], gradients.biasHh()[m], "r and z biases enter as a sum, index " + m);
        }
        double largestDifference = 0;
        for (int m = 2 * hidden; m < 3 * hidden; m++) {
            largestDifference = Math.max(largestDifference,
                    Math.abs(gradients.biasIh()[m] - gradients.biasHh()[m]));
        }
        assertTrue(largestDifference > CentralDifferences.SIGNIFICANT,
                "b_hn is multiplied by r, so its gradient is not b_in's: largest difference " + largestDifference);
    }

    @Test
    void badArgumentsAreNamed() {
        double[] weightIh = new double[3 * 5 * 3];
        double[] weightHh = new double[3 * 5 * 5];
        double[] bias = new double[3 * 5];
        fails(IllegalArgumentException.class, () -> new ReferenceGru(3, 5, new double[44], weightHh, bias, bias),
                "weightIh must hold 45 doubles, got 44");
        fails(IllegalArgumentException.class, () -> new ReferenceGru(3, 5, weightIh, new double[76], bias, bias),
                "weightHh must hold 75 doubles, got 76");
        fails(IllegalArgumentException.class, () -> new ReferenceGru(3, 5, weightIh, weightHh, new double[5], null),
                "biasIh must hold 15 doubles, got 5");
        fails(IllegalArgumentException.class, () -> new ReferenceGru(0, 5, new double[0], weightHh, null, null),
                "inputSize and hiddenSize must be >= 1, got 0 and 5");
        fails(NullPointerException.class, () -> new ReferenceGru(3, 5, null, weightHh, null, null),
                "weightIh must not be null");
        ReferenceGru model = new ReferenceGru(3, 5, weightIh, weightHh, bias, bias);
        double[] x = new double[2 * 3 * 3];
        fails(IllegalArgumentException.class, () -> model.backward(new double[17], 2, 3, null, null, null),
                "x must hold 18 doubles, got 17");
        fails(IllegalArgumentException.class, () -> model.backward(x, 2, 3, new double[14], null, null),
                "h0 must hold 15 doubles, got 14");
        fails(IllegalArgumentException.class, () -> model.backward(x, 2, 3, null, new double[29], null),
                "dy must hold 30 doubles, got 29");
        fails(IllegalArgumentException.class, () -> model.backward(x, 2, 3, null, null, new double[5]),
                "dhT must hold 15 doubles, got 5");
        fails(IllegalArgumentException.class, () -> model.forward(x, 0, 3, null),
                "steps and batch must be >= 1, got 0 and 3");
        fails(NullPointerException.class, () -> model.forward((float[]) null, 2, 3, null), "x must not be null");
    }

    private static void checkGradients(Problem problem) {
        ReferenceGru.Gradients gradients = problem.backward();
        double[][] analytic = {gradients.weightIh(), gradients.weightHh(), gradients.biasIh(), gradients.biasHh(),
                gradients.x(), gradients.h0()};
        double[][] variables = problem.variables();
        for (int v = 0; v < variables.length; v++) {
            String name = NAMES[v];
            double[] values = variables[v];
            if (values == null) {
                assertNull(analytic[v], name + ": a model without this bias has no gradient for it");
                continue;
            }
            assertNotNull(analytic[v], name + " gradient");
            double largest = CentralDifferences.check(name, values, analytic[v], () -> problem.loss(variables));
            // With one step, U meets only h0: from a zero h0 its gradient is zero, exactly.
            boolean zeroByConstruction = name.equals("weightHh") && problem.steps() == 1 && problem.h0() == null;
            assertTrue(zeroByConstruction || largest > CentralDifferences.SIGNIFICANT,
                    name + ": largest gradient " + largest + " is too small to check");
        }
    }

    private static void fails(Class<? extends Throwable> type, Executable call, String message) {
        Throwable thrown = assertThrows(type, call);
        assertEquals(message, thrown.getMessage());
    }

    private static double[] uniform(SplittableRandom random, int length, double bound) {
        double[] values = new double[length];
        for (int n = 0; n < length; n++) {
            values[n] = (random.nextDouble() * 2 - 1) * bound;
        }
        return values;
    }

    private static double[] copy(double[] values) {
        return values == null ? null : values.clone();
    }
}
