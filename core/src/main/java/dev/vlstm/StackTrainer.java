package dev.vlstm;

import java.lang.foreign.MemorySegment;

import dev.vlstm.engine.PackedLayer;
import dev.vlstm.kernel.Family;
import dev.vlstm.kernel.GateLayout;
import dev.vlstm.kernel.Postgemm;
import dev.vlstm.kernel.Team;

/**
 * The training driver of a whole model, for every cell: per layer and direction (index {@code layer·D + direction})
 * a training {@link LayerDriver}, a {@link LayerState#history} and a {@link BackwardDriver}, with one
 * {@link VariableLengths} for every part (its {@link StackSequence}'s) and one team of threads. The forward runs
 * layer by layer through {@link StackSequence}, with {@link InterLayerDropout} on the output of every layer but the
 * top one; the backward goes down the stack: the gradient of a layer's output {@code [T][B][D·S]} (S = P with
 * projection, else H) is split into its directions (the reverse one time-reversed), each direction's backward yields
 * the gradient of its input, and their sum, through the dropout mask of the layer below, is the gradient of that
 * layer's output.
 *
 * <p>The cells differ only in c (an LSTM's c0, cT, dcT and dc0; a cell without c refuses them). Arguments are
 * checked here; one thread at a time may call it (the guard names {@code guarded}). The parts get whole scratch
 * buffers and read only the sizes they are given, so no change of shape allocates.
 */
final class StackTrainer {

    private final RnnShape shape;
    private final PackedModel weights;
    private final Session session;
    private final StackSequence sequence;
    private final LayerDriver[] forwards;
    private final LayerState[] states;
    private final BackwardDriver[] backwards;
    private final InterLayerDropout dropout;
    /** The gradient of a layer's output and of its input (the output of the layer below), alternating. */
    private final MemorySegment[] layerGradients = new MemorySegment[2];
    /** One direction's share of a layer's output gradient, {@code [T][B][S]}, and its input gradient. */
    private final MemorySegment directionOutputGradient;
    private final MemorySegment directionInputGradient;
    private final MemorySegment hiddenIn;
    private final MemorySegment cellIn;
    private final MemorySegment hiddenOut;
    private final MemorySegment cellOut;
    /** Whether a forward has run since the last backward (its shape is {@code sequence.plan()}). */
    private boolean saved;

    /**
     * @param weights          the model's packed weights, open, float32
     * @param cellClip         the clip of the activations' inputs, {@code Float.POSITIVE_INFINITY} for none
     * @param withDropout      whether the trainer drops (p = {@code dropout}, masks seeded by {@code seed})
     * @param dropout          p, in [0, 1); not read without dropout
     * @param owner            the name of the caller's class in messages, e.g. "Trainer"
     * @param guarded          the object the one-thread guard names in its message; null: this trainer
     * @param advice           the sentence that ends the guard's message
     */
    StackTrainer(PackedModel weights, int maxBatch, int maxSteps, float cellClip, int threads, boolean withDropout,
                 double dropout, long seed, String owner, Object guarded, String advice) {
        weights.checkOpen();
        Checks.cellClip(cellClip);
        this.shape = weights.shape();
        this.weights = weights;
        PackedLayer[] parts = weights.parts();
        Family family = weights.family();
        this.forwards = new LayerDriver[parts.length];
        this.states = new LayerState[parts.length];
        this.backwards = new BackwardDriver[parts.length];
        this.session = Session.open(weights, threads, owner, guarded == null ? this : guarded, advice, null);
        OffHeap memory = session.memory();
        Team team = session.team();
        boolean cellState = shape.cell().hasCellState();
        try {
            long rows = Checks.trainingRows(maxBatch, maxSteps);
            this.sequence = new StackSequence(shape, cellState, maxBatch, maxSteps, owner, memory);
            long layerFloats = rows * shape.outputSize();
            this.dropout = withDropout
                    ? new InterLayerDropout(dropout, seed, shape.layers() - 1, layerFloats, memory) : null;
            if (shape.layers() > 1) {
                layerGradients[0] = memory.floats(layerFloats);
                layerGradients[1] = memory.floats(layerFloats);
            }
            boolean bidirectional = shape.direction() == Direction.BIDIRECTIONAL;
            directionOutputGradient = bidirectional ? memory.floats(rows * shape.hiddenStateSize()) : null;
            directionInputGradient = bidirectional
                    ? memory.floats(rows * Math.max(shape.inputSize(), shape.outputSize())) : null;
            long hiddenFloats = (long) maxBatch * shape.hiddenStateSize();
            long cellFloats = (long) maxBatch * shape.hiddenSize();
            hiddenIn = memory.floats(hiddenFloats);
            hiddenOut = memory.floats(hiddenFloats);
            cellIn = cellState ? memory.floats(cellFloats) : null;
            cellOut = cellState ? memory.floats(cellFloats) : null;
            MemorySegment gruGradientsTransposed = gruGradientsTransposed(parts, rows, memory);
            for (int n = 0; n < parts.length; n++) {
                PackedLayer part = parts[n];
                GateLayout layout = part.layout();
                int cell = part.cellCode();
                int hiddenStride = part.projection() != null ? part.projection().layout().gateRowFloats()
                        : layout.paddedHidden();
                states[n] = LayerState.history(memory, maxBatch, maxSteps, cellState, shape.hiddenStateSize(),
                        hiddenStride, layout.hiddenSize(), layout.paddedHidden());
                forwards[n] = LayerDriver.training(part, cell, cellClip, team, maxBatch, maxSteps, memory);
                backwards[n] = new BackwardDriver(part, family, cell, cellClip, team, forwards[n], states[n],
                        sequence.plan(), maxBatch, maxSteps, gruGradientsTransposed, memory);
            }
        } catch (RuntimeException | Error e) {
            session.release();
            throw e;
        }
    }

