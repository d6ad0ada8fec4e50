package dev.vlstm;

import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceStack;

/**
 * Stacked and bidirectional GRU models against the double-precision {@link ReferenceStack} (itself checked by
 * finite differences in ReferenceGruStackBackwardTest): the runner's y and h_n on odd shapes (H = 1, 3, 17, 33;
 * B = 1..9; L = 1..3; one and two directions), with and without initial states and biases, for both kernels.
 *
 * <p>Tolerance: ForwardVsReferenceTest's max |error| &le; {@value ForwardVsReferenceTest#TOLERANCE}, as for the LSTM
 * stacks.
 */
class GruStackVsReferenceTest {

    @ParameterizedTest(name = "{8} I={0} H={1} L={2} bidirectional={3} T={4} B={5} initialState={6} bias={7}")
    @CsvSource({
            "3, 5, 2, false, 4, 2, true, true, PREFERRED",
            "1, 1, 3, true, 1, 1, false, true, PREFERRED",
            "17, 33, 2, true, 7, 5, true, true, PREFERRED",
            "33, 17, 3, false, 6, 3, false, true, PREFERRED",
            "5, 3, 3, true, 9, 4, true, false, PREFERRED",
            "7, 3, 1, true, 5, 6, true, true, PREFERRED",
            "4, 17, 1, false, 3, 9, true, true, PREFERRED",
            "2, 33, 2, true, 4, 7, false, false, PREFERRED",
            "6, 1, 2, false, 5, 8, true, true, PREFERRED",
            "3, 5, 2, true, 4, 2, true, true, SCALAR",
            "17, 33, 3, false, 5, 3, false, false, SCALAR",
            "1, 3, 1, true, 3, 9, true, true, SCALAR"})
    void forwardMatchesTheReference(int inputSize, int hiddenSize, int layers, boolean bidirectional, int steps,
                                    int batch, boolean initialState, boolean bias, Backend backend) {
        LstmStackShape shape = new LstmStackShape(inputSize, hiddenSize, layers, bidirectional);
        try (TestGruStack model = new TestGruStack(730 + 10L * hiddenSize + layers, shape, backend, bias);
             GruStackRunner runner = new GruStackRunner(model.weights, batch + 1, steps + 2)) {
            float[] x = model.input(steps, batch);
            float[] h0 = initialState ? model.states(batch) : null;
            float[] y = new float[steps * batch * shape.outputSize()];
            float[] hT = new float[shape.stateCount() * batch * hiddenSize];
            runner.forward(x, steps, batch, h0, y, hT);
            ReferenceStack.Result expected = model.reference.forward(x, steps, batch, h0, null);
            ForwardVsReferenceTest.assertWithin("y", y, expected.y());
            ForwardVsReferenceTest.assertWithin("hT", hT, expected.hT());
        }
    }

    @Test
    void statesMayBeCarriedAcrossWindowsInTheSameBuffer() {
        try (TestGruStack model = new TestGruStack(741, 5, 7, 3, false);
             GruStackRunner runner = new GruStackRunner(model.weights, 2, 4)) {
            float[] x = model.input(8, 2);
            float[] hT = new float[3 * 2 * 7];
            int window = 4 * 2 * 5;
            runner.forward(Arrays.copyOfRange(x, 0, window), 4, 2, null, null, hT);
            runner.forward(Arrays.copyOfRange(x, window, 2 * window), 4, 2, hT, null, hT);
            ForwardVsReferenceTest.assertWithin("hT", hT, model.reference.forward(x, 8, 2, null, null).hT());
        }
    }
}
