package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import org.junit.jupiter.api.Test;

import dev.vlstm.example.ReadmeExample;

/** The README's example is this module's ReadmeExample, word for word, and it computes what it claims. */
class ReadmeExampleTest {

    private static final Path SOURCE = Path.of("src/test/java/dev/vlstm/example/ReadmeExample.java");

    @Test
    void readmeQuotesTheCompiledExample() throws IOException {
        String source = Files.readString(SOURCE);
        String region = source.substring(source.indexOf("// README-BEGIN\n") + "// README-BEGIN\n".length(),
                source.indexOf("        // README-END"));
        String readme = Files.readString(Path.of(System.getProperty("vlstm.readme", "../README.md")));
        String unindented = region.lines().map(line -> line.length() >= 8 ? line.substring(8) : line.strip())
                .reduce((a, b) -> a + "\n" + b).orElseThrow();
        assertTrue(readme.contains(unindented), "README.md must contain the example of ReadmeExample.java:\n" + unindented);
    }

    @Test
    void theExampleStreamsToTheReferenceResult() {
        try (TestModel model = new TestModel(40, 40, 256)) {
            float[] frames = model.input(100, 1);
            float[] h = ReadmeExample.run(model.weightIh, model.weightHh, model.biasIh, model.biasHh, frames);
            ForwardVsReferenceTest.assertWithin("h", h, model.reference.forward(frames, 100, 1, null, null).hT());
        }
    }
}
