package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;

import dev.vlstm.example.GruExample;
import dev.vlstm.io.Npy;
import dev.vlstm.io.SafeTensors;

/**
 * The docs' GRU example is quoted word for word from {@link GruExample}, which the build compiles, and computes
 * what PyTorch did on a golden case: y within 1e-5, dx within 1e-4; the streamed h equals hT bit for bit.
 */
class GruReadmeExampleTest {

    private static final Path SOURCE = Path.of("src/test/java/dev/vlstm/example/GruExample.java");
    private static final Path GOLDEN = Path.of("src/test/resources/golden-gru/i3_h5_t4_b2");

    @Test
    void theDocsQuoteTheMarkedRegion() throws IOException {
        String docs = ReadmeExampleTest.documentation();
        List<String> regions = ReadmeExampleTest.regions(Files.readAllLines(SOURCE));
        assertEquals(1, regions.size());
        assertTrue(docs.contains(regions.getFirst()), "README.md or docs/ must contain this region of " + SOURCE
                + ":\n" + regions.getFirst());
    }

    @Test
    void theExampleComputesWhatPyTorchDid() throws IOException {
        float[][] results = GruExample.run(GOLDEN.resolve("model.safetensors"), Npy.read(GOLDEN.resolve("x.npy")).data(),
                Npy.read(GOLDEN.resolve("h0.npy")).data(), Npy.read(GOLDEN.resolve("dy.npy")).data(),
                Npy.read(GOLDEN.resolve("dhn.npy")).data(), 4, 2);
        float[] expectedY = Npy.read(GOLDEN.resolve("expected_y.npy")).data();
        for (int n = 0; n < expectedY.length; n++) {
            assertEquals(expectedY[n], results[0][n], 1e-5, "y[" + n + "]");
        }
        assertArrayEquals(results[2], results[1], "the streamed h is hT");
        try (SafeTensors gradients = SafeTensors.open(GOLDEN.resolve("expected_grad.safetensors"))) {
            float[] expectedDx = gradients.tensor("x").toFloats();
            for (int n = 0; n < expectedDx.length; n++) {
                assertEquals(expectedDx[n], results[3][n], 1e-4, "dx[" + n + "]");
            }
        }
    }
}
