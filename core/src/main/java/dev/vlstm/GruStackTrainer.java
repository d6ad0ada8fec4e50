package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Backpropagation through time for a whole {@link GruStackWeights} model: a training {@link #forward} that keeps
 * what the backward needs, optionally with PyTorch's dropout between layers, and a {@link #backward} that yields the
 * gradient of every layer and direction's parameters (into {@link GruStackGradients}, PyTorch layout) and dx, dh0.
 *
 * <p>Organised as {@link LstmStackTrainer} is, each layer and direction training as a {@link GruTrainer} does: the
 * backward goes
 * down the stack; the gradient of a layer's output {@code [T][B][D·H]} is split into its directions (the reverse
 * one time-reversed), each direction's backward yields the gradient of its input, and their sum, through the dropout
 * mask of the layer below, is the gradient of that layer's output.
 *
 * <p>Dropout (probability p, 0 by default) is applied as {@code nn.GRU(dropout=p)} in training: on the output of
 * every layer but the top one, each element zeroed with probability p and otherwise scaled by {@code 1/(1-p)}.
 * Masks come from one generator seeded at construction, so the same seed gives the same masks forward after
 * forward; {@link GruStackRunner} (inference) never drops.
 *
 * <p>Batches of sequences of different lengths (the {@code lengths} forward, either layout) train as in
 * {@link LstmStackTrainer}: each direction runs them packed, the reverse direction over each
 * sequence reversed within its length, and padding adds nothing to any gradient. All scratch is allocated up front
 * for {@code maxSteps × maxBatch}. With {@code threads > 1} every part's GEMMs are split as in {@link GruTrainer}, on
 * one set of threads that the parts, which run one after another, share. Not thread-safe: one trainer per thread;
 * the weights may be shared. Layouts are row-major floats in native byte order.
 */
public final class GruStackTrainer implements AutoCloseable {

    private final StackTrainer trainer;

    /**
     * A trainer without dropout, for sequences of up to {@code maxSteps} steps of up to {@code maxBatch} rows.
     *
     * @param weights  the model to train, open; shared, not owned: closing the trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps longest sequence of a forward, &ge; 1; sizes the scratch
     * @throws IllegalArgumentException if a size is &lt; 1
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public GruStackTrainer(GruStackWeights weights, int maxBatch, int maxSteps) {
        this(weights, maxBatch, maxSteps, 0, 0, false, 1);
    }

    /**
     * A trainer without dropout whose every layer and direction runs the GEMMs of its forward and backward on
     * {@code threads} threads, as {@link GruTrainer#GruTrainer(GruWeights, int, int, int)} describes: the stack starts
     * {@code threads - 1} daemon worker threads, which all its parts use in turn. Results are the same bits for any
     * number of threads; {@link #close()} stops the workers.
     *
     * @param weights  the model to train, open; shared, not owned: closing the trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps longest sequence of a forward, &ge; 1; sizes the scratch
     * @param threads  threads per GEMM, 1 (the calling thread alone, the default) to {@link LstmRunner#MAX_THREADS}
     * @throws IllegalArgumentException if a size is &lt; 1 or {@code threads} is above {@link LstmRunner#MAX_THREADS}
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public GruStackTrainer(GruStackWeights weights, int maxBatch, int maxSteps, int threads) {
        this(weights, maxBatch, maxSteps, 0, 0, false, Checks.threads(threads));
    }

    /**
     * A trainer that drops the outputs of every layer but the top one with probability {@code dropout} (no effect on
     * a one-layer model, as in PyTorch).
     *
     * @param weights  the model to train, open; shared, not owned: closing the trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps longest sequence of a forward, &ge; 1; sizes the scratch
     * @param dropout  p, in [0, 1)
     * @param seed     seed of the masks
     * @throws IllegalArgumentException if a size is &lt; 1 or p is outside [0, 1)
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public GruStackTrainer(GruStackWeights weights, int maxBatch, int maxSteps, double dropout, long seed) {
        this(weights, maxBatch, maxSteps, dropout, seed, true, 1);
    }

    /**
     * A trainer with dropout between layers, as {@link #GruStackTrainer(GruStackWeights, int, int, double, long)},
     * on {@code threads} threads, as {@link #GruStackTrainer(GruStackWeights, int, int, int)}; the masks do not depend
     * on the threads.
     *
     * @param weights  the model to train, open; shared, not owned: closing the trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps longest sequence of a forward, &ge; 1; sizes the scratch
     * @param dropout  p, in [0, 1)
     * @param seed     seed of the masks
     * @param threads  threads per GEMM, 1 to {@link LstmRunner#MAX_THREADS}
     * @throws IllegalArgumentException if a size is &lt; 1, p is outside [0, 1), or {@code threads} is above
     *                                  {@link LstmRunner#MAX_THREADS}
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public GruStackTrainer(GruStackWeights weights, int maxBatch, int maxSteps, double dropout, long seed,
                           int threads) {
        this(weights, maxBatch, maxSteps, dropout, seed, true, Checks.threads(threads));
    }

    private GruStackTrainer(GruStackWeights weights, int maxBatch, int maxSteps, double dropout, long seed,
                            boolean withDropout, int threads) {
        this.trainer = StackTrainer.gru(Checks.notNull("weights", weights), maxBatch, maxSteps, threads, withDropout,
                dropout, seed, "GruStackTrainer", this,
                "a GruStackTrainer is for one thread at a time; give each thread its own");
    }

    /** {@return the threads each GEMM runs on, the calling thread included; 1 for the calling thread alone} */
    public int threads() {
        return trainer.threads();
    }

