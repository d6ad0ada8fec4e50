package dev.vlstm.bench;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

import dev.vlstm.reference.ReferenceGru;
import dev.vlstm.reference.ReferenceLstm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The benchmark's oneDNN peer computes the benchmark's model: oneDNN's lstm and lbr_gru primitives, given the
 * weights as {@link OneDnnRnn} converts them, agree with the double-precision reference on whole sequences, carried
 * streams and training steps (outputs and every gradient), on shapes whose H is a multiple of no vector width; it
 * refuses what it would run differently, and reports, rather than fails, where its native library is missing.
 */
class OneDnnRnnTest {

    /**
     * Float against double over at most five steps of at most 33 units, outputs and gradients alike (a gradient sums
     * at most B·T = 15 products per element).
     */
    private static final double TOLERANCE = 1e-5;

    static Stream<Shape> shapes() {
        return Stream.of(new Shape("test-B1-T1-H8", 1, 1, 8), new Shape("test-B3-T1-H33", 3, 1, 33),
                new Shape("test-B1-T5-H33", 1, 5, 33), new Shape("test-B3-T5-H8", 3, 5, 8),
                new Shape("test-B3-T5-H33", 3, 5, 33));
    }

    @Test
    void availableOnThisPlatform() {
        assertEquals(Optional.empty(), OneDnnRnn.unavailableReason());
        assertTrue(OneDnnRnn.describe().startsWith("oneDNN 3.8.1 ("), OneDnnRnn.describe());
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void lstmSequenceMatchesTheReference(Shape shape) {
        RandomLstm model = RandomLstm.create(shape, shape.steps());
        ReferenceLstm.Result expected = model.reference().forward(model.x(), shape.steps(), shape.batch(), null, null);
        try (OneDnnRnn rnn = OneDnnRnn.sequence(model)) {
            rnn.run();
            assertClose("y", expected.y(), rnn.y(), TOLERANCE);
            assertClose("hT", expected.hT(), rnn.hidden(), TOLERANCE);
            assertClose("cT", expected.cT(), rnn.cell(), TOLERANCE);
        }
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void gruSequenceMatchesTheReference(Shape shape) {
        RandomGru model = RandomGru.create(shape, shape.steps());
        ReferenceGru.Result expected = model.reference().forward(model.x(), shape.steps(), shape.batch(), null);
        try (OneDnnRnn rnn = OneDnnRnn.sequence(model)) {
            rnn.run();
            assertClose("y", expected.y(), rnn.y(), TOLERANCE);
            assertClose("hT", expected.hT(), rnn.hidden(), TOLERANCE);
        }
    }

    @Test
    void lstmStreamCarriesItsStateFromCallToCall() {
        Shape shape = new Shape("test-B3-T1-H33", 3, 1, 33);
        RandomLstm model = RandomLstm.create(shape, 1);
        int extraSteps = 2;
        int steps = OneDnnRnn.VERIFIED_STREAM_STEPS + extraSteps;
        ReferenceLstm.Result expected = model.reference().forward(repeated(model.x(), steps), steps, shape.batch(),
                null, null);
        try (OneDnnRnn rnn = OneDnnRnn.stream(model)) {
            for (int step = 0; step < extraSteps; step++) {
                rnn.run();
            }
            assertClose("hT", expected.hT(), rnn.hidden(), TOLERANCE);
            assertClose("cT", expected.cT(), rnn.cell(), TOLERANCE);
            assertClose("y", lastStep(expected.y(), steps), rnn.y(), TOLERANCE);
        }
    }

    @Test
    void gruStreamCarriesItsStateFromCallToCall() {
        Shape shape = new Shape("test-B3-T1-H33", 3, 1, 33);
        RandomGru model = RandomGru.create(shape, 1);
        int extraSteps = 2;
        int steps = OneDnnRnn.VERIFIED_STREAM_STEPS + extraSteps;
        ReferenceGru.Result expected = model.reference().forward(repeated(model.x(), steps), steps, shape.batch(),
                null);
        try (OneDnnRnn rnn = OneDnnRnn.stream(model)) {
            for (int step = 0; step < extraSteps; step++) {
                rnn.run();
            }
            assertClose("hT", expected.hT(), rnn.hidden(), TOLERANCE);
            assertClose("y", lastStep(expected.y(), steps), rnn.y(), TOLERANCE);
        }
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void lstmTrainingGradientsMatchTheReference(Shape shape) {
        RandomLstm model = RandomLstm.create(shape, shape.steps());
        double[] x = toDouble(model.x());
        ReferenceLstm.Gradients expected = model.reference().backward(x, shape.steps(), shape.batch(), null, null, x,
                null, null);
        ReferenceLstm.Result forward = model.reference().forward(model.x(), shape.steps(), shape.batch(), null, null);
        try (OneDnnRnn rnn = OneDnnRnn.training(model)) {
            // Twice: the second backward must overwrite the first one's weight gradients, not add to them.
            rnn.run();
            rnn.run();
            assertClose("y", forward.y(), rnn.y(), TOLERANCE);
            assertClose("dx", expected.x(), rnn.dx(), TOLERANCE);
            assertClose("dh0", expected.h0(), rnn.dh0(), TOLERANCE);
            assertClose("dc0", expected.c0(), rnn.dc0(), TOLERANCE);
            assertClose("dW", expected.weightIh(), rnn.gradient("weight_ih_l0"), TOLERANCE);
            assertClose("dU", expected.weightHh(), rnn.gradient("weight_hh_l0"), TOLERANCE);
            assertClose("db_ih", expected.biasIh(), rnn.gradient("bias_ih_l0"), TOLERANCE);
            assertClose("db_hh", expected.biasHh(), rnn.gradient("bias_hh_l0"), TOLERANCE);
        }
    }

    @ParameterizedTest
    @MethodSource("shapes")
    void gruTrainingGradientsMatchTheReference(Shape shape) {
        RandomGru model = RandomGru.create(shape, shape.steps());
        double[] x = toDouble(model.x());
        ReferenceGru.Gradients expected = model.reference().backward(x, shape.steps(), shape.batch(), null, x, null);
        ReferenceGru.Result forward = model.reference().forward(model.x(), shape.steps(), shape.batch(), null);
        try (OneDnnRnn rnn = OneDnnRnn.training(model)) {
            rnn.run();
            rnn.run();
            assertClose("y", forward.y(), rnn.y(), TOLERANCE);
            assertClose("dx", expected.x(), rnn.dx(), TOLERANCE);
            assertClose("dh0", expected.h0(), rnn.dh0(), TOLERANCE);
            assertClose("dW", expected.weightIh(), rnn.gradient("weight_ih_l0"), TOLERANCE);
            assertClose("dU", expected.weightHh(), rnn.gradient("weight_hh_l0"), TOLERANCE);
            assertClose("db_ih", expected.biasIh(), rnn.gradient("bias_ih_l0"), TOLERANCE);
            assertClose("db_hh", expected.biasHh(), rnn.gradient("bias_hh_l0"), TOLERANCE);
        }
    }

    /** OpenMP's thread count belongs to a thread: a call from a thread that never ran oneDNN still runs on one. */
    @Test
    void runSetsOneOpenMpThreadOnEachCallingThread() throws Exception {
        Shape shape = new Shape("test-B3-T5-H33", 3, 5, 33);
        RandomLstm model = RandomLstm.create(shape, shape.steps());
        try (OneDnnRnn rnn = OneDnnRnn.sequence(model)) {
            float[] y = rnn.y();
            AtomicReference<Object> threads = new AtomicReference<>();
            Thread other = new Thread(() -> {
                try {
                    rnn.run();
                    threads.set((int) OneDnn.Library.OMP_GET_MAX_THREADS.invokeExact());
                } catch (Throwable e) {
                    threads.set(e);
                }
            });
            other.start();
            other.join();
            assertEquals(1, threads.get());
            assertArrayEquals(y, rnn.y());
        }
    }

    @Test
    void refusesWhatItWouldRunDifferently() {
        Shape varlen = new Shape("varlen-B3-T5-H8", 3, 5, 8);
        assertTrue(varlen.variableLengths());
        IllegalArgumentException lengths = assertThrows(IllegalArgumentException.class,
                () -> OneDnnRnn.sequence(RandomLstm.create(varlen, varlen.steps())));
        assertTrue(lengths.getMessage().contains("per-sequence lengths"), lengths.getMessage());

        Shape stacked = new Shape("stack-L2-bi-B3-T5-H8", 3, 5, 8, 2, 2);
        IllegalArgumentException layers = assertThrows(IllegalArgumentException.class,
                () -> OneDnnRnn.training(RandomGru.create(stacked, stacked.steps())));
        assertTrue(layers.getMessage().contains("one layer of one direction"), layers.getMessage());
    }

    @Test
    void refusesArraysThatDoNotMatchTheShape() {
        Shape shape = new Shape("test-B3-T5-H8", 3, 5, 8);
        RandomLstm sequence = RandomLstm.create(shape, shape.steps());
        IllegalArgumentException steps = assertThrows(IllegalArgumentException.class,
                () -> OneDnnRnn.stream(sequence));
        assertTrue(steps.getMessage().contains("a stream step of"), steps.getMessage());

        RandomGru gru = RandomGru.create(shape, shape.steps());
        RandomGru shortWeights = new RandomGru(shape, gru.weightIh(), new float[gru.weightHh().length - 1],
                gru.biasIh(), gru.biasHh(), gru.x());
        IllegalArgumentException weights = assertThrows(IllegalArgumentException.class,
                () -> OneDnnRnn.sequence(shortWeights));
        assertTrue(weights.getMessage().startsWith("weight_hh"), weights.getMessage());

        assertThrows(NullPointerException.class, () -> OneDnnRnn.training((RandomLstm) null));
    }

    @Test
    void refusesOutputsItDoesNotHave() {
        Shape shape = new Shape("test-B1-T1-H8", 1, 1, 8);
        try (OneDnnRnn gru = OneDnnRnn.stream(RandomGru.create(shape, 1))) {
            assertThrows(IllegalStateException.class, gru::cell);
            assertThrows(IllegalStateException.class, gru::dx);
        }
        try (OneDnnRnn training = OneDnnRnn.training(RandomLstm.create(shape, 1))) {
            assertThrows(IllegalStateException.class, training::hidden);
            assertThrows(IllegalArgumentException.class, () -> training.gradient("weight_hr_l0"));
        }
    }

    /**
     * Where the native libraries are not on the class path, as on a platform the jars do not serve, the reason is
     * reported and a factory's check throws it, instead of the class failing to load.
     */
    @Test
    void reportsWhyItIsUnavailableWithoutItsLibraries() throws Exception {
        URL classes = OneDnn.class.getProtectionDomain().getCodeSource().getLocation();
        try (URLClassLoader withoutLibraries = new URLClassLoader(new URL[] {classes},
                ClassLoader.getPlatformClassLoader())) {
            Class<?> isolated = withoutLibraries.loadClass(OneDnn.class.getName());
            Method unavailableReason = isolated.getDeclaredMethod("unavailableReason");
            unavailableReason.setAccessible(true);
            Optional<?> reason = (Optional<?>) unavailableReason.invoke(null);
            assertTrue(reason.isPresent());
            assertTrue(reason.get().toString().contains("libgomp.so.1 is not on the class path"),
                    reason.get().toString());
            Method requireAvailable = isolated.getDeclaredMethod("requireAvailable");
            requireAvailable.setAccessible(true);
            InvocationTargetException thrown = assertThrows(InvocationTargetException.class,
                    () -> requireAvailable.invoke(null));
            assertTrue(thrown.getCause() instanceof IllegalStateException, thrown.getCause().toString());
        }
    }

    private static float[] repeated(float[] step, int steps) {
        float[] repeated = new float[steps * step.length];
        for (int n = 0; n < steps; n++) {
            System.arraycopy(step, 0, repeated, n * step.length, step.length);
        }
        return repeated;
    }

    private static double[] lastStep(double[] y, int steps) {
        int frame = y.length / steps;
        double[] last = new double[frame];
        System.arraycopy(y, (steps - 1) * frame, last, 0, frame);
        return last;
    }

    private static double[] toDouble(float[] values) {
        double[] doubles = new double[values.length];
        for (int n = 0; n < values.length; n++) {
            doubles[n] = values[n];
        }
        return doubles;
    }

    private static void assertClose(String name, double[] expected, float[] actual, double tolerance) {
        assertEquals(expected.length, actual.length, name + " length");
        for (int n = 0; n < expected.length; n++) {
            assertEquals(expected[n], actual[n], tolerance, name + "[" + n + "]");
        }
    }
}
