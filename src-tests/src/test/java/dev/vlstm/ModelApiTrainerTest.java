package dev.vlstm;

import static dev.vlstm.TrainerVsReferenceTest.floats;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.DoubleBinaryOperator;
import java.util.function.Function;
import java.util.function.IntFunction;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.train.Adam;
import dev.vlstm.train.GradientClipping;
import dev.vlstm.train.Sgd;

/**
 * The public {@link Trainer}, {@link Parameters} and {@link Gradients} against the old stack trainers
 * ({@link LstmStackTrainer}, {@link GruStackTrainer}) built from the same seed in the same run: y, hT, cT, every
 * parameter's gradient, dx, dh0 and dc0 bit-identical, for whole sequences and sequences of different lengths, and
 * again after the same gradient step repacked by {@link Trainer#updateWeights}; and every refusal, by its message.
 */
class ModelApiTrainerTest {

    private static final int I = 5;
    private static final int H = 6;
    private static final int B = 3;
    private static final int T = 7;
    private static final float LEARNING_RATE = 0.1f;
    private static final int[] LENGTHS = {4, T, 0};

    /** One call of the old stack trainer, LSTM or GRU, on float arrays (c0, cT, dcT, dc0 ignored by a GRU). */
    @FunctionalInterface
    private interface Call {
        void run(float[] a, float[] b, float[] c, float[] d, float[] e, float[] f);
    }

    /** An old stack trainer's dropout: p and the masks' seed. */
    private record Dropout(double p, long seed) {
    }

