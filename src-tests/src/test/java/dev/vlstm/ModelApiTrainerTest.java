package dev.vlstm;

import static dev.vlstm.TestRnn.doubles;
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

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import dev.vlstm.reference.ReferenceStack;
import dev.vlstm.train.Adam;
import dev.vlstm.train.GradientClipping;
import dev.vlstm.train.Sgd;

/**
 * The public {@link Trainer}, {@link Parameters} and {@link Gradients}: y, hT, cT, every parameter's gradient, dx,
 * dh0 and dc0 against the double-precision reference of the parameters' tensors (TrainerVsReferenceTest's
 * tolerances), for whole sequences and batch-first sequences of different lengths, and again after a gradient step
 * repacked by {@link Trainer#updateWeights}; dropout that drops nothing; the optimizers' rules over a whole model;
 * saving and loading; and every refusal, by its message.
 */
class ModelApiTrainerTest {

    private static final int I = 5;
    private static final int H = 6;
    private static final int B = 3;
    private static final int T = 7;
    private static final float LEARNING_RATE = 0.1f;
    private static final int[] LENGTHS = {4, T, 0};

    /** x, h0, c0, dy, dhT, dcT of one training step; c0 and dcT null for a GRU. */
    private record Inputs(float[] x, float[] h0, float[] c0, float[] dy, float[] dhT, float[] dcT) {

        static Inputs random(RnnShape shape, long seed) {
            SplittableRandom random = new SplittableRandom(seed);
            int states = shape.stateCount() * B * H;
            boolean lstm = shape.cell().hasCellState();
            return new Inputs(ModelApiTest.uniform(random, T * B * I), ModelApiTest.uniform(random, states),
                    lstm ? ModelApiTest.uniform(random, states) : null,
                    ModelApiTest.uniform(random, T * B * shape.outputSize()), ModelApiTest.uniform(random, states),
                    lstm ? ModelApiTest.uniform(random, states) : null);
        }
    }

