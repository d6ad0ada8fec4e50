package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Backpropagation through time for a whole {@link LstmStackWeights} model: a training {@link #forward} that keeps
 * what the backward needs, optionally with PyTorch's dropout between layers, and a {@link #backward} that yields the
 * gradient of every layer and direction's parameters (into {@link LstmStackGradients}, PyTorch layout) and dx,
 * dh0, dc0.
 *
 * <p>Each layer and direction trains as an {@link LstmTrainer} does. The backward goes down the stack: the gradient
 * of a layer's output {@code [T][B][D·S]} (S = P with projection, else H) is split into its directions (the reverse
 * one time-reversed), each direction's backward yields the gradient of its input, and their sum, through the dropout
 * mask of the layer below, is the gradient of that layer's output.
 *
 * <p>Dropout (probability p, 0 by default) is applied as {@code nn.LSTM(dropout=p)} in training: on the output of
 * every layer but the top one, each element zeroed with probability p and otherwise scaled by {@code 1/(1-p)}.
 * Masks come from one generator seeded at construction, so the same seed gives the same masks forward after
 * forward; {@link LstmStackRunner} (inference) never drops.
 *
 * <p>Layers and directions with peephole connections train them ({@link LstmGradients#peepholes()} of their part of
 * {@link LstmStackGradients}); an optional cell clip applies to every layer and direction.
 *
 * <p>All scratch is allocated up front for {@code maxSteps × maxBatch}. Not thread-safe: one trainer per thread; the
 * weights may be shared. Layouts are row-major floats in native byte order.
 */
public final class LstmStackTrainer implements AutoCloseable {

    private final StackTrainer trainer;

    /**
     * A trainer without dropout, for sequences of up to {@code maxSteps} steps of up to {@code maxBatch} rows.
     *
     * @param weights  the model to train, open, float32; shared, not owned: closing the trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps longest sequence of a forward, &ge; 1; sizes the scratch
     * @throws IllegalArgumentException if a size is &lt; 1
     */
    public LstmStackTrainer(LstmStackWeights weights, int maxBatch, int maxSteps) {
        this(weights, maxBatch, maxSteps, 0, 0, false, LstmRunner.NO_CELL_CLIP, 1);
    }

    /**
     * A trainer without dropout, with ONNX's cell clip in every layer and direction, as
     * {@link LstmTrainer#LstmTrainer(LstmWeights, int, int, float)} applies it (and as
     * {@link LstmStackRunner#LstmStackRunner(LstmStackWeights, int, int, float)} runs it): the backward passes no
     * gradient through a clipped value.
     *
     * @param weights  the model to train, open, float32; shared, not owned: closing the trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps longest sequence of a forward, &ge; 1; sizes the scratch
     * @param cellClip the clip threshold, &gt; 0, or {@link LstmRunner#NO_CELL_CLIP}
     * @throws IllegalArgumentException if a size is &lt; 1, or {@code cellClip} is not &gt; 0 (or is NaN)
     */
    public LstmStackTrainer(LstmStackWeights weights, int maxBatch, int maxSteps, float cellClip) {
        this(weights, maxBatch, maxSteps, 0, 0, false, cellClip, 1);
    }

    /**
     * A trainer that drops the outputs of every layer but the top one with probability {@code dropout} (no effect on
     * a one-layer model, as in PyTorch).
     *
     * @param weights  the model to train, open, float32; shared, not owned: closing the trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps longest sequence of a forward, &ge; 1; sizes the scratch
     * @param dropout  p, in [0, 1)
     * @param seed     seed of the masks
     * @throws IllegalArgumentException if a size is &lt; 1, or p is outside [0, 1)
     */
    public LstmStackTrainer(LstmStackWeights weights, int maxBatch, int maxSteps, double dropout, long seed) {
        this(weights, maxBatch, maxSteps, dropout, seed, true, LstmRunner.NO_CELL_CLIP, 1);
    }

    /**
     * A trainer with dropout between layers (as {@link #LstmStackTrainer(LstmStackWeights, int, int, double, long)})
     * and a cell clip in every layer and direction (as {@link #LstmStackTrainer(LstmStackWeights, int, int, float)}).
     *
     * @param weights  the model to train, open, float32; shared, not owned: closing the trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps longest sequence of a forward, &ge; 1; sizes the scratch
     * @param dropout  p, in [0, 1)
     * @param seed     seed of the masks
     * @param cellClip the clip threshold, &gt; 0, or {@link LstmRunner#NO_CELL_CLIP}
     * @throws IllegalArgumentException if a size is &lt; 1, p is outside [0, 1), or {@code cellClip} is not &gt; 0
     *                                  (or is NaN)
     */
    public LstmStackTrainer(LstmStackWeights weights, int maxBatch, int maxSteps, double dropout, long seed,
                            float cellClip) {
        this(weights, maxBatch, maxSteps, dropout, seed, true, cellClip, 1);
    }

    /**
     * A trainer without dropout (as {@link #LstmStackTrainer(LstmStackWeights, int, int, float)}) whose GEMMs run on
     * {@code threads} threads, as {@link LstmTrainer#LstmTrainer(LstmWeights, int, int, float, int)} splits them:
     * the trainer starts {@code threads - 1} daemon worker threads, shared by every layer and direction (they run
     * one after another), and {@link #close()} stops them. Results are the same bits for any number of threads.
     *
     * @param weights  the model to train, open, float32; shared, not owned: closing the trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps longest sequence of a forward, &ge; 1; sizes the scratch
     * @param cellClip the clip threshold, &gt; 0, or {@link LstmRunner#NO_CELL_CLIP}
     * @param threads  threads per GEMM, 1 (the calling thread alone, the default) to {@link LstmRunner#MAX_THREADS}
     * @throws IllegalArgumentException if a size is &lt; 1, {@code threads} is above {@link LstmRunner#MAX_THREADS},
     *                                  or {@code cellClip} is not &gt; 0 (or is NaN)
     */
    public LstmStackTrainer(LstmStackWeights weights, int maxBatch, int maxSteps, float cellClip, int threads) {
        this(weights, maxBatch, maxSteps, 0, 0, false, cellClip, threads);
    }

    /**
     * A trainer with dropout between layers and a cell clip (as
     * {@link #LstmStackTrainer(LstmStackWeights, int, int, double, long, float)}) whose GEMMs run on {@code threads}
     * threads (as {@link #LstmStackTrainer(LstmStackWeights, int, int, float, int)}).
     *
     * @param weights  the model to train, open, float32; shared, not owned: closing the trainer leaves it open
     * @param maxBatch largest batch of a forward, &ge; 1
     * @param maxSteps longest sequence of a forward, &ge; 1; sizes the scratch
     * @param dropout  p, in [0, 1)
     * @param seed     seed of the masks
     * @param cellClip the clip threshold, &gt; 0, or {@link LstmRunner#NO_CELL_CLIP}
     * @param threads  threads per GEMM, 1 to {@link LstmRunner#MAX_THREADS}
     * @throws IllegalArgumentException if a size is &lt; 1, p is outside [0, 1), {@code threads} is above
     *                                  {@link LstmRunner#MAX_THREADS}, or {@code cellClip} is not &gt; 0 (or is NaN)
     */
    public LstmStackTrainer(LstmStackWeights weights, int maxBatch, int maxSteps, double dropout, long seed,
                            float cellClip, int threads) {
        this(weights, maxBatch, maxSteps, dropout, seed, true, cellClip, threads);
    }

    private LstmStackTrainer(LstmStackWeights weights, int maxBatch, int maxSteps, double dropout, long seed,
                             boolean withDropout, float cellClip, int threads) {
        this.trainer = StackTrainer.lstm(Checks.notNull("weights", weights), maxBatch, maxSteps, cellClip, threads,
                withDropout, dropout, seed, "LstmStackTrainer", this,
                "an LstmStackTrainer is for one thread at a time; give each thread its own");
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

    /** {@return the cell clip of every layer and direction, &gt; 0, or {@link LstmRunner#NO_CELL_CLIP} if none} */
    public float cellClip() {
        return trainer.cellClip();
    }

    /** {@return the dropout probability between layers, in [0, 1); 0 without dropout} */
    public double dropout() {
        return trainer.dropout();
    }

    /**
     * Runs the sequence as {@link LstmStackRunner#forward} does, with the same arguments and shapes, plus dropout
     * between layers if this trainer has it, and keeps what {@link #backward} needs.
     *
     * @param x     input, {@code [T][B][I]} floats (time-major)
     * @param steps T, 1 &le; T &le; {@link #maxSteps()}
     * @param batch B, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden states {@code [L·D][B][H]} ({@code [L·D][B][P]} with projection), or null for
     *              zeros
     * @param c0    initial cell states {@code [L·D][B][H]}, or null for zeros
     * @param y     output, {@code [T][B][D·H]} ({@code [T][B][D·P]} with projection): the top layer's h after every
     *              step; null if not wanted
     * @param hT    output, shaped as h0: the final h of every layer and direction; null if not wanted
     * @param cT    output, {@code [L·D][B][H]}: the final cell states; null if not wanted
     * @throws IllegalArgumentException for a size &lt; 1 or above this trainer's limits, a segment whose size does
     *                                  not match its shape, or a read-only output
     * @throws IllegalStateException    if this trainer, its weights, or the arena of an argument is closed
     */
    public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0,
                        MemorySegment y, MemorySegment hT, MemorySegment cT) {
        trainer.forward(x, SequenceLayout.TIME_MAJOR, steps, batch, false, null, h0, c0, y, hT, cT);
    }

    /**
     * Runs a batch of sequences of different lengths as {@link LstmStackRunner#forward(MemorySegment,
     * SequenceLayout, int, int, int[], MemorySegment, MemorySegment, MemorySegment, MemorySegment, MemorySegment)}
     * does, with the same arguments and shapes, plus dropout between layers if this trainer has it (its masks in
     * this call's layout; padding rows stay zero), and keeps what {@link #backward} needs. The backward then takes
     * dy and writes dx in this layout, ignores dy past each sequence's end (and writes zeros to dx there), and lets
     * each layer and direction's dhT and dcT enter at the sequence's own last step; padding adds nothing to any
     * gradient.
     *
     * @param x       input, {@code [T][B][I]} or {@code [B][T][I]} floats, as {@code layout} says
     * @param layout  the order of the time and batch dimensions of x and y (and of dy and dx in the backward)
     * @param steps   T, the padded length, 1 &le; T &le; {@link #maxSteps()}
     * @param batch   B, 1 &le; B &le; {@link #maxBatch()}
     * @param lengths time steps of each sequence, B values in 0..T, in any order; copied
     * @param h0      initial hidden states {@code [L·D][B][H]} ({@code [L·D][B][P]} with projection), or null for
     *                zeros
     * @param c0      initial cell states {@code [L·D][B][H]}, or null for zeros
     * @param y       output in x's layout with D·H floats a row (D·P with projection), zero past each sequence's
     *                end; null if not wanted
     * @param hT      output, shaped as h0: every layer and direction's final h; null if not wanted
     * @param cT      output, {@code [L·D][B][H]}: the final cell states; null if not wanted
     * @throws IllegalArgumentException as the time-major forward, and for a null layout, null lengths, lengths of
     *                                  another size than B, or a length outside 0..T (naming its index)
     * @throws IllegalStateException    if this trainer, its weights, or the arena of an argument is closed
     */
    public void forward(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths,
                        MemorySegment h0, MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT) {
        trainer.forward(x, layout, steps, batch, true, lengths, h0, c0, y, hT, cT);
    }

    /**
     * Backpropagates through the last {@link #forward}: given dL/dy and optionally dL/dhT and dL/dcT, writes or adds
     * every layer and direction's weight gradients into {@code gradients} (by {@code mode}) and writes dL/dx, dL/dh0
     * and dL/dc0. Once per forward.
     *
     * @param dy        dL/dy, shaped as the forward's y ({@code [T][B][D·H]}, {@code [T][B][D·P]} with projection),
     *                  or null for zeros
     * @param dhT       dL/dh_n, {@code [L·D][B][H]} ({@code [L·D][B][P]} with projection), or null for zeros
     * @param dcT       dL/dc_n, {@code [L·D][B][H]}, or null for zeros
     * @param gradients receives every layer and direction's dL/dW_ih, dL/dW_hh, dL/db_ih, dL/db_hh (and dL/dW_hr
     *                  with projection, dL/dp where the part has peepholes); for a model of this trainer's shape,
     *                  with peephole gradients for exactly the parts whose weights have peepholes
     *                  ({@link LstmStackGradients#LstmStackGradients(LstmStackWeights)})
     * @param mode      whether those replace or add to what {@code gradients} holds
     * @param dx        output dL/dx, {@code [T][B][I]}, or null if not wanted
     * @param dh0       output dL/dh0, shaped as dhT, or null
     * @param dc0       output dL/dc0, {@code [L·D][B][H]}, or null
     * @throws IllegalStateException    without a forward since the last backward, or if anything is closed
     * @throws IllegalArgumentException for gradients of another shape or whose peephole gradients do not match the
     *                                  weights' peepholes (naming the layer), or a segment of the wrong size
     */
    public void backward(MemorySegment dy, MemorySegment dhT, MemorySegment dcT, LstmStackGradients gradients,
                         GradientMode mode, MemorySegment dx, MemorySegment dh0, MemorySegment dc0) {
        trainer.backward(dy, dhT, dcT, gradients, mode, dx, dh0, dc0);
    }

    /**
     * Loads new parameter values (after an optimizer step) into every layer's weights, in place, without
     * allocating. Every value is checked before any layer changes. The weights are shared with whatever else uses
     * them: no runner or trainer may use them during this call. Invalidates the saved forward.
     *
     * @param parameters the new values of every layer and direction (the peepholes too where a part has them), for
     *                   a model of this trainer's shape; read during the call only
     * @throws IllegalArgumentException if the shapes differ, a part's parameters have peepholes where its weights
     *                                  have none or the other way round, or a value is NaN or infinite, naming the
     *                                  layer, tensor and element
     */
    public void updateWeights(LstmStackParameters parameters) {
        trainer.updateWeights(parameters);
    }

    /**
     * The multipliers that the last forward applied to the output of {@code layer} (below the top): 0 where an element
     * was dropped, {@code 1/(1-p)} where it was kept, {@code [T][B][D·S]} (S = P with projection, else H).
     *
     * @param layer the layer whose output the mask applies to, 0 &le; layer &lt; L - 1
     * @return a new array (a copy) of the multipliers, {@code [T][B][D·S]} for the last forward's T and B
     *         ({@code [B][T][D·S]} after a batch-first forward)
     * @throws IllegalStateException     if this trainer has no dropout or has not run a forward
     * @throws IndexOutOfBoundsException for a layer outside [0, L-1)
     */
    public float[] dropoutMask(int layer) {
        return trainer.dropoutMask(layer);
    }

    /** Frees the scratch memory of every layer and stops the worker threads. Closing twice is harmless. */
    @Override
    public void close() {
        trainer.close();
    }

    /** The worker threads of this trainer, shared by its parts (none for one thread), for tests. */
    List<Thread> workerThreads() {
        return trainer.workerThreads();
    }

    /** The guard of this trainer's public methods: lets tests see which thread is inside. */
    ExclusiveUse inUse() {
        return trainer.inUse();
    }
}
