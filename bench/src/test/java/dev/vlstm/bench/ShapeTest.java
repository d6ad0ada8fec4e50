package dev.vlstm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.openjdk.jmh.annotations.Param;

/** The shapes' flop counts and kinds, worked out by hand. */
class ShapeTest {

    @Test
    void oneLayerCountsEightHTimesIPlusHPerRow() {
        Shape train = Shape.named("train-B32-T25-H512");
        assertEquals(8.0 * 512 * (512 + 512) * 32 * 25, train.flops());
        assertEquals(3 * 8.0 * 512 * 1024 * 32 * 25, Shape.named("bptt-train-B32-T25-H512").flops());
    }

    @Test
    void aStackSumsItsLayersAndDirectionsWithTwoHInputsAboveTheFirst() {
        // Layer 0: two directions of 4H × (H + H) weights; layer 1: two of 4H × (2H + H); H = 256, B·T = 200 rows.
        Shape stack = Shape.named("stack-L2-bi-B4-T50-H256");
        double weights = 2 * 4.0 * 256 * 512 + 2 * 4.0 * 256 * 768;
        assertEquals(2 * weights * 200, stack.flops());
        assertTrue(stack.stacked());
        assertFalse(stack.variableLengths());
        assertFalse(Comparison.runsOnnx(stack));
        assertEquals(StackBenchmark.class, Comparison.benchmarkOf(stack));
    }

    @Test
    void aVariableLengthStackCountsOnlyTheValidRows() {
        Shape stack = Shape.named("stack-varlen-L2-bi-B32-T25-H256");
        assertTrue(stack.stacked());
        assertTrue(stack.variableLengths());
        long rows = 0;
        for (int length : stack.lengths()) {
            assertTrue(length >= 1 && length <= 25, "length " + length);
            rows += length;
        }
        assertEquals(rows, stack.validRows());
        assertTrue(rows < 32 * 25, "some sequences are shorter than T");
        double weights = 2 * 4.0 * 256 * 512 + 2 * 4.0 * 256 * 768;
        assertEquals(2 * weights * rows, stack.flops());
    }

    @Test
    void aGruCountsThreeGatesAndIsTimedByItsOwnBenchmark() {
        Shape step = Shape.named("gru-step-H256");
        assertTrue(step.gru() && step.streaming() && !step.training());
        assertEquals(6.0 * 256 * 512, step.flops());
        Shape train = Shape.named("gru-bptt-train-B32-T25-H512");
        assertTrue(train.training() && !train.streaming());
        assertEquals(3 * 6.0 * 512 * 1024 * 32 * 25, train.flops());
        Shape sequence = Shape.named("gru-seq-B1-T100-H256");
        assertFalse(sequence.training() || sequence.streaming());
        for (Shape shape : Shape.GRU) {
            assertEquals(GruBenchmark.class, Comparison.benchmarkOf(shape), shape.name());
        }
        assertFalse(Shape.named("step-H256").gru());
    }

    @Test
    void theComparisonRunsTheLstmsShapesThenTheGrus() {
        assertTrue(Shape.LSTM.stream().noneMatch(Shape::gru));
        assertTrue(Shape.GRU.stream().allMatch(Shape::gru));
        assertEquals(Shape.LSTM, Shape.ALL.subList(0, Shape.LSTM.size()));
        assertEquals(Shape.GRU, Shape.ALL.subList(Shape.LSTM.size(), Shape.ALL.size()));
    }

    @Test
    void everyGateShapeIsAParameterOfItsBenchmark() throws ReflectiveOperationException {
        for (String name : PerformanceGate.SHAPES) {
            Class<?> benchmark = Comparison.benchmarkOf(Shape.named(name));
            Class<?> problem = Class.forName(benchmark.getName() + "$Problem");
            Param param = problem.getField("shape").getAnnotation(Param.class);
            assertTrue(List.of(param.value()).contains(name), name + " is not a shape of " + benchmark);
        }
    }
}
