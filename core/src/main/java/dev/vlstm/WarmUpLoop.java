package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.LongFunction;

import dev.vlstm.kernel.Settling;

/**
 * Runs a runner's forward and step paths, or a trainer's forward and backward paths, on made-up data until HotSpot
 * has compiled them ({@link Settling}).
 *
 * <p>The warmed paths are the ones a runner's or trainer's calls take: one batch row (the one-row tiles over every
 * block) and, if it takes four rows or more, {@link #wideBatch} rows: a tile of four and, if it takes five or more, a
 * row left over, which runs among the tile's blocks (a branch of the GEMM loop that batches of 5, 6, 7, 9, ... rows
 * take and that C2 would otherwise compile as a trap, throwing away the loop's code at the first such batch); each
 * through {@code forward} (with and without initial states and outputs, so that the JIT sees both branches), then,
 * for a model that can be streamed, through {@code step}, and for a trainer through {@code backward} (with and
 * without every optional gradient, overwriting and accumulating). Rounds alternate between off-heap segments and
 * segments over float arrays, the public API's two forms: after a warm-up on off-heap segments alone, the first calls
 * on float arrays ran the kernels at C1 again, boxing vectors, until C2 had compiled them anew.
 *
 * <p>The JIT compiles code, not objects: every runner or trainer on the same kernel benefits, whatever its weights
 * and sizes. So a large model is warmed in two passes: first a {@link #miniature} of it (the same cell, layers,
 * directions, options and kernel branches, a few blocks wide), whose calls are cheap enough, while the kernels still
 * run interpreted, to reach the JIT's thresholds in a fraction of the time; then the model itself, whose calls now
 * run compiled code, until the calls have settled on its sizes too.
 *
 * @param <S> the runner's stream state
 */
final class WarmUpLoop<S> {

    static final Duration DEFAULT_LIMIT = Duration.ofSeconds(20);
    /** Time steps of a warm-up sequence: several, so that the sequence loop is compiled as such. */
    static final int STEPS = 4;
    /** The rows of the widest tiles. */
    private static final int TILE_ROWS = 4;
    private static final long SEED = 0x5eedL;
    /**
     * A miniature keeps at most this many blocks of lanes per size, as the model's blocks are even or odd: enough
     * for every branch of the GEMM's pairs of blocks and of a split between two threads, the most a miniature runs
     * on ({@link #miniatureThreads}).
     */
    private static final int MINIATURE_EVEN_BLOCKS = 4;
    private static final int MINIATURE_ODD_BLOCKS = 3;
    /**
     * Quiet windows ({@link Settling}) that end the miniature's pass: its calls only have to get the kernels
     * compiled; the model's own pass, which follows, waits for the JIT to go quiet on the model's sizes. The
     * miniature's pass takes at most half the warm-up's limit, so that the model's has time to settle.
     */
    private static final int MINIATURE_QUIET_WINDOWS = 1;
    private static final int MODEL_QUIET_WINDOWS = 2;
    /** Rounds until {@link #round} has passed every variant of its arguments: with and without states, both kinds. */
    private static final int ROUND_VARIANTS = 4;

    /**
     * A target on a miniature of a model, and what closing it frees (its runner or trainer, then its model).
     *
     * @param <S> the runner's stream state
     */
    record Miniature<S>(Target<S> target, Runnable closer) implements AutoCloseable {

        @Override
        public void close() {
            closer.run();
        }
    }

    /**
     * {@return the second batch warmed for a target of up to {@code maxBatch} rows: 5 (a tile of four rows and one row
     * left over), 4 if it takes exactly 4, or 1 (no second batch) below that}
     */
    static int wideBatch(int maxBatch) {
        return maxBatch > TILE_ROWS ? TILE_ROWS + 1 : maxBatch == TILE_ROWS ? TILE_ROWS : 1;
    }

    /**
     * The calls a warm-up repeats, with their argument sizes in floats per batch row: a {@link Runner}, or a
     * {@link Trainer}'s twin. A {@link Runner}'s calls each take its driver's guard, so another thread that uses the
     * runner meanwhile is refused by name, as any concurrent use is. A runner's target streams (if its model can be)
     * and has no backward; a trainer's has a backward and no streams.
     *
     * @param <S> the runner's stream state
     */
    interface Target<S> {

        /** {@return the largest batch the runner takes} */
        int maxBatch();

