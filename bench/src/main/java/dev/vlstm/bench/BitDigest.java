package dev.vlstm.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.UnaryOperator;

import dev.vlstm.Backend;
import dev.vlstm.Direction;
import dev.vlstm.GradientMode;
import dev.vlstm.Gradients;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
import dev.vlstm.SequenceLayout;
import dev.vlstm.State;
import dev.vlstm.Trainer;
import dev.vlstm.WeightPrecision;

/**
 * The exact bits of vlstm's results, for proving that a change of the engine computes what the build before it
 * computed: runs a fixed matrix of seeded cases through the public API and prints one line per case,
 * {@code NAME SHA256}, the SHA-256 of every output byte of the case in a fixed order (y, hT, cT of a forward; each
 * step's h and the final state of a stream; for training also every gradient tensor, dx, dh0 and dc0). The cases
 * cover each cell (LSTM, with peepholes, with projection, with cell clip, with peepholes and a clip, GRU, CIFG, CIFG
 * with peepholes and a clip, GRU with a clip), one layer and a two-layer stack
 * (bidirectional, or unidirectional for streams), batches 1, 3, 4 and 5, full and variable lengths, 1, 2 and 3
 * threads, float32, bfloat16 and int8 weights, forward, stream and training, on the preferred and the scalar
 * kernel, combined pairwise rather than as a full product ({@link #CASES}), every case through {@link Model},
 * {@link Runner}, {@link State} and {@link Trainer}.
 *
 * <p>The lines mean nothing alone: the performance gate runs this class from the baseline's jar and from the
 * candidate's, at each vector width, and requires the same lines ({@link DigestComparison}). No expected digest is
 * stored anywhere.
 *
 * <p>Usage: {@code java --add-modules jdk.incubator.vector -cp vlstm-bench.jar dev.vlstm.bench.BitDigest}.
 */
public final class BitDigest {

    /** The cell and its options. */
    enum Cell {
        LSTM, PEEPHOLES, PROJECTION, CLIP, GRU, PEEPHOLES_CLIP, CIFG, CIFG_PEEPHOLES_CLIP, GRU_CLIP;

        boolean clipped() {
            return this == CLIP || this == PEEPHOLES_CLIP || this == CIFG_PEEPHOLES_CLIP || this == GRU_CLIP;
        }

        boolean peepholes() {
            return this == PEEPHOLES || this == PEEPHOLES_CLIP || this == CIFG_PEEPHOLES_CLIP;
        }

        dev.vlstm.Cell engineCell() {
            return switch (this) {
                case GRU, GRU_CLIP -> dev.vlstm.Cell.GRU;
                case CIFG, CIFG_PEEPHOLES_CLIP -> dev.vlstm.Cell.CIFG;
                default -> dev.vlstm.Cell.LSTM;
            };
        }
    }

    /** One layer, or two layers of two directions, or (for streams, which run one direction) two of one. */
    enum Topology { LAYER, STACK_BIDIRECTIONAL, STACK }

    /** A forward over a sequence, T single steps of a stream, or a forward and backward. */
    enum Mode { FORWARD, STREAM, TRAIN }

    /**
     * Which outputs a case digests and how its runner chunks its input. {@link #MODEL} (named with a {@code -model}
     * suffix): every output, and a runner that projects {@link #PROJECTION_STEPS} steps at a time. {@link #PLAIN}: a
     * one-layer stream digests no final h (it is the last step's h, digested already), and a stack's runner
     * projects its whole sequence at once.
     */
    enum Variant { PLAIN, MODEL }

