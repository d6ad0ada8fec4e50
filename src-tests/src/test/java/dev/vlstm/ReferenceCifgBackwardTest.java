package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/**
 * The reference's coupled input-forget gate (CIFG, f = 1 - i; {@link ReferenceLstm#coupledInputForget}): its
 * backward against central finite differences of its own forward for every gradient it returns (W_ih, W_hh, both
 * biases, x, h0, c0, and p_i/p_o with peepholes, W_hr with a projection), on the loss
 * L = Σ y·dy + Σ hT·dhT + Σ cT·dcT, with and without dhT/dcT, peepholes, projection, variable lengths and a cell clip.
 * Its forward is checked independently against ONNX Runtime ({@code io.ReferenceCifgOnnxRuntimeTest}); CIFG cells
 * in a {@link ReferenceStack} pass every gradient too.
 *
 * <p>Criterion: {@link CentralDifferences} (ε = 1e-6, relative error &le; 1e-6 or absolute &le; 1e-8), and every
 * gradient must hold an element above {@value CentralDifferences#SIGNIFICANT}. Weights U(-2/√H, 2/√H) (U(-1.5, 1.5)
 * with the clip, so that it acts), peepholes and the rest U(-1, 1).
 */
class ReferenceCifgBackwardTest {

    private static final double NO_CLIP = Double.POSITIVE_INFINITY;

    private record Problem(int inputSize, int hiddenSize, int projectionSize, int steps, int batch, int[] lengths,
                           boolean peepholes, double clip, List<String> names, double[][] variables, double[] dy,
                           double[] dhT, double[] dcT) {

        static Problem random(long seed, int inputSize, int hiddenSize, int projectionSize, int steps, int batch,
                              int[] lengths, boolean peepholes, double clip, boolean finalStateGradients) {
            SplittableRandom random = new SplittableRandom(seed);
            double bound = clip < NO_CLIP ? 1.5 : 2 / Math.sqrt(hiddenSize);
            int gateRows = 3 * hiddenSize;
            int output = projectionSize > 0 ? projectionSize : hiddenSize;
            List<String> names = new ArrayList<>(List.of("weightIh", "weightHh", "biasIh", "biasHh", "x", "h0", "c0"));
            List<double[]> variables = new ArrayList<>(List.of(
                    CentralDifferences.uniform(random, gateRows * inputSize, bound),
                    CentralDifferences.uniform(random, gateRows * output, bound),
                    CentralDifferences.uniform(random, gateRows, bound),
                    CentralDifferences.uniform(random, gateRows, bound),
                    CentralDifferences.uniform(random, steps * batch * inputSize, 1),
                    CentralDifferences.uniform(random, batch * output, 1),
                    CentralDifferences.uniform(random, batch * hiddenSize, 1)));
            if (peepholes) {
                names.add("peepholes");
                variables.add(CentralDifferences.uniform(random, 2 * hiddenSize, 1));
            }
            if (projectionSize > 0) {
                names.add("weightHr");
                variables.add(CentralDifferences.uniform(random, projectionSize * hiddenSize, 2 / Math.sqrt(projectionSize)));
            }
            return new Problem(inputSize, hiddenSize, projectionSize, steps, batch, lengths, peepholes, clip, names,
                    variables.toArray(double[][]::new), CentralDifferences.uniform(random, steps * batch * output, 1),
                    finalStateGradients ? CentralDifferences.uniform(random, batch * output, 1) : null,
                    finalStateGradients ? CentralDifferences.uniform(random, batch * hiddenSize, 1) : null);
        }

        ReferenceLstm model(double[][] values, double cellClip) {
            ReferenceLstm model = ReferenceLstm.coupledInputForget(inputSize, hiddenSize, projectionSize, values[0],
                    values[1], values[2], values[3], projectionSize > 0 ? values[values.length - 1] : null);
            if (peepholes) {
                model = model.withPeepholes(values[7]);
            }
            return cellClip < NO_CLIP ? model.withCellClip(cellClip) : model;
        }

        double loss(double[][] values) {
            ReferenceLstm.Result result = model(values, clip).forward(values[4], steps, batch, lengths, values[5],
                    values[6]);
            return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT)
                    + CentralDifferences.dot(result.cT(), dcT);
        }

