package dev.vlstm.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Which processor this is, from {@code /proc/cpuinfo} where there is one. The same machine kind has come with
 * different CPU generations on different days (one with twice the FMA throughput of another), so results name
 * the CPU model, not only its marketing name.
 */
final class CpuInfo {

    private static final Path CPUINFO = Path.of("/proc/cpuinfo");

    private CpuInfo() {
    }

    /** For people: e.g. {@code AMD EPYC (AuthenticAMD family 25 model 17, 2 CPUs)}. */
    static String describe() {
        String processors = Runtime.getRuntime().availableProcessors() + " CPUs";
        Optional<String> vendor = field("vendor_id");
        if (vendor.isEmpty()) {
            return System.getProperty("os.arch") + " (" + processors + ")";
        }
        return field("model name").orElse(System.getProperty("os.arch")) + " (" + vendor.get() + " family "
                + field("cpu family").orElse("?") + " model " + field("model").orElse("?") + ", " + processors + ")";
    }

    /**
     * For keys: vendor, family and model joined by dashes (e.g. {@code AuthenticAMD-25-17}), or the architecture
     * where {@code /proc/cpuinfo} is missing.
     */
    static String signature() {
        return field("vendor_id").map(vendor -> vendor + "-" + field("cpu family").orElse("x") + "-"
                + field("model").orElse("x")).orElse(System.getProperty("os.arch"));
    }

    /** The first processor's value of {@code name}, if the file exists and has it. */
    private static Optional<String> field(String name) {
        if (!Files.isReadable(CPUINFO)) {
            return Optional.empty();
        }
        try {
            List<String> lines = Files.readAllLines(CPUINFO);
            return lines.stream().map(line -> line.split(":", 2))
                    .filter(parts -> parts.length == 2 && parts[0].trim().equals(name))
                    .map(parts -> parts[1].trim()).findFirst();
        } catch (IOException e) {
            return Optional.empty();
        }
    }
}
