package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.util.List;

import dev.vlstm.engine.PackedLayer;
import dev.vlstm.kernel.GateLayout;

/**
 * The inference driver of a whole model, for every cell: one {@link LayerDriver} and one sequence
 * {@link LayerState} per layer and direction (index {@code layer·D + direction}), run layer by layer by
 * {@link StackSequence} (with one {@link VariableLengths} for every part) over whole sequences, and layer by layer
 * over a stream's state for a step. One team of threads serves every part. Arguments are checked here (the layout,
 * sizes and segments; a cell without c refuses c0 and cT), and one thread at a time may call it (the guard names
 * {@code guarded}).
 */
final class StackRunner {

    /** The gate pre-activations a default input chunk holds: 2 MiB. */
    private static final long DEFAULT_CHUNK_BYTES = 2L << 20;
    /** Most time steps a default input chunk holds, however small the model. */
    private static final int MAX_DEFAULT_CHUNK_STEPS = 4096;

    private final RnnShape shape;
    private final Session session;
    private final StackSequence sequence;
    private final LayerDriver[] drivers;
    private final LayerState[] states;
    private final int chunkSteps;

    /**
     * @param weights          the model's packed weights, open
     * @param cellClip         the clip of the activations' inputs, {@code Float.POSITIVE_INFINITY} for none
     * @param chunkSteps       time steps of each part's input GEMM, or 0 for a default of about 2 MiB of gate rows
     * @param owner            the name of the caller's class in messages, e.g. "Runner"
     * @param guarded          the object the one-thread guard names in its message; null: this runner
     * @param advice           the sentence that ends the guard's message
     */
    StackRunner(PackedModel weights, int maxBatch, int maxSteps, float cellClip, int threads, int chunkSteps,
                String owner, Object guarded, String advice) {
        weights.checkOpen();
        Checks.cellClip(cellClip);
        this.shape = weights.shape();
        PackedLayer[] parts = weights.parts();
        this.drivers = new LayerDriver[parts.length];
        this.states = new LayerState[parts.length];
        this.session = Session.open(weights, threads, owner, guarded == null ? this : guarded, advice,
                weights.coldStart());
        OffHeap memory = session.memory();
        boolean cellState = shape.cell().hasCellState();
        int firstChunk = 0;
        try {
            this.sequence = new StackSequence(shape, cellState, maxBatch, maxSteps, owner, memory);
            for (int n = 0; n < parts.length; n++) {
                PackedLayer part = parts[n];
                GateLayout layout = part.layout();
                int partChunk = Math.min(maxSteps, chunkSteps > 0 ? chunkSteps : defaultChunkSteps(layout, maxBatch));
                if (n == 0) {
                    firstChunk = partChunk;
                }
                if ((long) maxBatch * partChunk > Integer.MAX_VALUE / layout.gateRowFloats()) {
                    throw new IllegalArgumentException("maxBatch * chunkSteps = " + (long) maxBatch * partChunk
                            + " rows of " + layout.gateRowFloats() + " gate floats is too large for one input chunk");
                }
                int hiddenStride = part.projection() != null ? part.projection().layout().gateRowFloats()
                        : layout.paddedHidden();
                drivers[n] = new LayerDriver(part, part.cellCode(), cellClip, session.team(), maxBatch, partChunk,
                        memory);
                states[n] = new LayerState(memory, maxBatch, cellState, shape.hiddenStateSize(), hiddenStride,
                        layout.hiddenSize(), layout.paddedHidden());
            }
            this.chunkSteps = firstChunk;
        } catch (RuntimeException | Error e) {
            session.release();
            throw e;
        }
    }

    /** The time steps of a default input chunk: about 2 MiB of gate rows at {@code maxBatch}, 1 to 4096. */
    static int defaultChunkSteps(GateLayout layout, int maxBatch) {
        long stepBytes = (long) maxBatch * layout.gateRowFloats() * Float.BYTES;
        return (int) Math.max(1, Math.min(MAX_DEFAULT_CHUNK_STEPS, DEFAULT_CHUNK_BYTES / stepBytes));
    }

    int maxBatch() {
        return sequence.maxBatch();
    }

    public void checkArguments(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths,
                               MemorySegment h0, MemorySegment c0, MemorySegment y, MemorySegment hT,
                               MemorySegment cT) {
        session.checkOpen();
        session.refuseCellState("c0", c0, "cT", cT);
        sequence.checkArguments(x, layout, steps, batch, lengths, h0, c0, y, hT, cT);
    }

    public void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0, MemorySegment y,
                        MemorySegment hT, MemorySegment cT) {
        session.inUse().enter("forward");
        try {
            session.checkOpen();
            session.refuseCellState("c0", c0, "cT", cT);
            sequence.checkArguments(x, SequenceLayout.TIME_MAJOR, steps, batch, null, h0, c0, y, hT, cT);
            sequence.run(drivers, states, null, x, SequenceLayout.TIME_MAJOR, steps, batch, null, h0, c0, y, hT, cT);
        } finally {
            session.inUse().exit();
        }
    }

    public void forward(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths, MemorySegment h0,
                        MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT) {
        session.inUse().enter("forward");
        try {
            session.checkOpen();
            session.refuseCellState("c0", c0, "cT", cT);
            VariableLengths.check(lengths, steps, batch);
            sequence.checkArguments(x, layout, steps, batch, lengths, h0, c0, y, hT, cT);
            sequence.run(drivers, states, null, x, layout, steps, batch, lengths, h0, c0, y, hT, cT);
        } finally {
            session.inUse().exit();
        }
    }

    public void step(MemorySegment x, StreamState state, MemorySegment h) {
        session.inUse().enter("step");
        try {
            Checks.notNull("state", state).inUse().enter("step");
            try {
                checkedStep(x, state, h);
            } finally {
                state.inUse().exit();
            }
        } finally {
            session.inUse().exit();
        }
    }

    private void checkedStep(MemorySegment x, StreamState state, MemorySegment h) {
        session.checkOpen();
        state.checkOpen();
        // Identity first: a record's first equals() is slow in a new JVM.
        if (state.shape() != shape && !state.shape().equals(shape)) {
            throw new IllegalArgumentException("state is for a model of " + state.shape() + ", but this runner's is "
                    + shape);
        }
        int batch = state.batch();
        if (batch > maxBatch()) {
            throw new IllegalArgumentException("the state's batch " + batch + " exceeds this " + session.owner()
                    + "'s maxBatch " + maxBatch());
        }
        Checks.floats("x", x, "B", batch, "I", shape.inputSize());
        Checks.optionalOutput("h", h, "B", batch, shape.projectionSize() > 0 ? "P" : "H", shape.hiddenStateSize());
        MemorySegment input = x;
        for (int layer = 0; layer < shape.layers(); layer++) {
            MemorySegment output = layer == shape.layers() - 1 ? h : state.layerOutput(layer);
            drivers[layer].step(input, batch, state.layer(layer), output);
            input = output;
        }
    }

    /** {@return the GEMM and step calls run on the cold kernel so far} */
    long coldCalls() {
        return session.team().coldCalls();
    }

    /** While {@code warmingUp}, calls run on the family's GEMM even while a cold start is active. */
    void warmingUp(boolean warmingUp) {
        session.team().warmingUp(warmingUp);
    }

    public int threads() {
        return session.threads();
    }

    public int chunkSteps() {
        return chunkSteps;
    }

    public List<Thread> workerThreads() {
        return session.workerThreads();
    }

    public void close() {
        session.close();
    }
}