    /**
     * One case of the matrix.
     *
     * @param lengths true for sequences of different lengths ({@link #lengths(int)}), false for all T steps
     */
    record Case(Cell cell, Topology topology, Mode mode, int batch, boolean lengths, int threads,
                WeightPrecision precision, Backend backend, Variant variant) {

        Case(Cell cell, Topology topology, Mode mode, int batch, boolean lengths, int threads,
             WeightPrecision precision, Backend backend) {
            this(cell, topology, mode, batch, lengths, threads, precision, backend, Variant.PLAIN);
        }

        /**
         * The name printed before the digest, e.g. {@code gru-stack2bi-train-B3-varlen-t2-float32-preferred}, with
         * {@code -model} at the end for the {@link Variant#MODEL} cases.
         */
        String name() {
            String topologyName = switch (topology) {
                case LAYER -> "layer";
                case STACK_BIDIRECTIONAL -> "stack2bi";
                case STACK -> "stack2";
            };
            return String.join("-", cell.name().toLowerCase(Locale.ROOT), topologyName,
                    mode.name().toLowerCase(Locale.ROOT), "B" + batch, lengths ? "varlen" : "full", "t" + threads,
                    precision.name().toLowerCase(Locale.ROOT), backend.name().toLowerCase(Locale.ROOT))
                    + (variant == Variant.MODEL ? "-model" : "");
        }
    }

    /** Input size I. */
    static final int INPUT = 11;
    /** Hidden size H: three vector blocks even at 512 bits, so that 2 and 3 threads each get work. */
    static final int HIDDEN = 37;
    /** Projection size P. */
    static final int PROJECTED = 13;
    /** Time steps T. */
    static final int STEPS = 7;
    /** Time steps projected together by a runner: T is not a multiple, so a call has a short last chunk. */
    static final int PROJECTION_STEPS = 3;
    /** The clip of the {@link Cell#clipped} cells, below many of the model's pre-activations so that it acts. */
    static final float CELL_CLIP = 0.5f;

    private static final WeightPrecision F32 = WeightPrecision.FLOAT32;
    private static final WeightPrecision BF16 = WeightPrecision.BFLOAT16;
    private static final WeightPrecision INT8 = WeightPrecision.INT8;
    private static final Backend VECTOR = Backend.PREFERRED;
    private static final Backend SCALAR = Backend.SCALAR;

