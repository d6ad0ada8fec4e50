package dev.vlstm.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

/**
 * The activation approximations against {@link Math#tanh} and the exact logistic, in scalar and vector form,
 * over every 16th float in [-20, 20] (about 68 million values, both signs, subnormals included), beyond it,
 * and at the special values. The documented bound is {@link Activations#TANH_MAX_ABS_ERROR} for tanh and half
 * of it for sigmoid.
 */
class ActivationsTest {

    private static final float LIMIT = 20f;
    private static final int STRIDE = 16;
    private static final int LANES = VectorShape.LANES;
    private static final MemorySegment INPUT = Arena.global().allocate((long) LANES * Float.BYTES, 64);
    private static final MemorySegment TANH = Arena.global().allocate((long) LANES * Float.BYTES, 64);
    private static final MemorySegment SIGMOID = Arena.global().allocate((long) LANES * Float.BYTES, 64);

    @Test
    void scalarTanhAndSigmoidStayWithinTheDocumentedBound() {
        double worstTanh = 0;
        double worstSigmoid = 0;
        for (int bits = 0; bits <= Float.floatToRawIntBits(LIMIT); bits += STRIDE) {
            for (float x : new float[]{Float.intBitsToFloat(bits), -Float.intBitsToFloat(bits)}) {
                worstTanh = Math.max(worstTanh, Math.abs(Activations.tanh(x) - Math.tanh(x)));
                worstSigmoid = Math.max(worstSigmoid, Math.abs(Activations.sigmoid(x) - logistic(x)));
            }
        }
        assertTrue(worstTanh <= Activations.TANH_MAX_ABS_ERROR, "tanh error " + worstTanh);
        assertTrue(worstSigmoid <= Activations.TANH_MAX_ABS_ERROR / 2, "sigmoid error " + worstSigmoid);
    }

    @Test
    void vectorTanhAndSigmoidStayWithinTheDocumentedBound() {
        float[] inputs = new float[LANES];
        float[] tanh = new float[LANES];
        float[] sigmoid = new float[LANES];
        double worstTanh = 0;
        double worstSigmoid = 0;
        int end = Float.floatToRawIntBits(LIMIT);
        for (int bits = 0; bits <= end; bits += STRIDE * LANES) {
            for (int lane = 0; lane < LANES; lane++) {
                float value = Float.intBitsToFloat(Math.min(end, bits + lane * STRIDE));
                inputs[lane] = lane % 2 == 0 ? value : -value;
            }
            evaluate(inputs, tanh, sigmoid);
            for (int lane = 0; lane < LANES; lane++) {
                worstTanh = Math.max(worstTanh, Math.abs(tanh[lane] - Math.tanh(inputs[lane])));
                worstSigmoid = Math.max(worstSigmoid, Math.abs(sigmoid[lane] - logistic(inputs[lane])));
            }
        }
        assertTrue(worstTanh <= Activations.TANH_MAX_ABS_ERROR, "tanh error " + worstTanh);
        assertTrue(worstSigmoid <= Activations.TANH_MAX_ABS_ERROR / 2, "sigmoid error " + worstSigmoid);
    }

    @Test
    void specialValuesSaturatePropagateNaNAndKeepSignedZero() {
        float[] specials = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MAX_VALUE,
                -Float.MAX_VALUE, 1e30f, -1e30f, 100f, -100f, 0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE};
        for (float x : specials) {
            float[] inputs = new float[LANES];
            java.util.Arrays.fill(inputs, x);
            float[] tanh = new float[LANES];
            float[] sigmoid = new float[LANES];
            evaluate(inputs, tanh, sigmoid);
            for (float[] pair : new float[][]{{Activations.tanh(x), Activations.sigmoid(x)}, {tanh[0], sigmoid[0]}}) {
                if (Float.isNaN(x)) {
                    assertTrue(Float.isNaN(pair[0]) && Float.isNaN(pair[1]), "NaN must propagate");
                    continue;
                }
                assertTrue(pair[0] >= -1f && pair[0] <= 1f, "tanh(" + x + ") = " + pair[0] + " outside [-1, 1]");
                assertTrue(pair[1] >= 0f && pair[1] <= 1f, "sigmoid(" + x + ") = " + pair[1] + " outside [0, 1]");
                assertTrue(Math.abs(pair[0] - Math.tanh(x)) <= Activations.TANH_MAX_ABS_ERROR, "tanh(" + x + ")");
                assertTrue(Math.abs(pair[1] - logistic(x)) <= Activations.TANH_MAX_ABS_ERROR / 2, "sigmoid(" + x + ")");
            }
        }
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(Activations.tanh(-0f)), "tanh(-0) = -0");
        float[] negativeZeros = new float[LANES];
        java.util.Arrays.fill(negativeZeros, -0f);
        float[] tanh = new float[LANES];
        evaluate(negativeZeros, tanh, new float[LANES]);
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(tanh[0]), "vector tanh(-0) = -0");
        assertEquals(0.5f, Activations.sigmoid(0f));
    }

    @Test
    void largeArgumentsGiveExactlyTheFloatLimits() {
        // Where the float nearest to tanh(x) is ±1, the approximations return it exactly, in both forms: a gate
        // held open must pass c on unchanged, step after step.
        float[] large = {Activations.SATURATION, 9.5f, 2 * Activations.SATURATION, 40f, 1e30f, Float.POSITIVE_INFINITY};
        for (float magnitude : large) {
            for (float x : new float[]{magnitude, -magnitude}) {
                assertEquals((float) Math.tanh(x), Math.signum(x), "float tanh(" + x + ") is ±1 here");
                float[] inputs = new float[LANES];
                java.util.Arrays.fill(inputs, x);
                float[] tanh = new float[LANES];
                float[] sigmoid = new float[LANES];
                evaluate(inputs, tanh, sigmoid);
                assertEquals(Math.signum(x), Activations.tanh(x), "tanh(" + x + ")");
                assertEquals(Math.signum(x), tanh[0], "vector tanh(" + x + ")");
                if (magnitude >= 2 * Activations.SATURATION) {
                    assertEquals(x > 0 ? 1f : 0f, Activations.sigmoid(x), "sigmoid(" + x + ")");
                    assertEquals(x > 0 ? 1f : 0f, sigmoid[0], "vector sigmoid(" + x + ")");
                }
            }
        }
    }

    private static void evaluate(float[] inputs, float[] tanh, float[] sigmoid) {
        MemorySegment.copy(inputs, 0, INPUT, ValueLayout.JAVA_FLOAT, 0, LANES);
        VectorActivations.tanh(INPUT, 0, TANH, 0);
        VectorActivations.sigmoid(INPUT, 0, SIGMOID, 0);
        MemorySegment.copy(TANH, ValueLayout.JAVA_FLOAT, 0, tanh, 0, LANES);
        MemorySegment.copy(SIGMOID, ValueLayout.JAVA_FLOAT, 0, sigmoid, 0, LANES);
    }

    private static double logistic(double x) {
        return 1 / (1 + Math.exp(-x));
    }
}