    /**
     * One scratch for the GRU parts' transposed gradients ({@link BackwardDriver}), sized for the widest: the parts'
     * weight gradients run one after another. Null without a GRU part (a stack's parts are all of one cell).
     */
    private static MemorySegment gruGradientsTransposed(PackedLayer[] parts, long rows, OffHeap memory) {
        long widest = 0;
        for (PackedLayer part : parts) {
            if (part.cellCode() == Postgemm.GRU) {
                widest = Math.max(widest, part.layout().gateRowFloats());
            }
        }
        return widest == 0 ? null : memory.floats(Math.multiplyExact(rows, widest));
    }

    public void forward(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths, MemorySegment h0,
                        MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT) {
        forward(x, layout, steps, batch, lengths != null, lengths, h0, c0, y, hT, cT);
    }

    /**
     * A training forward that keeps what {@link #backward} needs: of sequences of different lengths in
     * {@code layout} if {@code variable} (null lengths refused), else time-major ({@code layout} and {@code lengths}
     * not read).
     */
    void forward(MemorySegment x, SequenceLayout layout, int steps, int batch, boolean variable, int[] lengths,
                 MemorySegment h0, MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT) {
        session.inUse().enter("forward");
        try {
            session.checkOpen();
            session.refuseCellState("c0", c0, "cT", cT);
            SequenceLayout order = variable ? layout : SequenceLayout.TIME_MAJOR;
            int[] checkedLengths = variable ? lengths : null;
            if (variable) {
                VariableLengths.check(lengths, steps, batch);
            }
            sequence.checkArguments(x, order, steps, batch, checkedLengths, h0, c0, y, hT, cT);
            saved = false;
            sequence.run(forwards, states, dropout, x, order, steps, batch, checkedLengths, h0, c0, y, hT, cT);
            saved = true;
        } finally {
            session.inUse().exit();
        }
    }

    /**
     * The backward through the last forward, into {@code gradients}, open and of this trainer's shape (which the
     * caller has checked).
     */
    void backward(MemorySegment dy, MemorySegment dhT, MemorySegment dcT, ModelTensors gradients, GradientMode mode,
                  MemorySegment dx, MemorySegment dh0, MemorySegment dc0) {
        session.inUse().enter("backward");
        try {
            session.checkOpen();
            session.refuseCellState("dcT", dcT, "dc0", dc0);
            if (!saved) {
                throw new IllegalStateException(
                        "backward needs a forward of this trainer first (and runs once per forward)");
            }
            Checks.notNull("mode", mode);
            VariableLengths call = sequence.plan();
            int states = shape.stateCount();
            int batch = call.batch();
            int hiddenSize = shape.hiddenSize();
            int stateSize = shape.hiddenStateSize();
            boolean projected = shape.projectionSize() > 0;
            // Constants, not concatenations: a String built per call would allocate on the hot path.
            String width = projected ? "P" : "H";
            String outputWidth = projected ? "D*P" : "D*H";
            SequenceLayout layout = call.layout();
            String outer = layout.outerName();
            String inner = layout.innerName();
            int outerSize = layout.outerSize(call.steps(), batch);
            int innerSize = layout.innerSize(call.steps(), batch);
            Checks.optionalFloats("dy", dy, outer, outerSize, inner, innerSize, outputWidth, shape.outputSize());
            Checks.optionalFloats("dhT", dhT, "L*D", states, "B", batch, width, stateSize);
            Checks.optionalFloats("dcT", dcT, "L*D", states, "B", batch, "H", hiddenSize);
            Checks.optionalOutput("dx", dx, outer, outerSize, inner, innerSize, "I", shape.inputSize());
            Checks.optionalOutput("dh0", dh0, "L*D", states, "B", batch, width, stateSize);
            Checks.optionalOutput("dc0", dc0, "L*D", states, "B", batch, "H", hiddenSize);
            saved = false;
            backPropagate(call, dy, dhT, dcT, gradients, mode, dx, dh0, dc0);
        } finally {
            session.inUse().exit();
        }
    }