    /** y, hT, cT, dx, dh0, dc0 of one step (cT and dc0 empty for a GRU). */
    private static float[][] outputs(RnnShape shape) {
        int states = shape.stateCount() * B * H;
        int cells = shape.cell().hasCellState() ? states : 0;
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
    void theTrainerMatchesTheReferenceBeforeAndAfterUpdateWeights(Cell cell, int layers, Direction direction) {
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(layers).withDirection(direction);
        long seed = 61;
        Options options = Options.DEFAULT.withMaxBatch(B).withMaxSteps(T);
        try (Parameters parameters = Parameters.initialize(shape, seed);
             Gradients gradients = new Gradients(shape);
             Model model = Model.pack(parameters, options);
             Trainer trainer = model.trainer()) {
            assertEquals(shape, parameters.shape());
            assertEquals(parameters.names(), gradients.names(), "gradients are named as the parameters");
            Inputs in = Inputs.random(shape, 62);
            for (int round = 0; round < 2; round++) {
                ReferenceStack reference = ModelApiTest.reference(shape, name -> floats(parameters.tensor(name)),
                        Float.POSITIVE_INFINITY);
                for (int[] run : new int[][] {null, LENGTHS}) {
                    assertStepMatchesReference(reference, trainer, gradients, in, run, describe(run, round));
                }
                gradientStep(parameters.names(), parameters::tensor, gradients::tensor);
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

    /**
     * One training step (whole sequences for null lengths, else batch-first of those lengths): y, hT and cT within
     * ForwardVsReferenceTest's tolerance of the reference's, every gradient, dx, dh0 and dc0 as
     * StackVsReferenceTest holds them.
     */
    private static void assertStepMatchesReference(ReferenceStack reference, Trainer trainer, Gradients gradients,
                                                   Inputs in, int[] lengths, String what) {
        RnnShape shape = trainer.model().shape();
        float[][] out = step(trainer, gradients, in, lengths);
        SequenceLayout layout = lengths == null ? SequenceLayout.TIME_MAJOR : SequenceLayout.BATCH_FIRST;
        double[] x = doubles(VariableLengthTest.fromLayout(in.x(), layout, T, B, I));
        double[] dy = doubles(VariableLengthTest.fromLayout(in.dy(), layout, T, B, shape.outputSize()));
        ReferenceStack.Result expected = reference.forward(x, T, B, lengths, doubles(in.h0()), doubles(in.c0()),
                null);
        ForwardVsReferenceTest.assertWithin(what + ": y",
                VariableLengthTest.fromLayout(out[0], layout, T, B, shape.outputSize()), expected.y());
        ForwardVsReferenceTest.assertWithin(what + ": hT", out[1], expected.hT());
        if (shape.cell().hasCellState()) {
            ForwardVsReferenceTest.assertWithin(what + ": cT", out[2], expected.cT());
        }
        StackVsReferenceTest.assertGradients(shape, gradients, VariableLengthTest.fromLayout(out[3], layout, T, B, I),
                out[4], orNull(out[5]), reference.backward(x, T, B, lengths, doubles(in.h0()), doubles(in.c0()),
                        null, dy, doubles(in.dhT()), doubles(in.dcT())));
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
     * p = 0 drops nothing: the bits of a trainer without dropout, and no mask. A one-layer model with p &gt; 0 drops
     * nothing either (no layer below the top; PyTorch warns): the bits of a trainer without dropout, and no mask;
     * a two-layer model has a mask of layer 0 that drops some and scales the rest, and none of layer 1.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"LSTM", "GRU"})
    void dropoutZeroAndOneLayerDropNothing(Cell cell) {
        RnnShape stack = RnnShape.of(cell, I, H).withLayers(2);
        Options options = Options.DEFAULT.withMaxBatch(B).withMaxSteps(T);
        try (Parameters parameters = Parameters.initialize(stack, 75);
             Gradients plainGradients = new Gradients(stack);
             Gradients gradients = new Gradients(stack);
             Model model = Model.pack(parameters, options);
             Trainer plain = model.trainer();
             Trainer trainer = model.trainer(options.withDropout(0, 76));
             Trainer dropping = model.trainer(options.withDropout(0.4, 76))) {
            Inputs in = Inputs.random(stack, 77);
            for (int[] run : new int[][] {null, LENGTHS}) {
                assertSameStep(plain, plainGradients, trainer, gradients, in, run, "p = 0, " + describe(run, 0));
            }
            assertEquals("this Trainer has no dropout (Options.dropout is 0)",
                    assertThrows(IllegalStateException.class, () -> trainer.dropoutMask(0)).getMessage());
            assertEquals(0.4, dropping.dropout());
            step(dropping, gradients, in, null);
            assertDrops(dropping.dropoutMask(0), 0.4, "two layers, p = 0.4");
            assertEquals("layer 1 is outside [0, 1): only the layers below the top one are dropped",
                    assertThrows(IndexOutOfBoundsException.class, () -> dropping.dropoutMask(1)).getMessage());
        }
        RnnShape layer = RnnShape.of(cell, I, H);
        try (Parameters parameters = Parameters.initialize(layer, 79);
             Gradients plainGradients = new Gradients(layer);
             Gradients gradients = new Gradients(layer);
             Model model = Model.pack(parameters, options);
             Trainer plain = model.trainer();
             Trainer trainer = model.trainer(options.withDropout(0.5, 78))) {
            Inputs in = Inputs.random(layer, 80);
            for (int[] run : new int[][] {null, LENGTHS}) {
                assertSameStep(plain, plainGradients, trainer, gradients, in, run, "one layer, " + describe(run, 0));
            }
            assertEquals("layer 0 is outside [0, 0): only the layers below the top one are dropped",
                    assertThrows(IndexOutOfBoundsException.class, () -> trainer.dropoutMask(0)).getMessage());
        }
    }

    /** One training step of each: every output (y, hT, cT, dx, dh0, dc0) and every gradient the same bits. */
    private static void assertSameStep(Trainer expectedTrainer, Gradients expectedGradients, Trainer trainer,
                                       Gradients gradients, Inputs in, int[] lengths, String what) {
        assertSameOutputs(step(expectedTrainer, expectedGradients, in, lengths), step(trainer, gradients, in, lengths),
                what);
        assertSameTensors(byName(expectedGradients.names(), expectedGradients::tensor), gradients.names(),
                gradients::tensor, what + ": gradient");
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
     * Adam, SGD and clipping step every tensor of a whole model's {@link Parameters} and {@link Gradients} by their
     * rules, to float rounding: a two-layer bidirectional LSTM and a two-layer GRU. The global norm is that of every
     * tensor together, in double precision, and clipping scales every gradient by {@code maxNorm / norm}.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"LSTM, BIDIRECTIONAL", "GRU, FORWARD"})
    void theOptimizersStepAWholeModelByTheirRules(Cell cell, Direction direction) {
        RnnShape shape = RnnShape.of(cell, I, H).withLayers(2).withDirection(direction);
        try (Parameters parameters = Parameters.initialize(shape, 67);
             Gradients gradients = new Gradients(shape)) {
            SplittableRandom random = new SplittableRandom(68);
            Map<String, float[]> unclipped = new LinkedHashMap<>();
            double sumOfSquares = 0;
            for (String name : gradients.names()) {
                fill(gradients.tensor(name), random);
                float[] g = values(gradients.tensor(name));
                unclipped.put(name, g);
                for (float v : g) {
                    sumOfSquares += (double) v * v;
                }
            }
            double expectedNorm = Math.sqrt(sumOfSquares);
            double norm = GradientClipping.clipGlobalNorm(gradients, 1.0);
            assertEquals(expectedNorm, norm, expectedNorm * 1e-12, "the norm over every tensor");
            assertTrue(norm > 1.0, "the gradients were clipped");
            for (String name : gradients.names()) {
                float[] clipped = values(gradients.tensor(name));
                for (int k = 0; k < clipped.length; k++) {
                    double expected = unclipped.get(name)[k] / norm;
                    assertEquals(expected, clipped[k], 1e-6 * Math.max(1e-3, Math.abs(expected)),
                            "clipped " + name + "[" + k + "]");
                }
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