    /** {@return the largest batch this trainer accepts, &ge; 1} */
    public int maxBatch() {
        return trainer.maxBatch();
    }

    /** {@return the longest sequence this trainer accepts, in steps, &ge; 1} */
    public int maxSteps() {
        return trainer.maxSteps();
    }

    /** {@return the dropout probability between layers, in [0, 1); 0 without dropout} */
    public double dropout() {
        return trainer.dropout();
    }

    /**
     * Runs the sequence as {@link GruStackRunner#forward} does, with the same arguments and shapes, plus dropout
     * between layers if this trainer has it, and keeps what {@link #backward} needs.
     *
     * @param x     input, {@code [T][B][I]} floats (time-major)
     * @param steps T, 1 &le; T &le; {@link #maxSteps()}
     * @param batch B, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden states {@code [L·D][B][H]}, or null for zeros
     * @param y     output, {@code [T][B][D·H]}: the top layer's h after every step; null if not wanted
     * @param hT    output, {@code [L·D][B][H]}: the final h of every layer and direction; null if not wanted
     * @throws IllegalArgumentException for a size &lt; 1 or above this trainer's limits, a segment whose size does
     *                                  not match its shape, or a read-only output
     * @throws IllegalStateException    if this trainer, its weights, or the arena of an argument is closed
     */
    public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment y, MemorySegment hT) {
        trainer.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, false, null, h0, null, y, hT, null);
    }

    /**
     * Runs a batch of sequences of different lengths as {@link GruStackRunner#forward(MemorySegment, SequenceLayout,
     * int, int, int[], MemorySegment, MemorySegment, MemorySegment)} does, with the same arguments and shapes, plus
     * dropout between layers if this trainer has it (its masks in this call's layout; padding rows stay zero), and
     * keeps what {@link #backward} needs. The backward then takes dy and writes dx in this layout, ignores dy past
     * each sequence's end (and writes zeros to dx there), and lets each layer and direction's dhT enter at the
     * sequence's own last step; padding adds nothing to any gradient.
     *
     * @param x       input, {@code [T][B][I]} or {@code [B][T][I]} floats, as {@code layout} says
     * @param layout  the order of the time and batch dimensions of x and y (and of dy and dx in the backward)
     * @param steps   T, the padded length, 1 &le; T &le; {@link #maxSteps()}
     * @param batch   B, 1 &le; B &le; {@link #maxBatch()}
     * @param lengths time steps of each sequence, B values in 0..T, in any order; copied
     * @param h0      initial hidden states {@code [L·D][B][H]}, or null for zeros
     * @param y       output in x's layout with D·H floats a row, zero past each sequence's end; null if not wanted
     * @param hT      output, {@code [L·D][B][H]}: every layer and direction's final h; null if not wanted
     * @throws IllegalArgumentException as the time-major forward, and for a null layout, null lengths, lengths of
     *                                  another size than B, or a length outside 0..T (naming its index)
     * @throws IllegalStateException    if this trainer, its weights, or the arena of an argument is closed
     */
    public void forward(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths,
                        MemorySegment h0, MemorySegment y, MemorySegment hT) {
        trainer.forward(x, layout, steps, batch, true, lengths, h0, null, y, hT, null);
    }

    /**
     * Float-array form of {@link #forward(MemorySegment, int, int, MemorySegment, MemorySegment, MemorySegment)}.
     *
     * @param x     input, {@code [T][B][I]}
     * @param steps T, 1 &le; T &le; {@link #maxSteps()}
     * @param batch B, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden states {@code [L·D][B][H]}, or null for zeros
     * @param y     output, {@code [T][B][D·H]}, or null
     * @param hT    output, {@code [L·D][B][H]}, or null
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void forward(float[] x, int steps, int batch, float[] h0, float[] y, float[] hT) {
        forward(MemorySegment.ofArray(Checks.notNull("x", x)), steps, batch, wrap(h0), wrap(y), wrap(hT));
    }

    /**
     * Backpropagates through the last {@link #forward}: given dL/dy and optionally dL/dhT, writes or adds every layer
     * and direction's weight gradients into {@code gradients} (by {@code mode}) and writes dL/dx and dL/dh0. Once per
     * forward.
     *
     * @param dy        dL/dy, shaped as the forward's y ({@code [T][B][D·H]} unless it was batch-first), or null for
     *                  zeros
     * @param dhT       dL/dh_n, {@code [L·D][B][H]}, or null for zeros
     * @param gradients receives every layer and direction's dL/dW_ih, dL/dW_hh, dL/db_ih, dL/db_hh; for a model of
     *                  this trainer's shape
     * @param mode      whether those replace or add to what {@code gradients} holds
     * @param dx        output dL/dx, shaped as the forward's x, or null if not wanted
     * @param dh0       output dL/dh0, {@code [L·D][B][H]}, or null
     * @throws IllegalStateException    without a forward since the last backward, or if anything is closed
     * @throws IllegalArgumentException for gradients of another shape or a segment of the wrong size
     */
    public void backward(MemorySegment dy, MemorySegment dhT, GruStackGradients gradients, GradientMode mode,
                         MemorySegment dx, MemorySegment dh0) {
        trainer.backward(dy, dhT, null, gradients, mode, dx, dh0, null);
    }

    /**
     * Float-array form of {@link #backward(MemorySegment, MemorySegment, GruStackGradients, GradientMode,
     * MemorySegment, MemorySegment)}.
     *
     * @param dy        dL/dy, shaped as the forward's y, or null for zeros
     * @param dhT       dL/dh_n, {@code [L·D][B][H]}, or null for zeros
     * @param gradients receives the weight gradients of every layer and direction
     * @param mode      whether those replace or add to what {@code gradients} holds
     * @param dx        output dL/dx, shaped as the forward's x, or null
     * @param dh0       output dL/dh0, {@code [L·D][B][H]}, or null
     * @throws IllegalStateException    as in the MemorySegment form
     * @throws IllegalArgumentException as in the MemorySegment form
     */
    public void backward(float[] dy, float[] dhT, GruStackGradients gradients, GradientMode mode, float[] dx,
                         float[] dh0) {
        backward(wrap(dy), wrap(dhT), gradients, mode, wrap(dx), wrap(dh0));
    }

    /**
     * Loads new parameter values (after an optimizer step) into every layer's weights and its trainer's transposed
     * copies, in place, without allocating. Every value is checked before any layer changes. The weights are shared
     * with whatever else uses them: no runner or trainer may use them during this call. Invalidates the saved forward.
     *
     * @param parameters the new values of every layer and direction, for a model of this trainer's shape; read
     *                   during the call only
     * @throws IllegalArgumentException if the shapes differ, or a value is NaN or infinite, naming the layer, tensor
     *                                  and element
     * @throws IllegalStateException    if this trainer, its weights or the parameters are closed
     */
    public void updateWeights(GruStackParameters parameters) {
        trainer.updateWeights(parameters);
    }

    /**
     * The multipliers that the last forward applied to the output of {@code layer} (below the top): 0 where an element
     * was dropped, {@code 1/(1-p)} where it was kept, {@code [T][B][D·H]}.
     *
     * @param layer the layer whose output the mask applies to, 0 &le; layer &lt; L - 1
     * @return a new array (a copy) of the multipliers, {@code [T][B][D·H]} for the last forward's T and B
     * @throws IllegalStateException     if this trainer has no dropout or has not run a forward
     * @throws IndexOutOfBoundsException for a layer outside [0, L-1)
     */
    public float[] dropoutMask(int layer) {
        return trainer.dropoutMask(layer);
    }

    /**
     * Frees the scratch memory of every layer and stops the worker threads (if {@link #threads()} &gt; 1), waiting
     * until they have ended. Closing twice is harmless.
     */
    @Override
    public void close() {
        trainer.close();
    }

    /** The worker threads of this trainer (none for one thread), for tests. */
    List<Thread> workerThreads() {
        return trainer.workerThreads();
    }

    /** The guard of this trainer's public methods: lets tests see which thread is inside. */
    ExclusiveUse inUse() {
        return trainer.inUse();
    }

    private static MemorySegment wrap(float[] array) {
        return array == null ? null : MemorySegment.ofArray(array);
    }
}
