package dev.vlstm.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.ValueLayout;

import ai.onnxruntime.OrtException;
import dev.vlstm.Parameters;
import dev.vlstm.io.GateConventions;
import dev.vlstm.onnxmodels.OnnxRnnModel;
import dev.vlstm.reference.ReferenceGru;
import dev.vlstm.reference.ReferenceLstm;
import org.junit.jupiter.api.Test;

/**
 * The benchmark's ONNX peer computes the benchmark's model: {@link OnnxRnnModel} puts the gates where ONNX wants
 * them (what the core's ONNX loader undoes), and ONNX Runtime running it agrees with the double-precision reference,
 * LSTM and GRU, whole sequences and carried streams alike.
 */
class OnnxRuntimeRnnTest {

    /** H not a multiple of any vector width, B > 1, T > 1. */
    private static final Shape SMALL = new Shape("test-B3-T7-H13", 3, 7, 13);
    private static final Shape SMALL_GRU = new Shape("gru-test-B3-T7-H13", 3, 7, 13);
    /** Float against double over a few steps of a 13-unit layer. */
    private static final double TOLERANCE = 1e-5;

    @Test
    void lstmGateOrderIsWhatTheCoreOnnxLoaderUndoes() {
        RandomLstm model = RandomLstm.create(SMALL, SMALL.steps());
        int hidden = SMALL.size();
        try (Parameters loaded = GateConventions.onnxLstm(hidden, hidden, "forward",
                OnnxRnnModel.toOnnxGateOrder(model.weightIh(), 4, hidden, hidden),
                OnnxRnnModel.toOnnxGateOrder(model.weightHh(), 4, hidden, hidden),
                OnnxRnnModel.toOnnxBias(model.biasIh(), model.biasHh(), 4, hidden), null)) {
            assertLoaded(loaded, model.weightIh(), model.weightHh(), model.biasIh(), model.biasHh());
        }
    }

    @Test
    void gruGateOrderIsWhatTheCoreOnnxLoaderUndoes() {
        RandomGru model = RandomGru.create(SMALL_GRU, SMALL_GRU.steps());
        int hidden = SMALL_GRU.size();
        try (Parameters loaded = GateConventions.onnxGru(hidden, hidden, "forward", 1,
                OnnxRnnModel.toOnnxGateOrder(model.weightIh(), 3, hidden, hidden),
                OnnxRnnModel.toOnnxGateOrder(model.weightHh(), 3, hidden, hidden),
                OnnxRnnModel.toOnnxBias(model.biasIh(), model.biasHh(), 3, hidden))) {
            assertLoaded(loaded, model.weightIh(), model.weightHh(), model.biasIh(), model.biasHh());
        }
    }

    @Test
    void aCellOfAnotherGateCountIsRefused() {
        IllegalArgumentException refused = assertThrows(IllegalArgumentException.class,
                () -> OnnxRnnModel.toOnnxGateOrder(new float[10], 5, 1, 2));
        assertEquals("an LSTM has 4 gates and a GRU 3, not 5", refused.getMessage());
    }

    @Test
    void lstmSequenceMatchesTheReference() throws OrtException {
        RandomLstm model = RandomLstm.create(SMALL, SMALL.steps());
        ReferenceLstm.Result expected = model.reference().forward(model.x(), SMALL.steps(), SMALL.batch(), null, null);
        try (OnnxRuntimeRnn runtime = OnnxRuntimeRnn.sequence(model)) {
            runtime.run();
            assertClose("Y", expected.y(), runtime.y());
            assertClose("Y_h", expected.hT(), runtime.hidden());
            assertClose("Y_c", expected.cT(), runtime.cell());
        }
    }

    @Test
    void gruSequenceMatchesTheReference() throws OrtException {
        RandomGru model = RandomGru.create(SMALL_GRU, SMALL_GRU.steps());
        ReferenceGru.Result expected = model.reference().forward(model.x(), SMALL_GRU.steps(), SMALL_GRU.batch(),
                null);
        try (OnnxRuntimeRnn runtime = OnnxRuntimeRnn.sequence(model)) {
            runtime.run();
            assertClose("Y", expected.y(), runtime.y());
            assertClose("Y_h", expected.hT(), runtime.hidden());
        }
    }

    @Test
    void lstmStreamCarriesItsStateFromCallToCall() throws OrtException {
        RandomLstm model = RandomLstm.create(SMALL, 1);
        int extraSteps = 2;
        int steps = OnnxRuntimeRnn.VERIFIED_STREAM_STEPS + extraSteps;
        ReferenceLstm.Result expected = model.reference().forward(repeated(model.x(), steps), steps, SMALL.batch(),
                null, null);
        try (OnnxRuntimeRnn runtime = OnnxRuntimeRnn.stream(model)) {
            for (int step = 0; step < extraSteps; step++) {
                runtime.run();
            }
            assertClose("Y_h", expected.hT(), runtime.hidden());
            assertClose("Y_c", expected.cT(), runtime.cell());
        }
    }

    @Test
    void gruStreamCarriesItsStateFromCallToCall() throws OrtException {
        RandomGru model = RandomGru.create(SMALL_GRU, 1);
        int extraSteps = 2;
        int steps = OnnxRuntimeRnn.VERIFIED_STREAM_STEPS + extraSteps;
        ReferenceGru.Result expected = model.reference().forward(repeated(model.x(), steps), steps,
                SMALL_GRU.batch(), null);
        try (OnnxRuntimeRnn runtime = OnnxRuntimeRnn.stream(model)) {
            for (int step = 0; step < extraSteps; step++) {
                runtime.run();
            }
            assertClose("Y_h", expected.hT(), runtime.hidden());
        }
    }

    /** {@code step} repeated {@code steps} times: the input a stream fed the same frame every call sees. */
    private static float[] repeated(float[] step, int steps) {
        float[] repeated = new float[steps * step.length];
        for (int n = 0; n < steps; n++) {
            System.arraycopy(step, 0, repeated, n * step.length, step.length);
        }
        return repeated;
    }

    private static void assertLoaded(Parameters loaded, float[] weightIh, float[] weightHh, float[] biasIh,
                                     float[] biasHh) {
        assertArrayEquals(weightIh, loaded.tensor("weight_ih_l0").toArray(ValueLayout.JAVA_FLOAT));
        assertArrayEquals(weightHh, loaded.tensor("weight_hh_l0").toArray(ValueLayout.JAVA_FLOAT));
        assertArrayEquals(biasIh, loaded.tensor("bias_ih_l0").toArray(ValueLayout.JAVA_FLOAT));
        assertArrayEquals(biasHh, loaded.tensor("bias_hh_l0").toArray(ValueLayout.JAVA_FLOAT));
    }

    private static void assertClose(String name, double[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, name + " length");
        for (int n = 0; n < expected.length; n++) {
            assertEquals(expected[n], actual[n], TOLERANCE, name + "[" + n + "]");
        }
    }
}
