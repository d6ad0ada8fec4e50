package dev.vlstm;

import static dev.vlstm.Runner.wrap;

import java.lang.foreign.MemorySegment;
import java.time.Duration;

/**
 * Trains a {@link Model} as PyTorch trains an {@code nn.LSTM} or {@code nn.GRU}: a forward that keeps what the
 * backward needs ({@link #forward}, the same calls and shapes as {@link Runner#forward}), then {@link #backward}
 * into {@link Gradients}, then, after an optimizer has changed the {@link Parameters}, {@link #updateWeights} to
 * repack the model's weights. Made by {@link Model#trainer(Options)} for a model of FLOAT32 weights, for up to
 * {@link #maxBatch()} sequences of up to {@link #maxSteps()} steps; all scratch is allocated then. With
 * {@link Options#dropout()} p &gt; 0, every forward drops the output of every layer but the top one as
 * {@code nn.LSTM(dropout=p)} and {@code nn.GRU(dropout=p)} do in training, with masks drawn from a generator seeded
 * by {@link Options#seed()} when the trainer is made ({@link #dropoutMask}); a one-layer model drops nothing.
 *
 * <p>Shapes as in {@link Runner}, with L layers, D directions, S the width of one direction's h (P with projection,
 * else H); the gradients dy, dhT, dcT, dx, dh0 and dc0 are shaped as y, hT, cT, x, h0 and c0. A GRU has no cell
 * state: its c0, cT, dcT and dc0 must be null. Row-major floats in native byte order, in heap or native segments;
 * arguments are checked before anything is computed or written.
 *
 * <p>Not thread-safe: give each thread its own trainer. {@link #updateWeights} changes the model every runner and
 * trainer of it reads: none of them may run during it.
 */
public final class Trainer implements AutoCloseable {

    private final Model model;
    private final StackTrainer driver;
    /** The run-time options the trainer was made with (its maxBatch, maxSteps, threads, dropout and seed). */
    private final Options options;
    private boolean open = true;

    Trainer(Model model, StackTrainer driver, Options options) {
        this.model = model;
        this.driver = driver;
        this.options = options;
    }

    /** {@return the model this trainer trains (not owned by the trainer)} */
    public Model model() {
        return model;
    }

    /** {@return the threads each call runs on, the calling thread included} */
    public int threads() {
        return driver.threads();
    }

    /** {@return B, the largest batch a forward takes, &ge; 1} */
    public int maxBatch() {
        return options.maxBatch();
    }

    /** {@return T, the longest sequence a forward takes, in steps, &ge; 1} */
    public int maxSteps() {
        return options.maxSteps();
    }

    /** {@return p, the dropout probability between layers, in [0, 1); 0 without dropout} */
    public double dropout() {
        return options.dropout();
    }

