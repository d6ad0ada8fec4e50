package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.function.BooleanSupplier;

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
 * without every optional gradient, overwriting and accumulating). The JIT compiles code, not objects: every runner
 * or trainer on the same kernel benefits, whatever its weights.
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
     * {@return the second batch warmed for a target of up to {@code maxBatch} rows: 5 (a tile of four rows and one row
     * left over), 4 if it takes exactly 4, or 1 (no second batch) below that}
     */
    static int wideBatch(int maxBatch) {
        return maxBatch > TILE_ROWS ? TILE_ROWS + 1 : maxBatch == TILE_ROWS ? TILE_ROWS : 1;
    }

    /**
     * The calls a warm-up repeats, with their argument sizes in floats per batch row: a {@link Runner}, or a
     * {@link Trainer}'s twin. A {@link Runner}'s calls each take its driver's guard, so another thread that uses the
     * runner meanwhile is refused by name, as any concurrent use is. A runner's target streams (if its model can be) and has
     * no backward; a trainer's has a backward and no streams.
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
    /** Per warmed batch size: a state, and slices of the shared buffers made once (a slice is an object). */
    private final int[] batches;
    private final Object[] states;
    private final MemorySegment[] sequences;
    private final MemorySegment[] stepInputs;
    private final MemorySegment[] initialHidden;
    private final MemorySegment[] initialCell;
    private final MemorySegment[] outputs;
    private final MemorySegment[] lastHidden;
    private final MemorySegment[] lastCell;
    private final MemorySegment[] stepOutputs;
    /** A trainer's dx, dh0 and dc0 per warmed batch size (its dy, dhT and dcT are the forward's y, hT and cT). */
    private final MemorySegment[] inputGradients;
    private final MemorySegment[] initialHiddenGradients;
    private final MemorySegment[] initialCellGradients;

    private WarmUpLoop(Target<S> target, BooleanSupplier stopped) {
        this.target = target;
        this.stopped = stopped;
        this.steps = Math.min(STEPS, target.maxSteps());
        int wide = wideBatch(target.maxBatch());
        this.batches = wide > 1 ? new int[] {1, wide} : new int[] {1};
        int count = batches.length;
        this.states = new Object[count];
        this.sequences = new MemorySegment[count];
        this.stepInputs = new MemorySegment[count];
        this.initialHidden = new MemorySegment[count];
        this.initialCell = new MemorySegment[count];
        this.outputs = new MemorySegment[count];
        this.lastHidden = new MemorySegment[count];
        this.lastCell = new MemorySegment[count];
        this.stepOutputs = new MemorySegment[count];
        this.inputGradients = new MemorySegment[count];
        this.initialHiddenGradients = new MemorySegment[count];
        this.initialCellGradients = new MemorySegment[count];
        int rows = batches[count - 1];
        int inputSize = target.inputSize();
        long inputRowBytes = (long) inputSize * Float.BYTES;
        long hiddenRowBytes = (long) target.hiddenFloats() * Float.BYTES;
        long cellRowBytes = (long) target.cellFloats() * Float.BYTES;
        long outputRowBytes = (long) target.outputFloats() * Float.BYTES;
        try {
            MemorySegment x = memory.floats((long) steps * rows * inputSize);
            MemorySegment h0 = memory.floats((long) rows * target.hiddenFloats());
            MemorySegment c0 = target.cellFloats() == 0 ? null : memory.floats((long) rows * target.cellFloats());
            MemorySegment y = memory.floats((long) steps * rows * target.outputFloats());
            MemorySegment hT = memory.floats((long) rows * target.hiddenFloats());
            MemorySegment cT = c0 == null ? null : memory.floats((long) rows * target.cellFloats());
            boolean trains = target.trains();
            MemorySegment dx = trains ? memory.floats(x.byteSize() / Float.BYTES) : null;
            MemorySegment dh0 = trains ? memory.floats(h0.byteSize() / Float.BYTES) : null;
            MemorySegment dc0 = trains && c0 != null ? memory.floats(c0.byteSize() / Float.BYTES) : null;
            fill(x, SEED);
            fill(h0, SEED + 1);
            if (c0 != null) {
                fill(c0, SEED + 2);
            }
            for (int n = 0; n < count; n++) {
                int batch = batches[n];
                states[n] = target.newState(batch);
                sequences[n] = x.asSlice(0, steps * batch * inputRowBytes);
                stepInputs[n] = x.asSlice(0, batch * inputRowBytes);
                initialHidden[n] = h0.asSlice(0, batch * hiddenRowBytes);
                initialCell[n] = c0 == null ? null : c0.asSlice(0, batch * cellRowBytes);
                outputs[n] = y.asSlice(0, steps * batch * outputRowBytes);
                lastHidden[n] = hT.asSlice(0, batch * hiddenRowBytes);
                lastCell[n] = cT == null ? null : cT.asSlice(0, batch * cellRowBytes);
                stepOutputs[n] = y.asSlice(0, batch * outputRowBytes);
                inputGradients[n] = dx == null ? null : dx.asSlice(0, sequences[n].byteSize());
                initialHiddenGradients[n] = dh0 == null ? null : dh0.asSlice(0, initialHidden[n].byteSize());
                initialCellGradients[n] = dc0 == null ? null : dc0.asSlice(0, initialCell[n].byteSize());
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
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
        WarmUpLoop<S> warmUp = new WarmUpLoop<>(target, stopped);
        try {
            return warmUp.until(System.nanoTime() + limit.toNanos());
        } finally {
            warmUp.close();
        }
    }

    private WarmUp until(long deadline) {
        Settling.Outcome outcome = Settling.repeat(this::round, deadline);
        return new WarmUp(outcome.calls(), Duration.ofNanos(outcome.nanos()), outcome.settled());
    }

    /**
     * One forward and one step (or backward) at each batch size; even rounds pass initial states and take every
     * output. A backward's dy, dhT and dcT are the forward's y, hT and cT (the gradient of half their squared norm):
     * values a trained model sees.
     */
    private long round(long round) {
        boolean everything = (round & 1) == 0;
        long calls = 0;
        for (int n = 0; n < batches.length; n++) {
            S state = state(n);
            proceed();
            if (everything) {
                target.forward(sequences[n], steps, batches[n], initialHidden[n], initialCell[n], outputs[n],
                        lastHidden[n], lastCell[n]);
            } else {
                target.forward(sequences[n], steps, batches[n], null, null, null, lastHidden[n], null);
            }
            calls++;
            if (target.trains()) {
                proceed();
                if (everything) {
                    target.backward(outputs[n], lastHidden[n], lastCell[n], GradientMode.OVERWRITE,
                            inputGradients[n], initialHiddenGradients[n], initialCellGradients[n]);
                } else {
                    target.backward(null, lastHidden[n], null, GradientMode.ACCUMULATE, null, null, null);
                }
                calls++;
            }
            if (state != null) {
                proceed();
                target.step(stepInputs[n], state, everything ? stepOutputs[n] : null);
                calls++;
            }
        }
        return calls;
    }

    /** Throws if the warm-up is to stop: between calls, so that no call is cut short. */
    private void proceed() {
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