        ReferenceLstm.Gradients backward(double cellClip) {
            return model(variables, cellClip).backward(variables[4], steps, batch, lengths, variables[5],
                    variables[6], dy, dhT, dcT);
        }
    }

    static Stream<Arguments> shapes() {
        List<Arguments> cases = new ArrayList<>();
        int[][] shapes = {{3, 5, 0, 4, 2}, {1, 1, 0, 1, 1}, {4, 3, 0, 5, 3}, {2, 7, 3, 3, 1}, {3, 4, 2, 3, 2}};
        for (int[] shape : shapes) {
            for (boolean peepholes : new boolean[]{false, true}) {
                for (boolean finalStateGradients : new boolean[]{false, true}) {
                    cases.add(Arguments.of(shape[0], shape[1], shape[2], shape[3], shape[4], peepholes,
                            finalStateGradients));
                }
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "I={0} H={1} P={2} T={3} B={4} peepholes={5} dhT,dcT={6}")
    @MethodSource("shapes")
    void everyGradientMatchesCentralDifferences(int inputSize, int hiddenSize, int projectionSize, int steps,
                                                int batch, boolean peepholes, boolean finalStateGradients) {
        long seed = 10000L * inputSize + 1000L * hiddenSize + 100L * projectionSize + 10L * steps + batch;
        checkGradients(Problem.random(seed, inputSize, hiddenSize, projectionSize, steps, batch, null, peepholes,
                NO_CLIP, finalStateGradients));
    }

    @Test
    void variableLengthsKeepEveryGradientRight() {
        checkGradients(Problem.random(21, 3, 5, 0, 4, 3, new int[]{4, 0, 2}, true, NO_CLIP, true));
    }

    @Test
    void theClippedBackwardMatchesCentralDifferences() {
        Problem problem = Problem.random(22, 3, 4, 0, 4, 3, new int[]{4, 2, 3}, true, 0.6, true);
        checkGradients(problem);
        // The clip acts on these values: the gradients differ from the unclipped model's.
        double[] clipped = problem.backward(0.6).biasIh();
        double[] unclipped = problem.backward(NO_CLIP).biasIh();
        double difference = 0;
        for (int n = 0; n < clipped.length; n++) {
            difference = Math.max(difference, Math.abs(clipped[n] - unclipped[n]));
        }
        assertTrue(difference > 1e-2, "the clip changes the gradients: " + difference);
    }

    /**
     * Two bidirectional layers of CIFG cells with peepholes in a {@link ReferenceStack}, with variable lengths: every
     * cell's gradients and those of x, h0 and c0 against central differences of the stack's forward.
     */
    @Test
    void aStackOfCifgCellsPassesEveryGradient() {
        int inputSize = 2;
        int hidden = 3;
        int steps = 3;
        int batch = 2;
        int[] lengths = {3, 1};
        int cells = 4;
        SplittableRandom random = new SplittableRandom(23);
        double bound = 2 / Math.sqrt(hidden);
        // Per cell: weightIh, weightHh, biasIh, biasHh, peepholes; then x, h0, c0.
        double[][] variables = new double[5 * cells + 3][];
        for (int cell = 0; cell < cells; cell++) {
            int cellInput = cell < 2 ? inputSize : 2 * hidden;
            variables[5 * cell] = CentralDifferences.uniform(random, 3 * hidden * cellInput, bound);
            variables[5 * cell + 1] = CentralDifferences.uniform(random, 3 * hidden * hidden, bound);
            variables[5 * cell + 2] = CentralDifferences.uniform(random, 3 * hidden, bound);
            variables[5 * cell + 3] = CentralDifferences.uniform(random, 3 * hidden, bound);
            variables[5 * cell + 4] = CentralDifferences.uniform(random, 2 * hidden, 1);
        }
        variables[5 * cells] = CentralDifferences.uniform(random, steps * batch * inputSize, 1);
        variables[5 * cells + 1] = CentralDifferences.uniform(random, cells * batch * hidden, 1);
        variables[5 * cells + 2] = CentralDifferences.uniform(random, cells * batch * hidden, 1);
        double[] dy = CentralDifferences.uniform(random, steps * batch * 2 * hidden, 1);
        double[] dhT = CentralDifferences.uniform(random, cells * batch * hidden, 1);
        double[] dcT = CentralDifferences.uniform(random, cells * batch * hidden, 1);
        Function<double[][], ReferenceStack> stack = values -> {
            ReferenceLstm[] layers = new ReferenceLstm[cells];
            for (int cell = 0; cell < cells; cell++) {
                layers[cell] = ReferenceLstm.coupledInputForget(cell < 2 ? inputSize : 2 * hidden, hidden, 0,
                        values[5 * cell], values[5 * cell + 1], values[5 * cell + 2], values[5 * cell + 3], null)
                        .withPeepholes(values[5 * cell + 4]);
            }
            return new ReferenceStack(true, layers);
        };
        ReferenceStack.Gradients gradients = stack.apply(variables).backward(variables[5 * cells], steps, batch,
                lengths, variables[5 * cells + 1], variables[5 * cells + 2], null, dy, dhT, dcT);
        List<double[]> analytic = new ArrayList<>();
        for (int cell = 0; cell < cells; cell++) {
            analytic.addAll(List.of(gradients.weightIh()[cell], gradients.weightHh()[cell], gradients.biasIh()[cell],
                    gradients.biasHh()[cell], gradients.peepholes()[cell]));
        }
        analytic.addAll(List.of(gradients.x(), gradients.h0(), gradients.c0()));
        for (int v = 0; v < variables.length; v++) {
            CentralDifferences.checkSignificant("variable " + v, variables[v], analytic.get(v), () -> {
                ReferenceStack.Result result = stack.apply(variables).forward(variables[5 * cells], steps, batch,
                        lengths, variables[5 * cells + 1], variables[5 * cells + 2], null);
                return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT)
                        + CentralDifferences.dot(result.cT(), dcT);
            });
        }
    }

    @Test
    void theTensorsHoldThreeGatesAndTwoPeepholes() {
        ReferenceLstm model = ReferenceLstm.coupledInputForget(2, 3, 0, new double[18], new double[27], null, null,
                null);
        assertTrue(model.hasCoupledInputForget());
        assertFalse(new ReferenceLstm(2, 3, new double[24], new double[36], null, null).hasCoupledInputForget());
        assertEquals("weightIh must hold 18 doubles, got 24", assertThrows(IllegalArgumentException.class,
                () -> ReferenceLstm.coupledInputForget(2, 3, 0, new double[24], new double[27], null, null, null))
                .getMessage());
        assertEquals("biasHh must hold 9 floats, got 12", assertThrows(IllegalArgumentException.class,
                () -> ReferenceLstm.coupledInputForget(2, 3, 0, new float[18], new float[27], null, new float[12],
                        null)).getMessage());
        assertEquals("peepholes must hold 6 doubles, got 9", assertThrows(IllegalArgumentException.class,
                () -> model.withPeepholes(new double[9])).getMessage());
        assertEquals(6, model.withPeepholes(new double[6]).backward(new double[2], 1, 1, null, null,
                new double[3], null, null).peepholes().length);
        assertThrows(IllegalArgumentException.class,
                () -> ReferenceLstm.coupledInputForget(2, 3, 0, new double[18], new double[27], null, null,
                        new double[3]));
        assertThrows(IllegalArgumentException.class,
                () -> ReferenceLstm.coupledInputForget(2, 3, 3, new double[18], new double[27], null, null,
                        new double[9]));
    }

    private static void checkGradients(Problem problem) {
        ReferenceLstm.Gradients gradients = problem.backward(problem.clip());
        List<double[]> analytic = new ArrayList<>(List.of(gradients.weightIh(), gradients.weightHh(),
                gradients.biasIh(), gradients.biasHh(), gradients.x(), gradients.h0(), gradients.c0()));
        if (problem.peepholes()) {
            analytic.add(gradients.peepholes());
        }
        if (problem.projectionSize() > 0) {
            analytic.add(gradients.weightHr());
        }
        double[][] variables = problem.variables();
        assertEquals(variables.length, analytic.size());
        for (int v = 0; v < variables.length; v++) {
            CentralDifferences.checkSignificant(problem.names().get(v), variables[v], analytic.get(v),
                    () -> problem.loss(variables));
        }
    }
}
