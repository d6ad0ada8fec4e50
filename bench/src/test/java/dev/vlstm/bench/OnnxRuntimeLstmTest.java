package dev.vlstm.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.ValueLayout;

import ai.onnxruntime.OrtException;
import dev.vlstm.Parameters;
import dev.vlstm.io.GateConventions;
import dev.vlstm.onnxmodels.OnnxRnnModel;
import dev.vlstm.reference.ReferenceLstm;
import org.junit.jupiter.api.Test;

/**
 * The benchmark's ONNX peer computes the benchmark's model: {@link OnnxRnnModel} puts the gates where ONNX wants
 * them, and ONNX Runtime running it agrees with the double-precision reference, whole sequences and carried streams
 * alike.
 */
class OnnxRuntimeLstmTest {

    /** H not a multiple of any vector width, B > 1, T > 1. */
    private static final Shape SMALL = new Shape("test-B3-T7-H13", 3, 7, 13);
    /** Float against double over a few steps of a 13-unit layer. */
    private static final double TOLERANCE = 1e-5;

    @Test
    void gateOrderIsWhatTheCoreOnnxLoaderUndoes() {
        RandomLstm model = RandomLstm.create(SMALL, SMALL.steps());
        int hidden = SMALL.size();
        try (Parameters loaded = GateConventions.onnxLstm(hidden, hidden, "forward",
                OnnxRnnModel.toOnnxLstmGateOrder(model.weightIh(), hidden, hidden),
                OnnxRnnModel.toOnnxLstmGateOrder(model.weightHh(), hidden, hidden),
                OnnxRnnModel.toOnnxLstmBias(model.biasIh(), model.biasHh(), hidden), null)) {
            assertArrayEquals(model.weightIh(), loaded.tensor("weight_ih_l0").toArray(ValueLayout.JAVA_FLOAT));
            assertArrayEquals(model.weightHh(), loaded.tensor("weight_hh_l0").toArray(ValueLayout.JAVA_FLOAT));
            assertArrayEquals(model.biasIh(), loaded.tensor("bias_ih_l0").toArray(ValueLayout.JAVA_FLOAT));
            assertArrayEquals(model.biasHh(), loaded.tensor("bias_hh_l0").toArray(ValueLayout.JAVA_FLOAT));
        }
    }

    @Test
    void sequenceMatchesTheReference() throws OrtException {
        RandomLstm model = RandomLstm.create(SMALL, SMALL.steps());
        ReferenceLstm.Result expected = model.reference().forward(model.x(), SMALL.steps(), SMALL.batch(), null, null);
        try (OnnxRuntimeLstm runtime = OnnxRuntimeLstm.sequence(model)) {
            runtime.run();
            assertClose("Y", expected.y(), runtime.y());
            assertClose("Y_h", expected.hT(), runtime.hidden());
            assertClose("Y_c", expected.cT(), runtime.cell());
        }
    }

    @Test
    void streamCarriesItsStateFromCallToCall() throws OrtException {
        RandomLstm model = RandomLstm.create(SMALL, 1);
        int extraSteps = 2;
        int steps = OnnxRuntimeLstm.VERIFIED_STREAM_STEPS + extraSteps;
        float[] repeated = new float[steps * model.x().length];
        for (int step = 0; step < steps; step++) {
            System.arraycopy(model.x(), 0, repeated, step * model.x().length, model.x().length);
        }
        ReferenceLstm.Result expected = model.reference().forward(repeated, steps, SMALL.batch(), null, null);
        try (OnnxRuntimeLstm runtime = OnnxRuntimeLstm.stream(model)) {
            for (int step = 0; step < extraSteps; step++) {
                runtime.run();
            }
            assertClose("Y_h", expected.hT(), runtime.hidden());
            assertClose("Y_c", expected.cT(), runtime.cell());
        }
    }

    private static void assertClose(String name, double[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, name + " length");
        for (int n = 0; n < expected.length; n++) {
            assertEquals(expected[n], actual[n], TOLERANCE, name + "[" + n + "]");
        }
    }
}