        /** {@return the longest sequence the runner's forward takes, in steps; {@link Integer#MAX_VALUE} for any} */
        int maxSteps();

        /** {@return I: floats of x per step and batch row} */
        int inputSize();

        /** {@return floats of h0 and hT per batch row: L·D·S} */
        int hiddenFloats();

        /** {@return floats of c0 and cT per batch row, L·D·H; 0 for a model without a cell state} */
        int cellFloats();

        /** {@return floats of y per step and batch row, D·S} */
        int outputFloats();

        /**
         * {@return a new zero stream state of {@code batch} rows, or null if the target cannot be streamed (the
         * default: a trainer, or a runner of a model that cannot be)}
         */
        default S newState(int batch) {
            return null;
        }

        /** Frees a state made by {@link #newState}; never called for a target that made none. */
        default void close(S state) {
            throw new UnsupportedOperationException("this warm-up target has no streams");
        }

        /** A time-major forward, as the runner's or trainer's public one; c0 and cT are null without a cell state. */
        void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0, MemorySegment y,
                     MemorySegment hT, MemorySegment cT);

        /** One step of a stream made by {@link #newState}; {@code h} is {@code [B][S]} or null. */
        default void step(MemorySegment x, S state, MemorySegment h) {
            throw new UnsupportedOperationException("this warm-up target has no streams");
        }

        /**
         * {@return a target of the same kind on a {@link #miniatureOf miniature} of the model, owned by the caller;
         * null (the default) to warm the model alone}
         */
        default Miniature<S> miniature() {
            return null;
        }

        /** {@return true if each forward is followed by {@link #backward}: a trainer's target; false by default} */
        default boolean trains() {
            return false;
        }

