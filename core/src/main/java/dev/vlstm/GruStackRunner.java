package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.util.List;


/**
 * Runs the forward of a whole {@link GruStackWeights} model, as PyTorch's {@code nn.GRU} does in inference: whole
 * sequences through every layer and direction ({@link #forward}), or, for a unidirectional stack, one step of a
 * stream at a time through every layer ({@link #step}). No dropout: that is training only ({@link GruStackTrainer}).
 *
 * <p>Each layer and direction runs as one {@link GruRunner} would, joined as {@link LstmStackRunner} joins its layers
 * ({@link StackSequence}): the reverse direction of a bidirectional layer runs over a time-reversed copy of the
 * layer's input, and its output is reversed back into columns H..2H of the layer's {@code [T][B][2H]} output (forward
 * first, as PyTorch). Batches of sequences of different lengths (packed sequences) run as in
 * {@link LstmStackRunner}: each sequence its own length in every layer, the reverse direction over each sequence
 * reversed within its length. All scratch is allocated up front for sequences of up to {@code maxSteps} steps of up to
 * {@code maxBatch} rows; calls allocate nothing once warmed up (with the {@link MemorySegment} overloads). For a
 * unidirectional model, longer sequences run in windows that carry the state: pass the same segment as h0 and hT.
 * With {@code threads > 1} every layer's GEMMs are split as in {@link GruRunner}, on one set of threads that the
 * layers and directions, which run one after another, share.
 *
 * <p>Not thread-safe: give each thread its own runner (they may share the weights). Layouts are row-major floats in
 * native byte order; inputs may be heap or native segments.
 */
public final class GruStackRunner implements AutoCloseable {

    private final GruStackWeights weights;
    /** The engine's stack runner, which this class's guard and messages name. */
    private final StackRunner runner;

    /**
     * A runner for up to {@code maxBatch} sequences of up to {@code maxSteps} steps.
     *
     * @param weights  the model to run, open; shared, not owned: closing the runner leaves it open
     * @param maxBatch largest batch of a call, &ge; 1
     * @param maxSteps longest sequence {@link #forward} accepts, &ge; 1; sizes the scratch
     * @throws IllegalArgumentException if a size is &lt; 1
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public GruStackRunner(GruStackWeights weights, int maxBatch, int maxSteps) {
        this(weights, maxBatch, maxSteps, 1);
    }

    /**
     * A runner for up to {@code maxBatch} sequences of up to {@code maxSteps} steps whose every layer and direction
     * runs its GEMMs on {@code threads} threads, as {@link GruRunner#GruRunner(GruWeights, int, int, int)} describes:
     * the stack starts {@code threads - 1} daemon worker threads, which all its parts use in turn. Results are the
     * same bits for any number of threads; {@link #close()} stops the workers.
     *
     * @param weights  the model to run, open; shared, not owned: closing the runner leaves it open
     * @param maxBatch largest batch of a call, &ge; 1
     * @param maxSteps longest sequence {@link #forward} accepts, &ge; 1; sizes the scratch
     * @param threads  threads per call, 1 (the calling thread alone, the default) to {@link LstmRunner#MAX_THREADS}
     * @throws IllegalArgumentException if a size is &lt; 1 or {@code threads} is above {@link LstmRunner#MAX_THREADS}
     * @throws IllegalStateException    if {@code weights} is closed
     */
    public GruStackRunner(GruStackWeights weights, int maxBatch, int maxSteps, int threads) {
        this(weights, maxBatch, maxSteps, threads, 0);
    }

    /**
     * As {@link #GruStackRunner(GruStackWeights, int, int, int)}, with every part's input projection computed
     * {@code chunkSteps} time steps at a time ({@link GruRunner#projectionSteps()}; at most {@code maxSteps}), or by
     * the default rule for 0. Results are the same bits for any chunk.
     */
    GruStackRunner(GruStackWeights weights, int maxBatch, int maxSteps, int threads, int chunkSteps) {
        Checks.notNull("weights", weights).checkOpen();
        this.weights = weights;
        this.runner = StackRunner.gru(weights, maxBatch, maxSteps, threads, chunkSteps, "GruStackRunner", this,
                "a GruStackRunner is for one thread at a time; give each thread its own (they may share the weights)");
    }

