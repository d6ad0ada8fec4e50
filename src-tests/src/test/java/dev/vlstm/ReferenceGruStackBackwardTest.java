package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.DoubleSupplier;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceGru;
import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/**
 * The reference GRU stack's backward against central finite differences of its forward, element by element, for
 * every gradient of every layer and direction and of x and h0, on the loss L = Σ y·dy + Σ h_n·dh_n, with and without
 * dropout masks (fixed, so that the loss is a smooth function of the variables).
 *
 * <p>Criterion: {@link CentralDifferences} (relative error &le; 1e-6), and every checked gradient must hold an
 * element above {@value CentralDifferences#SIGNIFICANT} in magnitude. Weights are U(-2/√H, 2/√H) as in
 * ReferenceStackBackwardTest; inputs, states and loss weights U(-1, 1); masks 0 with probability p, else 1/(1-p).
 */
class ReferenceGruStackBackwardTest {

    /** A random stack, input, loss and masks; absent states, loss terms and masks are null. */
    private record Problem(int inputSize, int hiddenSize, int layers, boolean bidirectional, int steps, int batch,
                           List<double[]> parameters, double[] x, double[] h0, double[][] masks, double[] dy,
                           double[] dhT) {

        static Problem random(long seed, int inputSize, int hiddenSize, int layers, boolean bidirectional, int steps,
                              int batch, boolean bias, boolean initialState, boolean outputGradients,
                              boolean finalStateGradients, double dropout) {
            SplittableRandom random = new SplittableRandom(seed);
            RnnShape shape = RnnShape.of(Cell.GRU, inputSize, hiddenSize).withLayers(layers)
                    .withDirection(bidirectional ? Direction.BIDIRECTIONAL : Direction.FORWARD);
            double bound = 2 / Math.sqrt(hiddenSize);
            int gates = 3 * hiddenSize;
            List<double[]> parameters = new ArrayList<>();
            for (int n = 0; n < shape.stateCount(); n++) {
                parameters.add(uniform(random, gates * shape.layerInputSize(n / shape.direction().count()), bound));
                parameters.add(uniform(random, gates * hiddenSize, bound));
                parameters.add(bias ? uniform(random, gates, bound) : null);
                parameters.add(bias ? uniform(random, gates, bound) : null);
            }
            int states = shape.stateCount() * batch * hiddenSize;
            int outputs = steps * batch * shape.outputSize();
            double[][] masks = CentralDifferences.dropoutMasks(random, layers - 1, outputs, dropout);
            return new Problem(inputSize, hiddenSize, layers, bidirectional, steps, batch, parameters,
                    uniform(random, steps * batch * inputSize, 1),
                    initialState ? uniform(random, states, 1) : null,
                    masks,
                    outputGradients ? uniform(random, outputs, 1) : null,
                    finalStateGradients ? uniform(random, states, 1) : null);
        }

        /** The stack with the given parameters (four per cell, as {@link #parameters}). */
        ReferenceStack stack(List<double[]> values) {
            ReferenceGru[] cells = new ReferenceGru[values.size() / 4];
            int directions = bidirectional ? 2 : 1;
            for (int n = 0; n < cells.length; n++) {
                int input = n < directions ? inputSize : directions * hiddenSize;
                cells[n] = new ReferenceGru(input, hiddenSize, values.get(4 * n), values.get(4 * n + 1),
                        values.get(4 * n + 2), values.get(4 * n + 3));
            }
            return new ReferenceStack(bidirectional, cells);
        }

        ReferenceStack.Gradients backward() {
            return stack(parameters).backward(x, steps, batch, h0, null, masks, dy, dhT, null);
        }

        /** L at the given parameters, x and h0. */
        double loss(List<double[]> values, double[] x, double[] h0) {
            ReferenceStack.Result result = stack(values).forward(x, steps, batch, h0, null, masks);
            return CentralDifferences.dot(result.y(), dy) + CentralDifferences.dot(result.hT(), dhT);
        }
    }

    @ParameterizedTest(name = "I={0} H={1} L={2} bidirectional={3} T={4} B={5} bias={6} h0={7} dy={8} dhT={9} p={10}")
    @CsvSource({
            "3, 4, 2, false, 3, 2, true, true, true, true, 0",
            "2, 3, 2, true, 4, 2, true, true, true, true, 0.4",
            "3, 2, 3, true, 3, 1, true, false, true, false, 0",
            "2, 3, 1, true, 5, 2, true, true, false, true, 0",
            "3, 3, 2, false, 3, 2, false, true, true, true, 0.3",
            "1, 1, 3, false, 4, 3, true, true, true, false, 0.5"})
    void everyGradientMatchesCentralDifferences(int inputSize, int hiddenSize, int layers, boolean bidirectional,
                                                int steps, int batch, boolean bias, boolean initialState,
                                                boolean outputGradients, boolean finalStateGradients,
                                                double dropout) {
        long seed = 20_000L * inputSize + 1000L * hiddenSize + 100L * layers + 10L * steps + batch;
        Problem problem = Problem.random(seed, inputSize, hiddenSize, layers, bidirectional, steps, batch, bias,
                initialState, outputGradients, finalStateGradients, dropout);
        ReferenceStack.Gradients gradients = problem.backward();
        List<double[]> parameters = new ArrayList<>();
        for (double[] tensor : problem.parameters()) {
            parameters.add(tensor == null ? null : tensor.clone());
        }
        double[] x = problem.x().clone();
        double[] h0 = problem.h0() == null ? new double[gradients.h0().length] : problem.h0().clone();
        DoubleSupplier loss = () -> problem.loss(parameters, x, h0);
        String[] names = {"weightIh", "weightHh", "biasIh", "biasHh"};
        for (int n = 0; n < parameters.size(); n++) {
            int cell = n / 4;
            double[][] analytic = {gradients.weightIh()[cell], gradients.weightHh()[cell], gradients.biasIh()[cell],
                    gradients.biasHh()[cell]};
            String name = "cell " + cell + " " + names[n % 4];
            if (parameters.get(n) == null) {
                assertNull(analytic[n % 4], name + ": a model without this bias has no gradient for it");
                continue;
            }
            significant(name, CentralDifferences.check(name, parameters.get(n), analytic[n % 4], loss));
        }
        significant("x", CentralDifferences.check("x", x, gradients.x(), loss));
        significant("h0", CentralDifferences.check("h0", h0, gradients.h0(), loss));
    }