    /** Down the stack, each part's backward on its direction's share of its layer's output gradient. */
    private void backPropagate(VariableLengths call, MemorySegment dy, MemorySegment dhT, MemorySegment dcT,
                               ModelTensors gradients, GradientMode mode, MemorySegment dx, MemorySegment dh0,
                               MemorySegment dc0) {
        int directions = shape.direction().count();
        int stateSize = shape.hiddenStateSize();
        long rows = (long) call.steps() * call.batch();
        long hiddenBytes = (long) call.batch() * stateSize * Float.BYTES;
        long cellBytes = (long) call.batch() * shape.hiddenSize() * Float.BYTES;
        MemorySegment outputGradient = dy;
        for (int layer = shape.layers() - 1; layer >= 0; layer--) {
            int inputSize = shape.layerInputSize(layer);
            MemorySegment inputGradient = layer == 0 ? dx : layerGradients[layer % 2];
            for (int direction = 0; direction < directions; direction++) {
                int index = layer * directions + direction;
                boolean reverse = direction == 1;
                MemorySegment partOutputGradient = outputGradient;
                if (directions > 1 && outputGradient != null) {
                    partOutputGradient = directionOutputGradient;
                    DirectionRows.fromLayer(outputGradient, partOutputGradient, call, stateSize, directions,
                            direction, reverse);
                }
                MemorySegment partInputGradient = directions == 1 || inputGradient == null ? inputGradient
                        : directionInputGradient;
                if (dhT != null) {
                    MemorySegment.copy(dhT, index * hiddenBytes, hiddenIn, 0, hiddenBytes);
                }
                if (dcT != null) {
                    MemorySegment.copy(dcT, index * cellBytes, cellIn, 0, cellBytes);
                }
                BackwardDriver part = backwards[index];
                part.backward(partOutputGradient, dhT == null ? null : hiddenIn, dcT == null ? null : cellIn,
                        dh0 == null ? null : hiddenOut, dc0 == null ? null : cellOut);
                if (partInputGradient != null) {
                    part.inputGradient(partInputGradient);
                }
                weightGradients(part, index, gradients, mode);
                if (dh0 != null) {
                    MemorySegment.copy(hiddenOut, 0, dh0, index * hiddenBytes, hiddenBytes);
                }
                if (dc0 != null) {
                    MemorySegment.copy(cellOut, 0, dc0, index * cellBytes, cellBytes);
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
    }

    /** Part {@code index}'s weight gradients into its share of {@code gradients}. */
    private static void weightGradients(BackwardDriver part, int index, ModelTensors gradients, GradientMode mode) {
        ModelTensors.Part target = gradients.part(index);
        part.weightGradients(mode, target.weightIh(), target.weightHh(), target.biasIh(), target.biasHh(),
                target.weightHr(), target.peepholes());
    }

    /**
     * Repacks the model from {@code parameters}, open and of this trainer's shape (which the caller has checked),
     * after checking every value (so that a refused update changes nothing), then its transposed copies.
     * Invalidates the saved forward.
     */
    void updateWeights(ModelTensors parameters) {
        session.inUse().enter("updateWeights");
        try {
            session.checkOpen();
            weights.repack(parameters);
            saved = false;
            for (BackwardDriver part : backwards) {
                part.packTransposed();
            }
        } finally {
            session.inUse().exit();
        }
    }

    public float[] dropoutMask(int layer) {
        session.inUse().enter("dropoutMask");
        try {
            session.checkOpen();
            if (dropout == null) {
                throw new IllegalStateException("this " + session.owner() + " was made without dropout");
            }
            return dropout.mask(layer);
        } finally {
            session.inUse().exit();
        }
    }

    public int threads() {
        return session.threads();
    }

    /** Frees the scratch memory and stops the worker threads. Closing twice is harmless. */
    public void close() {
        session.close();
    }
}
