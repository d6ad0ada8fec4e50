package dev.vlstm.cli;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

import dev.vlstm.WeightPrecision;
import dev.vlstm.io.SafeTensors;

/**
 * {@code vlstm bench --cold}: for each mode, starts new JVMs ({@link ColdJvm}) with this JVM's {@code java}, class
 * path and Vector API module plus the user's {@code --jvm-options}, one mode per JVM, the modes taking turns; reads
 * each JVM's report and prints every measure's median and range over the JVMs (and writes them as JMH JSON).
 */
final class BenchCold {

    /** The options that mean something only with --cold, refused without it. */
    static final List<Option> ONLY_WITH_COLD = List.of(BenchCommand.JVMS, BenchCommand.JVM_OPTIONS,
            BenchCommand.WARM_UP, BenchCommand.BACKGROUND_WARM_UP, BenchCommand.WARMING_KERNEL);
    /** The options of the warm bench that mean nothing to new JVMs, refused with --cold. */
    static final List<Option> NOT_WITH_COLD = List.of(BenchCommand.STREAMS, BenchCommand.RATE, BenchCommand.COMPARE,
            BenchCommand.MAX_SLOWDOWN, BenchCommand.ITERATIONS);
    static final int MAX_JVMS = 100;
    /** JVM options that would run something other than this class path's {@link ColdJvm}. */
    private static final Set<String> CLASS_PATH_OPTIONS = Set.of("-cp", "-classpath", "--class-path", "-jar", "-m",
            "--module", "-p", "--module-path", "--source");
    private static final String INCUBATOR_WARNING = "WARNING: Using incubator modules: jdk.incubator.vector";
    /** Longer than a JVM's own limits (its warm-up, 30 s of cold calls, 1 s of warm calls) allow. */
    private static final long JVM_TIMEOUT_MINUTES = 5;

    /** A measure the table and the JSON give: its report key, its name for people and JSON, and its unit. */
    private record Measure(String key, String label, String metric, Unit unit) {
    }

    private enum Unit {
        NANOS, CALLS
    }

    private static final List<Measure> MEASURES = List.of(
            new Measure("jvmToLoaded", "JVM start to loaded", "jvmStartToLoaded", Unit.NANOS),
            new Measure("load", "load (file, pack, runner)", "load", Unit.NANOS),
            new Measure("warmUp", "warm-up (its own duration)", "warmUp", Unit.NANOS),
            new Measure("first", "first call", "firstCall", Unit.NANOS),
            new Measure("p50", "p50 of the first 1000 calls", "first1000.p50", Unit.NANOS),
            new Measure("p99", "p99 of the first 1000 calls", "first1000.p99", Unit.NANOS),
            new Measure("max", "max of the first 1000 calls", "first1000.max", Unit.NANOS),
            new Measure("warm", "warm (median once settled)", "warm", Unit.NANOS),
            new Measure("warmCalls", "calls to 1.2× warm", "callsToWarm", Unit.CALLS),
            new Measure("loadedToWarm", "load to 1.2× warm", "loadedToWarm", Unit.NANOS),
            new Measure(null, "JVM start to 1.2× warm", "jvmStartToWarm", Unit.NANOS));

    /** The measures of one call's time, given in µs in JSON. */
    private static final Set<String> LATENCIES = Set.of("first", "p50", "p99", "max", "warm");

    private BenchCold() {
    }

