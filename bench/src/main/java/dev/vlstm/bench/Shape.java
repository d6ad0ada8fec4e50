package dev.vlstm.bench;

import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import dev.vlstm.Cell;
import dev.vlstm.Direction;
import dev.vlstm.Options;
import dev.vlstm.RnnShape;
import dev.vlstm.WeightPrecision;

/**
 * One benchmarked problem: batch B, time steps T and hidden size H, with input size I = H, through L layers of D
 * directions (one layer of one direction but for {@code stack-*} shapes). The name spells the shape out so that the
 * table, JMH's {@code -p shape=...} and the README all use the same words; a suffix {@code -bf16} or {@code -int8}
 * packs the same model's W and U as {@link WeightPrecision#BFLOAT16} or {@link WeightPrecision#INT8}, and a prefix
 * {@code gru-} makes the cell a GRU ({@link GruBenchmark}) instead of an LSTM.
 */
record Shape(String name, int batch, int steps, int size, int layers, int directions) {

    /** One layer, one direction. */
    Shape(String name, int batch, int steps, int size) {
        this(name, batch, steps, size, 1, 1);
    }

    /** The LSTM's shapes, in table order. */
    static final List<Shape> LSTM = List.of(
            new Shape("step-H256", 1, 1, 256),
            new Shape("step-H256-bf16", 1, 1, 256),
            new Shape("step-H256-int8", 1, 1, 256),
            new Shape("step-H512", 1, 1, 512),
            new Shape("step-H1024", 1, 1, 1024),
            new Shape("step-H1024-bf16", 1, 1, 1024),
            new Shape("step-H1024-int8", 1, 1, 1024),
            new Shape("seq-B1-T100-H256", 1, 100, 256),
            new Shape("seq-B1-T50-H1024", 1, 50, 1024),
            new Shape("seq-B1-T50-H1024-bf16", 1, 50, 1024),
            new Shape("seq-B1-T50-H1024-int8", 1, 50, 1024),
            new Shape("seq-B4-T50-H1536", 4, 50, 1536),
            new Shape("train-B32-T25-H512", 32, 25, 512),
            new Shape("train-B64-T25-H1024", 64, 25, 1024),
            new Shape("varlen-B32-T25-H512", 32, 25, 512),
            new Shape("stack-L2-bi-B4-T50-H256", 4, 50, 256, 2, 2),
            new Shape("stack-varlen-L2-bi-B32-T25-H256", 32, 25, 256, 2, 2),
            new Shape("bptt-seq-B1-T100-H256", 1, 100, 256),
            new Shape("bptt-seq-B4-T50-H1536", 4, 50, 1536),
            new Shape("bptt-train-B32-T25-H512", 32, 25, 512),
            new Shape("bptt-train-B64-T25-H1024", 64, 25, 1024));

    /** The GRU's shapes, one per kernel path as the gate's LSTM shapes are. */
    static final List<Shape> GRU = List.of(
            new Shape("gru-step-H256", 1, 1, 256),
            new Shape("gru-seq-B1-T100-H256", 1, 100, 256),
            new Shape("gru-bptt-train-B32-T25-H512", 32, 25, 512));

    /** Every shape the comparison runs, in table order: the LSTM's, then the GRU's. */
    static final List<Shape> ALL = Stream.concat(LSTM.stream(), GRU.stream()).toList();

    private static final String GRU_PREFIX = "gru-";

    /** The shape of that name, from {@link #ALL}. */
    static Shape named(String name) {
        return ALL.stream().filter(shape -> shape.name.equals(name)).findFirst()
                .orElseThrow(() -> new IllegalArgumentException("unknown shape " + name + "; known: "
                        + ALL.stream().map(Shape::name).toList()));
    }

    /** True for a GRU ({@code gru-} prefix), false for an LSTM. */
    boolean gru() {
        return name.startsWith(GRU_PREFIX);
    }

    /** Gates per hidden unit: 3 for a GRU (r, z, n), 4 for an LSTM (i, f, g, o). */
    int gates() {
        return gru() ? 3 : 4;
    }