    /** Every case, in print order. */
    static final List<Case> CASES = List.of(
            new Case(Cell.LSTM, Topology.LAYER, Mode.FORWARD, 1, false, 1, F32, VECTOR),
            new Case(Cell.LSTM, Topology.LAYER, Mode.FORWARD, 3, true, 2, BF16, VECTOR),
            new Case(Cell.LSTM, Topology.LAYER, Mode.FORWARD, 4, false, 3, INT8, VECTOR),
            new Case(Cell.LSTM, Topology.LAYER, Mode.FORWARD, 5, true, 1, INT8, VECTOR),
            new Case(Cell.PEEPHOLES, Topology.LAYER, Mode.FORWARD, 5, false, 2, F32, VECTOR),
            new Case(Cell.PROJECTION, Topology.LAYER, Mode.FORWARD, 3, false, 3, BF16, VECTOR),
            new Case(Cell.CLIP, Topology.LAYER, Mode.FORWARD, 4, true, 2, F32, VECTOR),
            new Case(Cell.GRU, Topology.LAYER, Mode.FORWARD, 1, false, 1, F32, VECTOR),
            new Case(Cell.GRU, Topology.LAYER, Mode.FORWARD, 5, true, 3, F32, VECTOR),
            new Case(Cell.LSTM, Topology.STACK_BIDIRECTIONAL, Mode.FORWARD, 4, true, 2, BF16, VECTOR),
            new Case(Cell.PEEPHOLES, Topology.STACK_BIDIRECTIONAL, Mode.FORWARD, 3, false, 1, F32, VECTOR),
            new Case(Cell.PROJECTION, Topology.STACK_BIDIRECTIONAL, Mode.FORWARD, 5, true, 3, F32, VECTOR),
            new Case(Cell.CLIP, Topology.STACK_BIDIRECTIONAL, Mode.FORWARD, 1, false, 2, INT8, VECTOR),
            new Case(Cell.GRU, Topology.STACK_BIDIRECTIONAL, Mode.FORWARD, 3, true, 2, F32, VECTOR),
            new Case(Cell.LSTM, Topology.LAYER, Mode.STREAM, 3, false, 2, INT8, VECTOR),
            new Case(Cell.PROJECTION, Topology.LAYER, Mode.STREAM, 1, false, 3, F32, VECTOR),
            new Case(Cell.GRU, Topology.LAYER, Mode.STREAM, 4, false, 1, F32, VECTOR),
            new Case(Cell.PEEPHOLES, Topology.STACK, Mode.STREAM, 5, false, 1, BF16, VECTOR),
            new Case(Cell.GRU, Topology.STACK, Mode.STREAM, 1, false, 2, F32, VECTOR),
            new Case(Cell.LSTM, Topology.LAYER, Mode.TRAIN, 4, false, 1, F32, VECTOR),
            new Case(Cell.PEEPHOLES, Topology.LAYER, Mode.TRAIN, 3, true, 2, F32, VECTOR),
            new Case(Cell.PROJECTION, Topology.LAYER, Mode.TRAIN, 5, false, 3, F32, VECTOR),
            new Case(Cell.CLIP, Topology.LAYER, Mode.TRAIN, 1, true, 3, F32, VECTOR),
            new Case(Cell.GRU, Topology.LAYER, Mode.TRAIN, 3, true, 2, F32, VECTOR),
            new Case(Cell.GRU, Topology.LAYER, Mode.TRAIN, 5, false, 1, F32, VECTOR),
            new Case(Cell.LSTM, Topology.STACK_BIDIRECTIONAL, Mode.TRAIN, 3, true, 3, F32, VECTOR),
            new Case(Cell.PEEPHOLES, Topology.STACK_BIDIRECTIONAL, Mode.TRAIN, 4, false, 2, F32, VECTOR),
            new Case(Cell.PROJECTION, Topology.STACK_BIDIRECTIONAL, Mode.TRAIN, 1, true, 1, F32, VECTOR),
            new Case(Cell.CLIP, Topology.STACK_BIDIRECTIONAL, Mode.TRAIN, 5, false, 2, F32, VECTOR),
            new Case(Cell.GRU, Topology.STACK_BIDIRECTIONAL, Mode.TRAIN, 4, true, 3, F32, VECTOR),
            new Case(Cell.LSTM, Topology.LAYER, Mode.FORWARD, 3, true, 1, INT8, SCALAR),
            new Case(Cell.PEEPHOLES, Topology.LAYER, Mode.TRAIN, 4, true, 1, F32, SCALAR),
            new Case(Cell.GRU, Topology.LAYER, Mode.TRAIN, 5, true, 1, F32, SCALAR),
            new Case(Cell.LSTM, Topology.STACK, Mode.STREAM, 5, false, 1, F32, SCALAR),
            new Case(Cell.GRU, Topology.STACK_BIDIRECTIONAL, Mode.FORWARD, 4, false, 1, F32, SCALAR),
            new Case(Cell.LSTM, Topology.LAYER, Mode.FORWARD, 2, false, 1, F32, VECTOR, Variant.MODEL),
            new Case(Cell.PROJECTION, Topology.STACK_BIDIRECTIONAL, Mode.FORWARD, 4, true, 2, BF16, VECTOR,
                    Variant.MODEL),
            new Case(Cell.GRU, Topology.STACK_BIDIRECTIONAL, Mode.FORWARD, 4, true, 3, F32, VECTOR, Variant.MODEL),
            new Case(Cell.CLIP, Topology.STACK, Mode.STREAM, 3, false, 2, INT8, VECTOR, Variant.MODEL),
            new Case(Cell.PEEPHOLES, Topology.LAYER, Mode.STREAM, 1, false, 1, F32, VECTOR, Variant.MODEL),
            new Case(Cell.GRU, Topology.STACK, Mode.STREAM, 5, false, 2, F32, SCALAR, Variant.MODEL),
            new Case(Cell.LSTM, Topology.STACK_BIDIRECTIONAL, Mode.TRAIN, 5, true, 2, F32, VECTOR, Variant.MODEL),
            new Case(Cell.PROJECTION, Topology.LAYER, Mode.TRAIN, 4, false, 1, F32, VECTOR, Variant.MODEL),
            new Case(Cell.GRU, Topology.STACK_BIDIRECTIONAL, Mode.TRAIN, 1, true, 3, F32, VECTOR, Variant.MODEL),
            new Case(Cell.CIFG, Topology.LAYER, Mode.FORWARD, 3, true, 2, F32, VECTOR),
            new Case(Cell.CIFG_PEEPHOLES_CLIP, Topology.LAYER, Mode.FORWARD, 4, false, 1, F32, VECTOR),
            new Case(Cell.CIFG, Topology.STACK_BIDIRECTIONAL, Mode.TRAIN, 3, true, 2, F32, VECTOR),
            new Case(Cell.CIFG_PEEPHOLES_CLIP, Topology.LAYER, Mode.TRAIN, 5, true, 3, F32, VECTOR),
            new Case(Cell.CIFG_PEEPHOLES_CLIP, Topology.STACK, Mode.STREAM, 2, false, 2, F32, VECTOR),
            new Case(Cell.PEEPHOLES_CLIP, Topology.LAYER, Mode.TRAIN, 4, true, 2, F32, VECTOR),
            new Case(Cell.PEEPHOLES_CLIP, Topology.STACK_BIDIRECTIONAL, Mode.TRAIN, 3, false, 1, F32, VECTOR),
            new Case(Cell.CIFG_PEEPHOLES_CLIP, Topology.LAYER, Mode.TRAIN, 3, true, 1, F32, SCALAR),
            new Case(Cell.PEEPHOLES_CLIP, Topology.LAYER, Mode.TRAIN, 2, false, 1, F32, SCALAR),
            new Case(Cell.CLIP, Topology.LAYER, Mode.TRAIN, 3, true, 1, F32, SCALAR),
            new Case(Cell.GRU_CLIP, Topology.LAYER, Mode.FORWARD, 3, true, 2, F32, VECTOR),
            new Case(Cell.GRU_CLIP, Topology.STACK, Mode.STREAM, 4, false, 1, F32, VECTOR),
            new Case(Cell.GRU_CLIP, Topology.LAYER, Mode.TRAIN, 5, true, 3, F32, VECTOR),
            new Case(Cell.GRU_CLIP, Topology.STACK_BIDIRECTIONAL, Mode.TRAIN, 3, false, 2, F32, VECTOR),
            new Case(Cell.GRU_CLIP, Topology.LAYER, Mode.TRAIN, 4, true, 1, F32, SCALAR),
            new Case(Cell.GRU_CLIP, Topology.STACK_BIDIRECTIONAL, Mode.FORWARD, 3, true, 1, F32, SCALAR));

