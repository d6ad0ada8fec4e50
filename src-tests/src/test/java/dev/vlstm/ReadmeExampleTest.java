package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;

import dev.vlstm.example.ModelExample;
import dev.vlstm.example.QuickstartExample;
import dev.vlstm.example.ReadmeExample;
import dev.vlstm.example.ServiceExample;
import dev.vlstm.example.StackExample;
import dev.vlstm.example.TrainingExample;
import dev.vlstm.io.Npy;
import dev.vlstm.io.SafeTensors;
import dev.vlstm.reference.ReferenceGru;
import dev.vlstm.reference.ReferenceLstm;

/**
 * Every code example of the documentation (the README and docs/) is a marked region of a file that the build
 * compiles, quoted word for word (without the region's common indentation), and the examples compute what they
 * claim. The Java examples are in this module; the packaging examples are the consumer project's, which CI compiles
 * and runs (.ci/run).
 */
class ReadmeExampleTest {

    private static final List<Path> SOURCES = List.of(
            Path.of("src/test/java/dev/vlstm/example/QuickstartExample.java"),
            Path.of("src/test/java/dev/vlstm/example/ReadmeExample.java"),
            Path.of("src/test/java/dev/vlstm/example/ServiceExample.java"),
            Path.of("src/test/java/dev/vlstm/example/ModelExample.java"),
            Path.of("src/test/java/dev/vlstm/example/StackExample.java"),
            Path.of("src/test/java/dev/vlstm/example/TrainingExample.java"),
            Path.of("../examples/consumer/pom.xml"),
            Path.of("../examples/consumer/src/main/java/module-info.java"));

    @Test
    void theDocsQuoteEveryMarkedRegionOfTheCompiledExamples() throws IOException {
        String docs = documentation();
        for (Path source : SOURCES) {
            List<String> regions = regions(Files.readAllLines(source));
            assertTrue(!regions.isEmpty(), source + " has no README-BEGIN ... README-END region");
            for (String region : regions) {
                assertTrue(docs.contains(region), "README.md or docs/ must contain this region of " + source + ":\n"
                        + region);
            }
        }
    }

    /** The README and every page of the docs/ folder beside it, one after another. */
    static String documentation() throws IOException {
        Path readme = Path.of(System.getProperty("vlstm.readme", "../README.md"));
        StringBuilder text = new StringBuilder(Files.readString(readme));
        try (Stream<Path> pages = Files.list(readme.resolveSibling("docs"))) {
            for (Path page : pages.filter(page -> page.toString().endsWith(".md")).sorted().toList()) {
                text.append('\n').append(Files.readString(page));
            }
        }
        return text.toString();
    }

    @Test
    void theExampleStreamsToTheReferenceResult() {
        try (TestRnn model = new TestRnn(40, RnnShape.of(Cell.LSTM, 40, 256), Options.DEFAULT)) {
            float[] frames = model.input(100, 1);
            float[][] weights = model.flatWeights;
            float[] h = ReadmeExample.run(weights[0], weights[1], weights[2], weights[3], frames);
            ForwardVsReferenceTest.assertWithin("h", h, model.reference.forward(frames, 100, 1, null, null).hT());
        }
    }

    /**
     * The training example learns its task: the loss of its last 20 updates is a fifth of its first 20 or less
     * (a model that learned nothing stays at the first updates' level, about the inputs' variance, 1/12).
     */
    @Test
    void theTrainingExampleLearnsToRepeatThePreviousInput() {
        double[] losses = TrainingExample.train(300);
        double first = java.util.Arrays.stream(losses, 0, 20).average().orElseThrow();
        double last = java.util.Arrays.stream(losses, losses.length - 20, losses.length).average().orElseThrow();
        assertTrue(last < first / 5, "loss of the first 20 updates " + first + ", of the last 20 " + last);
    }

    @Test
    void theServiceAnswersEveryRequestLikeTheReferenceAndRefusesANaNByName() throws Exception {
        try (TestRnn model = new TestRnn(41, RnnShape.of(Cell.LSTM, 40, 256), Options.DEFAULT)) {
            List<float[]> requests = new ArrayList<>();
            for (int n = 0; n < 5; n++) {
                requests.add(model.input(100, 1));
            }
            float[] poisoned = model.input(100, 1);
            poisoned[7 * 40 + 3] = Float.NaN;
            requests.add(poisoned);
            long before = NativeMemory.liveBytes();
            float[][] weights = model.flatWeights;
            List<Future<float[]>> answers = ServiceExample.serve(weights[0], weights[1], weights[2], weights[3],
                    requests, 3, Duration.ofMillis(500));
            assertEquals(before, NativeMemory.liveBytes(), "the example frees all it allocated");
            for (int n = 0; n < 5; n++) {
                ForwardVsReferenceTest.assertWithin("hT of request " + n, answers.get(n).get(),
                        model.reference.forward(requests.get(n), 100, 1, null, null).hT());
            }
            ExecutionException refused = assertThrows(ExecutionException.class, () -> answers.get(5).get());
            assertInstanceOf(IllegalArgumentException.class, refused.getCause());
            assertTrue(refused.getCause().getMessage().startsWith("x[7][0][3] is NaN"), refused.getCause().getMessage());
        }
    }