    /** The name without the cell's prefix: what kind of call the shape times. */
    private String kind() {
        return gru() ? name.substring(GRU_PREFIX.length()) : name;
    }

    private static final String BFLOAT16_SUFFIX = "-bf16";
    private static final String INT8_SUFFIX = "-int8";

    /** How the benchmarked weights are packed: from the name's suffix, FLOAT32 without one. */
    WeightPrecision precision() {
        return name.endsWith(BFLOAT16_SUFFIX) ? WeightPrecision.BFLOAT16
                : name.endsWith(INT8_SUFFIX) ? WeightPrecision.INT8 : WeightPrecision.FLOAT32;
    }

    /** The name of the same problem on float weights: this name without its precision suffix. */
    String floatName() {
        return precision() == WeightPrecision.FLOAT32 ? name : name.substring(0, name.lastIndexOf('-'));
    }

    /** True for one step of a stream ({@code Runner.step}), false for a whole sequence. */
    boolean streaming() {
        return kind().startsWith("step-");
    }

    /**
     * True for a batch of sequences of different lengths ({@code Runner.forward} with {@code lengths}), padded
     * to T; see {@link #lengths()}.
     */
    boolean variableLengths() {
        return name.contains("varlen-");
    }

    /** True for a whole model of L layers and D directions. */
    boolean stacked() {
        return name.startsWith("stack-");
    }

    /**
     * The lengths of a variable-length shape, drawn uniformly from 1..T with a fixed seed (the same every run), or
     * null for a shape whose sequences all have T steps.
     */
    int[] lengths() {
        if (!variableLengths()) {
            return null;
        }
        SplittableRandom random = new SplittableRandom(2026_11_23L);
        int[] lengths = new int[batch];
        for (int b = 0; b < batch; b++) {
            lengths[b] = random.nextInt(1, steps + 1);
        }
        return lengths;
    }

    /** Time steps that run, summed over the batch: B·T, or the sum of the lengths. */
    long validRows() {
        int[] lengths = lengths();
        if (lengths == null) {
            return (long) batch * steps;
        }
        long rows = 0;
        for (int length : lengths) {
            rows += length;
        }
        return rows;
    }

    /** True for a training step: forward and backward through time ({@code Trainer}). */
    boolean training() {
        return kind().startsWith("bptt-");
    }

    /** {@return the model's sizes: its cell, I = H = {@link #size()}, L layers of D directions, no projection} */
    RnnShape rnnShape() {
        return new RnnShape(gru() ? Cell.GRU : Cell.LSTM, size, size, layers,
                directions == 2 ? Direction.BIDIRECTIONAL : Direction.FORWARD, 0, false);
    }

    /**
     * {@return the run-time options of a runner or trainer for this shape: B = {@link #batch()}, T =
     * {@link #steps()}, one thread}
     */
    Options options() {
        return Options.DEFAULT.withMaxBatch(batch).withMaxSteps(steps);
    }

    /**
     * Floating-point operations of one time step: a multiply and an add per weight (G·H × (I + H) per layer and
     * direction, G = {@link #gates()}, I = H in layer 0 and D·H above) per row that runs, and three times that for
     * forward and backward (the backward's dh, dx and weight-gradient GEMMs). For a variable-length shape, the
     * average over its T steps: only steps within a sequence's length count.
     */
    double flopsPerStep() {
        return flops() / steps;
    }

    /**
     * Floating-point operations of the whole call, 2·G·H·(I+H)·B·T (times 3 for training), summed over layers and
     * directions; for a variable-length shape Σ lengths instead of B·T, the padding steps counting nothing.
     */
    double flops() {
        double weights = 0;
        for (int layer = 0; layer < layers; layer++) {
            int inputSize = layer == 0 ? size : directions * size;
            weights += directions * (double) gates() * size * (inputSize + size);
        }
        return (training() ? 3 : 1) * 2 * weights * validRows();
    }
}