    private BitDigest() {
    }

    public static void main(String[] args) {
        if (args.length != 0) {
            System.err.println("usage: java --add-modules jdk.incubator.vector -cp vlstm-bench.jar "
                    + "dev.vlstm.bench.BitDigest");
            System.exit(2);
        }
        lines().forEach(System.out::println);
    }

    /** One line per case of {@link #CASES}, in order: {@code NAME SHA256}. */
    static List<String> lines() {
        List<String> lines = new ArrayList<>();
        for (Case c : CASES) {
            lines.add(c.name() + " " + digest(c, UnaryOperator.identity()));
        }
        return lines;
    }

    /**
     * The SHA-256 of every output of {@code c}, as lower-case hex; {@code editInput} may change the seeded input x
     * ({@code [T][B][I]}) before it is used, so that a test can prove the digest sees one element.
     */
    static String digest(Case c, UnaryOperator<float[]> editInput) {
        SplittableRandom random = new SplittableRandom(RandomLstm.SEED);
        Outputs outputs = new Outputs();
        try (Arena arena = Arena.ofConfined()) {
            Io io = new Io(c, random, arena, editInput);
            run(c, random, io, outputs);
        }
        return outputs.hex();
    }

    /**
     * The lengths of a variable-length case, not sorted: T for the first sequence (so that x's first element is
     * always read), then 2, 5, 0 and 3.
     */
    static int[] lengths(int batch) {
        int[] lengths = new int[batch];
        for (int b = 0; b < batch; b++) {
            lengths[b] = Math.floorMod(STEPS - 5 * b, STEPS + 1);
        }
        return lengths;
    }