    /**
     * The old API: one stack trainer (its forward of whole sequences, its forward of {@link #LENGTHS} batch-first,
     * its backward, its dropout masks) with its parameters' and gradients' tensors by PyTorch name, and everything it
     * made, closed in reverse order.
     */
    private record OldTrainer(Call forward, Call forwardWithLengths, Call backward,
                              IntFunction<float[]> dropoutMask,
                              Map<String, MemorySegment> parameters, Map<String, MemorySegment> gradients,
                              Runnable updateWeights, List<AutoCloseable> resources) implements AutoCloseable {

        void forward(float[] x, int[] lengths, float[] h0, float[] c0, float[] y, float[] hT, float[] cT) {
            (lengths == null ? forward : forwardWithLengths).run(x, h0, c0, y, hT, cT);
        }

        @Override
        public void close() {
            for (int n = resources.size() - 1; n >= 0; n--) {
                try {
                    resources.get(n).close();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
        }
    }

    private static Map<String, MemorySegment> named(RnnShape shape, int part, MemorySegment... tensors) {
        String[] stems = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
        Map<String, MemorySegment> map = new LinkedHashMap<>();
        int directions = shape.direction().count();
        for (int k = 0; k < stems.length; k++) {
            map.put(shape.tensorName(stems[k], part / directions, part % directions), tensors[k]);
        }
        return map;
    }

    private static MemorySegment wrap(float[] values) {
        return values == null ? null : MemorySegment.ofArray(values);
    }

    /** The old stack trainer of {@code shape}'s cell, initialised from {@code seed}; without dropout for null. */
    private static OldTrainer oldTrainer(RnnShape shape, long seed, Dropout dropout) {
        Map<String, MemorySegment> parameters = new LinkedHashMap<>();
        Map<String, MemorySegment> gradients = new LinkedHashMap<>();
        int directions = shape.direction().count();
        if (shape.cell() == Cell.LSTM) {
            LstmStackParameters values = LstmStackParameters.initialize(shape.stackShape(), seed);
            LstmStackWeights weights = values.pack();
            LstmStackGradients grads = new LstmStackGradients(shape.stackShape());
            LstmStackTrainer trainer = dropout == null
                    ? new LstmStackTrainer(weights, B, T, LstmRunner.NO_CELL_CLIP, 1)
                    : new LstmStackTrainer(weights, B, T, dropout.p(), dropout.seed(), LstmRunner.NO_CELL_CLIP, 1);
            for (int n = 0; n < shape.stateCount(); n++) {
                LstmParameters p = values.layer(n / directions, n % directions);
                LstmGradients g = grads.layer(n / directions, n % directions);
                parameters.putAll(named(shape, n, p.weightIh(), p.weightHh(), p.biasIh(), p.biasHh()));
                gradients.putAll(named(shape, n, g.weightIh(), g.weightHh(), g.biasIh(), g.biasHh()));
            }
            return new OldTrainer(
                    (x, h0, c0, y, hT, cT) -> trainer.forward(wrap(x), T, B, wrap(h0), wrap(c0), wrap(y), wrap(hT),
                            wrap(cT)),
                    (x, h0, c0, y, hT, cT) -> trainer.forward(wrap(x), SequenceLayout.BATCH_FIRST, T, B, LENGTHS,
                            wrap(h0), wrap(c0), wrap(y), wrap(hT), wrap(cT)),
                    (dy, dhT, dcT, dx, dh0, dc0) -> trainer.backward(wrap(dy), wrap(dhT), wrap(dcT), grads,
                            GradientMode.OVERWRITE, wrap(dx), wrap(dh0), wrap(dc0)),
                    trainer::dropoutMask, parameters, gradients, () -> trainer.updateWeights(values),
                    List.of(values, weights, grads, trainer));
        }
        GruStackParameters values = GruStackParameters.initialize(shape.stackShape(), seed);
        GruStackWeights weights = values.pack();
        GruStackGradients grads = new GruStackGradients(shape.stackShape());
        GruStackTrainer trainer = dropout == null
                ? new GruStackTrainer(weights, B, T, 1)
                : new GruStackTrainer(weights, B, T, dropout.p(), dropout.seed(), 1);
        for (int n = 0; n < shape.stateCount(); n++) {
            GruParameters p = values.layer(n / directions, n % directions);
            GruGradients g = grads.layer(n / directions, n % directions);
            parameters.putAll(named(shape, n, p.weightIh(), p.weightHh(), p.biasIh(), p.biasHh()));
            gradients.putAll(named(shape, n, g.weightIh(), g.weightHh(), g.biasIh(), g.biasHh()));
        }
        return new OldTrainer(
                (x, h0, c0, y, hT, cT) -> trainer.forward(x, T, B, h0, y, hT),
                (x, h0, c0, y, hT, cT) -> trainer.forward(wrap(x), SequenceLayout.BATCH_FIRST, T, B, LENGTHS,
                        wrap(h0), wrap(y), wrap(hT)),
                (dy, dhT, dcT, dx, dh0, dc0) -> trainer.backward(dy, dhT, grads, GradientMode.OVERWRITE, dx, dh0),
                trainer::dropoutMask, parameters, gradients, () -> trainer.updateWeights(values),
                List.of(values, weights, grads, trainer));
    }

    /** x, h0, c0, dy, dhT, dcT of one training step; c0 and dcT null for a GRU. */
    private record Inputs(float[] x, float[] h0, float[] c0, float[] dy, float[] dhT, float[] dcT) {

        static Inputs random(RnnShape shape, long seed) {
            SplittableRandom random = new SplittableRandom(seed);
            int states = shape.stateCount() * B * H;
            boolean lstm = shape.cell() == Cell.LSTM;
            return new Inputs(ModelApiTest.uniform(random, T * B * I), ModelApiTest.uniform(random, states),
                    lstm ? ModelApiTest.uniform(random, states) : null,
                    ModelApiTest.uniform(random, T * B * shape.outputSize()), ModelApiTest.uniform(random, states),
                    lstm ? ModelApiTest.uniform(random, states) : null);
        }
    }

    /** y, hT, cT, dx, dh0, dc0 of one step (cT and dc0 empty for a GRU). */
    private static float[][] outputs(RnnShape shape) {
        int states = shape.stateCount() * B * H;
        int cells = shape.cell() == Cell.LSTM ? states : 0;
        return new float[][] {new float[T * B * shape.outputSize()], new float[states], new float[cells],
            new float[T * B * I], new float[states], new float[cells]};
    }

    private static float[] orNull(float[] values) {
        return values.length == 0 ? null : values;
    }

    private static float[][] step(Trainer trainer, Gradients gradients, Inputs in, int[] lengths) {
        float[][] out = forward(trainer, in, lengths);
        backward(trainer, gradients, in, out);
        return out;
    }

    /** A forward of {@code in} (whole sequences for null lengths), its y, hT and cT in the first three outputs. */
    private static float[][] forward(Trainer trainer, Inputs in, int[] lengths) {
        float[][] out = outputs(trainer.model().shape());
        if (lengths == null) {
            trainer.forward(in.x(), T, B, in.h0(), in.c0(), out[0], out[1], orNull(out[2]));
        } else {
            trainer.forward(in.x(), SequenceLayout.BATCH_FIRST, T, B, lengths, in.h0(), in.c0(), out[0], out[1],
                    orNull(out[2]));
        }
        return out;
    }

    /** The backward of the last forward, its dx, dh0 and dc0 into the last three of {@code out}. */
    private static void backward(Trainer trainer, Gradients gradients, Inputs in, float[][] out) {
        trainer.backward(in.dy(), in.dhT(), in.dcT(), gradients, GradientMode.OVERWRITE, out[3], out[4],
                orNull(out[5]));
    }

    private static float[][] step(OldTrainer trainer, RnnShape shape, Inputs in, int[] lengths) {
        float[][] out = outputs(shape);
        trainer.forward(in.x(), lengths, in.h0(), in.c0(), out[0], out[1], orNull(out[2]));
        trainer.backward().run(in.dy(), in.dhT(), in.dcT(), out[3], out[4], orNull(out[5]));
        return out;
    }

    private static float[] values(MemorySegment tensor) {
        return tensor.toArray(ValueLayout.JAVA_FLOAT);
    }

    private static void assertSameTensors(Map<String, MemorySegment> expected, List<String> names,
                                          Function<String, MemorySegment> actual, String what) {
        assertEquals(new ArrayList<>(expected.keySet()), names, what + ": names in state_dict order");
        for (String name : names) {
            assertArrayEquals(values(expected.get(name)), values(actual.apply(name)), what + " " + name);
        }
    }

    /** w -= rate · dL/dw for every tensor. */
    private static void gradientStep(List<String> names, Function<String, MemorySegment> values,
                                     Function<String, MemorySegment> gradients) {
        for (String name : names) {
            MemorySegment w = values.apply(name);
            MemorySegment g = gradients.apply(name);
            for (long k = 0; k < w.byteSize() / Float.BYTES; k++) {
                w.setAtIndex(ValueLayout.JAVA_FLOAT, k, w.getAtIndex(ValueLayout.JAVA_FLOAT, k)
                        - LEARNING_RATE * g.getAtIndex(ValueLayout.JAVA_FLOAT, k));
            }
        }
    }

    @ParameterizedTest(name = "{0} L={1} {2}")
    @CsvSource({"LSTM, 1, FORWARD", "LSTM, 2, BIDIRECTIONAL", "GRU, 1, FORWARD", "GRU, 2, BIDIRECTIONAL"})
    void theTrainerMatchesTheOldStackTrainerBitForBit(Cell cell, int layers, Direction direction) {
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(layers).withDirection(direction);
        long seed = 61;
        Options options = Options.DEFAULT.withMaxBatch(B).withMaxSteps(T);
        try (OldTrainer old = oldTrainer(shape, seed, null);
             Parameters parameters = Parameters.initialize(shape, seed);
             Gradients gradients = new Gradients(shape);
             Model model = Model.pack(parameters, options);
             Trainer trainer = model.trainer()) {
            assertEquals(shape, parameters.shape());
            assertSameTensors(old.parameters(), parameters.names(), parameters::tensor, "parameter");
            assertEquals(parameters.names(), gradients.names(), "gradients are named as the parameters");
            Inputs in = Inputs.random(shape, 62);
            for (int round = 0; round < 2; round++) {
                for (int[] run : new int[][] {null, LENGTHS}) {
                    assertSameStep(old, trainer, gradients, in, run, describe(run, round));
                }
                gradientStep(parameters.names(), parameters::tensor, gradients::tensor);
                gradientStep(parameters.names(), old.parameters()::get, old.gradients()::get);
                old.updateWeights().run();
                trainer.updateWeights(parameters);
            }
            float[] y = new float[T * B * shape.outputSize()];
            try (Runner runner = model.runner()) {
                runner.forward(in.x(), T, B, in.h0(), in.c0(), y, null, null);
            }
            float[] initial = new float[y.length];
            try (Parameters first = Parameters.initialize(shape, seed);
                 Model untrained = Model.pack(first, options);
                 Runner runner = untrained.runner()) {
                runner.forward(in.x(), T, B, in.h0(), in.c0(), initial, null, null);
            }
            assertNotEquals(Float.floatToIntBits(initial[0]), Float.floatToIntBits(y[0]),
                    "updateWeights reaches the model's runners");
        }
    }

    private static String describe(int[] lengths, int round) {
        return (lengths == null ? "whole sequences" : "lengths") + ", round " + round;
    }

    /** One training step of each: every output (y, hT, cT, dx, dh0, dc0) and every gradient the same bits. */
    private static void assertSameStep(OldTrainer old, Trainer trainer, Gradients gradients, Inputs in,
                                       int[] lengths, String what) {
        float[][] expected = step(old, trainer.model().shape(), in, lengths);
        float[][] actual = step(trainer, gradients, in, lengths);
        assertSameOutputs(expected, actual, what);
        assertSameTensors(old.gradients(), gradients.names(), gradients::tensor, what + ": gradient");
    }

    private static void assertSameOutputs(float[][] expected, float[][] actual, String what) {
        for (int k = 0; k < expected.length; k++) {
            assertArrayEquals(expected[k], actual[k], what + ": output " + k);
        }
    }

    /** A dropout mask of p: both dropped (0) and kept ({@code 1/(1-p)}) elements, and nothing else. */
    private static void assertDrops(float[] mask, double p, String what) {
        float keep = (float) (1 / (1 - p));
        int dropped = 0;
        for (float m : mask) {
            assertTrue(m == 0 || m == keep, what + ": a multiplier " + m);
            dropped += m == 0 ? 1 : 0;
        }
        assertTrue(dropped > 0 && dropped < mask.length, what + ": " + dropped + " of " + mask.length + " dropped");
    }

    /**
     * Dropout through {@link Options#withDropout} gives the old stack trainer's bits for the same p and seed: y, hT,
     * cT, dx, dh0, dc0, every gradient and the mask, step after step (the masks are drawn anew each forward).
     */
    @ParameterizedTest(name = "{0} L=2 {1}")
    @CsvSource({"LSTM, FORWARD", "LSTM, BIDIRECTIONAL", "GRU, FORWARD", "GRU, BIDIRECTIONAL"})
    void dropoutGivesTheOldStackTrainersBits(Cell cell, Direction direction) {
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(2).withDirection(direction);
        Dropout dropout = new Dropout(0.4, 72);
        Options options = Options.DEFAULT.withMaxBatch(B).withMaxSteps(T).withDropout(dropout.p(), dropout.seed());
        try (OldTrainer old = oldTrainer(shape, 73, dropout);
             Parameters parameters = Parameters.initialize(shape, 73);
             Gradients gradients = new Gradients(shape);
             Model model = Model.pack(parameters, options);
             Trainer trainer = model.trainer()) {
            assertEquals(dropout.p(), trainer.dropout());
            Inputs in = Inputs.random(shape, 74);
            for (int round = 0; round < 2; round++) {
                for (int[] run : new int[][] {null, LENGTHS}) {
                    String what = describe(run, round);
                    assertSameStep(old, trainer, gradients, in, run, what);
                    float[] mask = trainer.dropoutMask(0);
                    assertArrayEquals(old.dropoutMask().apply(0), mask, what + ": mask");
                    assertDrops(mask, dropout.p(), what);
                }
            }
            assertEquals("layer 1 is outside [0, 1): only the layers below the top one are dropped",
                    assertThrows(IndexOutOfBoundsException.class, () -> trainer.dropoutMask(1)).getMessage());
        }
    }

    /**
     * p = 0 drops nothing: the bits of the old stack trainer without dropout and of the one with p = 0 (a mask of
     * ones). A one-layer model with p &gt; 0 drops nothing either (no layer below the top; PyTorch warns), as the old
     * stack trainer with that p does.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"LSTM", "GRU"})
    void dropoutZeroAndOneLayerDropNothing(Cell cell) {
        RnnShape stack = RnnShape.of(cell, I, H).withLayers(2);
        Options options = Options.DEFAULT.withMaxBatch(B).withMaxSteps(T);
        try (OldTrainer withoutDropout = oldTrainer(stack, 75, null);
             OldTrainer zero = oldTrainer(stack, 75, new Dropout(0, 76));
             Parameters parameters = Parameters.initialize(stack, 75);
             Gradients gradients = new Gradients(stack);
             Model model = Model.pack(parameters, options);
             Trainer trainer = model.trainer(options.withDropout(0, 76))) {
            Inputs in = Inputs.random(stack, 77);
            assertSameStep(withoutDropout, trainer, gradients, in, null, "p = 0 against no dropout");
            assertSameStep(zero, trainer, gradients, in, LENGTHS, "p = 0 against the old p = 0");
            assertEquals("this Trainer has no dropout (Options.dropout is 0)",
                    assertThrows(IllegalStateException.class, () -> trainer.dropoutMask(0)).getMessage());
        }
        RnnShape layer = RnnShape.of(cell, I, H);
        Dropout dropout = new Dropout(0.5, 78);
        try (OldTrainer withoutDropout = oldTrainer(layer, 79, null);
             OldTrainer old = oldTrainer(layer, 79, dropout);
             Parameters parameters = Parameters.initialize(layer, 79);
             Gradients gradients = new Gradients(layer);
             Model model = Model.pack(parameters, options);
             Trainer trainer = model.trainer(options.withDropout(dropout.p(), dropout.seed()))) {
            Inputs in = Inputs.random(layer, 80);
            assertSameStep(old, trainer, gradients, in, null, "one layer against the old p = 0.5");
            assertSameStep(withoutDropout, trainer, gradients, in, LENGTHS, "one layer against no dropout");
            assertEquals("layer 0 is outside [0, 0): only the layers below the top one are dropped",
                    assertThrows(IndexOutOfBoundsException.class, () -> trainer.dropoutMask(0)).getMessage());
        }
    }

    @Test
    void dropoutOutsideZeroToOneIsRefusedByName() {
        assertEquals("dropout must be in [0, 1), got 1.0", assertThrows(IllegalArgumentException.class,
                () -> Options.DEFAULT.withDropout(1, 0)).getMessage());
        assertEquals("dropout must be in [0, 1), got -0.1", assertThrows(IllegalArgumentException.class,
                () -> Options.DEFAULT.withDropout(-0.1, 0)).getMessage());
        assertEquals("dropout must be in [0, 1), got NaN", assertThrows(IllegalArgumentException.class,
                () -> Options.DEFAULT.withDropout(Double.NaN, 0)).getMessage());
        assertEquals(0.999, Options.DEFAULT.withDropout(0.999, 3).dropout());
        assertEquals(3, Options.DEFAULT.withDropout(0.999, 3).seed());
    }

    /**
     * A warm-up between a forward and its backward changes nothing: the backward, and the next step (whose dropout
     * masks are drawn after the warm-up), give the bits of a trainer of another model packed from the same
     * parameters and never warmed up. The warm-up covers batches 1 and 4 (maxBatch 4) and counts a backward per
     * forward.
     */
    @ParameterizedTest(name = "{0} L=2 {1}")
    @CsvSource({"LSTM, BIDIRECTIONAL", "GRU, FORWARD"})
    void warmUpLeavesNoTrace(Cell cell, Direction direction) {
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(2).withDirection(direction);
        Options options = Options.DEFAULT.withMaxBatch(4).withMaxSteps(T).withDropout(0.3, 81);
        try (Parameters parameters = Parameters.initialize(shape, 82);
             Gradients warmedGradients = new Gradients(shape);
             Gradients coldGradients = new Gradients(shape);
             Model warmedModel = Model.pack(parameters, options);
             Model coldModel = Model.pack(parameters, options);
             Trainer warmed = warmedModel.trainer();
             Trainer cold = coldModel.trainer()) {
            Inputs in = Inputs.random(shape, 83);
            Map<String, MemorySegment> coldTensors = byName(coldGradients.names(), coldGradients::tensor);
            float[][] expected = step(cold, coldGradients, in, null);
            float[][] actual = forward(warmed, in, null);
            WarmUp warmUp = warmed.warmUp(Duration.ofMillis(300));
            backward(warmed, warmedGradients, in, actual);
            assertTrue(warmUp.calls() > 0 && warmUp.calls() % 2 == 0, warmUp.toString());
            assertSameOutputs(expected, actual, "across the warm-up");
            assertSameTensors(coldTensors, warmedGradients.names(), warmedGradients::tensor,
                    "across the warm-up: gradient");
            assertArrayEquals(cold.dropoutMask(0), warmed.dropoutMask(0), "across the warm-up: mask");
            assertSameOutputs(step(cold, coldGradients, in, LENGTHS), step(warmed, warmedGradients, in, LENGTHS),
                    "after the warm-up");
            assertSameTensors(coldTensors, warmedGradients.names(), warmedGradients::tensor,
                    "after the warm-up: gradient");
            assertArrayEquals(cold.dropoutMask(0), warmed.dropoutMask(0), "after the warm-up: mask");
        }
    }

    /** The tensors of {@code names}, in their order. */
    private static Map<String, MemorySegment> byName(List<String> names, Function<String, MemorySegment> tensor) {
        Map<String, MemorySegment> tensors = new LinkedHashMap<>();
        names.forEach(name -> tensors.put(name, tensor.apply(name)));
        return tensors;
    }

    @Test
    void aGruTrainerRefusesCellStatesAndTheTrainerRefusesMisuse() {
        RnnShape shape = RnnShape.of(Cell.GRU, I, H);
        Options options = Options.DEFAULT.withMaxBatch(B).withMaxSteps(T);
        try (Parameters parameters = Parameters.initialize(shape, 63);
             Gradients gradients = new Gradients(shape);
             Gradients wide = new Gradients(shape.withLayers(2));
             Model model = Model.pack(parameters, options)) {
            Trainer trainer = model.trainer();
            float[] x = new float[T * B * I];
            float[] states = new float[B * H];
            assertEquals("backward needs a forward of this trainer first (and runs once per forward)",
                    assertThrows(IllegalStateException.class, () -> trainer.backward((MemorySegment) null, null, null, gradients,
                            GradientMode.OVERWRITE, null, null, null)).getMessage());
            assertEquals("c0 must be null for a GRU model: a GRU has no cell state",
                    assertThrows(IllegalArgumentException.class,
                            () -> trainer.forward(x, T, B, null, states, null, null, null)).getMessage());
            trainer.forward(x, T, B, null, null, null, null, null);
            assertEquals("dcT must be null for a GRU model: a GRU has no cell state",
                    assertThrows(IllegalArgumentException.class, () -> trainer.backward(null, null, states,
                            gradients, GradientMode.OVERWRITE, null, null, null)).getMessage());
            assertEquals("dc0 must be null for a GRU model: a GRU has no cell state",
                    assertThrows(IllegalArgumentException.class, () -> trainer.backward(null, null, null,
                            gradients, GradientMode.OVERWRITE, null, null, states)).getMessage());
            assertEquals("gradients are for a model of " + wide.shape() + ", but this trainer's is " + shape,
                    assertThrows(IllegalArgumentException.class, () -> trainer.backward((MemorySegment) null, null, null, wide,
                            GradientMode.OVERWRITE, null, null, null)).getMessage());
            assertEquals("steps 8 exceeds this Trainer's maxSteps 7 (Options.maxSteps)",
                    assertThrows(IllegalArgumentException.class,
                            () -> trainer.forward(new float[8 * B * I], 8, B, null, null, null, null, null))
                            .getMessage());
            assertEquals("limit must be positive, got PT0S",
                    assertThrows(IllegalArgumentException.class, () -> trainer.warmUp(Duration.ZERO)).getMessage());
            trainer.close();
            assertEquals("this Trainer is closed", assertThrows(IllegalStateException.class,
                    () -> trainer.forward(x, T, B, null, null, null, null, null)).getMessage());
            assertEquals("this Trainer is closed",
                    assertThrows(IllegalStateException.class, trainer::warmUp).getMessage());
            assertEquals("this Trainer is closed",
                    assertThrows(IllegalStateException.class, () -> trainer.dropoutMask(0)).getMessage());
            assertEquals("this Trainer is closed", assertThrows(IllegalStateException.class,
                    () -> trainer.updateWeights(parameters)).getMessage());
        }
    }

    @Test
    void parametersAndGradientsRefuseMisuse() {
        RnnShape lstm = RnnShape.of(Cell.LSTM, I, H);
        Parameters parameters = Parameters.initialize(lstm, 64);
        assertEquals("no tensor named \"weight_ih_l1\" in these Parameters; they have [weight_ih_l0, weight_hh_l0,"
                        + " bias_ih_l0, bias_hh_l0] (names without a module prefix)",
                assertThrows(IllegalArgumentException.class, () -> parameters.tensor("weight_ih_l1")).getMessage());
        try (Model int8 = Model.pack(parameters, Options.DEFAULT.withPrecision(WeightPrecision.INT8))) {
            assertEquals("weights: packed as INT8, but training needs FLOAT32 weights (it updates float master"
                            + " weights); pack a FLOAT32 copy to train",
                    assertThrows(IllegalArgumentException.class, int8::trainer).getMessage());
        }
        parameters.close();
        assertEquals("these Parameters are closed",
                assertThrows(IllegalStateException.class, () -> parameters.tensor("weight_ih_l0")).getMessage());
        assertEquals("these Parameters are closed", assertThrows(IllegalStateException.class,
                () -> Model.pack(parameters, Options.DEFAULT)).getMessage());
        Gradients gradients = new Gradients(lstm.withProjection(2));
        assertEquals(List.of("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_hr_l0"),
                gradients.names());
        assertEquals(2L * H * Float.BYTES, gradients.tensor("weight_hr_l0").byteSize(), "dL/dW_hr is [P][H]");
        gradients.close();
        assertEquals("these Gradients are closed", assertThrows(IllegalStateException.class, gradients::zero)
                .getMessage());
        try (Gradients peepholes = new Gradients(lstm.withPeepholes(true));
             Parameters initialized = Parameters.initialize(lstm.withPeepholes(true), 1);
             Parameters plain = Parameters.initialize(lstm, 1)) {
            assertEquals(List.of("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "peephole_l0"),
                    peepholes.names());
            assertEquals(3L * H * Float.BYTES, peepholes.tensor("peephole_l0").byteSize(), "dL/dp is [3][H]");
            assertEquals(peepholes.names(), initialized.names());
            assertArrayEquals(new float[3 * H], floats(initialized.tensor("peephole_l0")), "peepholes start at zero");
            for (String name : plain.names()) {
                assertArrayEquals(floats(plain.tensor(name)), floats(initialized.tensor(name)),
                        name + " is drawn as without peepholes");
            }
        }
    }

    private static void fill(MemorySegment tensor, SplittableRandom random) {
        for (long k = 0; k < tensor.byteSize() / Float.BYTES; k++) {
            tensor.setAtIndex(ValueLayout.JAVA_FLOAT, k, (float) random.nextDouble(-2, 2));
        }
    }

    /**
     * Adam, SGD and clipping over the whole model's {@link Parameters} and {@link Gradients} step each tensor as the
     * old per-layer optimizers step it: one Adam step of a two-layer bidirectional LSTM gives the bits of one
     * {@link Adam} per layer and direction, and clipping the norm of {@link GradientClipping} over the old stack
     * gradients.
     */
    @Test
    void theOptimizersStepAStackAsTheOldPerLayerOptimizersDo() {
        RnnShape shape = RnnShape.of(Cell.LSTM, I, H).withLayers(2).withDirection(Direction.BIDIRECTIONAL);
        int directions = shape.direction().count();
        try (LstmStackParameters oldValues = LstmStackParameters.initialize(shape.stackShape(), 65);
             LstmStackGradients oldGradients = new LstmStackGradients(shape.stackShape());
             Parameters parameters = Parameters.initialize(shape, 65);
             Gradients gradients = new Gradients(shape)) {
            SplittableRandom random = new SplittableRandom(66);
            for (String name : gradients.names()) {
                fill(gradients.tensor(name), random);
            }
            List<Adam> oldAdams = new ArrayList<>();
            Map<String, MemorySegment> oldParameterTensors = new LinkedHashMap<>();
            for (int n = 0; n < shape.stateCount(); n++) {
                LstmParameters p = oldValues.layer(n / directions, n % directions);
                LstmGradients g = oldGradients.layer(n / directions, n % directions);
                Map<String, MemorySegment> gradientTensors = named(shape, n, g.weightIh(), g.weightHh(), g.biasIh(),
                        g.biasHh());
                gradientTensors.forEach((name, tensor) -> MemorySegment.copy(gradients.tensor(name), 0, tensor, 0,
                        tensor.byteSize()));
                oldParameterTensors.putAll(named(shape, n, p.weightIh(), p.weightHh(), p.biasIh(), p.biasHh()));
                oldAdams.add(new Adam(p, g, 0.01));
            }
            double expectedNorm = GradientClipping.clipGlobalNorm(oldGradients, 1.0);
            double norm = GradientClipping.clipGlobalNorm(gradients, 1.0);
            assertEquals(expectedNorm, norm, expectedNorm * 1e-12, "the norm over every tensor");
            assertTrue(norm > 1.0, "the gradients were clipped");
            try (Adam adam = new Adam(parameters, gradients, 0.01)) {
                adam.step();
                oldAdams.forEach(Adam::step);
                assertSameTensors(oldParameterTensors, parameters.names(), parameters::tensor, "after one Adam step");
            } finally {
                oldAdams.forEach(Adam::close);
            }
        }
    }

    /** A GRU's parameters step by Adam's and SGD's rules, to float rounding (there is no old GRU optimizer). */
    @Test
    void theOptimizersStepAGruByTheirRules() {
        RnnShape shape = RnnShape.of(Cell.GRU, I, H).withLayers(2);
        try (Parameters parameters = Parameters.initialize(shape, 67);
             Gradients gradients = new Gradients(shape)) {
            SplittableRandom random = new SplittableRandom(68);
            for (String name : gradients.names()) {
                fill(gradients.tensor(name), random);
            }
            Map<String, float[]> before = new LinkedHashMap<>();
            for (String name : parameters.names()) {
                before.put(name, values(parameters.tensor(name)));
            }
            double rate = 0.01;
            try (Adam adam = new Adam(parameters, gradients, rate)) {
                adam.step();
            }
            // Adam's first step from zero moments is p - lr·g / (|g| + eps) (bias-corrected).
            assertStepped(parameters, gradients, before, (p, g) -> p - rate * g / (Math.abs(g) + 1e-8));
            for (String name : parameters.names()) {
                before.put(name, values(parameters.tensor(name)));
            }
            try (Sgd sgd = new Sgd(parameters, gradients, rate, 0)) {
                sgd.step();
            }
            assertStepped(parameters, gradients, before, (p, g) -> p - rate * g);
        }
        try (Parameters parameters = Parameters.initialize(RnnShape.of(Cell.GRU, I, H), 1);
             Gradients other = new Gradients(RnnShape.of(Cell.LSTM, I, H))) {
            assertEquals("gradients are for a model of " + other.shape() + ", but the parameters are for "
                    + parameters.shape(), assertThrows(IllegalArgumentException.class,
                    () -> new Adam(parameters, other, 0.01)).getMessage());
        }
    }

    private static void assertStepped(Parameters parameters, Gradients gradients, Map<String, float[]> before,
                                      DoubleBinaryOperator rule) {
        for (String name : parameters.names()) {
            float[] p = values(parameters.tensor(name));
            float[] g = values(gradients.tensor(name));
            float[] old = before.get(name);
            for (int k = 0; k < p.length; k++) {
                double expected = rule.applyAsDouble(old[k], g[k]);
                assertEquals(expected, p[k], 1e-6 * Math.max(1, Math.abs(expected)), name + "[" + k + "]");
            }
        }
    }

    /**
     * {@link Parameters#save} writes what {@link Parameters#load} and {@link Vlstm#load} read back: the same tensors,
     * and a model of the same y; a golden PyTorch file loads as parameters that pack into the model
     * {@link Vlstm#load} makes of it.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"LSTM, src/test/resources/golden/i3_h5_l2_t4_b2/model.safetensors",
            "GRU, src/test/resources/golden-gru/i3_h5_l2_t4_b2/model.safetensors"})
    void parametersSaveAndLoadAsPyTorchStateDicts(Cell cell, Path golden, @TempDir Path directory)
            throws IOException {
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(2).withDirection(Direction.BIDIRECTIONAL);
        Path file = directory.resolve("model.safetensors");
        Options options = Options.DEFAULT.withMaxBatch(B).withMaxSteps(T);
        float[] x = ModelApiTest.uniform(new SplittableRandom(69), T * B * I);
        try (Parameters parameters = Parameters.initialize(shape, 70)) {
            parameters.save(file, "rnn.", Map.of("note", "test"));
            try (Parameters loaded = Parameters.load(file, "rnn.");
                 Model model = Model.pack(parameters, options);
                 Model fromFile = Vlstm.load(file, options.withPrefix("rnn."))) {
                assertEquals(shape, loaded.shape());
                assertSameTensors(byName(parameters.names(), parameters::tensor), loaded.names(), loaded::tensor,
                        "loaded");
                assertArrayEquals(forward(model, x), forward(fromFile, x), "Vlstm.load of the saved file");
            }
        }
        try (Parameters parameters = Parameters.load(golden, null);
             Model model = Model.pack(parameters, options);
             Model expected = Vlstm.load(golden, options)) {
            assertEquals(expected.shape(), parameters.shape());
            float[] input = ModelApiTest.uniform(new SplittableRandom(71), T * B * expected.shape().inputSize());
            assertArrayEquals(forward(expected, input), forward(model, input), "the golden file's model");
        }
    }

    private static float[] forward(Model model, float[] x) {
        float[] y = new float[T * B * model.shape().outputSize()];
        try (Runner runner = model.runner()) {
            runner.forward(x, T, B, null, null, y, null, null);
        }
        return y;
    }
}
