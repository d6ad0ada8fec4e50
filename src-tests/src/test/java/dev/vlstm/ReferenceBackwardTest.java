package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceLstm;

/**
 * The reference backward against central finite differences of the reference forward, element by element, for every
 * gradient it returns, on the loss L = Σ y·dy + Σ hT·dhT + Σ cT·dcT with random dy, dhT, dcT.
 *
 * <p>Criterion: {@link CentralDifferences} (ε = 1e-6, relative error &le; 1e-6 or absolute &le; 1e-8), and every checked
 * gradient must hold an element above {@value CentralDifferences#SIGNIFICANT} in magnitude.
 *
 * <p>Weights and biases are U(-2/√H, 2/√H), twice PyTorch's scale, so that the gates spread over σ's and tanh's
 * curved range instead of sitting near their midpoints; inputs, states and loss weights are U(-1, 1).
 */
class ReferenceBackwardTest {

    private static final String[] NAMES = {"weightIh", "weightHh", "biasIh", "biasHh", "x", "h0", "c0"};

    /**
     * A random model, input and loss. Absent initial states and loss weights are null here, as they are passed to
     * the code under test; the finite differences use zeros for them.
     */
    private record Problem(int inputSize, int hiddenSize, int steps, int batch, double[] weightIh, double[] weightHh,
                           double[] biasIh, double[] biasHh, double[] x, double[] h0, double[] c0, double[] dy,
                           double[] dhT, double[] dcT) {

        static Problem random(long seed, int inputSize, int hiddenSize, int steps, int batch, boolean biasIh,
                              boolean biasHh, boolean initialState, boolean outputGradients,
                              boolean finalStateGradients) {
            SplittableRandom random = new SplittableRandom(seed);
            double bound = 2 / Math.sqrt(hiddenSize);
            int gates = 4 * hiddenSize;
            int frame = batch * hiddenSize;
            return new Problem(inputSize, hiddenSize, steps, batch,
                    uniform(random, gates * inputSize, bound),
                    uniform(random, gates * hiddenSize, bound),
                    biasIh ? uniform(random, gates, bound) : null,
                    biasHh ? uniform(random, gates, bound) : null,
                    uniform(random, steps * batch * inputSize, 1),
                    initialState ? uniform(random, frame, 1) : null,
                    initialState ? uniform(random, frame, 1) : null,
                    outputGradients ? uniform(random, steps * frame, 1) : null,
                    finalStateGradients ? uniform(random, frame, 1) : null,
                    finalStateGradients ? uniform(random, frame, 1) : null);
        }

        ReferenceLstm.Gradients backward() {
            return new ReferenceLstm(inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh)
                    .backward(x, steps, batch, h0, c0, dy, dhT, dcT);
        }

        /** The variables in the order of {@link #NAMES}, as fresh copies, with zeros for absent initial states. */
        double[][] variables() {
            double[] zeros = new double[batch * hiddenSize];
            return new double[][]{weightIh.clone(), weightHh.clone(), copy(biasIh), copy(biasHh), x.clone(),
                    h0 == null ? zeros.clone() : h0.clone(), c0 == null ? zeros.clone() : c0.clone()};
        }

        /** L at the given variables. */
        double loss(double[][] variables) {
            ReferenceLstm.Result result = new ReferenceLstm(inputSize, hiddenSize, variables[0], variables[1],
                    variables[2], variables[3]).forward(variables[4], steps, batch, variables[5], variables[6]);
            return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT)
                    + CentralDifferences.dot(result.cT(), dcT);
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
            // The loss on the final state alone: everything flows back from hT and cT.
            cases.add(Arguments.of(shape[0], shape[1], shape[2], shape[3], true, false, true));
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "I={0} H={1} T={2} B={3} initialState={4} dy={5} dhT,dcT={6}")
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
    void bothBiasesGetTheSameGradientInSeparateArrays() {
        ReferenceLstm.Gradients gradients = Problem.random(8, 3, 5, 4, 2, true, true, true, true, true).backward();
        assertArrayEquals(gradients.biasIh(), gradients.biasHh());
        assertTrue(gradients.biasIh() != gradients.biasHh(), "the bias gradients must not share an array");
    }

    @Test
    void theFloatForwardIsTheDoubleForwardOfTheSameValues() {
        SplittableRandom random = new SplittableRandom(9);
        float[] weightIh = TestRnn.uniform(random, 4 * 5 * 3, 0.5f);
        float[] weightHh = TestRnn.uniform(random, 4 * 5 * 5, 0.5f);
        float[] bias = TestRnn.uniform(random, 4 * 5, 0.5f);
        float[] x = TestRnn.uniform(random, 4 * 2 * 3, 1f);
        float[] h0 = TestRnn.uniform(random, 2 * 5, 1f);
        ReferenceLstm.Result fromFloats = new ReferenceLstm(3, 5, weightIh, weightHh, bias, null)
                .forward(x, 4, 2, h0, null);
        ReferenceLstm.Result fromDoubles = new ReferenceLstm(3, 5, toDouble(weightIh), toDouble(weightHh),
                toDouble(bias), null).forward(toDouble(x), 4, 2, toDouble(h0), null);
        assertArrayEquals(fromDoubles.y(), fromFloats.y());
        assertArrayEquals(fromDoubles.hT(), fromFloats.hT());
        assertArrayEquals(fromDoubles.cT(), fromFloats.cT());
    }

