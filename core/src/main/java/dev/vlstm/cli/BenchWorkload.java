package dev.vlstm.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

import dev.vlstm.Backend;
import dev.vlstm.GradientMode;
import dev.vlstm.GruStackGradients;
import dev.vlstm.GruStackRunner;
import dev.vlstm.GruStackState;
import dev.vlstm.GruStackTrainer;
import dev.vlstm.GruStackWeights;
import dev.vlstm.LstmRunner;
import dev.vlstm.LstmStackGradients;
import dev.vlstm.LstmStackRunner;
import dev.vlstm.LstmStackShape;
import dev.vlstm.LstmStackState;
import dev.vlstm.LstmStackTrainer;
import dev.vlstm.LstmStackWeights;
import dev.vlstm.WeightPrecision;
import dev.vlstm.io.PyTorchGru;
import dev.vlstm.io.SafeTensors;

/**
 * One call that {@code vlstm bench} times, on a model loaded from a file with random inputs in [-1, 1): a streaming
 * step ({@code [B][I]} in, the state carried), a whole sequence ({@code [T][B][I]} in, y out), or a training step
 * (that forward, then the backward with every gradient). Made and closed by {@link BenchCommand}.
 */
abstract class BenchWorkload implements AutoCloseable {

    /** What a call does. */
    enum Mode {
        STEP, SEQUENCE, TRAIN;

        String label() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** What is timed: the mode, batch B, steps T (1 for a step), precision and threads. */
    record Setup(Mode mode, int batch, int steps, WeightPrecision precision, int threads) {
    }

    private final String cell;
    private final LstmStackShape shape;
    private final int gates;
    protected final Setup setup;
    private final Arena arena = Arena.ofShared();
    /** x {@code [T][B][I]}, y {@code [T][B][D·S]}, and dL/dy shaped as y; random but y. */
    protected final MemorySegment x;
    protected final MemorySegment y;
    protected final MemorySegment dy;
    /** What to close after the driver: the weights, owned by the workload. */
    private final AutoCloseable weights;

    /** Checks that the model can run {@code setup} and allocates the call's buffers; closes the weights if not. */
    private BenchWorkload(String cell, LstmStackShape shape, int gates, Setup setup, AutoCloseable weights) {
        this.cell = cell;
        this.shape = shape;
        this.gates = gates;
        this.setup = setup;
        this.weights = weights;
        if (setup.mode() == Mode.STEP && shape.bidirectional()) {
            closeAll(weights, arena);
            throw new IllegalArgumentException("a bidirectional model cannot be stepped (its reverse direction needs "
                    + "the whole sequence): use --mode sequence");
        }
        long rows = (long) setup.steps() * setup.batch();
        x = random(rows * shape.inputSize(), 1);
        y = arena.allocate(rows * shape.outputSize() * Float.BYTES, 64);
        dy = random(rows * shape.outputSize(), 2);
    }

    /** The call; runs on the calling thread (and the runner's workers). */
    abstract void call();

    /** The runner or trainer and its state, for {@link #close()} to close first. */
    abstract AutoCloseable[] drivers();

    /** Frees the runner or trainer, the model and the buffers. */
    @Override
    public void close() {
        AutoCloseable[] drivers = drivers();
        AutoCloseable[] all = Arrays.copyOf(drivers, drivers.length + 2);
        all[drivers.length] = weights;
        all[drivers.length + 1] = arena;
        closeAll(all);
    }

    /**
     * Loads the model in {@code file} (an {@code nn.LSTM} or {@code nn.GRU} state_dict under {@code prefix}, null to
     * infer it) and makes the call {@code setup} asks for.
     *
     * @throws IllegalArgumentException for a setup the model cannot run: a step of a bidirectional model, training
     *                                  on compressed weights, or compressed GRU weights
     */
    static BenchWorkload open(SafeTensors file, String prefix, Setup setup) {
        boolean compressed = setup.precision() != WeightPrecision.FLOAT32;
        if (compressed && setup.mode() == Mode.TRAIN) {
            throw new IllegalArgumentException("training runs on float32 weights only: use --precision f32 with "
                    + "--mode train");
        }
        if (PyTorchGru.holdsGru(file, prefix)) {
            if (compressed) {
                throw new IllegalArgumentException("GRU weights are float32 only: use --precision f32");
            }
            GruStackWeights weights = PyTorchGru.loadStack(file, PyTorchGru.inspect(file, prefix).prefix(),
                    Backend.PREFERRED);
            return new Gru(weights, setup);
        }
        return new Lstm(LstmCommands.load(file, prefix, setup.precision()), setup);
    }

    /** The model, for people: e.g. {@code LSTM I=40 H=256 L=2 bidirectional}. */
    String describe() {
        return cell + " I=" + shape.inputSize() + " H=" + shape.hiddenSize() + " L=" + shape.layers()
                + (shape.bidirectional() ? " bidirectional" : "")
                + (shape.projectionSize() > 0 ? " P=" + shape.projectionSize() : "");
    }

