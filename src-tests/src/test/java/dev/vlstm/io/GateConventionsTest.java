package dev.vlstm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;

import org.junit.jupiter.api.Test;

import dev.vlstm.LstmParameters;

/**
 * ONNX and Keras weights, written by hand from known PyTorch weights (each entry's value names its PyTorch gate,
 * row and column), convert back to exactly those PyTorch weights.
 */
class GateConventionsTest {

    private static final int I = 2;
    private static final int H = 3;

    /** A PyTorch-layout value that encodes where it is: 1000 * gate + 100 * unit + column (+ 0.5 for U). */
    private static float pytorch(int gate, int unit, int column, boolean recurrent) {
        return 1000 * gate + 100 * unit + column + (recurrent ? 0.5f : 0f);
    }

    private static float[] pytorchMatrix(int columns, boolean recurrent) {
        float[] values = new float[4 * H * columns];
        for (int gate = 0; gate < 4; gate++) {
            for (int unit = 0; unit < H; unit++) {
                for (int column = 0; column < columns; column++) {
                    values[(gate * H + unit) * columns + column] = pytorch(gate, unit, column, recurrent);
                }
            }
        }
        return values;
    }

    private static float[] array(java.lang.foreign.MemorySegment segment) {
        return segment.toArray(ValueLayout.JAVA_FLOAT);
    }

    @Test
    void onnxGateOrderIofcBecomesIfgo() {
        int[] pytorchGateOfOnnx = {0, 3, 1, 2};
        float[] w = new float[4 * H * I];
        float[] r = new float[4 * H * H];
        float[] b = new float[8 * H];
        for (int onnxGate = 0; onnxGate < 4; onnxGate++) {
            int gate = pytorchGateOfOnnx[onnxGate];
            for (int unit = 0; unit < H; unit++) {
                for (int column = 0; column < I; column++) {
                    w[(onnxGate * H + unit) * I + column] = pytorch(gate, unit, column, false);
                }
                for (int column = 0; column < H; column++) {
                    r[(onnxGate * H + unit) * H + column] = pytorch(gate, unit, column, true);
                }
                b[onnxGate * H + unit] = pytorch(gate, unit, 7, false);
                b[4 * H + onnxGate * H + unit] = pytorch(gate, unit, 8, false);
            }
        }
        try (LstmParameters parameters = GateConventions.fromOnnx(I, H, w, r, b, new float[3 * H])) {
            assertArrayEquals(pytorchMatrix(I, false), array(parameters.weightIh()));
            assertArrayEquals(pytorchMatrix(H, true), array(parameters.weightHh()));
            float[] biasIh = array(parameters.biasIh());
            float[] biasHh = array(parameters.biasHh());
            for (int gate = 0; gate < 4; gate++) {
                for (int unit = 0; unit < H; unit++) {
                    assertTrue(biasIh[gate * H + unit] == pytorch(gate, unit, 7, false), "Wb gate " + gate);
                    assertTrue(biasHh[gate * H + unit] == pytorch(gate, unit, 8, false), "Rb gate " + gate);
                }
            }
        }
    }

    /**
     * ONNX's P holds p_i, p_o, p_f; each hand-made entry encodes its gate (1 = i, 2 = f, 4 = o, vlstm's numbering
     * by gate order i, f, o) and unit, and must land at that gate's row of vlstm's {@code [3][H]} (i, f, o). An
     * all-zero P, or none, loads as no peepholes.
     */
    @Test
    void onnxPeepholesIofBecomeIfo() {
        float[] w = new float[4 * H * I];
        float[] r = new float[4 * H * H];
        float[] p = new float[3 * H];
        float[] expected = new float[3 * H];
        float[] gateCode = {10, 40, 20};
        for (int onnxRow = 0; onnxRow < 3; onnxRow++) {
            for (int unit = 0; unit < H; unit++) {
                p[onnxRow * H + unit] = gateCode[onnxRow] + unit;
            }
        }
        for (int row = 0; row < 3; row++) {
            for (int unit = 0; unit < H; unit++) {
                expected[row * H + unit] = 10 * (1 << row) + unit;
            }
        }
        try (LstmParameters parameters = GateConventions.fromOnnx(I, H, w, r, null, p);
             LstmParameters zero = GateConventions.fromOnnx(I, H, w, r, null, new float[3 * H]);
             LstmParameters none = GateConventions.fromOnnx(I, H, w, r, null, null)) {
            assertArrayEquals(expected, array(parameters.peepholes()));
            assertNull(zero.peepholes());
            assertNull(none.peepholes());
        }
    }

    @Test
    void kerasKernelsAreTransposedAndTheBiasGoesToBiasIh() {
        float[] kernel = new float[I * 4 * H];
        float[] recurrent = new float[H * 4 * H];
        float[] bias = new float[4 * H];
        for (int gate = 0; gate < 4; gate++) {
            for (int unit = 0; unit < H; unit++) {
                for (int column = 0; column < I; column++) {
                    kernel[column * 4 * H + gate * H + unit] = pytorch(gate, unit, column, false);
                }
                for (int column = 0; column < H; column++) {
                    recurrent[column * 4 * H + gate * H + unit] = pytorch(gate, unit, column, true);
                }
                bias[gate * H + unit] = pytorch(gate, unit, 9, false);
            }
        }
        try (LstmParameters parameters = GateConventions.fromKeras(I, H, kernel, recurrent, bias)) {
            assertArrayEquals(pytorchMatrix(I, false), array(parameters.weightIh()));
            assertArrayEquals(pytorchMatrix(H, true), array(parameters.weightHh()));
            assertArrayEquals(bias, array(parameters.biasIh()));
            assertArrayEquals(new float[4 * H], array(parameters.biasHh()));
        }
    }

    @Test
    void wrongLengthsAndTwoDirectionsAreRefused() {
        float[] w = new float[4 * H * I];
        float[] r = new float[4 * H * H];
        IllegalArgumentException twoDirections = assertThrows(IllegalArgumentException.class,
                () -> GateConventions.fromOnnx(I, H, new float[2 * w.length], r, null, null));
        assertTrue(twoDirections.getMessage().contains("two directions? only D = 1"), twoDirections.getMessage());
        IllegalArgumentException peephole = assertThrows(IllegalArgumentException.class,
                () -> GateConventions.fromOnnx(I, H, w, r, null, new float[3 * H + 1]));
        assertTrue(peephole.getMessage().contains("P must hold [D=1][3H=9] = 9 floats, got 10"),
                peephole.getMessage());
        IllegalArgumentException kernel = assertThrows(IllegalArgumentException.class,
                () -> GateConventions.fromKeras(I, H, new float[5], new float[4 * H * H], null));
        assertTrue(kernel.getMessage().contains("kernel must hold [I=2][4H=12] = 24 floats, got 5"), kernel.getMessage());
        assertThrows(NullPointerException.class, () -> GateConventions.fromOnnx(I, H, w, null, null, null));
    }
}
