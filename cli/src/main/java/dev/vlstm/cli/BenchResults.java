package dev.vlstm.cli;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Collectors;

import dev.vlstm.internal.StrictJson;

/**
 * The results of {@code vlstm bench} in JMH's JSON result format, so that tools which read JMH's results (e.g.
 * github-action-benchmark, JMH visualizers) read them too: an array with one object per measurement, with
 * {@code benchmark}, {@code mode}, {@code params}, and {@code primaryMetric} (score, error, percentiles, unit and
 * raw iteration data) and {@code secondaryMetrics}. The CPU model and the kernel are parameters, {@code cpu} and
 * {@code kernel}, since a result means nothing on another machine.
 */
final class BenchResults {

    static final String CPU = "cpu";
    static final String KERNEL = "kernel";
    /** Student's t at 99.9 % two-sided confidence (JMH's score error), by degrees of freedom 1 to 30. */
    private static final double[] T_999 = {636.62, 31.599, 12.924, 8.610, 6.869, 5.959, 5.408, 5.041, 4.781, 4.587,
            4.437, 4.318, 4.221, 4.140, 4.073, 4.015, 3.965, 3.922, 3.883, 3.850, 3.819, 3.792, 3.768, 3.745, 3.725,
            3.707, 3.690, 3.674, 3.659, 3.646};
    /** The percentiles JMH lists, as it names them. */
    private static final List<String> PERCENTILES = List.of("0.0", "50.0", "90.0", "95.0", "99.0", "99.9", "99.99",
            "99.999", "99.9999", "100.0");

    private BenchResults() {
    }

    /** A metric: one value per measured iteration, in {@code unit}; percentiles over {@code samples} if given. */
    record Metric(String unit, double[] iterations, double[] sortedSamples) {

        double score() {
            return Arrays.stream(iterations).average().orElseThrow();
        }

        /** Half the 99.9 % confidence interval of the score, as JMH reports it; NaN for one iteration. */
        double error() {
            int n = iterations.length;
            if (n < 2) {
                return Double.NaN;
            }
            double mean = score();
            double variance = Arrays.stream(iterations).map(v -> (v - mean) * (v - mean)).sum() / (n - 1);
            double t = n - 1 <= T_999.length ? T_999[n - 2] : 3.291;
            return t * Math.sqrt(variance / n);
        }

        double percentile(double percentile) {
            double[] values = sortedSamples.length > 0 ? sortedSamples : sorted(iterations);
            int rank = (int) Math.ceil(percentile / 100 * values.length);
            return values[Math.clamp(rank - 1, 0, values.length - 1)];
        }

        private static double[] sorted(double[] values) {
            double[] copy = values.clone();
            Arrays.sort(copy);
            return copy;
        }
    }

    /**
     * One measurement: its benchmark name (e.g. {@code vlstm.bench.step}), JMH mode ({@code avgt}: the mean time per
     * call; {@code ss}: single shots, one per iteration), parameters, run settings and metrics. {@code primary} is the
     * time per call.
     */
    record Measurement(String benchmark, String mode, Map<String, String> params, int warmupIterations, double warmupSeconds,
                       double iterationSeconds, Metric primary, Map<String, Metric> secondary) {
    }

    /** A measurement read back from a file: its benchmark, parameters, score and unit. */
    record Stored(String benchmark, Map<String, String> params, double score, String unit) {

        /** The score in nanoseconds per call. */
        double nanos() {
            return score * nanosPer(unit);
        }
    }

    static String toJson(List<Measurement> measurements) {
        String launcher = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> entries = new ArrayList<>();
        for (Measurement m : measurements) {
            Map<String, Object> entry = new LinkedHashMap<>();
            entry.put("jmhVersion", "1.37");
            entry.put("benchmark", m.benchmark());
            entry.put("mode", m.mode());
            entry.put("threads", 1);
            entry.put("forks", 1);
            entry.put("jvm", launcher);
            entry.put("jvmArgs", ManagementFactory.getRuntimeMXBean().getInputArguments());
            entry.put("jdkVersion", Runtime.version().toString());
            entry.put("vmName", System.getProperty("java.vm.name", ""));
            entry.put("vmVersion", System.getProperty("java.vm.version", ""));
            entry.put("warmupIterations", m.warmupIterations());
            entry.put("warmupTime", seconds(m.warmupSeconds()));
            entry.put("warmupBatchSize", 1);
            entry.put("measurementIterations", m.primary().iterations().length);
            entry.put("measurementTime", seconds(m.iterationSeconds()));
            entry.put("measurementBatchSize", 1);
            entry.put("params", m.params());
            entry.put("primaryMetric", metric(m.primary()));
            Map<String, Object> secondary = new LinkedHashMap<>();
            m.secondary().forEach((name, metric) -> secondary.put(name, metric(metric)));
            entry.put("secondaryMetrics", secondary);
            entries.add(json(entry, "    "));
        }
        return "[\n    " + String.join(",\n    ", entries) + "\n]\n";
    }