    /**
     * The quickstart streams PyTorch's saved nn.LSTM and nn.GRU one frame at a time from zero states; its last h is
     * the double-precision reference's hT for those frames (batch row 0 of the file's inputs), within 1e-5.
     */
    @Test
    void theQuickstartStreamsWhatTheReferenceComputes() throws IOException {
        for (String golden : List.of("golden/i7_h20_t9_unbatched", "golden-gru/i3_h5_t4_b2")) {
            Path directory = Path.of("src/test/resources", golden);
            Path model = directory.resolve("model.safetensors");
            float[] x = Npy.read(directory.resolve("x.npy")).data();
            boolean gru = golden.startsWith("golden-gru/");
            int inputSize = gru ? 3 : 7, hiddenSize = gru ? 5 : 20, steps = gru ? 4 : 9, batch = gru ? 2 : 1;
            float[][] frames = new float[steps][inputSize];
            float[] firstRow = new float[steps * inputSize];
            for (int t = 0; t < steps; t++) {
                System.arraycopy(x, t * batch * inputSize, frames[t], 0, inputSize);
                System.arraycopy(frames[t], 0, firstRow, t * inputSize, inputSize);
            }
            double[] expected;
            try (SafeTensors tensors = SafeTensors.open(model)) {
                String prefix = gru ? "gru." : "lstm.";
                float[] weightIh = tensors.tensor(prefix + "weight_ih_l0").toFloats();
                float[] weightHh = tensors.tensor(prefix + "weight_hh_l0").toFloats();
                float[] biasIh = tensors.tensor(prefix + "bias_ih_l0").toFloats();
                float[] biasHh = tensors.tensor(prefix + "bias_hh_l0").toFloats();
                expected = gru
                        ? new ReferenceGru(inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh)
                                .forward(firstRow, steps, 1, null).hT()
                        : new ReferenceLstm(inputSize, hiddenSize, weightIh, weightHh, biasIh, biasHh)
                                .forward(firstRow, steps, 1, null, null).hT();
            }
            float[] h = QuickstartExample.run(model, frames);
            assertEquals(hiddenSize, h.length, golden);
            for (int n = 0; n < h.length; n++) {
                assertEquals(expected[n], h[n], 1e-5, golden + ": h[" + n + "]");
            }
        }
    }

    @Test
    void theStackExampleComputesWhatPyTorchDid() throws IOException {
        Path golden = Path.of("src/test/resources/golden/i4_h3_t5_b2_bidirectional");
        float[] y = StackExample.run(golden.resolve("model.safetensors"), Npy.read(golden.resolve("x.npy")).data(),
                Npy.read(golden.resolve("h0.npy")).data(), Npy.read(golden.resolve("c0.npy")).data(), 5, 2);
        float[] expected = Npy.read(golden.resolve("expected_y.npy")).data();
        assertEquals(expected.length, y.length);
        for (int n = 0; n < y.length; n++) {
            assertEquals(expected[n], y[n], 1e-5, "y[" + n + "]");
        }
    }

    /** The one-call loading example gives PyTorch's y for an nn.LSTM (bidirectional) and an nn.GRU (two layers). */
    @Test
    void theModelExampleComputesWhatPyTorchDid() throws IOException {
        for (String golden : List.of("golden/i4_h3_t5_b2_bidirectional", "golden-gru/i3_h5_l2_t4_b2")) {
            Path directory = Path.of("src/test/resources", golden);
            float[] x = Npy.read(directory.resolve("x.npy")).data();
            Path c0 = directory.resolve("c0.npy");
            float[] expected = Npy.read(directory.resolve("expected_y.npy")).data();
            int steps = golden.startsWith("golden/") ? 5 : 4;
            float[] y = ModelExample.run(directory.resolve("model.safetensors"), x,
                    Npy.read(directory.resolve("h0.npy")).data(), Files.exists(c0) ? Npy.read(c0).data() : null, steps,
                    2, Duration.ofMillis(200));
            assertEquals(expected.length, y.length, golden);
            for (int n = 0; n < y.length; n++) {
                assertEquals(expected[n], y[n], 1e-5, golden + ": y[" + n + "]");
            }
        }
    }

    @Test
    void regionsAreTheLinesBetweenTheMarkersWithoutTheirCommonIndentation() {
        List<String> lines = List.of("class A {", "    // README-BEGIN", "    int a;", "      int b;", "",
                "    // README-END", "  <!-- README-BEGIN -->", "  <x/>", "  <!-- README-END -->");
        assertArrayEquals(new String[]{"int a;\n  int b;\n\n", "<x/>\n"}, regions(lines).toArray(new String[0]));
    }

    /** The text between each line that contains README-BEGIN and the next that contains README-END. */
    static List<String> regions(List<String> lines) {
        List<String> regions = new ArrayList<>();
        for (int n = 0; n < lines.size(); n++) {
            if (!lines.get(n).contains("README-BEGIN")) {
                continue;
            }
            int end = n + 1;
            while (!lines.get(end).contains("README-END")) {
                end++;
            }
            List<String> region = lines.subList(n + 1, end);
            int indent = region.stream().filter(line -> !line.isBlank())
                    .mapToInt(line -> line.length() - line.stripLeading().length()).min().orElse(0);
            StringBuilder text = new StringBuilder();
            for (String line : region) {
                text.append(line.isBlank() ? "" : line.substring(indent)).append('\n');
            }
            regions.add(text.toString());
            n = end;
        }
        return regions;
    }
}