    /** A case's seeded input, initial states, output gradients and output buffers. */
    private static final class Io {
        final Arena arena;
        final MemorySegment x;
        final MemorySegment h0;
        final MemorySegment c0;
        final MemorySegment dy;
        final MemorySegment dhT;
        final MemorySegment dcT;

        Io(Case c, SplittableRandom random, Arena arena, UnaryOperator<float[]> editInput) {
            this.arena = arena;
            int directions = c.topology == Topology.STACK_BIDIRECTIONAL ? 2 : 1;
            int width = c.cell == Cell.PROJECTION ? PROJECTED : HIDDEN;
            int states = (c.topology == Topology.LAYER ? 1 : 2) * directions;
            this.x = RandomLstm.toNative(arena, editInput.apply(
                    RandomLstm.uniform(random, STEPS * c.batch * INPUT, 1f)));
            this.h0 = RandomLstm.toNative(arena, RandomLstm.uniform(random, states * c.batch * width, 1f));
            this.c0 = RandomLstm.toNative(arena, RandomLstm.uniform(random, states * c.batch * HIDDEN, 1f));
            this.dy = RandomLstm.toNative(arena, RandomLstm.uniform(random, STEPS * c.batch * directions * width, 1f));
            this.dhT = RandomLstm.toNative(arena, RandomLstm.uniform(random, states * c.batch * width, 1f));
            this.dcT = RandomLstm.toNative(arena, RandomLstm.uniform(random, states * c.batch * HIDDEN, 1f));
        }

        MemorySegment like(MemorySegment segment) {
            return RandomLstm.floats(arena, segment.byteSize() / Float.BYTES);
        }
    }

    /** The bytes of a case's outputs, in the order they are added. */
    private static final class Outputs {
        private final MessageDigest sha256;

        Outputs() {
            try {
                sha256 = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("every Java platform has SHA-256", e);
            }
        }

        void add(MemorySegment... segments) {
            for (MemorySegment segment : segments) {
                if (segment != null) {
                    sha256.update(segment.toArray(ValueLayout.JAVA_BYTE));
                }
            }
        }

        String hex() {
            return HexFormat.of().formatHex(sha256.digest());
        }
    }

    private static float clip(Case c) {
        return c.cell.clipped() ? CELL_CLIP : Float.POSITIVE_INFINITY;
    }

    /** Row {@code step} of a {@code [T][B][width]} sequence. */
    private static MemorySegment stepOf(MemorySegment sequence, int step) {
        long bytes = sequence.byteSize() / STEPS;
        return sequence.asSlice(step * bytes, bytes);
    }

    /** The case's shape: two layers for a stack, P for projection, peepholes. */
    private static RnnShape shape(Case c) {
        RnnShape shape = RnnShape.of(c.cell.engineCell(), INPUT, HIDDEN)
                .withLayers(c.topology == Topology.LAYER ? 1 : 2)
                .withDirection(c.topology == Topology.STACK_BIDIRECTIONAL ? Direction.BIDIRECTIONAL : Direction.FORWARD)
                .withPeepholes(c.cell.peepholes());
        return c.cell == Cell.PROJECTION ? shape.withProjection(PROJECTED) : shape;
    }

    /**
     * Seeded arrays in PyTorch's {@code _flat_weights} order for {@link Parameters#fromPyTorch}: per layer and
     * direction W, U, b_ih, b_hh, W_hr and the peepholes, each U(-1/√H, 1/√H).
     */
    private static float[][] flatWeights(RnnShape shape, SplittableRandom random) {
        float bound = (float) (1 / Math.sqrt(HIDDEN));
        int gateRows = shape.gates() * HIDDEN;
        int directions = shape.direction().count();
        List<float[]> arrays = new ArrayList<>();
        for (int part = 0; part < shape.stateCount(); part++) {
            arrays.add(RandomLstm.uniform(random, gateRows * shape.layerInputSize(part / directions), bound));
            arrays.add(RandomLstm.uniform(random, gateRows * shape.hiddenStateSize(), bound));
            arrays.add(RandomLstm.uniform(random, gateRows, bound));
            arrays.add(RandomLstm.uniform(random, gateRows, bound));
            if (shape.projectionSize() > 0) {
                arrays.add(RandomLstm.uniform(random, shape.projectionSize() * HIDDEN, bound));
            }
            if (shape.peepholes()) {
                arrays.add(RandomLstm.uniform(random, shape.cell().peepholeVectors() * HIDDEN, bound));
            }
        }
        return arrays.toArray(float[][]::new);
    }