        /**
         * The trainer's backward through the forward just made, into gradients of the target's own: dy, dhT and dcT
         * shaped as that forward's y, hT and cT, dx, dh0 and dc0 as its x, h0 and c0, any of them null (dcT and dc0
         * always, without a cell state). Called only if {@link #trains()}.
         */
        default void backward(MemorySegment dy, MemorySegment dhT, MemorySegment dcT, GradientMode mode,
                              MemorySegment dx, MemorySegment dh0, MemorySegment dc0) {
            throw new UnsupportedOperationException("this warm-up target has no backward");
        }
    }

    /**
     * The sizes of a {@link Model}'s calls, as {@link Runner} and {@link Trainer} take them.
     *
     * @param <S> the runner's stream state
     */
    abstract static class ModelTarget<S> implements Target<S> {

        private final RnnShape shape;
        private final int maxBatch;
        private final int maxSteps;

        ModelTarget(RnnShape shape, int maxBatch, int maxSteps) {
            this.shape = shape;
            this.maxBatch = maxBatch;
            this.maxSteps = maxSteps;
        }

        @Override
        public int maxBatch() {
            return maxBatch;
        }

        @Override
        public int maxSteps() {
            return maxSteps;
        }

        @Override
        public int inputSize() {
            return shape.inputSize();
        }

        @Override
        public int hiddenFloats() {
            return shape.stateCount() * shape.hiddenStateSize();
        }

        @Override
        public int cellFloats() {
            return shape.cell().hasCellState() ? shape.stateCount() * shape.hiddenSize() : 0;
        }

        @Override
        public int outputFloats() {
            return shape.outputSize();
        }
    }

    private final Target<S> target;
    /** Checked before every call: true stops the warm-up with a {@link CancellationException}. */
    private final BooleanSupplier stopped;
    /** Time steps of each warm-up sequence: {@link #STEPS}, or fewer if the runner takes no more. */
    private final int steps;
    private final OffHeap memory = OffHeap.open();
    /** The warmed batch sizes. */
    private final int[] batches;
    /** Per warmed batch size: a state, or null for a target that cannot be streamed. */
    private final Object[] states;
    /** {@code [memory kind][batch size]}: off-heap segments, then segments over float arrays. */
    private final Arguments[][] arguments;

    /**
     * One batch size's arguments in one kind of memory: slices of whole buffers made once (a slice is an object). A
     * trainer's dx, dh0 and dc0 are null for a runner (its dy, dhT and dcT are the forward's y, hT and cT); c0, cT
     * and dc0 are null without a cell state.
     */
    private record Arguments(MemorySegment sequence, MemorySegment stepInput, MemorySegment initialHidden,
                             MemorySegment initialCell, MemorySegment output, MemorySegment lastHidden,
                             MemorySegment lastCell, MemorySegment stepOutput, MemorySegment inputGradient,
                             MemorySegment initialHiddenGradient, MemorySegment initialCellGradient) {
    }

    private WarmUpLoop(Target<S> target, BooleanSupplier stopped) {
        this.target = target;
        this.stopped = stopped;
        this.steps = Math.min(STEPS, target.maxSteps());
        int wide = wideBatch(target.maxBatch());
        this.batches = wide > 1 ? new int[] {1, wide} : new int[] {1};
        this.states = new Object[batches.length];
        this.arguments = new Arguments[2][];
        try {
            arguments[0] = arguments(memory::floats);
            arguments[1] = arguments(floats -> MemorySegment.ofArray(new float[Math.toIntExact(floats)]));
            for (int n = 0; n < batches.length; n++) {
                states[n] = target.newState(batches[n]);
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /** Whole buffers for the widest batch from {@code floats}, the inputs filled, sliced for every batch size. */
    private Arguments[] arguments(LongFunction<MemorySegment> floats) {
        int rows = batches[batches.length - 1];
        int inputSize = target.inputSize();
        long inputRowBytes = (long) inputSize * Float.BYTES;
        long hiddenRowBytes = (long) target.hiddenFloats() * Float.BYTES;
        long cellRowBytes = (long) target.cellFloats() * Float.BYTES;
        long outputRowBytes = (long) target.outputFloats() * Float.BYTES;
        boolean cell = target.cellFloats() != 0;
        boolean trains = target.trains();
        MemorySegment x = floats.apply((long) steps * rows * inputSize);
        MemorySegment h0 = floats.apply((long) rows * target.hiddenFloats());
        MemorySegment c0 = cell ? floats.apply((long) rows * target.cellFloats()) : null;
        MemorySegment y = floats.apply((long) steps * rows * target.outputFloats());
        MemorySegment hT = floats.apply((long) rows * target.hiddenFloats());
        MemorySegment cT = cell ? floats.apply((long) rows * target.cellFloats()) : null;
        MemorySegment dx = trains ? floats.apply(x.byteSize() / Float.BYTES) : null;
        MemorySegment dh0 = trains ? floats.apply(h0.byteSize() / Float.BYTES) : null;
        MemorySegment dc0 = trains && cell ? floats.apply(c0.byteSize() / Float.BYTES) : null;
        fill(x, SEED);
        fill(h0, SEED + 1);
        if (cell) {
            fill(c0, SEED + 2);
        }
        Arguments[] sliced = new Arguments[batches.length];
        for (int n = 0; n < batches.length; n++) {
            int batch = batches[n];
            long sequenceBytes = steps * batch * inputRowBytes;
            long hiddenBytes = batch * hiddenRowBytes;
            long cellBytes = batch * cellRowBytes;
            sliced[n] = new Arguments(x.asSlice(0, sequenceBytes), x.asSlice(0, batch * inputRowBytes),
                    h0.asSlice(0, hiddenBytes), cell ? c0.asSlice(0, cellBytes) : null,
                    y.asSlice(0, steps * batch * outputRowBytes), hT.asSlice(0, hiddenBytes),
                    cell ? cT.asSlice(0, cellBytes) : null, y.asSlice(0, batch * outputRowBytes),
                    trains ? dx.asSlice(0, sequenceBytes) : null, trains ? dh0.asSlice(0, hiddenBytes) : null,
                    trains && cell ? dc0.asSlice(0, cellBytes) : null);
        }
        return sliced;
    }

    /**
     * Checks a caller's time limit for a warm-up.
     *
     * @throws NullPointerException     if {@code limit} is null
     * @throws IllegalArgumentException if {@code limit} is zero or negative
     */
    static Duration checkLimit(Duration limit) {
        Checks.notNull("limit", limit);
        if (limit.isNegative() || limit.isZero()) {
            throw new IllegalArgumentException("limit must be positive, got " + limit);
        }
        return limit;
    }

    /** Warms {@code target}, whose runner's guard (if any) the calling thread holds, for at most {@code limit}. */
    static <S> WarmUp run(Target<S> target, Duration limit) {
        return run(target, limit, () -> false);
    }

    /**
     * Warms {@code target} as {@link #run(Target, Duration)}, asking {@code stopped} before every call.
     *
     * @throws CancellationException as soon as {@code stopped} says true, after freeing the warm-up's memory
     */
    static <S> WarmUp run(Target<S> target, Duration limit, BooleanSupplier stopped) {
        return run(target, limit, stopped, () -> { });
    }

    /**
     * Warms {@code target} as {@link #run(Target, Duration, BooleanSupplier)}, and runs {@code compiled} once the
     * warm-up's calls (the miniature's, whose code is the model's, or the model's own) run compiled code
     * ({@link Settling#repeat(Settling.Round, long, int, int, Runnable)}: a pass through every variant of a round
     * allocated nothing), which may be well before they settle; not at all if they never do.
     */
    static <S> WarmUp run(Target<S> target, Duration limit, BooleanSupplier stopped, Runnable compiled) {
        long start = System.nanoTime();
        long deadline = start + limit.toNanos();
        long calls = 0;
        proceed(stopped);
        Miniature<S> miniature = target.miniature();
        if (miniature != null) {
            try (miniature) {
                calls += warm(miniature.target(), start + limit.toNanos() / 2, stopped, MINIATURE_QUIET_WINDOWS,
                        compiled).calls();
            }
        }
        Settling.Outcome outcome = warm(target, deadline, stopped, MODEL_QUIET_WINDOWS, compiled);
        return new WarmUp(calls + outcome.calls(), Duration.ofNanos(System.nanoTime() - start), outcome.settled(),
                outcome.allocating());
    }

    /**
     * Runs {@code rounds} rounds of {@code target}'s calls, however long they take and without waiting for anything to
     * settle: {@link Model}'s priming of the cold kernel.
     */
    static <S> void rounds(Target<S> target, int rounds) {
        WarmUpLoop<S> loop = new WarmUpLoop<>(target, () -> false);
        try {
            for (int round = 0; round < rounds; round++) {
                loop.round(round);
            }
        } finally {
            loop.close();
        }
    }

    /**
     * {@return the shape of the model that primes the cold kernel for {@code shape}: the same cell, layers, directions
     * and peepholes, I cut to one block of {@code lanes} and H to one block (two, and P to one, with a projection)}
     */
    static RnnShape primerOf(RnnShape shape, int lanes) {
        boolean projected = shape.projectionSize() > 0;
        return new RnnShape(shape.cell(), Math.min(shape.inputSize(), lanes), projected ? 2 * lanes : lanes,
                shape.layers(), shape.direction(), projected ? lanes : 0, shape.peepholes());
    }

    /** {@return made-up weights of {@code shape}, packed with {@code options}, the same on every call} */
    static Model madeUp(RnnShape shape, Options options) {
        try (Parameters parameters = Parameters.initialize(shape, SEED)) {
            return Model.pack(parameters, options);
        }
    }

    /** Repeats rounds of {@code target}'s calls until they settle or {@code deadline} passes. */
    private static <S> Settling.Outcome warm(Target<S> target, long deadline, BooleanSupplier stopped, int quiet,
                                             Runnable compiled) {
        WarmUpLoop<S> warmUp = new WarmUpLoop<>(target, stopped);
        try {
            return Settling.repeat(warmUp::round, deadline, quiet, ROUND_VARIANTS, compiled);
        } finally {
            warmUp.close();
        }
    }

    /**
     * A model of {@code model}'s cell, layers, directions, peepholes and options whose sizes keep their block
     * structure but few blocks: each of I, H and P (the projection) with more than {@link #MINIATURE_EVEN_BLOCKS}
     * blocks of lanes keeps its last, partial or whole, block and is cut to {@link #MINIATURE_EVEN_BLOCKS} or
     * {@link #MINIATURE_ODD_BLOCKS} blocks as its count is even or odd; H then gets two blocks back at a time while it
     * is not wider than P (it never passes the model's H, which is). Its weights are made up.
     *
     * @return the miniature, owned by the caller; null if it would not be smaller than {@code model}
     */
    static Model miniatureOf(Model model) {
        RnnShape shape = model.shape();
        int lanes = model.options().backend().family().lanes();
        int hidden = miniature(shape.hiddenSize(), lanes);
        int projection = miniature(shape.projectionSize(), lanes);
        while (projection >= hidden) {
            hidden += 2 * lanes;
        }
        RnnShape small = new RnnShape(shape.cell(), miniature(shape.inputSize(), lanes), hidden, shape.layers(),
                shape.direction(), projection, shape.peepholes());
        if (small.equals(shape)) {
            return null;
        }
        return madeUp(small, model.options());
    }

    /**
     * Opens a target on a {@link #miniatureOf miniature} of {@code model} with {@code open}, and closes the miniature
     * model after what {@code open} made, or at once if {@code open} throws.
     *
     * @param <S>   the runner's stream state
     * @param model the model warmed
     * @param open  makes the runner's or trainer's target on the miniature model and what closing it frees
     * @return the target, owned by the caller; null if the miniature would not be smaller than {@code model}
     */
    static <S> Miniature<S> openMiniature(Model model, Function<Model, Miniature<S>> open) {
        Model small = miniatureOf(model);
        if (small == null) {
            return null;
        }
        try {
            Miniature<S> opened = open.apply(small);
            return new Miniature<>(opened.target(), inTurn(opened::close, small::close));
        } catch (RuntimeException | Error e) {
            small.close();
            throw e;
        }
    }

    /** {@return a closer that runs {@code first}, then {@code second} even if {@code first} throws} */
    static Runnable inTurn(Runnable first, Runnable second) {
        return () -> {
            try {
                first.run();
            } finally {
                second.run();
            }
        };
    }

    /**
     * {@return the threads a miniature runs on for a runner or trainer of {@code threads}: at most two, so that each
     * thread's share of its few blocks still holds a pair of blocks, as a share of the model's many does}
     */
    static int miniatureThreads(int threads) {
        return Math.min(threads, 2);
    }

    /** {@code size} cut to a few blocks of {@code lanes}, as {@link #miniatureOf} describes; 0 stays 0. */
    static int miniature(int size, int lanes) {
        int blocks = (size + lanes - 1) / lanes;
        if (blocks <= MINIATURE_EVEN_BLOCKS) {
            return size;
        }
        int kept = blocks % 2 == 0 ? MINIATURE_EVEN_BLOCKS : MINIATURE_ODD_BLOCKS;
        return size - (blocks - kept) * lanes;
    }

    /**
     * One forward and one step (or backward) at each batch size; even rounds pass initial states and take every
     * output, and rounds alternate between off-heap and float-array segments two by two (so that each kind meets
     * both). A backward's dy, dhT and dcT are the forward's y, hT and cT (the gradient of half their squared norm):
     * values a trained model sees.
     */
    private long round(long round) {
        boolean everything = (round & 1) == 0;
        Arguments[] kind = arguments[(int) (round >> 1) & 1];
        long calls = 0;
        for (int n = 0; n < batches.length; n++) {
            Arguments a = kind[n];
            S state = state(n);
            proceed();
            if (everything) {
                target.forward(a.sequence(), steps, batches[n], a.initialHidden(), a.initialCell(), a.output(),
                        a.lastHidden(), a.lastCell());
            } else {
                target.forward(a.sequence(), steps, batches[n], null, null, null, a.lastHidden(), null);
            }
            calls++;
            if (target.trains()) {
                proceed();
                if (everything) {
                    target.backward(a.output(), a.lastHidden(), a.lastCell(), GradientMode.OVERWRITE,
                            a.inputGradient(), a.initialHiddenGradient(), a.initialCellGradient());
                } else {
                    target.backward(null, a.lastHidden(), null, GradientMode.ACCUMULATE, null, null, null);
                }
                calls++;
            }
            if (state != null) {
                proceed();
                target.step(a.stepInput(), state, everything ? a.stepOutput() : null);
                calls++;
            }
        }
        return calls;
    }

    /** Throws if the warm-up is to stop: between calls, so that no call is cut short. */
    private void proceed() {
        proceed(stopped);
    }

    private static void proceed(BooleanSupplier stopped) {
        if (stopped.getAsBoolean()) {
            throw new CancellationException("the warm-up was stopped");
        }
    }

    /** The state made for the n-th batch size, of the type {@link Target#newState} gave. */
    @SuppressWarnings("unchecked")
    private S state(int n) {
        return (S) states[n];
    }

    /** Values in [-1, 1): inputs and states of the size a trained model sees. */
    private static void fill(MemorySegment floats, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (long offset = 0; offset < floats.byteSize(); offset += Float.BYTES) {
            floats.set(ValueLayout.JAVA_FLOAT, offset, (float) (2 * random.nextDouble() - 1));
        }
    }

    private void close() {
        for (int n = 0; n < states.length; n++) {
            if (states[n] != null) {
                target.close(state(n));
            }
        }
        memory.close();
    }
}
