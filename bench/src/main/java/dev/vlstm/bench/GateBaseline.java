package dev.vlstm.bench;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.SortedMap;
import java.util.TreeMap;

import dev.vlstm.Backend;

/**
 * The performance gate's baselines, one per machine: a CPU model ({@link CpuInfo#signature()}) with the kernel
 * vlstm picks on it. Speedups measured on one machine say nothing about another (a CPU with twice the FMA
 * throughput speeds the vector kernel up far more than the reference), so each machine is judged only against
 * its own. Stored as a properties file: {@code MACHINE.SHAPE=SPEEDUP} for each shape and
 * {@code MACHINE.measured=NOTE} saying when and how.
 */
final class GateBaseline {

    /** One machine's baseline: the note and the speedup of each shape. */
    record Machine(String note, Map<String, Double> speedups) {
    }

    private static final String NOTE_KEY = "measured";

    private final SortedMap<String, Machine> machines;

    private GateBaseline(SortedMap<String, Machine> machines) {
        this.machines = machines;
    }

    /** This machine's name in the file, e.g. {@code AuthenticAMD-25-17-vector-512}. */
    static String currentMachine() {
        return CpuInfo.signature() + "-" + Backend.PREFERRED.kernelName();
    }

    /**
     * The baselines in {@code file}, none if it does not exist.
     *
     * @throws IllegalArgumentException for a key that names no machine and shape, or a speedup that is not a
     *                                  positive number, naming the file and the key
     */
    static GateBaseline read(Path file) throws IOException {
        SortedMap<String, Machine> machines = new TreeMap<>();
        if (!Files.exists(file)) {
            return new GateBaseline(machines);
        }
        Properties properties = new Properties();
        try (Reader reader = Files.newBufferedReader(file)) {
            properties.load(reader);
        }
        for (String key : new TreeMap<>(properties).keySet().stream().map(Object::toString).toList()) {
            int dot = key.indexOf('.');
            if (dot <= 0 || dot == key.length() - 1) {
                throw new IllegalArgumentException(file + ": key " + key + " is not MACHINE.SHAPE or MACHINE."
                        + NOTE_KEY);
            }
            String machine = key.substring(0, dot);
            String field = key.substring(dot + 1);
            String value = properties.getProperty(key).trim();
            Machine entry = machines.computeIfAbsent(machine, name -> new Machine("", new LinkedHashMap<>()));
            if (field.equals(NOTE_KEY)) {
                machines.put(machine, new Machine(value, entry.speedups()));
            } else {
                entry.speedups().put(field, speedup(file, key, value));
            }
        }
        return new GateBaseline(machines);
    }

    private static double speedup(Path file, String key, String value) {
        try {
            double speedup = Double.parseDouble(value);
            if (speedup > 0 && Double.isFinite(speedup)) {
                return speedup;
            }
        } catch (NumberFormatException e) {
            // Reported below, with the file and the key.
        }
        throw new IllegalArgumentException(file + ": " + key + " = \"" + value + "\" is not a positive number");
    }

    /** {@code machine}'s baseline, if the file has one. */
    Optional<Machine> of(String machine) {
        return Optional.ofNullable(machines.get(machine));
    }

    /** The machines that have a baseline. */
    List<String> machines() {
        return List.copyOf(machines.keySet());
    }

    /** These baselines with {@code machine}'s replaced (or added). */
    GateBaseline with(String machine, Machine baseline) {
        SortedMap<String, Machine> updated = new TreeMap<>(machines);
        updated.put(machine, baseline);
        return new GateBaseline(updated);
    }

    /** Writes every machine's baseline to {@code file}, under a header saying what the numbers are. */
    void write(Path file, String header) throws IOException {
        StringBuilder out = new StringBuilder();
        header.lines().forEach(line -> out.append("# ").append(line).append('\n'));
        machines.forEach((machine, baseline) -> {
            out.append('\n').append(machine).append('.').append(NOTE_KEY).append('=').append(baseline.note())
                    .append('\n');
            baseline.speedups().forEach((shape, speedup) -> out.append(machine).append('.').append(shape)
                    .append('=').append(String.format(Locale.ROOT, "%.2f", speedup)).append('\n'));
        });
        Files.writeString(file, out);
    }
}
