package dev.vlstm.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Locale;
import java.util.SplittableRandom;

import dev.vlstm.Direction;
import dev.vlstm.GradientMode;
import dev.vlstm.Gradients;
import dev.vlstm.Model;
import dev.vlstm.Options;
import dev.vlstm.Parameters;
import dev.vlstm.RnnShape;
import dev.vlstm.Runner;
import dev.vlstm.State;
import dev.vlstm.Trainer;
import dev.vlstm.WarmUp;
import dev.vlstm.WeightPrecision;
import dev.vlstm.io.SafeTensors;
import dev.vlstm.io.StateDict;

/**
 * One call that {@code vlstm bench} times, on a model loaded from a file with random inputs in [-1, 1): a streaming
 * step ({@code [B][I]} in, the state carried), a whole sequence ({@code [T][B][I]} in, y out), or a training step
 * (that forward, then the backward with every gradient), through the public API for an LSTM and a GRU alike. Made and
 * closed by {@link BenchCommand}, and by {@link ColdJvm} in a new JVM.
 */
final class BenchWorkload implements AutoCloseable {

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

    private final Model model;
    private final Setup setup;
    private final Arena arena = Arena.ofShared();
    /** x {@code [T][B][I]}, y {@code [T][B][D·S]}, and dL/dy shaped as y; random but y. */
    private final MemorySegment x;
    private final MemorySegment y;
    private final MemorySegment dy;
    private Runner runner;
    private State state;
    private Trainer trainer;
    private Gradients gradients;

    /**
     * Makes the runner (and state) or trainer (and gradients) of {@code model} that {@code setup} asks for, with
     * {@code setup}'s batch, steps and threads; owns {@code model} from then on, and closes it if this fails.
     *
     * @throws IllegalArgumentException for a step of a bidirectional model, or as {@link Model#runner(Options)} and
     *                                  {@link Model#trainer(Options)} refuse the setup
     */
    BenchWorkload(Model model, Setup setup) {
        this.model = model;
        this.setup = setup;
        RnnShape shape = model.shape();
        if (setup.mode() == Mode.STEP && shape.direction() == Direction.BIDIRECTIONAL) {
            close();
            throw new IllegalArgumentException("a bidirectional model cannot be stepped (its reverse direction needs "
                    + "the whole sequence): use --mode sequence");
        }
        long rows = (long) setup.steps() * setup.batch();
        x = random(rows * shape.inputSize(), 1);
        y = arena.allocate(rows * shape.outputSize() * Float.BYTES, 64);
        dy = random(rows * shape.outputSize(), 2);
        Options options = model.options().withMaxBatch(setup.batch()).withMaxSteps(setup.steps())
                .withThreads(setup.threads());
        try {
            if (setup.mode() == Mode.TRAIN) {
                trainer = model.trainer(options);
                gradients = new Gradients(shape);
            } else {
                runner = model.runner(options);
                state = setup.mode() == Mode.STEP ? model.newState(setup.batch()) : null;
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /**
     * Loads the model in {@code file} (an {@code nn.LSTM} or {@code nn.GRU} state_dict under {@code prefix}, null to
     * infer it) and makes the call {@code setup} asks for.
     *
     * @throws IllegalArgumentException for a setup the model cannot run: a step of a bidirectional model, or training
     *                                  on compressed weights
     */
    static BenchWorkload open(SafeTensors file, String prefix, Setup setup) {
        boolean compressed = setup.precision() != WeightPrecision.FLOAT32;
        if (compressed && setup.mode() == Mode.TRAIN) {
            throw new IllegalArgumentException("training runs on float32 weights only: use --precision f32 with "
                    + "--mode train");
        }
        StateDict stateDict = StateDict.inspect(file, prefix);
        try (Parameters parameters = stateDict.read(file)) {
            return new BenchWorkload(Model.pack(parameters, Options.DEFAULT.withPrecision(setup.precision())),
                    setup);
        }
    }

    /** The call; runs on the calling thread (and the runner's or trainer's workers). */
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

    /** {@return the runner's or trainer's own warm-up, as {@link Runner#warmUp()} and {@link Trainer#warmUp()}} */
    WarmUp warmUp() {
        return trainer != null ? trainer.warmUp() : runner.warmUp();
    }

    /** Frees the state, runner or trainer, gradients, the model and the buffers. */
    @Override
    public void close() {
        for (AutoCloseable resource : new AutoCloseable[] {state, runner, gradients, trainer, model, arena}) {
            if (resource != null) {
                try {
                    resource.close();
                } catch (Exception e) {
                    throw new IllegalStateException("closing " + resource.getClass().getSimpleName() + " failed", e);
                }
            }
        }
    }

    /** The model, for people: e.g. {@code LSTM I=40 H=256 L=2 bidirectional}. */
    String describe() {
        RnnShape shape = model.shape();
        return shape.cell() + " I=" + shape.inputSize() + " H=" + shape.hiddenSize() + " L=" + shape.layers()
                + (shape.direction() == Direction.BIDIRECTIONAL ? " bidirectional" : "")
                + (shape.projectionSize() > 0 ? " P=" + shape.projectionSize() : "");
    }

    /** {@return the model, owned by this workload} */
    Model model() {
        return model;
    }

    /**
     * Floating-point operations of one call: per row and step, 2 · gates · H · (layer input + recurrent width)
     * multiply-adds of each layer and direction's GEMMs, plus 2 · P · H with projection; a training step counts
     * three times its forward (the forward, then dz · U and dz · W for the input gradients, and the weight gradients).
     */
    double flopsPerCall() {
        RnnShape shape = model.shape();
        int hidden = shape.hiddenSize();
        int projection = shape.projectionSize();
        int recurrent = shape.hiddenStateSize();
        double perRow = 0;
        for (int layer = 0; layer < shape.layers(); layer++) {
            double gemm = 2.0 * shape.gates() * hidden * (shape.layerInputSize(layer) + recurrent)
                    + (projection > 0 ? 2.0 * projection * hidden : 0);
            perRow += shape.direction().count() * gemm;
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
}