    /**
     * Runs a whole batch of sequences as {@link Runner#forward(MemorySegment, int, int, MemorySegment, MemorySegment,
     * MemorySegment, MemorySegment, MemorySegment)} does, same bits, and keeps what {@link #backward} needs.
     *
     * @param x     input, {@code [T][B][I]}
     * @param steps T, 1 &le; T &le; {@link #maxSteps()}
     * @param batch B, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden states {@code [L·D][B][S]}, or null for zeros
     * @param c0    initial cell states {@code [L·D][B][H]}, or null for zeros; null for a GRU
     * @param y     output, {@code [T][B][D·S]}; null if not wanted
     * @param hT    output, {@code [L·D][B][S]}; null if not wanted
     * @param cT    output, {@code [L·D][B][H]}; null if not wanted; null for a GRU
     * @throws IllegalArgumentException for a size &lt; 1 or above this trainer's limits, a segment whose size does
     *                                  not match its shape, a read-only output, or a c0 or cT given to a GRU
     * @throws IllegalStateException    if this trainer, its model, or the arena of an argument is closed
     */
    public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0, MemorySegment y,
                        MemorySegment hT, MemorySegment cT) {
        checkCall(steps, batch);
        driver.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, null, h0, c0, y, hT, cT);
    }

    /**
     * Float-array form of {@link #forward(MemorySegment, int, int, MemorySegment, MemorySegment, MemorySegment,
     * MemorySegment, MemorySegment)}.
     *
     * @param x     input, {@code [T][B][I]}
     * @param steps T
     * @param batch B
     * @param h0    {@code [L·D][B][S]}, or null
     * @param c0    {@code [L·D][B][H]}, or null; null for a GRU
     * @param y     output, {@code [T][B][D·S]}, or null
     * @param hT    output, {@code [L·D][B][S]}, or null
     * @param cT    output, {@code [L·D][B][H]}, or null; null for a GRU
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void forward(float[] x, int steps, int batch, float[] h0, float[] c0, float[] y, float[] hT, float[] cT) {
        forward(MemorySegment.ofArray(Checks.notNull("x", x)), steps, batch, wrap(h0), wrap(c0), wrap(y), wrap(hT),
                wrap(cT));
    }

    /**
     * Runs sequences of different lengths as {@link Runner#forward(MemorySegment, SequenceLayout, int, int, int[],
     * MemorySegment, MemorySegment, MemorySegment, MemorySegment, MemorySegment)} does, same bits, and keeps what
     * {@link #backward} needs (whose dy and dx are then in {@code layout} too, zero past each sequence's end).
     *
     * @param x       input, {@code [T][B][I]} or {@code [B][T][I]} per {@code layout}
     * @param layout  the order of the time and batch dimensions of x and y
     * @param steps   T, the padded length, 1 &le; T &le; {@link #maxSteps()}
     * @param batch   B, 1 &le; B &le; {@link #maxBatch()}
     * @param lengths time steps of each sequence, B values in 0..T
     * @param h0      {@code [L·D][B][S]}, or null for zeros
     * @param c0      {@code [L·D][B][H]}, or null for zeros; null for a GRU
     * @param y       output in x's layout, or null
     * @param hT      output, {@code [L·D][B][S]}, or null
     * @param cT      output, {@code [L·D][B][H]}, or null; null for a GRU
     * @throws IllegalArgumentException as the time-major forward, and for null or bad lengths
     * @throws NullPointerException     for a null layout
     * @throws IllegalStateException    as the time-major forward
     */
    public void forward(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths,
                        MemorySegment h0, MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT) {
        checkCall(steps, batch);
        Checks.notNull("layout", layout);
        VariableLengths.check(lengths, steps, batch);
        driver.forward(x, layout, steps, batch, lengths, h0, c0, y, hT, cT);
    }

    /**
     * Float-array form of {@link #forward(MemorySegment, SequenceLayout, int, int, int[], MemorySegment,
     * MemorySegment, MemorySegment, MemorySegment, MemorySegment)}.
     *
     * @param x       input in {@code layout}
     * @param layout  the order of the time and batch dimensions of x and y
     * @param steps   T
     * @param batch   B
     * @param lengths time steps of each sequence
     * @param h0      {@code [L·D][B][S]}, or null
     * @param c0      {@code [L·D][B][H]}, or null; null for a GRU
     * @param y       output in x's layout, or null
     * @param hT      output, or null
     * @param cT      output, or null; null for a GRU
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void forward(float[] x, SequenceLayout layout, int steps, int batch, int[] lengths, float[] h0, float[] c0,
                        float[] y, float[] hT, float[] cT) {
        forward(MemorySegment.ofArray(Checks.notNull("x", x)), layout, steps, batch, lengths, wrap(h0), wrap(c0),
                wrap(y), wrap(hT), wrap(cT));
    }

    /**
     * Backpropagates through the last forward, once per forward: given dL/dy and optionally dL/dhT and dL/dcT, writes
     * or adds (by {@code mode}) every parameter's gradient into {@code gradients} and writes dL/dx, dL/dh0 and
     * dL/dc0.
     *
     * @param dy        dL/dy, shaped as the forward's y, or null for zeros
     * @param dhT       dL/dhT, {@code [L·D][B][S]}, or null for zeros
     * @param dcT       dL/dcT, {@code [L·D][B][H]}, or null for zeros; null for a GRU
     * @param gradients receives the parameters' gradients; for a model of this trainer's shape
     * @param mode      whether those replace or add to what {@code gradients} holds
     * @param dx        output dL/dx, shaped as the forward's x, or null if not wanted
     * @param dh0       output dL/dh0, {@code [L·D][B][S]}, or null
     * @param dc0       output dL/dc0, {@code [L·D][B][H]}, or null; null for a GRU
     * @throws IllegalArgumentException for gradients of another shape, a segment of the wrong size, or a dcT or dc0
     *                                  given to a GRU
     * @throws IllegalStateException    without a forward since the last backward, or if anything is closed
     */
    public void backward(MemorySegment dy, MemorySegment dhT, MemorySegment dcT, Gradients gradients,
                         GradientMode mode, MemorySegment dx, MemorySegment dh0, MemorySegment dc0) {
        checkOpen();
        Checks.notNull("gradients", gradients);
        if (!gradients.shape().equals(model.shape())) {
            throw new IllegalArgumentException("gradients are for a model of " + gradients.shape()
                    + ", but this trainer's is " + model.shape());
        }
        driver.backward(dy, dhT, dcT, gradients.tensors(), mode, dx, dh0, dc0);
    }

    /**
     * Float-array form of {@link #backward(MemorySegment, MemorySegment, MemorySegment, Gradients, GradientMode,
     * MemorySegment, MemorySegment, MemorySegment)}.
     *
     * @param dy        dL/dy, or null
     * @param dhT       dL/dhT, or null
     * @param dcT       dL/dcT, or null; null for a GRU
     * @param gradients receives the parameters' gradients
     * @param mode      OVERWRITE or ACCUMULATE
     * @param dx        output dL/dx, or null
     * @param dh0       output dL/dh0, or null
     * @param dc0       output dL/dc0, or null; null for a GRU
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void backward(float[] dy, float[] dhT, float[] dcT, Gradients gradients, GradientMode mode, float[] dx,
                         float[] dh0, float[] dc0) {
        backward(wrap(dy), wrap(dhT), wrap(dcT), gradients, mode, wrap(dx), wrap(dh0), wrap(dc0));
    }

    /**
     * Repacks the model's weights from {@code parameters} (after an optimizer step), in place, without allocating;
     * every value is checked before any layer changes. Every runner and trainer of the model sees the new weights:
     * none may run during this call. Invalidates the saved forward.
     *
     * @param parameters the new values, for a model of this trainer's shape; read during the call only
     * @throws IllegalArgumentException if the shapes differ, or a value is NaN or infinite (naming the layer, tensor
     *                                  and element)
     * @throws IllegalStateException    if this trainer, its model or the parameters are closed
     */
    public void updateWeights(Parameters parameters) {
        checkOpen();
        Checks.notNull("parameters", parameters);
        if (!parameters.shape().equals(model.shape())) {
            throw new IllegalArgumentException("parameters are for a model of " + parameters.shape()
                    + ", but this trainer's is " + model.shape());
        }
        driver.updateWeights(parameters.tensors());
    }

    /**
     * The multipliers that the last forward applied to the output of {@code layer} (below the top): 0 where an
     * element was dropped, {@code 1/(1-p)} where it was kept.
     *
     * @param layer the layer whose output the mask applies to, 0 &le; layer &lt; L - 1
     * @return a new array (a copy) of the multipliers, {@code [T][B][D·S]} for the last forward's T and B
     *         ({@code [B][T][D·S]} after a batch-first forward)
     * @throws IllegalStateException     if this trainer has no dropout ({@link #dropout()} is 0) or has not run a
     *                                   forward, or if it or its model is closed
     * @throws IndexOutOfBoundsException for a layer outside [0, L-1) (a one-layer model has none)
     */
    public float[] dropoutMask(int layer) {
        checkOpen();
        if (options.dropout() == 0) {
            throw new IllegalStateException("this Trainer has no dropout (Options.dropout is 0)");
        }
        return driver.dropoutMask(layer);
    }

    /**
     * Brings the kernels of this trainer's forward and backward to compiled speed before the first step, with a limit
     * of 20 seconds: see {@link #warmUp(Duration)}.
     *
     * @return what the warm-up did; {@link WarmUp#settled()} is false if it ran out of time
     * @throws IllegalStateException if this trainer or its model is closed
     */
    public WarmUp warmUp() {
        return warmUp(WarmUpLoop.DEFAULT_LIMIT);
    }

    /**
     * Brings the kernels of this trainer's forward and backward to compiled speed before the first step, as
     * {@link Runner#warmUp(Duration)} does for a runner: runs {@link #forward} then {@link #backward} on made-up data,
     * at batch 1 and (if {@link #maxBatch()} &ge; 4) at batch 5, or 4 if it takes no more, with and without the
     * optional arguments, with off-heap and float-array arguments in turn, first on a miniature of the model as a
     * runner's warm-up does, until the JIT has gone quiet and the calls allocate nothing for about 0.4 s, or until
     * {@code limit}. The calls run on a twin of this trainer (the same model, threads and dropout, sized for those
     * batches and a few steps), so nothing of this trainer changes: not its saved forward (a backward may follow a
     * forward across a warm-up), not its dropout masks to come, not the model's weights; its results are the bits of a
     * trainer never warmed up. The JIT compiles code, not objects: one warmed trainer warms every trainer of the same
     * cell and kernel in the JVM. {@link #updateWeights} is not warmed (it would change the model). Warm-up memory (the
     * twin's scratch, a few sequences of made-up data, gradients of the model's size, and for a wide model the
     * miniature's weights, trainer and gradients) is allocated for the call and freed after; the worker threads of the
     * twin and of the miniature's trainer are stopped after it too.
     *
     * @param limit the longest the warm-up may take, positive
     * @return what the warm-up did; {@link WarmUp#calls()} counts forwards and backwards; {@link WarmUp#settled()}
     *         is false if it ran out of time
     * @throws NullPointerException     if {@code limit} is null
     * @throws IllegalArgumentException if {@code limit} is zero or negative
     * @throws IllegalStateException    if this trainer or its model is closed
     */
    public WarmUp warmUp(Duration limit) {
        WarmUpLoop.checkLimit(limit);
        checkOpen();
        Options warmed = options.withMaxBatch(WarmUpLoop.wideBatch(maxBatch()))
                .withMaxSteps(Math.min(maxSteps(), WarmUpLoop.STEPS));
        try (Trainer twin = model.trainer(warmed);
             Gradients gradients = new Gradients(model.shape())) {
            return WarmUpLoop.run(twin.new WarmUpTarget(gradients), limit);
        }
    }

    /** Frees the scratch memory and stops the worker threads. Closing twice is harmless. */
    @Override
    public void close() {
        driver.close();
        open = false;
    }

    private void checkCall(int steps, int batch) {
        checkOpen();
        Checks.limits("Trainer", steps, maxSteps(), batch, maxBatch());
    }

    private void checkOpen() {
        if (!open) {
            throw new IllegalStateException("this Trainer is closed");
        }
        model.checkOpen();
    }

    /** This trainer's forward and backward, for {@link WarmUpLoop}: it cannot be streamed. */
    private final class WarmUpTarget extends WarmUpLoop.ModelTarget<Void> {

        private final Gradients gradients;

        WarmUpTarget(Gradients gradients) {
            super(model.shape(), options.maxBatch(), options.maxSteps());
            this.gradients = gradients;
        }

        @Override
        public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0,
                            MemorySegment y, MemorySegment hT, MemorySegment cT) {
            Trainer.this.forward(x, steps, batch, h0, c0, y, hT, cT);
        }

        @Override
        public boolean trains() {
            return true;
        }

        @Override
        public void backward(MemorySegment dy, MemorySegment dhT, MemorySegment dcT, GradientMode mode,
                             MemorySegment dx, MemorySegment dh0, MemorySegment dc0) {
            Trainer.this.backward(dy, dhT, dcT, gradients, mode, dx, dh0, dc0);
        }

        /** A trainer of this one's run-time options on a miniature of the model, with gradients of its own. */
        @Override
        public WarmUpLoop.Miniature<Void> miniature() {
            return WarmUpLoop.openMiniature(model, small -> {
                Trainer trainer = small.trainer(options.withThreads(WarmUpLoop.miniatureThreads(threads())));
                try {
                    Gradients smallGradients = new Gradients(small.shape());
                    return new WarmUpLoop.Miniature<>(trainer.new WarmUpTarget(smallGradients),
                            WarmUpLoop.inTurn(smallGradients::close, trainer::close));
                } catch (RuntimeException | Error e) {
                    trainer.close();
                    throw e;
                }
            });
        }
    }
}