    @Test
    void oneUnidirectionalLayerIsTheLayerItself() {
        Problem problem = Problem.random(3, 3, 4, 1, false, 5, 2, true, true, true, true, 0);
        List<double[]> p = problem.parameters();
        ReferenceGru layer = new ReferenceGru(3, 4, p.get(0), p.get(1), p.get(2), p.get(3));
        ReferenceGru.Result expected = layer.forward(problem.x(), 5, 2, problem.h0());
        ReferenceStack.Result actual = problem.stack(p).forward(problem.x(), 5, 2, problem.h0(), null, null);
        assertArrayEquals(expected.y(), actual.y());
        assertArrayEquals(expected.hT(), actual.hT());
    }

    @Test
    void theReverseDirectionSeesTheFutureAndItsFinalStateIsAtStepZero() {
        Problem problem = Problem.random(4, 2, 3, 1, true, 4, 1, true, false, true, false, 0);
        ReferenceStack stack = problem.stack(problem.parameters());
        double[] x = problem.x();
        ReferenceStack.Result before = stack.forward(x, 4, 1, null, null, null);
        double[] changed = x.clone();
        changed[2 * 2] += 0.5;
        ReferenceStack.Result after = stack.forward(changed, 4, 1, null, null, null);
        for (int t = 0; t < 4; t++) {
            for (int unit = 0; unit < 3; unit++) {
                boolean forwardMoves = before.y()[t * 6 + unit] != after.y()[t * 6 + unit];
                boolean reverseMoves = before.y()[t * 6 + 3 + unit] != after.y()[t * 6 + 3 + unit];
                assertTrue(forwardMoves == (t >= 2), "forward half at step " + t);
                assertTrue(reverseMoves == (t <= 2), "reverse half at step " + t);
            }
        }
        for (int unit = 0; unit < 3; unit++) {
            assertEquals(before.y()[3 + unit], before.hT()[3 + unit], "h_n of the reverse direction");
            assertEquals(before.y()[3 * 6 + unit], before.hT()[unit], "h_n of the forward direction");
        }
    }

    @Test
    void badArgumentsAreNamed() {
        Problem problem = Problem.random(5, 2, 3, 2, true, 4, 2, true, true, true, true, 0);
        ReferenceStack stack = problem.stack(problem.parameters());
        assertMessage(() -> stack.forward(new double[15], 4, 2, null, null, null), "x must hold 16 doubles, got 15");
        assertMessage(() -> stack.forward(problem.x(), 4, 2, new double[12], null, null),
                "h0 must hold 24 doubles, got 12");
        assertMessage(() -> stack.forward(problem.x(), 4, 2, null, null, new double[0][]),
                "dropoutMasks: one per layer below the top, 1, got 0");
        assertMessage(() -> stack.backward(problem.x(), 4, 2, null, null, null, new double[3], null, null),
                "dy must hold 48 doubles, got 3");
        assertMessage(() -> stack.backward(problem.x(), 4, 2, null, null, null, null, new double[5], null),
                "dhT must hold 24 doubles, got 5");
        ReferenceGru first = new ReferenceGru(2, 3, new double[18], new double[27], null, null);
        assertMessage(() -> new ReferenceStack(true, first, first, first), "cells: 2 per layer, got 3");
        assertMessage(() -> new ReferenceStack(false, first, first),
                "cells[1] has inputSize 2, hiddenSize 3, outputSize 3; expected 3, 3, 3");
        ReferenceLstm lstm = new ReferenceLstm(2, 3, new double[24], new double[36], null, null);
        assertMessage(() -> new ReferenceStack(true, first, lstm),
                "cells[1] is a ReferenceLstm, cells[0] a ReferenceGru");
        assertMessage(() -> stack.forward(problem.x(), 4, 2, null, new double[24], null),
                "c0 must be null: GRU cells have no cell state");
        assertMessage(() -> stack.backward(problem.x(), 4, 2, null, null, null, null, null, new double[24]),
                "dcT must be null: GRU cells have no cell state");
        assertNull(stack.forward(problem.x(), 4, 2, null, null, null).cT());
        assertNull(stack.backward(problem.x(), 4, 2, null, null, null, null, null, null).c0());
    }

    private static void assertMessage(Executable call, String message) {
        Throwable thrown = assertThrows(IllegalArgumentException.class, call);
        assertEquals(message, thrown.getMessage());
    }

    private static void significant(String name, double largest) {
        assertTrue(largest > CentralDifferences.SIGNIFICANT, name + ": largest gradient " + largest
                + " is too small to check");
    }

    private static double[] uniform(SplittableRandom random, int length, double bound) {
        double[] values = new double[length];
        for (int n = 0; n < length; n++) {
            values[n] = (random.nextDouble() * 2 - 1) * bound;
        }
        return values;
    }
}
