package dev.vlstm.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Which processor this is, as precisely as the operating system says: on Linux the vendor, family, model and name
 * from {@code /proc/cpuinfo}; on macOS the brand string from {@code sysctl}; on Windows the
 * {@code PROCESSOR_IDENTIFIER} variable; elsewhere the architecture. Timings of one CPU model say nothing about
 * another's, so benchmark results carry it and comparisons refuse results of another model.
 */
record CpuModel(String identity) {

    private static final Path CPUINFO = Path.of("/proc/cpuinfo");

    /** This machine's processor, with its core count, e.g. {@code AMD EPYC (AuthenticAMD family 26 model 2), 2 CPUs}. */
    static CpuModel current() {
        return new CpuModel(name() + ", " + Runtime.getRuntime().availableProcessors() + " CPUs");
    }

    private static String name() {
        Optional<List<String>> cpuinfo = readCpuinfo();
        if (cpuinfo.isPresent() && field(cpuinfo.get(), "vendor_id").isPresent()) {
            List<String> lines = cpuinfo.get();
            return field(lines, "model name").orElse("?") + " (" + field(lines, "vendor_id").orElseThrow()
                    + " family " + field(lines, "cpu family").orElse("?") + " model " + field(lines, "model")
                    .orElse("?") + ")";
        }
        if (cpuinfo.isPresent() && field(cpuinfo.get(), "CPU implementer").isPresent()) {
            List<String> lines = cpuinfo.get();
            return System.getProperty("os.arch") + " (implementer " + field(lines, "CPU implementer").orElseThrow()
                    + " part " + field(lines, "CPU part").orElse("?") + " variant " + field(lines, "CPU variant")
                    .orElse("?") + ")";
        }
        String os = System.getProperty("os.name", "");
        if (os.startsWith("Mac")) {
            Optional<String> brand = command("sysctl", "-n", "machdep.cpu.brand_string");
            if (brand.isPresent()) {
                return brand.get() + " (" + System.getProperty("os.arch") + ")";
            }
        }
        String windows = System.getenv("PROCESSOR_IDENTIFIER");
        if (os.startsWith("Windows") && windows != null && !windows.isBlank()) {
            return windows.strip();
        }
        return System.getProperty("os.arch") + " on " + os + " (model unknown)";
    }

    private static Optional<List<String>> readCpuinfo() {
        try {
            return Files.isReadable(CPUINFO) ? Optional.of(Files.readAllLines(CPUINFO)) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** The first processor's value of {@code name}. */
    private static Optional<String> field(List<String> lines, String name) {
        return lines.stream().map(line -> line.split(":", 2))
                .filter(parts -> parts.length == 2 && parts[0].strip().equals(name))
                .map(parts -> parts[1].strip()).findFirst();
    }

    private static Optional<String> command(String... command) {
        try {
            Process process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            return process.waitFor(5, TimeUnit.SECONDS) && process.exitValue() == 0 && !output.isEmpty()
                    ? Optional.of(output) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Optional.empty();
        }
    }
}
