package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.SplittableRandom;

import dev.vlstm.kernel.Settling;

/**
 * Runs a runner's forward and step paths on made-up data until HotSpot has compiled them ({@link Settling}).
 *
 * <p>The warmed paths are the ones a runner's calls take: one batch row (the one-row tiles) and, if the runner takes
 * four or more, four rows (the four-row tiles), each through {@code forward} (with and without initial states
 * and outputs, so that the JIT sees both branches) and, for a model that can be streamed, through {@code step}. The
 * JIT compiles code, not objects: every runner on the same kernel benefits, whatever its weights.
 *
 * @param <S> the runner's stream state
 */
final class RunnerWarmUp<S> {

    static final Duration DEFAULT_LIMIT = Duration.ofSeconds(20);
    /** Time steps of a warm-up sequence: several, so that the sequence loop is compiled as such. */
    private static final int STEPS = 4;
    private static final long SEED = 0x5eedL;

    /**
     * The calls a warm-up repeats, with their argument sizes in floats per batch row: a one-layer {@link LstmRunner}
     * or a whole model's {@link Runner}. An {@link LstmRunner} holds its guard across the whole warm-up; a
     * {@link Runner}'s calls each take its driver's guard, so another thread that uses the runner meanwhile is
     * refused by name, as any concurrent use is.
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

        /** {@return a new zero stream state of {@code batch} rows, or null if the model cannot be streamed} */
        S newState(int batch);

        /** Frees a state made by {@link #newState}. */
        void close(S state);

        /** A time-major forward, as the runner's public one; c0 and cT are null without a cell state. */
        void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0, MemorySegment y,
                     MemorySegment hT, MemorySegment cT);

        /** One step of a stream; {@code h} is {@code [B][S]} or null. */
        void step(MemorySegment x, S state, MemorySegment h);
    }

    private final Target<S> target;
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

    private RunnerWarmUp(Target<S> target) {
        this.target = target;
        this.steps = Math.min(STEPS, target.maxSteps());
        this.batches = target.maxBatch() >= 4 ? new int[] {1, 4} : new int[] {1};
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

    /** Warms {@code target}, whose runner's guard the calling thread holds, for at most {@code limit}. */
    static <S> WarmUp run(Target<S> target, Duration limit) {
        RunnerWarmUp<S> warmUp = new RunnerWarmUp<>(target);
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

    /** One forward and one step at each batch size; even rounds pass initial states and take every output. */
    private long round(long round) {
        boolean everything = (round & 1) == 0;
        long calls = 0;
        for (int n = 0; n < batches.length; n++) {
            S state = state(n);
            if (everything) {
                target.forward(sequences[n], steps, batches[n], initialHidden[n], initialCell[n], outputs[n],
                        lastHidden[n], lastCell[n]);
            } else {
                target.forward(sequences[n], steps, batches[n], null, null, null, lastHidden[n], null);
            }
            calls++;
            if (state != null) {
                target.step(stepInputs[n], state, everything ? stepOutputs[n] : null);
                calls++;
            }
        }
        return calls;
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