    /** {@return the threads each call runs on, the calling thread included; 1 for the calling thread alone} */
    public int threads() {
        return runner.threads();
    }

    /** {@return the largest batch this runner accepts, &ge; 1} */
    public int maxBatch() {
        return runner.maxBatch();
    }

    /** {@return the longest sequence {@link #forward} accepts, in steps, &ge; 1} */
    public int maxSteps() {
        return runner.maxSteps();
    }

    /** {@return the weights this runner runs (not owned by the runner)} */
    public GruStackWeights weights() {
        return weights;
    }

    /**
     * Runs a whole sequence batch through every layer, as {@code nn.GRU} in inference. h0 is read before it is
     * overwritten, so it may be the same memory as hT; otherwise outputs must not overlap the inputs or each other.
     * Arguments are checked before anything is computed or written.
     *
     * @param x     input, {@code [T][B][I]} floats (time-major)
     * @param steps T, 1 &le; T &le; {@link #maxSteps()}
     * @param batch B, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden states {@code [L·D][B][H]} (PyTorch's h_0), or null for zeros
     * @param y     output, {@code [T][B][D·H]}: the top layer's h after every step, forward direction first; null if
     *              not wanted
     * @param hT    output, {@code [L·D][B][H]}: every layer and direction's final h (h_n; the reverse direction's
     *              is its h after step 0); null if not wanted
     * @throws IllegalArgumentException for a size &lt; 1 or above this runner's limits, a segment whose size does
     *                                  not match its shape, or a read-only output
     * @throws IllegalStateException    if this runner, its weights, or the arena of an argument is closed
     */
    public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment y, MemorySegment hT) {
        runner.forward(x, steps, batch, h0, null, y, hT, null);
    }

    /**
     * Float-array form of {@link #forward(MemorySegment, int, int, MemorySegment, MemorySegment, MemorySegment)};
     * same shapes, same nulls allowed.
     *
     * @param x     input, {@code [T][B][I]}, as in the MemorySegment form
     * @param steps T, 1 &le; T &le; {@link #maxSteps()}
     * @param batch B, 1 &le; B &le; {@link #maxBatch()}
     * @param h0    initial hidden states {@code [L·D][B][H]}, or null for zeros
     * @param y     output, {@code [T][B][D·H]}: the top layer's h after every step; null if not wanted
     * @param hT    output, {@code [L·D][B][H]}: the final h of every layer and direction; null if not wanted
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void forward(float[] x, int steps, int batch, float[] h0, float[] y, float[] hT) {
        forward(MemorySegment.ofArray(Checks.notNull("x", x)), steps, batch, wrap(h0), wrap(y), wrap(hT));
    }

    /**
     * Runs a batch of sequences of different lengths, padded to {@code steps}, in either layout, through every layer
     * and direction (PyTorch's {@code nn.GRU} over a packed sequence, ONNX's {@code sequence_lens}). Sequence b runs
     * its first {@code lengths[b]} steps in every layer; the reverse direction runs over those steps reversed, so it
     * starts at the sequence's own last step. y is zero past each sequence's end; hT holds each layer and direction's
     * h after the sequence's last step (the reverse direction's after its step 0); a length of 0 gives y zero and
     * hT = h0. Each sequence's results are bit for bit those of running it alone with {@code steps = lengths[b]}.
     * Aliasing and checks as in the time-major {@link #forward(MemorySegment, int, int, MemorySegment,
     * MemorySegment, MemorySegment) forward}.
     *
     * @param x       input, {@code [T][B][I]} ({@link SequenceLayout#TIME_MAJOR}) or {@code [B][T][I]}
     *                ({@link SequenceLayout#BATCH_FIRST}) floats; padding steps are never read
     * @param layout  the order of the time and batch dimensions of x and y
     * @param steps   T, the padded length, 1 &le; T &le; {@link #maxSteps()}
     * @param batch   B, 1 &le; B &le; {@link #maxBatch()}
     * @param lengths time steps of each sequence, B values in 0..T, in any order; read during the call only
     * @param h0      initial hidden states {@code [L·D][B][H]}, or null for zeros
     * @param y       output in x's layout, {@code [T][B][D·H]} or {@code [B][T][D·H]}: the top layer's h, zero past
     *                each sequence's end; null if not wanted
     * @param hT      output, {@code [L·D][B][H]}: every layer and direction's final h; null if not wanted
     * @throws IllegalArgumentException as the time-major forward, and for a null layout, null lengths, lengths of
     *                                  another size than B, or a length outside 0..T (naming its index)
     * @throws IllegalStateException    as the time-major forward
     */
    public void forward(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths,
                        MemorySegment h0, MemorySegment y, MemorySegment hT) {
        runner.forward(x, layout, steps, batch, lengths, h0, null, y, hT, null);
    }

    /**
     * Float-array form of {@link #forward(MemorySegment, SequenceLayout, int, int, int[], MemorySegment,
     * MemorySegment, MemorySegment)}; same shapes, same nulls allowed.
     *
     * @param x       input, {@code [T][B][I]} or {@code [B][T][I]} per {@code layout}
     * @param layout  the order of the time and batch dimensions of x and y
     * @param steps   T, the padded length, 1 &le; T &le; {@link #maxSteps()}
     * @param batch   B, 1 &le; B &le; {@link #maxBatch()}
     * @param lengths time steps of each sequence, B values in 0..T
     * @param h0      initial hidden states {@code [L·D][B][H]}, or null for zeros
     * @param y       output in x's layout: the top layer's h, zero past each sequence's end; null if not wanted
     * @param hT      output, {@code [L·D][B][H]}: every layer and direction's final h; null if not wanted
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void forward(float[] x, SequenceLayout layout, int steps, int batch, int[] lengths, float[] h0, float[] y,
                        float[] hT) {
        forward(MemorySegment.ofArray(Checks.notNull("x", x)), layout, steps, batch, lengths, wrap(h0), wrap(y),
                wrap(hT));
    }

    /**
     * Advances a stream through a unidirectional stack by one time step: every layer's h in {@code state}, and the
     * top layer's new h into {@code h} if it is not null. Stepping T times gives the same result as {@link #forward}
     * over T steps, bit for bit. Arguments are checked first: a step that throws has not changed the state.
     *
     * @param x     input of this step, {@code [B][I]} floats, B = {@code state.batch()} &le; {@link #maxBatch()}
     * @param state the stream's state, made for a model of this runner's shape
     * @param h     output, {@code [B][H]}: the top layer's new h (this step's row of y); null if not wanted
     * @throws IllegalArgumentException for a state of another model shape, a batch above {@link #maxBatch()}, or a
     *                                  segment whose size does not match its shape
     * @throws IllegalStateException    if this runner, its weights, the state, or the arena of an argument is closed
     */
    public void step(MemorySegment x, GruStackState state, MemorySegment h) {
        runner.step(x, Checks.notNull("state", state).stream(), h);
    }

    /**
     * Float-array form of {@link #step(MemorySegment, GruStackState, MemorySegment)}.
     *
     * @param x     input of this step, {@code [B][I]}, B = {@code state.batch()}
     * @param state the stream's state, updated in place
     * @param h     output, {@code [B][H]}: the top layer's new h; null if not wanted
     * @throws IllegalArgumentException as in the MemorySegment form
     * @throws IllegalStateException    as in the MemorySegment form
     */
    public void step(float[] x, GruStackState state, float[] h) {
        step(MemorySegment.ofArray(Checks.notNull("x", x)), state, wrap(h));
    }

    /**
     * Frees every layer's scratch and stops the worker threads (if {@link #threads()} &gt; 1), waiting until they
     * have ended. Closing twice is harmless.
     */
    @Override
    public void close() {
        runner.close();
    }

    /** The time steps of every part's input GEMM ({@code projectionSteps}, the same in every part). */
    int chunkSteps() {
        return runner.chunkSteps();
    }

    /** The worker threads of this runner (none for one thread), for tests. */
    List<Thread> workerThreads() {
        return runner.workerThreads();
    }

    /** The guard of this runner's public methods: lets tests see which thread is inside. */
    ExclusiveUse inUse() {
        return runner.inUse();
    }

    private static MemorySegment wrap(float[] array) {
        return array == null ? null : MemorySegment.ofArray(array);
    }
}