    @Test
    void theModelCopiesItsWeights() {
        Problem problem = Problem.random(10, 3, 5, 4, 2, true, true, true, true, true);
        ReferenceLstm model = new ReferenceLstm(3, 5, problem.weightIh(), problem.weightHh(), problem.biasIh(),
                problem.biasHh());
        double[] before = model.forward(problem.x(), 4, 2, null, null).y();
        Arrays.fill(problem.weightHh(), 0);
        assertArrayEquals(before, model.forward(problem.x(), 4, 2, null, null).y());
    }

    @Test
    void badArgumentsAreNamed() {
        double[] weightIh = new double[4 * 5 * 3];
        double[] weightHh = new double[4 * 5 * 5];
        double[] bias = new double[4 * 5];
        fails(IllegalArgumentException.class, () -> new ReferenceLstm(3, 5, new double[59], weightHh, bias, bias),
                "weightIh must hold 60 doubles, got 59");
        fails(IllegalArgumentException.class, () -> new ReferenceLstm(3, 5, weightIh, new double[101], bias, bias),
                "weightHh must hold 100 doubles, got 101");
        fails(IllegalArgumentException.class, () -> new ReferenceLstm(3, 5, weightIh, weightHh, new double[5], null),
                "biasIh must hold 20 doubles, got 5");
        fails(IllegalArgumentException.class, () -> new ReferenceLstm(3, 5, weightIh, weightHh, null, new double[21]),
                "biasHh must hold 20 doubles, got 21");
        fails(IllegalArgumentException.class, () -> new ReferenceLstm(0, 5, new double[0], weightHh, null, null),
                "sizes must be >= 1: inputSize=0, hiddenSize=5");
        fails(NullPointerException.class, () -> new ReferenceLstm(3, 5, null, weightHh, null, null),
                "weightIh must not be null");
        fails(IllegalArgumentException.class,
                () -> new ReferenceLstm(3, 5, new float[59], new float[100], null, null),
                "weightIh must hold 60 floats, got 59");

        ReferenceLstm model = new ReferenceLstm(3, 5, weightIh, weightHh, bias, bias);
        double[] x = new double[2 * 3 * 3];
        double[] state = new double[3 * 5];
        double[] dy = new double[2 * 3 * 5];
        fails(IllegalArgumentException.class,
                () -> model.backward(new double[17], 2, 3, null, null, dy, null, null), "x must hold 18 doubles, got 17");
        fails(IllegalArgumentException.class,
                () -> model.backward(x, 2, 3, new double[14], null, dy, null, null), "h0 must hold 15 doubles, got 14");
        fails(IllegalArgumentException.class,
                () -> model.backward(x, 2, 3, state, new double[16], dy, null, null), "c0 must hold 15 doubles, got 16");
        fails(IllegalArgumentException.class,
                () -> model.backward(x, 2, 3, null, null, new double[29], null, null), "dy must hold 30 doubles, got 29");
        fails(IllegalArgumentException.class,
                () -> model.backward(x, 2, 3, null, null, dy, new double[5], null), "dhT must hold 15 doubles, got 5");
        fails(IllegalArgumentException.class,
                () -> model.backward(x, 2, 3, null, null, dy, state, new double[0]), "dcT must hold 15 doubles, got 0");
        fails(IllegalArgumentException.class,
                () -> model.backward(x, -1, 3, null, null, null, null, null), "counts must be >= 0: steps=-1, batch=3");
        fails(NullPointerException.class,
                () -> model.backward(null, 2, 3, null, null, dy, null, null), "x must not be null");
        fails(IllegalArgumentException.class,
                () -> model.forward(new double[17], 2, 3, null, null), "x must hold 18 doubles, got 17");
        fails(IllegalArgumentException.class,
                () -> model.forward(new float[17], 2, 3, null, null), "x must hold 18 floats, got 17");
        fails(IllegalArgumentException.class,
                () -> model.forward(new float[18], 2, 3, new float[15], new float[14]), "c0 must hold 15 floats, got 14");
    }

    /** Compares every element of every gradient of {@code problem} with its central difference. */
    private static void checkGradients(Problem problem) {
        ReferenceLstm.Gradients gradients = problem.backward();
        double[][] analytic = {gradients.weightIh(), gradients.weightHh(), gradients.biasIh(), gradients.biasHh(),
                gradients.x(), gradients.h0(), gradients.c0()};
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

    private static double[] toDouble(float[] values) {
        double[] copy = new double[values.length];
        for (int n = 0; n < values.length; n++) {
            copy[n] = values[n];
        }
        return copy;
    }
}
