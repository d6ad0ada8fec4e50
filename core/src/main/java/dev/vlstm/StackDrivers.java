package dev.vlstm;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * The stack drivers that {@link Model}, {@link Runner} and {@link State} run on ({@link LstmStackWeights},
 * {@link LstmStackRunner}, {@link LstmStackState} and their GRU twins), behind one interface per role. This is the
 * one place that tells an LSTM from a GRU: what a GRU lacks (a cell state, compressed weights, a cell clip) is
 * refused here, with a message naming it.
 */
final class StackDrivers {

    /** The public type the runners serve, named in their messages. */
    private static final String RUNNER = "Runner";
    private static final String RUNNER_ADVICE = "a Runner is for one thread at a time; give each thread its own (they"
            + " may share the Model)";
    /** The public type the stream states serve, named in their messages. */
    private static final String STATE = "State";
    private static final String STATE_ADVICE = "a State is one stream's state, used by one thread at a time";
    /** The public type the trainers serve, named in their messages. */
    private static final String TRAINER = "Trainer";
    private static final String TRAINER_ADVICE = "a Trainer is for one thread at a time; give each thread its own";

    private StackDrivers() {
    }

    /** A model's packed weights, owned. */
    interface Weights {

        String kernelName();

        long packedBytes();

        /**
         * A new runner; {@code cellClip} is {@link Float#POSITIVE_INFINITY} for none, {@code chunkSteps} 0 for the
         * default input chunk.
         */
        Driver runner(int maxBatch, int maxSteps, float cellClip, int threads, int chunkSteps);

        /**
         * A new trainer, refused by the stack trainer for compressed weights; {@code dropout} 0 for none (the stack
         * trainer made without dropout), else p with the masks' {@code seed}.
         */
        StackTraining.Driver trainer(int maxBatch, int maxSteps, float cellClip, int threads, double dropout,
                                     long seed);

        /** A zero state of {@code batch} streams; refused for a bidirectional model by the stack state. */
        Stream newState(int batch);

        void close();
    }

    /** One runner: the stack runner's forward and step, with c0/cT/c that are null for a GRU. */
    interface Driver {

        /**
         * Checks the arguments of a forward as {@link #forward} does (a GRU's refusal of c0 and cT first; lengths
         * null for the time-major form), for a caller that reads them before it runs them.
         */
        void checkArguments(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths,
                            MemorySegment h0, MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT);

        void forward(MemorySegment x, int steps, int batch, MemorySegment h0, MemorySegment c0, MemorySegment y,
                     MemorySegment hT, MemorySegment cT);

        void forward(MemorySegment x, SequenceLayout layout, int steps, int batch, int[] lengths, MemorySegment h0,
                     MemorySegment c0, MemorySegment y, MemorySegment hT, MemorySegment cT);

        /** One step of {@code state}, a stream made by the same model's {@link Weights#newState}. */
        void step(MemorySegment x, Stream state, MemorySegment h);

        int threads();

        /** The time steps of every layer's and direction's input GEMM. */
        int chunkSteps();

        List<Thread> workerThreads();

        void close();
    }

    /** One stream's state: h {@code [L][B][S]} and, for an LSTM, c {@code [L][B][H]}. */
    interface Stream {

        int batch();

        void reset();

        void setHidden(MemorySegment h);

        void setCell(MemorySegment c);

        void copyHiddenTo(MemorySegment out);

        void copyCellTo(MemorySegment out);

        /**
         * For {@link NonFiniteInputs#REJECT}: throws at the first NaN or infinity in h (or, for an LSTM, c), naming
         * it {@code state.h[l][b][j]} or {@code state.c[l][b][j]} and {@code owner}.
         */
        void rejectNonFinite(String owner);

        void close();

        /** The model shape the state was made for. */
        LstmStackShape shape();

        /** The state's one-thread guard, which a step enters after the runner's. */
        ExclusiveUse inUse();

        /** Throws if the state is closed. */
        void checkOpen();

        /** Layer {@code layer}'s h (and c) buffers. */
        LayerState layer(int layer);

        /** What layer {@code layer} (below the top) output at the last step, {@code [B][S]}. */
        MemorySegment layerOutput(int layer);
    }

    /** Refuses a GRU's cell-state argument {@code name} unless it is null. */
    static void refuseCellState(String name, MemorySegment value) {
        if (value != null) {
            throw new IllegalArgumentException(name + " must be null for a GRU model: a GRU has no cell state");
        }
    }

    /** An LSTM stack's weights, owned from then on. */
    static Weights lstm(LstmStackWeights weights) {
        return new LstmModel(weights);
    }

    /**
     * Refuses the options a GRU cannot honour yet, before anything is loaded or packed.
     *
     * @throws IllegalArgumentException for a precision other than FLOAT32 or a cell clip, naming the option
     */
    static Options checkGru(Options options) {
        if (options.precision() != WeightPrecision.FLOAT32) {
            throw new IllegalArgumentException("Options.precision " + options.precision() + " is for LSTM models:"
                    + " a GRU packs FLOAT32 weights only");
        }
        if (options.cellClip() != Float.POSITIVE_INFINITY) {
            throw new IllegalArgumentException("Options.cellClip " + options.cellClip() + " is for LSTM models: a GRU"
                    + " has no cell clip (use Float.POSITIVE_INFINITY)");
        }
        return options;
    }

    /** A GRU stack's weights, owned from then on; the options must have passed {@link #checkGru}. */
    static Weights gru(GruStackWeights weights) {
        return new GruModel(weights);
    }

    private record LstmModel(LstmStackWeights weights) implements Weights {

        @Override
        public String kernelName() {
            return weights.kernelName();
        }

        @Override
        public long packedBytes() {
            return weights.packedBytes();
        }

        @Override
        public Driver runner(int maxBatch, int maxSteps, float cellClip, int threads, int chunkSteps) {
            return StackRunner.lstm(weights, maxBatch, maxSteps, cellClip, threads, chunkSteps, RUNNER, null,
                    RUNNER_ADVICE);
        }

        @Override
        public StackTraining.Driver trainer(int maxBatch, int maxSteps, float cellClip, int threads, double dropout,
                                            long seed) {
            return StackTrainer.lstm(weights, maxBatch, maxSteps, cellClip, threads, dropout != 0, dropout, seed,
                    TRAINER, null, TRAINER_ADVICE);
        }

        @Override
        public Stream newState(int batch) {
            return StreamState.lstm(weights, batch, STATE, null, STATE_ADVICE, RUNNER);
        }

        @Override
        public void close() {
            weights.close();
        }
    }
    private record GruModel(GruStackWeights weights) implements Weights {

        @Override
        public String kernelName() {
            return weights.kernelName();
        }

        @Override
        public long packedBytes() {
            return weights.packedBytes();
        }

        @Override
        public Driver runner(int maxBatch, int maxSteps, float cellClip, int threads, int chunkSteps) {
            return StackRunner.gru(weights, maxBatch, maxSteps, threads, chunkSteps, RUNNER, null, RUNNER_ADVICE);
        }

        @Override
        public StackTraining.Driver trainer(int maxBatch, int maxSteps, float cellClip, int threads, double dropout,
                                            long seed) {
            return StackTrainer.gru(weights, maxBatch, maxSteps, threads, dropout != 0, dropout, seed, TRAINER, null,
                    TRAINER_ADVICE);
        }

        @Override
        public Stream newState(int batch) {
            return StreamState.gru(weights, batch, STATE, null, STATE_ADVICE, RUNNER);
        }

        @Override
        public void close() {
            weights.close();
        }
    }
}
