package dev.vlstm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.Test;

/** The kernel is chosen once: vector where the module and wide vectors exist, scalar otherwise. */
class KernelSelectionTest {

    /** Prints the kernel that a JVM picks; run by the tests below in child JVMs. */
    public static final class PrintKernel {
        public static void main(String[] args) {
            System.out.println("kernel=" + Backend.PREFERRED.kernelName());
        }
    }

    @Test
    void thisJvmRunsTheVectorKernelAtNoMoreThanTheConfiguredWidth() {
        String name = Backend.PREFERRED.kernelName();
        assertTrue(name.startsWith("vector-"), "expected the vector kernel with --add-modules, got " + name);
        int bits = Integer.parseInt(name.substring("vector-".length()));
        int limit = Integer.getInteger("vlstm.maxVectorBits", 4096);
        assertTrue(bits >= 128 && bits <= limit, name + " should be between 128 and " + limit + " bits");
        assertEquals("scalar", Backend.SCALAR.kernelName());
    }

    @Test
    void withoutTheVectorModuleTheScalarKernelIsChosenWithAWarning() throws Exception {
        String output = childJvm(List.of());
        assertTrue(output.contains("kernel=scalar"), output);
        assertTrue(output.contains("--add-modules jdk.incubator.vector"), "the warning should say the fix: " + output);
    }

    @Test
    void vectorsNarrowerThan128BitsFallBackToScalarWithAWarning() throws Exception {
        String output = childJvm(List.of("--add-modules", "jdk.incubator.vector",
                "-XX:+IgnoreUnrecognizedVMOptions", "-XX:MaxVectorSize=8"));
        assertTrue(output.contains("kernel=scalar"), output);
        assertTrue(output.contains("narrower than 128 bits"), output);
    }

    @Test
    void thePropertyForcesScalar() throws Exception {
        String output = childJvm(List.of("--add-modules", "jdk.incubator.vector", "-Dvlstm.kernel=scalar"));
        assertTrue(output.contains("kernel=scalar"), output);
    }

    /** Runs {@link PrintKernel} in a new JVM; returns its standard output and error together. */
    private static String childJvm(List<String> options) throws IOException, InterruptedException {
        String java = ProcessHandle.current().info().command().orElseThrow();
        List<String> command = new ArrayList<>(List.of(java));
        command.addAll(options);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), PrintKernel.class.getName()));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(process.waitFor(60, TimeUnit.SECONDS), "child JVM timed out");
        assertEquals(0, process.exitValue(), "child JVM failed: " + output);
        return output;
    }
}
