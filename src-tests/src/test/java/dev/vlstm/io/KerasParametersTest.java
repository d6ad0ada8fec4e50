package dev.vlstm.io;

import static dev.vlstm.io.OnnxRuntimeParityTest.uniform;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.Cell;
import dev.vlstm.Direction;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
import dev.vlstm.reference.ReferenceCell;
import dev.vlstm.reference.ReferenceGru;
import dev.vlstm.reference.ReferenceLstm;
import dev.vlstm.reference.ReferenceStack;

/**
 * Keras {@code LSTM} and {@code GRU} ({@code reset_after=True}) layers, forward and {@code Bidirectional}, loaded with
 * {@link GateConventions#kerasLstm} or {@link GateConventions#kerasGru} into {@link Parameters}, packed and run by a
 * {@link Runner}, against the double-precision {@link ReferenceStack} over PyTorch-ordered weights that this test
 * builds from the same Keras arrays by its own loops: y, hT and cT must agree within {@value #TOLERANCE} of each
 * tensor's largest magnitude (at least 1). Weights and biases are U(-w, w) with w given per case; inputs and
 * initial states U(-1, 1).
 */
class KerasParametersTest {

    static final double TOLERANCE = 1e-5;

    /** For each PyTorch LSTM gate (i, f, g, o), Keras's gate (i, f, c, o). */
    private static final int[] KERAS_OF_LSTM_GATE = {0, 1, 2, 3};
    /** For each PyTorch GRU gate (r, z, n), Keras's gate (z, r, h): r is Keras's gate 1, z its gate 0. */
    private static final int[] KERAS_OF_GRU_GATE = {1, 0, 2};

    @ParameterizedTest(name = "{0} {1} I={2} H={3} T={4} B={5} bias={6} weights={7}")
    @CsvSource(delimiter = ';', value = {
            "LSTM; FORWARD; 5; 7; 6; 3; true; 0.75",
            "LSTM; BIDIRECTIONAL; 5; 7; 6; 3; true; 1",
            "LSTM; BIDIRECTIONAL; 17; 33; 5; 4; false; 0.5",
            "GRU; FORWARD; 5; 7; 6; 3; true; 0.75",
            "GRU; BIDIRECTIONAL; 5; 7; 6; 3; true; 1",
            "GRU; BIDIRECTIONAL; 1; 1; 4; 2; false; 1",
            "GRU; FORWARD; 17; 33; 5; 4; true; 0.5"})
    void kerasParametersMatchTheReference(Cell cell, Direction direction, int inputSize, int hiddenSize, int steps,
                                          int batch, boolean bias, float bound) {
        int directions = direction.count();
        int gates = cell.gates();
        int gateColumns = gates * hiddenSize;
        int biasRows = cell == Cell.GRU ? 2 : 1;
        int[] kerasGate = cell == Cell.GRU ? KERAS_OF_GRU_GATE : KERAS_OF_LSTM_GATE;
        SplittableRandom random = new SplittableRandom(2300 + 10L * hiddenSize + batch + 7 * gates + directions);
        float[] kernel = uniform(random, directions * inputSize * gateColumns, bound);
        float[] recurrentKernel = uniform(random, directions * hiddenSize * gateColumns, bound);
        float[] kerasBias = bias ? uniform(random, directions * biasRows * gateColumns, bound) : null;
        float[] x = uniform(random, steps * batch * inputSize, 1);
        float[] h0 = uniform(random, directions * batch * hiddenSize, 1);
        float[] c0 = cell == Cell.LSTM ? uniform(random, directions * batch * hiddenSize, 1) : null;

        ReferenceCell[] cells = new ReferenceCell[directions];
        for (int d = 0; d < directions; d++) {
            float[] weightIh = new float[gateColumns * inputSize];
            float[] weightHh = new float[gateColumns * hiddenSize];
            float[] biasIh = bias ? new float[gateColumns] : null;
            float[] biasHh = bias && cell == Cell.GRU ? new float[gateColumns] : null;
            for (int gate = 0; gate < gates; gate++) {
                for (int unit = 0; unit < hiddenSize; unit++) {
                    int row = gate * hiddenSize + unit;
                    int column = kerasGate[gate] * hiddenSize + unit;
                    for (int in = 0; in < inputSize; in++) {
                        weightIh[row * inputSize + in] = kernel[(d * inputSize + in) * gateColumns + column];
                    }
                    for (int in = 0; in < hiddenSize; in++) {
                        weightHh[row * hiddenSize + in] = recurrentKernel[(d * hiddenSize + in) * gateColumns + column];
                    }
                    if (biasIh != null) {
                        biasIh[row] = kerasBias[d * biasRows * gateColumns + column];
                    }
                    if (biasHh != null) {
                        biasHh[row] = kerasBias[(d * biasRows + 1) * gateColumns + column];
                    }
                }
            }
            cells[d] = cell == Cell.GRU
                    ? new ReferenceGru(inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh)
                    : new ReferenceLstm(inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh);
        }
        ReferenceStack.Result expected = new ReferenceStack(directions == 2, cells).forward(x, steps, batch, h0, c0);

        float[] y = new float[steps * batch * directions * hiddenSize];
        float[] hT = new float[h0.length];
        float[] cT = c0 == null ? null : new float[c0.length];
        try (Parameters parameters = cell == Cell.GRU
                ? GateConventions.kerasGru(inputSize, hiddenSize, direction, true, kernel, recurrentKernel, kerasBias)
                : GateConventions.kerasLstm(inputSize, hiddenSize, direction, kernel, recurrentKernel, kerasBias);
             Model model = Model.pack(parameters, Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps));
             Runner runner = model.runner()) {
            assertEquals(RnnShape.of(cell, inputSize, hiddenSize).withDirection(direction), parameters.shape());
            runner.forward(x, steps, batch, h0, c0, y, hT, cT);
        }
        assertClose("y", expected.y(), y);
        assertClose("hT", expected.hT(), hT);
        if (cT != null) {
            assertClose("cT", expected.cT(), cT);
        }
    }

    private static void assertClose(String name, double[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, name + " length");
        double scale = 1;
        double error = 0;
        for (int n = 0; n < expected.length; n++) {
            scale = Math.max(scale, Math.abs(expected[n]));
            error = Math.max(error, Math.abs(expected[n] - actual[n]));
        }
        assertTrue(error <= TOLERANCE * scale, name + ": max abs error " + error + " > " + TOLERANCE + " * " + scale);
    }
}
