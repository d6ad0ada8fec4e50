package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.util.List;

import dev.vlstm.kernel.Team;

/**
 * Backpropagation through time for a whole {@link LstmStackWeights} model: a training {@link #forward} that keeps
 * what the backward needs, optionally with PyTorch's dropout between layers, and a {@link #backward} that yields the
 * gradient of every layer and direction's parameters (into {@link LstmStackGradients}, PyTorch layout) and dx,
 * dh0, dc0.
 *
 * <p>Each layer and direction trains on its own {@link LstmTrainer}. The backward goes down the stack: the gradient
 * of a layer's output {@code [T][B][D·S]} (S = P with projection, else H) is split into its directions (the reverse one time-reversed), each
 * direction's backward yields the gradient of its input, and their sum, through the dropout mask of the layer below,
 * is the gradient of that layer's output.
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

    private final LstmStackWeights weights;
    private final LstmStackShape shape;
    private final LstmTrainer[] parts;
    /** The threads every part's GEMMs run on (the parts run one after another), owned. */
    private final Team team;
    private final ExclusiveUse inUse = new ExclusiveUse(this,
            "an LstmStackTrainer is for one thread at a time; give each thread its own");
    private final OffHeap memory;
    private final StackSequence sequence;
    private final InterLayerDropout dropout;
    private final float cellClip;
    private final StackSequence.Part forwardPart = this::forwardPart;
    /** The gradient of a layer's output and of its input (the output of the layer below), alternating. */
    private final ScratchView[] layerGradients = new ScratchView[2];
    /** One direction's share of a layer's output gradient, {@code [T][B][H]}, and its input gradient. */
    private final ScratchView directionOutputGradient;
    private final ScratchView firstInputGradient;
    private final ScratchView upperInputGradient;
    private final ScratchView hiddenIn;
    private final ScratchView cellIn;
    private final ScratchView hiddenOut;
    private final ScratchView cellOut;
    /**
     * Each part's tensor names for messages ("layer 1 reverse: weightIh", ...), made once so that a training step's
     * {@link #updateWeights} builds no strings.
     */
    private final String[][] tensorNames;
    /** Whether a forward has run since the last backward (its shape is {@code sequence.call()}). */
    private boolean saved;

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
        Checks.notNull("weights", weights).checkOpen();
        this.cellClip = Checks.cellClip(cellClip);
        Checks.threads(threads);
        this.weights = weights;
        this.shape = weights.shape();
        this.memory = OffHeap.open();
        this.parts = new LstmTrainer[shape.stateCount()];
        this.tensorNames = new String[parts.length][];
        for (int n = 0; n < parts.length; n++) {
            String layer = shape.describe(n) + ": ";
            tensorNames[n] = new String[]{layer + "weightIh", layer + "weightHh", layer + "biasIh", layer + "biasHh",
                layer + "weightHr", layer + "peepholes"};
        }
        this.team = new Team(weights.part(0).family(), threads);
        try {
            long rows = Checks.trainingRows(maxBatch, maxSteps);
            this.sequence = new StackSequence(shape, true, true, maxBatch, maxSteps, "LstmStackTrainer", memory);
            long layerFloats = rows * shape.outputSize();
            this.dropout = withDropout
                    ? new InterLayerDropout(dropout, seed, shape.layers() - 1, layerFloats, memory) : null;
            if (shape.layers() > 1) {
                layerGradients[0] = new ScratchView(memory.floats(layerFloats));
                layerGradients[1] = new ScratchView(memory.floats(layerFloats));
            }
            if (shape.bidirectional()) {
                directionOutputGradient = new ScratchView(memory.floats(rows * shape.hiddenStateSize()));
                MemorySegment inputGradient = memory.floats(rows * Math.max(shape.inputSize(), shape.outputSize()));
                firstInputGradient = new ScratchView(inputGradient);
                upperInputGradient = new ScratchView(inputGradient);
            } else {
                directionOutputGradient = null;
                firstInputGradient = null;
                upperInputGradient = null;
            }
            long hiddenFloats = (long) maxBatch * shape.hiddenStateSize();
            long cellFloats = (long) maxBatch * shape.hiddenSize();
            hiddenIn = new ScratchView(memory.floats(hiddenFloats));
            cellIn = new ScratchView(memory.floats(cellFloats));
            hiddenOut = new ScratchView(memory.floats(hiddenFloats));
            cellOut = new ScratchView(memory.floats(cellFloats));
            for (int n = 0; n < parts.length; n++) {
                parts[n] = new LstmTrainer(weights.part(n), maxBatch, maxSteps, cellClip, team);
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /** {@return the threads each GEMM runs on, the calling thread included; 1 for the calling thread alone} */
    public int threads() {
        return team.threads();
    }

    /** {@return the largest batch this trainer accepts, &ge; 1} */
    public int maxBatch() {
        return sequence.maxBatch();
    }

    /** {@return the longest sequence this trainer accepts, in steps, &ge; 1} */
    public int maxSteps() {
        return sequence.maxSteps();
    }

    /** {@return the cell clip of every layer and direction, &gt; 0, or {@link LstmRunner#NO_CELL_CLIP} if none} */
    public float cellClip() {
        return cellClip;
    }

    /** {@return the dropout probability between layers, in [0, 1); 0 without dropout} */
    public double dropout() {
        return dropout == null ? 0 : dropout.probability();
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
        inUse.enter("forward");
        try {
            checkOpen();
            sequence.checkArguments(x, SequenceLayout.TIME_MAJOR, steps, batch, null, h0, c0, y, hT, cT);
            run(x, SequenceLayout.TIME_MAJOR, steps, batch, null, h0, c0, y, hT, cT);
        } finally {
            inUse.exit();
        }
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
        inUse.enter("forward");
        try {
            checkOpen();
            VariableLengths.check(lengths, steps, batch);
            sequence.checkArguments(x, layout, steps, batch, lengths, h0, c0, y, hT, cT);
            run(x, layout, steps, batch, lengths, h0, c0, y, hT, cT);
        } finally {
            inUse.exit();
        }
    }

    private void run(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths, MemorySegment h0,
                     MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT) {
        saved = false;
        sequence.run(forwardPart, dropout, x, layout, steps, batch, lengths, h0, c0, y, hT, cT);
        saved = true;
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
        inUse.enter("backward");
        try {
            checkOpen();
            if (!saved) {
                throw new IllegalStateException(
                        "backward needs a forward of this trainer first (and runs once per forward)");
            }
            StackBatch call = sequence.call();
            int steps = call.steps();
            int batch = call.batch();
            int states = shape.stateCount();
            int hiddenSize = shape.hiddenSize();
            int stateSize = shape.hiddenStateSize();
            boolean projected = shape.projectionSize() > 0;
            // Constants, not concatenations: a String built per call would allocate on the hot path.
            String width = projected ? "P" : "H";
            String outputWidth = projected ? "D*P" : "D*H";
            Checks.notNull("gradients", gradients).checkOpen();
            Checks.notNull("mode", mode);
            if (!gradients.shape().equals(shape)) {
                throw new IllegalArgumentException("gradients are for a model of " + gradients.shape()
                        + ", but this trainer's is " + shape);
            }
            for (int n = 0; n < parts.length; n++) {
                if ((gradients.part(n).peepholes() != null) != weights.part(n).hasPeepholes()) {
                    throw new IllegalArgumentException(shape.describe(n) + (weights.part(n).hasPeepholes()
                            ? ": the gradients hold no peephole gradients, but the weights have peepholes"
                            : ": the gradients hold peephole gradients, but the weights have none")
                            + "; make them with new LstmStackGradients(weights)");
                }
            }
            Checks.optionalFloats("dy", dy, call.outerName(), call.outerSize(), call.innerName(), call.innerSize(),
                    outputWidth, shape.outputSize());
            Checks.optionalFloats("dhT", dhT, "L*D", states, "B", batch, width, stateSize);
            Checks.optionalFloats("dcT", dcT, "L*D", states, "B", batch, "H", hiddenSize);
            Checks.optionalOutput("dx", dx, call.outerName(), call.outerSize(), call.innerName(), call.innerSize(),
                    "I", shape.inputSize());
            Checks.optionalOutput("dh0", dh0, "L*D", states, "B", batch, width, stateSize);
            Checks.optionalOutput("dc0", dc0, "L*D", states, "B", batch, "H", hiddenSize);
            saved = false;

            int directions = shape.directions();
            long rows = (long) steps * batch;
            long hiddenFloats = (long) batch * stateSize;
            long cellFloats = (long) batch * hiddenSize;
            long hiddenBytes = hiddenFloats * Float.BYTES;
            long cellBytes = cellFloats * Float.BYTES;
            MemorySegment hIn = hiddenIn.floats(hiddenFloats);
            MemorySegment cIn = cellIn.floats(cellFloats);
            MemorySegment hOut = hiddenOut.floats(hiddenFloats);
            MemorySegment cOut = cellOut.floats(cellFloats);
            MemorySegment outputGradient = dy;
            for (int layer = shape.layers() - 1; layer >= 0; layer--) {
                int inputSize = shape.layerInputSize(layer);
                MemorySegment inputGradient = layer == 0 ? dx : layerGradients[layer % 2].floats(rows * inputSize);
                for (int direction = 0; direction < directions; direction++) {
                    int index = layer * directions + direction;
                    boolean reverse = direction == LstmStackShape.REVERSE;
                    MemorySegment partOutputGradient = outputGradient;
                    if (directions > 1 && outputGradient != null) {
                        partOutputGradient = directionOutputGradient.floats(rows * stateSize);
                        DirectionRows.fromLayer(outputGradient, partOutputGradient, call, stateSize, directions,
                                direction, reverse);
                    }
                    MemorySegment partInputGradient = directions == 1 || inputGradient == null ? inputGradient
                            : (layer == 0 ? firstInputGradient : upperInputGradient).floats(rows * inputSize);
                    if (dhT != null) {
                        MemorySegment.copy(dhT, index * hiddenBytes, hIn, 0, hiddenBytes);
                    }
                    if (dcT != null) {
                        MemorySegment.copy(dcT, index * cellBytes, cIn, 0, cellBytes);
                    }
                    parts[index].backward(partOutputGradient, dhT == null ? null : hIn, dcT == null ? null : cIn,
                            gradients.part(index), mode, partInputGradient, dh0 == null ? null : hOut,
                            dc0 == null ? null : cOut);
                    if (dh0 != null) {
                        MemorySegment.copy(hOut, 0, dh0, index * hiddenBytes, hiddenBytes);
                    }
                    if (dc0 != null) {
                        MemorySegment.copy(cOut, 0, dc0, index * cellBytes, cellBytes);
                    }
                    if (partInputGradient != inputGradient) {
                        if (reverse) {
                            DirectionRows.addReversedSequences(partInputGradient, inputGradient, call, inputSize);
                        } else {
                            MemorySegment.copy(partInputGradient, 0, inputGradient, 0, rows * inputSize * Float.BYTES);
                        }
                    }
                }
                if (layer > 0 && dropout != null) {
                    dropout.backward(layer - 1, inputGradient, rows * inputSize);
                }
                outputGradient = inputGradient;
            }
        } finally {
            inUse.exit();
        }
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
        inUse.enter("updateWeights");
        try {
            checkOpen();
            Checks.notNull("parameters", parameters);
            if (!parameters.shape().equals(shape)) {
                throw new IllegalArgumentException("parameters are for a model of " + parameters.shape()
                        + ", but this trainer's is " + shape);
            }
            for (int n = 0; n < parts.length; n++) {
                LstmParameters part = parameters.part(n);
                String[] names = tensorNames[n];
                Checks.finite(names[0], part.weightIh(), part.inputSize());
                Checks.finite(names[1], part.weightHh(), part.outputSize());
                Checks.finite(names[2], part.biasIh(), 0);
                Checks.finite(names[3], part.biasHh(), 0);
                if (part.weightHr() != null) {
                    Checks.finite(names[4], part.weightHr(), part.hiddenSize());
                }
                if ((part.peepholes() != null) != weights.part(n).hasPeepholes()) {
                    throw new IllegalArgumentException(shape.describe(n) + (part.peepholes() == null
                            ? ": parameters have no peepholes, but the weights have peepholes"
                            : ": parameters have peepholes, but the weights have none"));
                }
                if (part.peepholes() != null) {
                    Checks.finite(names[5], part.peepholes(), part.hiddenSize());
                }
            }
            saved = false;
            for (int n = 0; n < parts.length; n++) {
                parts[n].updateWeights(parameters.part(n));
            }
        } finally {
            inUse.exit();
        }
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
        inUse.enter("dropoutMask");
        try {
            checkOpen();
            if (dropout == null) {
                throw new IllegalStateException("this LstmStackTrainer was made without dropout");
            }
            return dropout.mask(layer);
        } finally {
            inUse.exit();
        }
    }

    /** Frees the scratch memory of every layer and stops the worker threads. Closing twice is harmless. */
    @Override
    public void close() {
        inUse.enter("close");
        try {
            for (LstmTrainer part : parts) {
                if (part != null) {
                    part.close();
                }
            }
            team.close();
            memory.close();
        } finally {
            inUse.exit();
        }
    }

    private void forwardPart(int index, MemorySegment x, StackBatch call, int[] lengths, MemorySegment h0,
                             MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT) {
        if (lengths == null) {
            parts[index].forward(x, call.steps(), call.batch(), h0, c0, y, hT, cT);
        } else {
            parts[index].forward(x, call.layout(), call.steps(), call.batch(), lengths, h0, c0, y, hT, cT);
        }
    }

    /** The worker threads of this trainer, shared by its parts (none for one thread), for tests. */
    List<Thread> workerThreads() {
        return team.workerThreads();
    }

    /** The guard of this trainer's public methods: lets tests see which thread is inside. */
    ExclusiveUse inUse() {
        return inUse;
    }

    private void checkOpen() {
        if (!memory.isOpen()) {
            throw new IllegalStateException("this LstmStackTrainer is closed");
        }
        weights.checkOpen();
    }
}
