package dev.vlstm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SortedMap;
import java.util.TreeMap;

import org.junit.jupiter.api.Test;

/** The roofline's byte counts and cells, worked out by hand for the comparison's shapes. */
class RooflineTest {

    private static final long MIB = 1 << 20;

    @Test
    void aStepReadsBothWeightMatricesEveryStep() {
        // 4H × (I + H) floats at H = I = 256: 1024 × 512 × 4 bytes.
        Shape step = Shape.named("step-H256");
        assertEquals(2 * MIB, Roofline.residentWeightBytes(step));
        assertEquals(2.0 * MIB, Roofline.weightBytesPerStep(step));
    }

    @Test
    void aSequenceReadsTheRecurrentWeightsEveryStepAndTheInputWeightsOncePerChunk() {
        // U is 4H × H floats = 1 MiB at H = 256; W is read once for all 100 steps (one 2 MiB chunk holds 512).
        Shape sequence = Shape.named("seq-B1-T100-H256");
        assertEquals(MIB, Roofline.residentWeightBytes(sequence));
        assertEquals(MIB + MIB / 100.0, Roofline.weightBytesPerStep(sequence), 1e-6);
    }

    @Test
    void aGruReadsThreeGatesOfWeights() {
        // 3H × (I + H) floats at H = I = 256: 768 × 512 × 4 bytes; a sequence's U alone is 768 × 256 × 4 bytes.
        Shape step = Shape.named("gru-step-H256");
        assertEquals(3 * MIB / 2, Roofline.residentWeightBytes(step));
        Shape sequence = Shape.named("gru-seq-B1-T100-H256");
        assertEquals(3 * MIB / 4, Roofline.residentWeightBytes(sequence));
        assertEquals(3 * MIB / 4 * 1.01, Roofline.weightBytesPerStep(sequence), 1e-6);
    }

    @Test
    void onlyBatchOneInferenceIsBandwidthBound() {
        assertTrue(Roofline.bandwidthBound(Shape.named("step-H1024")));
        assertTrue(Roofline.bandwidthBound(Shape.named("seq-B1-T50-H1024")));
        assertFalse(Roofline.bandwidthBound(Shape.named("seq-B4-T50-H1536")));
        assertFalse(Roofline.bandwidthBound(Shape.named("bptt-seq-B1-T100-H256")));
    }

    @Test
    void cellsCompareWithTheMeasuredRoofs() {
        SortedMap<Integer, Double> bandwidth = new TreeMap<>();
        bandwidth.put(2048, 50.0);
        Roofline roofline = new Roofline(50, bandwidth);
        Shape step = Shape.named("step-H256");
        // 2 MiB in 0.0838861 ms is 25 GB/s, half of 50; 8·256·512 flops in that time are 12.5 GFLOP/s, a quarter of 50.
        double millis = 2.0 * MIB / 25e6;
        assertEquals("50% of 50", roofline.bandwidthCell(step, millis));
        assertEquals("25%", roofline.fmaCell(step, millis));
        assertEquals("", roofline.bandwidthCell(Shape.named("train-B32-T25-H512"), 1));
    }
}