    /**
     * The time steps a case's runner projects its input in: {@link #PROJECTION_STEPS} but for the stacks of the
     * {@link Variant#PLAIN} cases, which take the default chunk (all T steps).
     */
    private static int chunkSteps(Case c) {
        return c.variant == Variant.PLAIN && c.topology != Topology.LAYER ? 0 : PROJECTION_STEPS;
    }

    /** A case through {@link Model}, {@link Runner}, {@link State} and {@link Trainer}, whatever its cell. */
    private static void run(Case c, SplittableRandom random, Io io, Outputs outputs) {
        boolean gru = c.cell.engineCell() == dev.vlstm.Cell.GRU;
        Options options = Options.DEFAULT.withPrecision(c.precision).withBackend(c.backend).withCellClip(clip(c))
                .withMaxBatch(c.batch).withMaxSteps(STEPS).withThreads(c.threads).withChunkSteps(chunkSteps(c));
        try (Parameters parameters = Parameters.fromPyTorch(shape(c), flatWeights(shape(c), random));
             Model model = Model.pack(parameters, options)) {
            MemorySegment c0 = gru ? null : io.c0;
            MemorySegment y = io.like(io.dy);
            MemorySegment hT = io.like(io.h0);
            MemorySegment cT = gru ? null : io.like(io.c0);
            if (c.mode == Mode.TRAIN) {
                try (Trainer trainer = model.trainer(); Gradients gradients = new Gradients(model.shape())) {
                    if (c.lengths) {
                        trainer.forward(io.x, SequenceLayout.TIME_MAJOR, STEPS, c.batch, lengths(c.batch), io.h0, c0,
                                y, hT, cT);
                    } else {
                        trainer.forward(io.x, STEPS, c.batch, io.h0, c0, y, hT, cT);
                    }
                    MemorySegment dx = io.like(io.x);
                    MemorySegment dh0 = io.like(io.h0);
                    MemorySegment dc0 = gru ? null : io.like(io.c0);
                    trainer.backward(io.dy, io.dhT, gru ? null : io.dcT, gradients, GradientMode.OVERWRITE, dx, dh0,
                            dc0);
                    outputs.add(y, hT, cT);
                    for (String name : gradients.names()) {
                        outputs.add(gradients.tensor(name));
                    }
                    outputs.add(dx, dh0, dc0);
                }
                return;
            }
            try (Runner runner = model.runner()) {
                if (c.mode == Mode.FORWARD) {
                    if (c.lengths) {
                        runner.forward(io.x, SequenceLayout.TIME_MAJOR, STEPS, c.batch, lengths(c.batch), io.h0, c0, y,
                                hT, cT);
                    } else {
                        runner.forward(io.x, STEPS, c.batch, io.h0, c0, y, hT, cT);
                    }
                    outputs.add(y, hT, cT);
                    return;
                }
                try (State state = model.newState(c.batch)) {
                    state.setHidden(io.h0);
                    if (!gru) {
                        state.setCell(io.c0);
                    }
                    MemorySegment h = io.like(io.dy);
                    for (int t = 0; t < STEPS; t++) {
                        runner.step(stepOf(io.x, t), state, stepOf(h, t));
                    }
                    state.copyHiddenTo(hT);
                    if (!gru) {
                        state.copyCellTo(cT);
                    }
                    boolean lastStepOnly = c.variant == Variant.PLAIN && c.topology == Topology.LAYER;
                    outputs.add(h, lastStepOnly ? null : hT, cT);
                }
            }
        }
    }
}