    static void run(Arguments arguments, WeightPrecision precision, int threads, PrintStream out, PrintStream err)
            throws IOException {
        for (Option option : NOT_WITH_COLD) {
            if (arguments.has(option)) {
                throw new Cli.UsageException(option.name() + " does not apply with " + BenchCommand.COLD.name()
                        + (option == BenchCommand.ITERATIONS ? ": give the number of new JVMs with --jvms" : ""));
            }
        }
        int jvms = BenchCommand.positive(arguments, BenchCommand.JVMS, 5, MAX_JVMS);
        List<String> jvmOptions = jvmOptions(arguments.text(BenchCommand.JVM_OPTIONS));
        List<BenchWorkload.Mode> modes = BenchCommand.modes(arguments.text(BenchCommand.MODE));
        ColdJvm.WarmUpMode warmUp = warmUpMode(arguments, modes);
        Path json = arguments.path(BenchCommand.JSON);
        if (json != null) {
            BenchCommand.checkWritable(json);
        }
        Path model = arguments.path(BenchCommand.MODEL).toAbsolutePath();
        String prefix = arguments.text(BenchCommand.PREFIX);
        List<BenchWorkload.Setup> setups = new ArrayList<>();
        Map<BenchWorkload.Mode, Map<String, String>> params = new LinkedHashMap<>();
        String description = null;
        try (SafeTensors file = arguments.read(BenchCommand.MODEL, SafeTensors::open)) {
            for (BenchWorkload.Mode mode : modes) {
                BenchWorkload.Setup setup = BenchCommand.setup(arguments, mode, precision, threads);
                try (BenchWorkload workload = BenchWorkload.open(file, prefix, setup)) {
                    description = workload.describe();
                    params.put(mode, params(workload, setup, jvmOptions, warmUp));
                }
                setups.add(setup);
            }
        }
        String header = String.format(Locale.ROOT, "%s on %s, %s, %d thread%s; %d new JVM%s per mode%s, JVM options: "
                        + "%s", description, BenchCommand.identity().get(BenchResults.CPU),
                BenchCommand.PRECISION_NAMES.get(precision), threads, threads == 1 ? "" : "s", jvms,
                jvms == 1 ? "" : "s", warmUp.description(),
                jvmOptions.isEmpty() ? "none" : String.join(" ", jvmOptions));
        err.println("vlstm bench --cold: " + header);
        Map<BenchWorkload.Mode, List<ColdJvm.Report>> reports = new LinkedHashMap<>();
        for (int jvm = 1; jvm <= jvms; jvm++) {
            for (BenchWorkload.Setup setup : setups) {
                err.printf(Locale.ROOT, "%s: JVM %d of %d...", setup.mode().label(), jvm, jvms);
                err.flush();
                ColdJvm.Report report = runJvm(command(jvmOptions, model, prefix, setup, warmUp), err);
                long reached = report.get("loadedToWarm");
                err.printf(Locale.ROOT, " first call %s, 1.2× warm %s%n", duration(report.get("first")),
                        reached < 0 ? "not reached" : duration(reached) + " after loading");
                reports.computeIfAbsent(setup.mode(), mode -> new ArrayList<>()).add(report);
            }
        }
        String kernels = String.join(", ", reports.values().stream().flatMap(List::stream).map(ColdJvm.Report::kernel)
                .distinct().toList());
        out.println(header + "; kernel " + kernels);
        out.print(table(reports));
        if (json != null) {
            List<BenchResults.Measurement> measurements = new ArrayList<>();
            reports.forEach((mode, list) -> {
                Map<String, String> entryParams = params.get(mode);
                entryParams.put(BenchResults.KERNEL, list.getFirst().kernel());
                measurements.add(measurement(mode, entryParams, list));
            });
            FileErrors.writing("json file", json, file -> Files.writeString(file, BenchResults.toJson(measurements)));
            out.println("Results written to " + json + " (JMH JSON)");
        }
    }

    /**
     * What the new JVMs do to warm up: --warm-up, --background-warm-up (step and sequence only; with
     * --warming-kernel, its calls meanwhile on the kernels it warms) or neither.
     *
     * @throws Cli.UsageException for both options, --background-warm-up with the train mode, or --warming-kernel
     *                            without --background-warm-up
     */
    private static ColdJvm.WarmUpMode warmUpMode(Arguments arguments, List<BenchWorkload.Mode> modes) {
        if (arguments.has(BenchCommand.WARMING_KERNEL) && !arguments.has(BenchCommand.BACKGROUND_WARM_UP)) {
            throw new Cli.UsageException(BenchCommand.WARMING_KERNEL.name() + " applies only with "
                    + BenchCommand.BACKGROUND_WARM_UP.name());
        }
        if (!arguments.has(BenchCommand.BACKGROUND_WARM_UP)) {
            return arguments.has(BenchCommand.WARM_UP) ? ColdJvm.WarmUpMode.FIRST : ColdJvm.WarmUpMode.NONE;
        }
        if (arguments.has(BenchCommand.WARM_UP)) {
            throw new Cli.UsageException(BenchCommand.WARM_UP.name() + " and "
                    + BenchCommand.BACKGROUND_WARM_UP.name() + " exclude each other: give one");
        }
        if (modes.contains(BenchWorkload.Mode.TRAIN)) {
            throw new Cli.UsageException(BenchCommand.BACKGROUND_WARM_UP.name() + " warms runners: use --mode step "
                    + "or sequence");
        }
        return arguments.has(BenchCommand.WARMING_KERNEL) ? ColdJvm.WarmUpMode.BACKGROUND_WARMING
                : ColdJvm.WarmUpMode.BACKGROUND;
    }

