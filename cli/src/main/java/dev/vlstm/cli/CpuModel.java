package dev.vlstm.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Which processor this is, as precisely as the operating system says: on Linux the vendor, family, model and name
 * (x86) or the implementer, part and variant (ARM) from {@code /proc/cpuinfo}; on macOS the brand string from
 * {@code sysctl}; on Windows the {@code PROCESSOR_IDENTIFIER} variable; elsewhere the architecture and the operating
 * system. Timings of one CPU model say nothing about another's, so benchmark results carry it (the command-line
 * tool's {@code bench}, the bench module's comparison, gate and cold start) and comparisons refuse results of another
 * model.
 *
 * @param identity the model and the core count, e.g. {@code AMD EPYC (AuthenticAMD family 26 model 2), 2 CPUs}
 */
public record CpuModel(String identity) {

    private static final Path CPUINFO = Path.of("/proc/cpuinfo");

    /**
     * This machine's processor, with its core count.
     *
     * @return e.g. {@code AMD EPYC (AuthenticAMD family 26 model 2), 2 CPUs}
     */
    public static CpuModel current() {
        String name = name(readCpuinfo(), System.getProperty("os.name", ""), System.getProperty("os.arch"),
                () -> command("sysctl", "-n", "machdep.cpu.brand_string"), System.getenv("PROCESSOR_IDENTIFIER"));
        return new CpuModel(name + ", " + Runtime.getRuntime().availableProcessors() + " CPUs");
    }

    /**
     * The processor's name from what the operating system says.
     *
     * @param cpuinfo   the lines of {@code /proc/cpuinfo}, empty where there is none
     * @param os        the {@code os.name} property
     * @param arch      the {@code os.arch} property
     * @param macBrand  asked on macOS only: {@code sysctl}'s brand string, if it gave one
     * @param windowsId the {@code PROCESSOR_IDENTIFIER} variable, or null
     */
    static String name(List<String> cpuinfo, String os, String arch, Supplier<Optional<String>> macBrand,
                       String windowsId) {
        Optional<String> vendor = field(cpuinfo, "vendor_id");
        if (vendor.isPresent()) {
            return field(cpuinfo, "model name").orElse("?") + " (" + vendor.get() + " family "
                    + field(cpuinfo, "cpu family").orElse("?") + " model " + field(cpuinfo, "model").orElse("?") + ")";
        }
        Optional<String> implementer = field(cpuinfo, "CPU implementer");
        if (implementer.isPresent()) {
            return arch + " (implementer " + implementer.get() + " part " + field(cpuinfo, "CPU part").orElse("?")
                    + " variant " + field(cpuinfo, "CPU variant").orElse("?") + ")";
        }
        if (os.startsWith("Mac")) {
            Optional<String> brand = macBrand.get();
            if (brand.isPresent()) {
                return brand.get() + " (" + arch + ")";
            }
        }
        if (os.startsWith("Windows") && windowsId != null && !windowsId.isBlank()) {
            return windowsId.strip();
        }
        return arch + " on " + os + " (model unknown)";
    }

    private static List<String> readCpuinfo() {
        try {
            return Files.isReadable(CPUINFO) ? Files.readAllLines(CPUINFO) : List.of();
        } catch (IOException e) {
            return List.of();
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