    String cell() {
        return cell;
    }

    LstmStackShape shape() {
        return shape;
    }

    /**
     * Floating-point operations of one call: per row and step, 2 · gates · H · (layer input + recurrent width)
     * multiply-adds of each layer and direction's GEMMs, plus 2 · P · H with projection; a training step counts
     * three times its forward (the forward, then dz · U and dz · W for the input gradients, and the weight gradients).
     */
    double flopsPerCall() {
        int hidden = shape.hiddenSize();
        int projection = shape.projectionSize();
        int recurrent = shape.hiddenStateSize();
        double perRow = 0;
        for (int layer = 0; layer < shape.layers(); layer++) {
            double gemm = 2.0 * gates * hidden * (shape.layerInputSize(layer) + recurrent)
                    + (projection > 0 ? 2.0 * projection * hidden : 0);
            perRow += shape.directions() * gemm;
        }
        double forward = perRow * setup.batch() * setup.steps();
        return setup.mode() == Mode.TRAIN ? 3 * forward : forward;
    }

    private MemorySegment random(long floats, long seed) {
        MemorySegment segment = arena.allocate(floats * Float.BYTES, 64);
        SplittableRandom random = new SplittableRandom(seed);
        for (long n = 0; n < floats; n++) {
            segment.setAtIndex(ValueLayout.JAVA_FLOAT, n, (float) (2 * random.nextDouble() - 1));
        }
        return segment;
    }

    private static final class Lstm extends BenchWorkload {
        private LstmStackRunner runner;
        private LstmStackState state;
        private LstmStackTrainer trainer;
        private LstmStackGradients gradients;

        Lstm(LstmStackWeights weights, Setup setup) {
            super("LSTM", weights.shape(), 4, setup, weights);
            try {
                if (setup.mode() == Mode.TRAIN) {
                    trainer = new LstmStackTrainer(weights, setup.batch(), setup.steps(), LstmRunner.NO_CELL_CLIP,
                            setup.threads());
                    gradients = new LstmStackGradients(weights);
                } else {
                    runner = new LstmStackRunner(weights, setup.batch(), setup.steps(), LstmRunner.NO_CELL_CLIP,
                            setup.threads());
                    state = setup.mode() == Mode.STEP ? new LstmStackState(weights, setup.batch()) : null;
                }
            } catch (RuntimeException | Error e) {
                close();
                throw e;
            }
        }

        @Override
        void call() {
            switch (setup.mode()) {
                case STEP -> runner.step(x, state, y);
                case SEQUENCE -> runner.forward(x, setup.steps(), setup.batch(), null, null, y, null, null);
                case TRAIN -> {
                    trainer.forward(x, setup.steps(), setup.batch(), null, null, y, null, null);
                    trainer.backward(dy, null, null, gradients, GradientMode.OVERWRITE, null, null, null);
                }
            }
        }

        @Override
        AutoCloseable[] drivers() {
            return new AutoCloseable[] {state, runner, gradients, trainer};
        }
    }

    private static final class Gru extends BenchWorkload {
        private GruStackRunner runner;
        private GruStackState state;
        private GruStackTrainer trainer;
        private GruStackGradients gradients;

        Gru(GruStackWeights weights, Setup setup) {
            super("GRU", weights.shape(), 3, setup, weights);
            try {
                if (setup.mode() == Mode.TRAIN) {
                    trainer = new GruStackTrainer(weights, setup.batch(), setup.steps(), setup.threads());
                    gradients = new GruStackGradients(weights);
                } else {
                    runner = new GruStackRunner(weights, setup.batch(), setup.steps(), setup.threads());
                    state = setup.mode() == Mode.STEP ? new GruStackState(weights, setup.batch()) : null;
                }
            } catch (RuntimeException | Error e) {
                close();
                throw e;
            }
        }

        @Override
        void call() {
            switch (setup.mode()) {
                case STEP -> runner.step(x, state, y);
                case SEQUENCE -> runner.forward(x, setup.steps(), setup.batch(), null, y, null);
                case TRAIN -> {
                    trainer.forward(x, setup.steps(), setup.batch(), null, y, null);
                    trainer.backward(dy, null, gradients, GradientMode.OVERWRITE, null, null);
                }
            }
        }

        @Override
        AutoCloseable[] drivers() {
            return new AutoCloseable[] {state, runner, gradients, trainer};
        }
    }

    private static void closeAll(AutoCloseable... resources) {
        for (AutoCloseable resource : resources) {
            if (resource != null) {
                try {
                    resource.close();
                } catch (Exception e) {
                    throw new IllegalStateException("closing " + resource.getClass().getSimpleName() + " failed", e);
                }
            }
        }
    }
}
