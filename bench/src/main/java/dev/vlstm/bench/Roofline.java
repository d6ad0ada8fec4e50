package dev.vlstm.bench;

import java.util.List;
import java.util.Locale;
import java.util.SortedMap;
import java.util.SortedSet;
import java.util.TreeSet;

/**
 * The limits one thread of this machine reached in the same run ({@link FmaPeakBenchmark},
 * {@link BandwidthBenchmark}), and each shape's place under them: batched shapes against the FMA peak, batch-1
 * sequences and steps (which read every recurrent weight once per step and little else) against the read
 * bandwidth of a buffer as large as the weights they re-read every step, since that buffer lives in the same
 * level of the memory hierarchy as the weights do.
 *
 * @param fmaGflops    the FMA peak, GFLOP/s
 * @param readGBsByKib read bandwidth in GB/s by buffer size in KiB
 */
record Roofline(double fmaGflops, SortedMap<Integer, Double> readGBsByKib) {

    /** Half of this machine kind's 1 MiB per-core L2: the buffer stays in L2 with room for the loop's own lines. */
    static final int L2_KIB = 512;
    /** A quarter of the 32 MiB L3 that the two cores share. */
    static final int L3_KIB = 8 << 10;
    /** Far larger than every cache: DRAM. */
    static final int DRAM_KIB = 512 << 10;
    /** The gate pre-activations of a runner's default input chunk, as {@link dev.vlstm.Options#chunkSteps()} states. */
    static final long DEFAULT_CHUNK_BYTES = 2L << 20;

    /** True for shapes whose time is bounded by reading the weights: batch-1 inference, steps or sequences. */
    static boolean bandwidthBound(Shape shape) {
        return shape.batch() == 1 && !shape.training();
    }

    /**
     * Weight bytes a batch-1 call re-reads every step: W and U for a step (which projects its own input), U alone
     * for a sequence (whose input projection is one GEMM over a chunk of steps, outside the recurrence).
     */
    static long residentWeightBytes(Shape shape) {
        return shape.streaming() ? inputWeightBytes(shape) + recurrentWeightBytes(shape) : recurrentWeightBytes(shape);
    }

    /**
     * Weight bytes read per step: for a sequence, U every step plus W once per input chunk of a runner whose
     * maxSteps is T ({@link dev.vlstm.Options#chunkSteps()}'s default: {@link #DEFAULT_CHUNK_BYTES} of gate
     * pre-activations, at most T steps), spread over the steps.
     */
    static double weightBytesPerStep(Shape shape) {
        if (shape.streaming()) {
            return residentWeightBytes(shape);
        }
        long gateStepBytes = (long) shape.gates() * Float.BYTES * shape.size() * shape.batch();
        long chunkSteps = Math.max(1, Math.min(shape.steps(), DEFAULT_CHUNK_BYTES / gateStepBytes));
        long chunks = (shape.steps() + chunkSteps - 1) / chunkSteps;
        return recurrentWeightBytes(shape) + (double) chunks * inputWeightBytes(shape) / shape.steps();
    }

    /** W: G·H × I weights (G gates; I = H in every shape) of 4, 2 or 1 bytes (the shape's precision). */
    private static long inputWeightBytes(Shape shape) {
        return (long) shape.gates() * shape.precision().bytesPerWeight() * shape.size() * shape.size();
    }

    /** U: G·H × H weights of 4, 2 or 1 bytes. */
    private static long recurrentWeightBytes(Shape shape) {
        return (long) shape.gates() * shape.precision().bytesPerWeight() * shape.size() * shape.size();
    }

    /** Buffer sizes to measure: L2, L3 and DRAM, and the resident weights of every bandwidth-bound shape. */
    static SortedSet<Integer> bufferKib(List<Shape> shapes) {
        SortedSet<Integer> sizes = new TreeSet<>(List.of(L2_KIB, L3_KIB, DRAM_KIB));
        shapes.stream().filter(Roofline::bandwidthBound)
                .forEach(shape -> sizes.add((int) (residentWeightBytes(shape) >> 10)));
        return sizes;
    }

    /** The shape's GFLOP/s as a percentage of the FMA peak. */
    String fmaCell(Shape shape, double millis) {
        return String.format(Locale.ROOT, "%.0f%%", 100 * shape.flops() / (millis * 1e6) / fmaGflops);
    }

    /**
     * For a bandwidth-bound shape, its weight bytes per step ÷ time per step as a percentage of the bandwidth
     * measured on a buffer of its resident weights' size, and that bandwidth; empty for other shapes.
     */
    String bandwidthCell(Shape shape, double millis) {
        if (!bandwidthBound(shape)) {
            return "";
        }
        double roof = readGBsByKib.get((int) (residentWeightBytes(shape) >> 10));
        double achieved = weightBytesPerStep(shape) * shape.steps() / (millis * 1e6);
        return String.format(Locale.ROOT, "%.0f%% of %.0f", 100 * achieved / roof, roof);
    }

    /** One sentence with the measured limits. */
    String describe() {
        StringBuilder sizes = new StringBuilder();
        readGBsByKib.forEach((kib, rate) -> sizes.append(sizes.isEmpty() ? "" : ", ")
                .append(String.format(Locale.ROOT, "%s %.0f", size(kib), rate)));
        return String.format(Locale.ROOT, "FMA peak %.1f GFLOP/s; read bandwidth in GB/s by buffer size: %s "
                        + "(%s: L2, %s: L3, %s: DRAM)", fmaGflops, sizes, size(L2_KIB), size(L3_KIB),
                size(DRAM_KIB));
    }

    private static String size(int kib) {
        return kib >= 1024 ? (kib >> 10) + " MiB" : kib + " KiB";
    }
}