    /**
     * The words of --jvm-options, each a JVM option (starting with -) that keeps the class path this JVM gives.
     *
     * @throws Cli.UsageException for a word that is no option, or one that sets the class or module path or the
     *                            main class
     */
    static List<String> jvmOptions(String value) {
        if (value == null || value.isBlank()) {
            return List.of();
        }
        List<String> options = List.of(value.strip().split("\\s+"));
        for (String option : options) {
            String name = option.contains("=") ? option.substring(0, option.indexOf('=')) : option;
            if (!option.startsWith("-")) {
                throw new Cli.UsageException(BenchCommand.JVM_OPTIONS.name() + ": '" + option + "' is not a JVM "
                        + "option (each starts with -; an option's value goes after = or :)");
            }
            if (CLASS_PATH_OPTIONS.contains(name)) {
                throw new Cli.UsageException(BenchCommand.JVM_OPTIONS.name() + ": " + name + " is not allowed: the "
                        + "new JVMs run vlstm from this JVM's class path");
            }
        }
        return options;
    }

    /** The new JVM's command line: this JVM's java, the Vector API module if this JVM has it, the options, ColdJvm. */
    static List<String> command(List<String> jvmOptions, Path model, String prefix, BenchWorkload.Setup setup,
                                ColdJvm.WarmUpMode warmUp) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()) {
            command.addAll(List.of("--add-modules", "jdk.incubator.vector"));
        }
        command.add("--enable-native-access=ALL-UNNAMED");
        command.addAll(jvmOptions);
        Module module = ColdJvm.class.getModule();
        String classPath = System.getProperty("java.class.path", "");
        if (!classPath.isEmpty()) {
            command.addAll(List.of("-cp", classPath));
        }
        if (module.isNamed()) {
            command.addAll(List.of("--module-path", System.getProperty("jdk.module.path", ""), "-m",
                    module.getName() + "/" + ColdJvm.class.getName()));
        } else {
            command.add(ColdJvm.class.getName());
        }
        command.addAll(List.of(model.toString(), prefix == null ? ColdJvm.NO_PREFIX : prefix, setup.mode().label(),
                Integer.toString(setup.batch()), Integer.toString(setup.steps()),
                BenchCommand.PRECISION_NAMES.get(setup.precision()), Integer.toString(setup.threads()),
                warmUp.label()));
        return command;
    }

    /**
     * Runs one new JVM and reads its report; what else it wrote (the JVM's own warnings and logs, on stdout or
     * stderr, but the Vector API's incubator warning) goes to {@code err}, so that a cache or archive the JVM refused
     * is not missed.
     *
     * @throws IllegalArgumentException if the JVM fails (e.g. for an option it does not know), with what it said
     * @throws IllegalStateException    if its stdout holds no well-formed report
     */
    private static ColdJvm.Report runJvm(List<String> command, PrintStream err) throws IOException {
        Path stderr = Files.createTempFile("vlstm-cold-", ".stderr");
        try {
            Process process = new ProcessBuilder(command).redirectError(stderr.toFile()).start();
            List<String> stdout = new ArrayList<>();
            try (BufferedReader reader = process.inputReader(StandardCharsets.UTF_8)) {
                for (String line = reader.readLine(); line != null; line = reader.readLine()) {
                    stdout.add(line);
                }
            }
            int exit;
            try {
                if (!process.waitFor(JVM_TIMEOUT_MINUTES, TimeUnit.MINUTES)) {
                    process.destroyForcibly();
                    throw new IllegalStateException("a new JVM ran longer than " + JVM_TIMEOUT_MINUTES
                            + " minutes: stopped");
                }
                exit = process.exitValue();
            } catch (InterruptedException e) {
                process.destroyForcibly();
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while a new JVM ran", e);
            }
            List<String> said = new ArrayList<>(stdout.stream().filter(line -> !line.startsWith(ColdJvm.PREFIX))
                    .toList());
            Files.readAllLines(stderr, StandardCharsets.UTF_8).stream()
                    .filter(line -> !line.equals(INCUBATOR_WARNING)).forEach(said::add);
            if (exit != 0) {
                throw new IllegalArgumentException("a new JVM failed (exit " + exit + "): "
                        + (said.isEmpty() ? "it wrote nothing else" : String.join(" / ", said))
                        + "; its command: " + String.join(" ", command));
            }
            said.forEach(err::println);
            try {
                return ColdJvm.Report.parse(stdout);
            } catch (IllegalArgumentException e) {
                throw new IllegalStateException("a new JVM's report is malformed: " + e.getMessage(), e);
            }
        } finally {
            Files.deleteIfExists(stderr);
        }
    }

    /** The JMH params of a mode's JVMs: the warm bench's, how they warmed up, their options and the CPU. */
    private static Map<String, String> params(BenchWorkload workload, BenchWorkload.Setup setup,
                                              List<String> jvmOptions, ColdJvm.WarmUpMode warmUp) {
        Map<String, String> params = BenchCommand.params(workload, setup);
        params.put("warmUp", warmUp.label());
        params.put("jvmOptions", String.join(" ", jvmOptions));
        params.put(BenchResults.CPU, BenchCommand.identity().get(BenchResults.CPU));
        return params;
    }

    /** A measure's value in one JVM's report, -1 where it has none. */
    private static long value(ColdJvm.Report report, Measure measure) {
        if (measure.key() == null) {
            long loadedToWarm = report.get("loadedToWarm");
            return loadedToWarm < 0 ? -1 : report.get("jvmToLoaded") + loadedToWarm;
        }
        return report.get(measure.key());
    }

    /** The values of a measure over the JVMs that have one, in the order the JVMs ran. */
    private static long[] values(List<ColdJvm.Report> reports, Measure measure) {
        return reports.stream().mapToLong(report -> value(report, measure)).filter(v -> v >= 0).toArray();
    }

    /** One row per mode and measure: the median and range over the JVMs, and in how many it was not reached. */
    static String table(Map<BenchWorkload.Mode, List<ColdJvm.Report>> reports) {
        StringBuilder table = new StringBuilder(String.format(Locale.ROOT, "%-9s %-29s %10s   %s%n", "mode",
                "measure", "median", "range (min–max)"));
        reports.forEach((mode, list) -> {
            for (Measure measure : MEASURES) {
                long[] values = values(list, measure);
                Arrays.sort(values);
                if (measure.key() != null && measure.key().equals("warmUp") && values.length == 0) {
                    continue;
                }
                table.append(String.format(Locale.ROOT, "%-9s %-29s", mode.label(), measure.label()));
                if (values.length == 0) {
                    table.append(String.format(Locale.ROOT, " %10s", "not reached"));
                } else {
                    table.append(String.format(Locale.ROOT, " %10s   %s", format(median(values), measure.unit()),
                            format(values[0], measure.unit()) + "–" + format(values[values.length - 1],
                                    measure.unit())));
                    if (values.length < list.size()) {
                        table.append(String.format(Locale.ROOT, "  not reached in %d of %d JVMs",
                                list.size() - values.length, list.size()));
                    }
                }
                if (measure.key() != null && measure.key().equals("warm")) {
                    long unsettled = list.stream().filter(report -> report.get("settled") == 0).count();
                    if (unsettled > 0) {
                        table.append(String.format(Locale.ROOT, "  not settled in %d of %d JVMs (the limit came "
                                + "first)", unsettled, list.size()));
                    }
                }
                table.append(System.lineSeparator());
            }
        });
        return table.toString();
    }

    /** The median of sorted values: the middle one, or the mean of the two middle ones. */
    static double median(long[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0;
    }

    private static String format(double value, Unit unit) {
        return unit == Unit.CALLS ? String.format(Locale.ROOT, "%.0f", value) : duration(value);
    }

    /** Nanoseconds for people, to three significant digits or more: {@code 812 ns}, {@code 26.1 µs}, {@code 1.43 s}. */
    static String duration(double nanos) {
        String[] units = {"ns", "µs", "ms", "s"};
        double value = nanos;
        int unit = 0;
        while (unit < units.length - 1 && Math.abs(value) >= 999.5) {
            value /= 1000;
            unit++;
        }
        String digits = Math.abs(value) < 9.995 ? "%.2f" : Math.abs(value) < 99.95 ? "%.1f" : "%.0f";
        return String.format(Locale.ROOT, digits + " %s", value, units[unit]);
    }

    /**
     * A mode's JVMs as JMH JSON: benchmark {@code vlstm.bench.cold.MODE}, mode {@code ss}; primaryMetric the first
     * call in µs, secondaryMetrics the other measures (µs for latencies, ms for durations, calls), each with one raw
     * value per JVM that has one; a measure no JVM has is left out.
     */
    private static BenchResults.Measurement measurement(BenchWorkload.Mode mode, Map<String, String> params,
                                                        List<ColdJvm.Report> reports) {
        Map<String, BenchResults.Metric> secondary = new LinkedHashMap<>();
        BenchResults.Metric primary = null;
        for (Measure measure : MEASURES) {
            long[] values = values(reports, measure);
            if (values.length == 0) {
                continue;
            }
            boolean latency = measure.key() != null && LATENCIES.contains(measure.key());
            double scale = measure.unit() == Unit.CALLS ? 1 : latency ? 1e3 : 1e6;
            String unit = measure.unit() == Unit.CALLS ? "calls" : latency ? "us/op" : "ms";
            double[] scaled = Arrays.stream(values).mapToDouble(v -> v / scale).toArray();
            BenchResults.Metric metric = new BenchResults.Metric(unit, scaled, new double[0]);
            if ("first".equals(measure.key())) {
                primary = metric;
            } else {
                secondary.put(measure.metric(), metric);
            }
        }
        return new BenchResults.Measurement("vlstm.bench.cold." + mode.label(), "ss", params, 0, 0, 0, primary,
                secondary);
    }
}
