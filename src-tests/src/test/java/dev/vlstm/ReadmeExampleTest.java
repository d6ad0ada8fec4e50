package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import dev.vlstm.example.ReadmeExample;
import dev.vlstm.example.StackExample;
import dev.vlstm.io.Npy;

/**
 * The README's examples are this module's ReadmeExample and StackExample, word for word, and compute what they
 * claim.
 */
class ReadmeExampleTest {

    @ParameterizedTest
    @ValueSource(strings = {"ReadmeExample.java", "StackExample.java"})
    void readmeQuotesTheCompiledExample(String example) throws IOException {
        String source = Files.readString(Path.of("src/test/java/dev/vlstm/example").resolve(example));
        String region = source.substring(source.indexOf("// README-BEGIN\n") + "// README-BEGIN\n".length(),
                source.indexOf("        // README-END"));
        String readme = Files.readString(Path.of(System.getProperty("vlstm.readme", "../README.md")));
        String unindented = region.lines().map(line -> line.length() >= 8 ? line.substring(8) : line.strip())
                .reduce((a, b) -> a + "\n" + b).orElseThrow();
        assertTrue(readme.contains(unindented),
                "README.md must contain the example of " + example + ":\n" + unindented);
    }

    @Test
    void theExampleStreamsToTheReferenceResult() {
        try (TestModel model = new TestModel(40, 40, 256)) {
            float[] frames = model.input(100, 1);
            float[] h = ReadmeExample.run(model.weightIh, model.weightHh, model.biasIh, model.biasHh, frames);
            ForwardVsReferenceTest.assertWithin("h", h, model.reference.forward(frames, 100, 1, null, null).hT());
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
}
