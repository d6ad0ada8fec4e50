package dev.vlstm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import dev.vlstm.Cell;
import dev.vlstm.Direction;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;

/**
 * ONNX and Keras weights, written by hand from known PyTorch weights (each entry's value names its PyTorch gate,
 * row and column), convert back to exactly those PyTorch weights; a bidirectional ONNX node loads direction by
 * direction, and y converts to ONNX's Y layout. (OnnxRuntimeParityTest runs whole nodes in ONNX Runtime.)
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
        try (Parameters parameters = GateConventions.onnxLstm(I, H, "forward", w, r, b, new float[3 * H])) {
            assertArrayEquals(pytorchMatrix(I, false), array(parameters.tensor("weight_ih_l0")));
            assertArrayEquals(pytorchMatrix(H, true), array(parameters.tensor("weight_hh_l0")));
            float[] biasIh = array(parameters.tensor("bias_ih_l0"));
            float[] biasHh = array(parameters.tensor("bias_hh_l0"));
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
        try (Parameters parameters = GateConventions.onnxLstm(I, H, "forward", w, r, null, p);
             Parameters zero = GateConventions.onnxLstm(I, H, "forward", w, r, null, new float[3 * H]);
             Parameters none = GateConventions.onnxLstm(I, H, "forward", w, r, null, null)) {
            assertArrayEquals(expected, array(parameters.tensor("peephole_l0")));
            assertFalse(zero.shape().peepholes(), "an all-zero P loads as no peepholes");
            assertFalse(zero.names().contains("peephole_l0"), zero.names().toString());
            assertFalse(none.shape().peepholes(), "no P loads as no peepholes");
        }
    }

    /**
     * With {@code input_forget = 1} a node loads as a CIFG: each entry of W, R, B and P encodes its ONNX block and
     * unit, and the i, c and o blocks must land at the CIFG's gate rows i, g, o, P's p_i and p_o at its peephole
     * rows; the f blocks and p_f are dropped. input_forget = 0 is the LSTM's load, and another value is refused.
     */
    @Test
    void anInputForgetNodeLoadsAsACifgWithoutItsForgetBlocks() {
        float[] w = new float[4 * H * I];
        float[] r = new float[4 * H * H];
        float[] b = new float[8 * H];
        float[] p = new float[3 * H];
        for (int block = 0; block < 4; block++) {
            for (int unit = 0; unit < H; unit++) {
                for (int column = 0; column < I; column++) {
                    w[(block * H + unit) * I + column] = 100 * block + 10 * unit + column;
                }
                for (int column = 0; column < H; column++) {
                    r[(block * H + unit) * H + column] = -(100 * block + 10 * unit + column);
                }
                b[block * H + unit] = 1000 + 100 * block + unit;
                b[4 * H + block * H + unit] = 2000 + 100 * block + unit;
                if (block < 3) {
                    p[block * H + unit] = 3000 + 100 * block + unit;
                }
            }
        }
        int[] onnxBlockOfGate = {0, 3, 1};
        float[] expectedIh = new float[3 * H * I];
        float[] expectedHh = new float[3 * H * H];
        float[] expectedBiasIh = new float[3 * H];
        float[] expectedBiasHh = new float[3 * H];
        float[] expectedPeepholes = new float[2 * H];
        for (int gate = 0; gate < 3; gate++) {
            int block = onnxBlockOfGate[gate];
            for (int unit = 0; unit < H; unit++) {
                for (int column = 0; column < I; column++) {
                    expectedIh[(gate * H + unit) * I + column] = 100 * block + 10 * unit + column;
                }
                for (int column = 0; column < H; column++) {
                    expectedHh[(gate * H + unit) * H + column] = -(100 * block + 10 * unit + column);
                }
                expectedBiasIh[gate * H + unit] = 1000 + 100 * block + unit;
                expectedBiasHh[gate * H + unit] = 2000 + 100 * block + unit;
            }
        }
        for (int peephole = 0; peephole < 2; peephole++) {
            for (int unit = 0; unit < H; unit++) {
                expectedPeepholes[peephole * H + unit] = 3000 + 100 * peephole + unit;
            }
        }
        float[] forgetPeepholeOnly = new float[3 * H];
        Arrays.fill(forgetPeepholeOnly, 2 * H, 3 * H, 5f);
        try (Parameters cifg = GateConventions.onnxLstm(I, H, "forward", 1, w, r, b, p);
             Parameters lstm = GateConventions.onnxLstm(I, H, "forward", 0, w, r, b, p);
             Parameters onlyForgetPeephole = GateConventions.onnxLstm(I, H, "forward", 1, w, r, b,
                     forgetPeepholeOnly)) {
            assertEquals(RnnShape.of(Cell.CIFG, I, H).withPeepholes(true), cifg.shape());
            assertArrayEquals(expectedIh, array(cifg.tensor("weight_ih_l0")));
            assertArrayEquals(expectedHh, array(cifg.tensor("weight_hh_l0")));
            assertArrayEquals(expectedBiasIh, array(cifg.tensor("bias_ih_l0")));
            assertArrayEquals(expectedBiasHh, array(cifg.tensor("bias_hh_l0")));
            assertArrayEquals(expectedPeepholes, array(cifg.tensor("peephole_l0")));
            assertEquals(Cell.LSTM, lstm.shape().cell());
            assertFalse(onlyForgetPeephole.shape().peepholes(), "p_i and p_o all zero: no peepholes");
        }
        refusedExactly(() -> GateConventions.onnxLstm(I, H, "forward", 2, w, r, b, p),
                "input_forget must be 0 or 1, got 2");
    }

    /**
     * A bidirectional node's direction d is what {@link GateConventions#onnxLstm} makes of its slice d of W, R, B
     * and P as a forward node, under the names of direction d ({@code _reverse} for d = 1); since one direction has
     * peepholes, every direction has them ({@code peephole_l0}, vlstm's own name; zeros for the reverse one, whose P
     * is all zeros and which loads as a forward node without peepholes).
     */
    @Test
    void aBidirectionalNodeLoadsEachDirectionAsOneLayer() {
        java.util.SplittableRandom random = new java.util.SplittableRandom(5);
        float[] w = random(random, 2 * 4 * H * I);
        float[] r = random(random, 2 * 4 * H * H);
        float[] b = random(random, 2 * 8 * H);
        float[] p = random(random, 2 * 3 * H);
        java.util.Arrays.fill(p, 3 * H, 6 * H, 0f);
        try (Parameters named = GateConventions.onnxLstm(I, H, "bidirectional", w, r, b, p)) {
            assertEquals(List.of("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "peephole_l0",
                    "weight_ih_l0_reverse", "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse",
                    "peephole_l0_reverse"), named.names());
            assertEquals(RnnShape.of(Cell.LSTM, I, H).withDirection(Direction.BIDIRECTIONAL).withPeepholes(true),
                    named.shape());
            for (int d = 0; d < 2; d++) {
                try (Parameters expected = GateConventions.onnxLstm(I, H, "forward", part(w, d), part(r, d),
                        part(b, d), part(p, d))) {
                    assertEquals(RnnShape.of(Cell.LSTM, I, H).withPeepholes(d == 0), expected.shape());
                    String suffix = d == 0 ? "" : "_reverse";
                    for (String stem : List.of("weight_ih", "weight_hh", "bias_ih", "bias_hh")) {
                        assertArrayEquals(array(expected.tensor(stem + "_l0")), array(named.tensor(stem + "_l0"
                                + suffix)), stem + " of direction " + d);
                    }
                    assertArrayEquals(d == 0 ? array(expected.tensor("peephole_l0")) : new float[3 * H],
                            array(named.tensor("peephole_l0" + suffix)), "peephole_l0" + suffix);
                }
            }
        }
    }

    @Test
    void aNodeOfTheWrongLengthsOrDirectionIsRefusedByName() {
        float[] w = new float[2 * 4 * H * I];
        float[] r = new float[2 * 4 * H * H];
        refused(() -> GateConventions.onnxLstm(I, H, "bidirectional", w, new float[4 * H * H], null, null),
                "R must hold [D=2][4H=12][H=3] = 72 floats, got 36");
        refused(() -> GateConventions.onnxLstm(I, H, "bidirectional", w, r, new float[8 * H], null),
                "B must hold [D=2][8H=24] = 48 floats, got 24");
        refused(() -> GateConventions.onnxLstm(I, H, "forward", w, r, null, null),
                "W must hold [D=1][4H=12][I=2] = 24 floats, got 48");
        refused(() -> GateConventions.onnxLstm(I, H, "reverse", w, r, null, null),
                "direction \"reverse\" is not supported", "reverse each sequence");
        refused(() -> GateConventions.onnxLstm(I, H, "Bidirectional", w, r, null, null),
                "direction must be \"forward\" or \"bidirectional\", got \"Bidirectional\"");
        assertThrows(NullPointerException.class, () -> GateConventions.onnxLstm(I, H, null, w, r, null, null));
        refused(() -> GateConventions.toOnnxY(new float[5], 2, 1, 2, 1), "y must hold [T=2][B=1][D*H=2] = 4 floats");
        refused(() -> GateConventions.toOnnxY(new float[4], 2, 1, 3, 1), "directions 1 or 2");
    }

    /** y {@code [T][B][D·H]} to Y {@code [T][D][B][H]}: each value encodes t, b, d and unit, and must land there. */
    @Test
    void toOnnxYPutsTheDirectionsOutsideTheBatch() {
        int steps = 3;
        int batch = 2;
        int units = 4;
        for (int directions = 1; directions <= 2; directions++) {
            float[] y = new float[steps * batch * directions * units];
            float[] expected = new float[y.length];
            for (int t = 0; t < steps; t++) {
                for (int b = 0; b < batch; b++) {
                    for (int d = 0; d < directions; d++) {
                        for (int unit = 0; unit < units; unit++) {
                            float code = 1000 * t + 100 * b + 10 * d + unit;
                            y[((t * batch + b) * directions + d) * units + unit] = code;
                            expected[((t * directions + d) * batch + b) * units + unit] = code;
                        }
                    }
                }
            }
            assertArrayEquals(expected, GateConventions.toOnnxY(y, steps, batch, directions, units), "D=" + directions);
        }
    }

    private static float[] random(java.util.SplittableRandom random, int length) {
        float[] values = new float[length];
        for (int n = 0; n < length; n++) {
            values[n] = (float) random.nextDouble(-1, 1);
        }
        return values;
    }

    /** Direction d of a {@code [2][n]} array. */
    private static float[] part(float[] values, int d) {
        return java.util.Arrays.copyOfRange(values, d * values.length / 2, (d + 1) * values.length / 2);
    }

    private static void refused(org.junit.jupiter.api.function.Executable call, String... fragments) {
        IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class, call);
        for (String fragment : fragments) {
            assertTrue(thrown.getMessage().contains(fragment), thrown.getMessage());
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
        try (Parameters parameters = GateConventions.kerasLstm(I, H, Direction.FORWARD, kernel, recurrent, bias)) {
            assertArrayEquals(pytorchMatrix(I, false), array(parameters.tensor("weight_ih_l0")));
            assertArrayEquals(pytorchMatrix(H, true), array(parameters.tensor("weight_hh_l0")));
            assertArrayEquals(bias, array(parameters.tensor("bias_ih_l0")));
            assertArrayEquals(new float[4 * H], array(parameters.tensor("bias_hh_l0")));
        }
    }

    @Test
    void wrongLengthsAreRefused() {
        float[] w = new float[4 * H * I];
        float[] r = new float[4 * H * H];
        refusedExactly(() -> GateConventions.onnxLstm(I, H, "forward", w, r, null, new float[3 * H + 1]),
                "P must hold [D=1][3H=9] = 9 floats, got 10");
        refusedExactly(() -> GateConventions.kerasLstm(I, H, Direction.FORWARD, new float[5], new float[4 * H * H],
                null), "kernel must hold [D=1][I=2][4H=12] = 24 floats, got 5");
        assertThrows(NullPointerException.class, () -> GateConventions.onnxLstm(I, H, "forward", w, null, null,
                null));
    }

    /** A node whose P is all zeros has no peephole tensors; one with peepholes saves them and loads them back. */
    @Test
    void anAllZeroPHasNoPeepholeTensorsAndPeepholesAreSaved(@TempDir Path directory) throws IOException {
        float[] w = new float[2 * 4 * H * I];
        float[] r = new float[2 * 4 * H * H];
        float[] p = new float[2 * 3 * H];
        try (Parameters zero = GateConventions.onnxLstm(I, H, "bidirectional", w, r, null, p)) {
            assertEquals(List.of("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse",
                    "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse"), zero.names());
        }
        p[4] = 0.5f;
        Path file = directory.resolve("peepholes.safetensors");
        try (Parameters peepholes = GateConventions.onnxLstm(I, H, "bidirectional", w, r, null, p)) {
            peepholes.save(file, "", Map.of());
            try (Parameters loaded = Parameters.load(file, null)) {
                assertEquals(peepholes.names(), loaded.names());
                assertTrue(loaded.names().contains("peephole_l0_reverse"), loaded.names().toString());
                for (String name : peepholes.names()) {
                    assertArrayEquals(peepholes.tensor(name).toArray(ValueLayout.JAVA_FLOAT),
                            loaded.tensor(name).toArray(ValueLayout.JAVA_FLOAT), name);
                }
            }
        }
    }

    @Test
    void badOnnxNodesAreRefusedWithTheirReason() {
        float[] w = new float[2 * 4 * H * I];
        float[] r = new float[2 * 4 * H * H];
        refusedExactly(() -> GateConventions.onnxLstm(I, H, "bidirectional", new float[4 * H * I], r, null, null),
                "W must hold [D=2][4H=12][I=2] = 48 floats, got 24");
        refusedExactly(() -> GateConventions.onnxLstm(I, H, "forward", new float[4 * H * I], new float[4 * H * H],
                new float[4 * H], null), "B must hold [D=1][8H=24] = 24 floats, got 12");
        refusedExactly(() -> GateConventions.onnxLstm(I, H, "bidirectional", w, r, null, new float[3 * H]),
                "P must hold [D=2][3H=9] = 18 floats, got 9");
        float[] gruW = new float[2 * 3 * H * I];
        float[] gruR = new float[2 * 3 * H * H];
        refusedExactly(() -> GateConventions.onnxGru(I, H, "forward", 1, gruW, gruR, null),
                "W must hold [D=1][3H=9][I=2] = 18 floats, got 36");
        refusedExactly(() -> GateConventions.onnxGru(I, H, "bidirectional", 1, gruW, new float[3 * H * H], null),
                "R must hold [D=2][3H=9][H=3] = 54 floats, got 27");
        refusedExactly(() -> GateConventions.onnxGru(I, H, "bidirectional", 1, gruW, gruR, new float[6 * H]),
                "B must hold [D=2][6H=18] = 36 floats, got 18");
        refusedExactly(() -> GateConventions.onnxGru(I, H, "bidirectional", 0, gruW, gruR, null),
                "linear_before_reset must be 1, got 0: vlstm's GRU is PyTorch's, which applies the reset gate after"
                        + " the recurrent weights, r ⊙ (R_h·h + Rb_h), as ONNX does with linear_before_reset = 1;"
                        + " with 0 ONNX computes R_h·(r ⊙ h) + Rb_h, another function of the same weights");
        refused(() -> GateConventions.onnxGru(I, H, "reverse", 1, gruW, gruR, null),
                "direction \"reverse\" is not supported");
    }

    @Test
    void badKerasLayersAreRefusedWithTheirReason() {
        float[] kernel = new float[2 * I * 4 * H];
        float[] recurrent = new float[2 * H * 4 * H];
        refusedExactly(() -> GateConventions.kerasLstm(I, H, Direction.BIDIRECTIONAL, new float[I * 4 * H], recurrent,
                null), "kernel must hold [D=2][I=2][4H=12] = 48 floats, got 24");
        refusedExactly(() -> GateConventions.kerasLstm(I, H, Direction.FORWARD, new float[I * 4 * H],
                new float[H * 4 * H + 1], null), "recurrent_kernel must hold [D=1][H=3][4H=12] = 36 floats, got 37");
        refusedExactly(() -> GateConventions.kerasLstm(I, H, Direction.BIDIRECTIONAL, kernel, recurrent,
                new float[4 * H]), "bias must hold [D=2][4H=12] = 24 floats, got 12");
        refusedExactly(() -> GateConventions.kerasGru(I, H, Direction.FORWARD, true, new float[I * 3 * H],
                new float[H * 3 * H], new float[3 * H]), "bias must hold [D=1][2][3H=9] = 18 floats, got 9");
        refusedExactly(() -> GateConventions.kerasGru(I, H, Direction.FORWARD, false, new float[I * 3 * H],
                new float[H * 3 * H], new float[3 * H]), "a Keras GRU with reset_after=False is not supported:"
                + " vlstm's GRU is PyTorch's, which applies the reset gate after the recurrent kernel,"
                + " r ⊙ (h·U_h + b'_h), as Keras does with reset_after=True; with False Keras computes (r ⊙ h)·U_h,"
                + " another function of the same weights");
        assertThrows(NullPointerException.class, () -> GateConventions.kerasGru(I, H, null, true,
                new float[I * 3 * H], new float[H * 3 * H], null));
    }

    private static void refusedExactly(org.junit.jupiter.api.function.Executable call, String message) {
        assertEquals(message, assertThrows(IllegalArgumentException.class, call).getMessage());
    }
}
