package dev.vlstm.bench;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Compares two {@link BitDigest} outputs, the baseline build's and the candidate's: every case must appear in both
 * with the same digest. Its findings name the cases; no finding means the two builds computed the same bits.
 */
final class DigestComparison {

    private DigestComparison() {
    }

    /**
     * What differs between the two outputs, one message per case (a different digest, a case missing from one
     * side), in the baseline's order and then the candidate's; empty if they agree on every case.
     *
     * @param baseline  the baseline's lines, {@code NAME SHA256}
     * @param candidate the candidate's lines
     * @throws IllegalArgumentException for a line that is not {@code NAME SHA256}, a name twice on one side, or a
     *                                  side with no line at all
     */
    static List<String> differences(List<String> baseline, List<String> candidate) {
        Map<String, String> before = parse("baseline", baseline);
        Map<String, String> after = parse("candidate", candidate);
        List<String> differences = new ArrayList<>();
        before.forEach((name, digest) -> {
            String other = after.get(name);
            if (other == null) {
                differences.add(name + ": missing from the candidate's output");
            } else if (!other.equals(digest)) {
                differences.add(name + ": different bits (baseline " + digest + ", candidate " + other + ")");
            }
        });
        after.keySet().stream().filter(name -> !before.containsKey(name))
                .forEach(name -> differences.add(name + ": missing from the baseline's output"));
        return differences;
    }

    private static Map<String, String> parse(String side, List<String> lines) {
        Map<String, String> digests = new LinkedHashMap<>();
        for (String line : lines) {
            String[] fields = line.strip().split(" ");
            if (fields.length != 2 || !fields[1].matches("[0-9a-f]{64}")) {
                throw new IllegalArgumentException("the " + side + "'s BitDigest printed a line that is not "
                        + "'NAME SHA256': " + line);
            }
            if (digests.put(fields[0], fields[1]) != null) {
                throw new IllegalArgumentException("the " + side + "'s BitDigest printed case " + fields[0]
                        + " twice");
            }
        }
        if (digests.isEmpty()) {
            throw new IllegalArgumentException("the " + side + "'s BitDigest printed no case");
        }
        return digests;
    }
}