    private static Map<String, Object> metric(Metric metric) {
        Map<String, Object> out = new LinkedHashMap<>();
        double score = metric.score();
        double error = metric.error();
        out.put("score", score);
        out.put("scoreError", error);
        out.put("scoreConfidence", List.of(score - error, score + error));
        Map<String, Object> percentiles = new LinkedHashMap<>();
        for (String p : PERCENTILES) {
            percentiles.put(p, metric.percentile(Double.parseDouble(p)));
        }
        out.put("scorePercentiles", percentiles);
        out.put("scoreUnit", metric.unit());
        out.put("rawData", List.of(Arrays.stream(metric.iterations()).boxed().toList()));
        return out;
    }

    private static String seconds(double seconds) {
        return String.format(Locale.ROOT, "%.3f s", seconds).replaceAll("\\.?0+ s$", " s");
    }

    /** Writes {@code value} as JSON; NaN and infinities as the strings JMH writes for them. */
    private static String json(Object value, String indent) {
        return switch (value) {
            case null -> "null";
            case String s -> StrictJson.quote(s);
            case Integer i -> i.toString();
            case Double d -> Double.isFinite(d) ? Double.toString(d) : StrictJson.quote(d.toString());
            case Map<?, ?> map -> map.isEmpty() ? "{}" : map.entrySet().stream()
                    .map(e -> indent + "    " + StrictJson.quote(e.getKey().toString()) + " : "
                            + json(e.getValue(), indent + "    "))
                    .collect(Collectors.joining(",\n", "{\n", "\n" + indent + "}"));
            case List<?> list -> list.stream().map(item -> json(item, indent))
                    .collect(Collectors.joining(", ", "[", "]"));
            default -> throw new IllegalArgumentException("no JSON for " + value.getClass());
        };
    }

    /**
     * The measurements of a JMH JSON result file: every entry's benchmark, string parameters, score and unit.
     *
     * @throws IOException              if the file cannot be read
     * @throws IllegalArgumentException if it is not JMH's JSON result format, naming the file and what is wrong
     */
    static List<Stored> read(Path file) throws IOException {
        Object root;
        try {
            root = StrictJson.parse(Files.readString(file), 64, StrictJson.Grammar.FULL);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + " is not JSON: " + e.getMessage(), e);
        }
        if (!(root instanceof List<?> entries)) {
            throw new IllegalArgumentException(file + " is not a JMH result file: its top level is not an array");
        }
        List<Stored> stored = new ArrayList<>();
        for (Object item : entries) {
            if (!(item instanceof Map<?, ?> entry) || !(entry.get("benchmark") instanceof String benchmark)
                    || !(entry.get("primaryMetric") instanceof Map<?, ?> primary)
                    || !(primary.get("score") instanceof Double score)
                    || !(primary.get("scoreUnit") instanceof String unit)) {
                throw new IllegalArgumentException(file + " is not a JMH result file: entry " + stored.size()
                        + " lacks a benchmark name or a primaryMetric with a numeric score and a scoreUnit");
            }
            Map<String, String> params = new LinkedHashMap<>();
            if (entry.get("params") instanceof Map<?, ?> map) {
                map.forEach((key, value) -> params.put(key.toString(), String.valueOf(value)));
            }
            stored.add(new Stored(benchmark, params, score, unit));
        }
        return stored;
    }

    /** Nanoseconds per unit of a JMH time score such as {@code us/op}. */
    static double nanosPer(String unit) {
        return switch (unit) {
            case "ns/op" -> 1;
            case "us/op" -> 1e3;
            case "ms/op" -> 1e6;
            case "s/op" -> 1e9;
            default -> throw new IllegalArgumentException("not a time per operation: " + unit);
        };
    }
}
