package dev.vlstm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.function.UnaryOperator;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The gate's comparison of two BitDigest outputs, on lines of real cases: the same lines pass, a changed digest and
 * a case missing on either side are each reported with the case's name.
 */
class DigestComparisonTest {

    private static List<String> lines;

    /** Three real cases' lines, as BitDigest prints them. */
    @BeforeAll
    static void digestThreeCases() {
        lines = BitDigest.CASES.subList(0, 3).stream()
                .map(c -> c.name() + " " + BitDigest.digest(c, UnaryOperator.identity())).toList();
    }

    @Test
    void theSameLinesHaveNoDifference() {
        assertEquals(List.of(), DigestComparison.differences(lines, List.copyOf(lines)));
    }

    @Test
    void aChangedDigestNamesItsCaseAndBothDigests() {
        String changedName = BitDigest.CASES.get(1).name();
        String otherDigest = lines.get(2).split(" ")[1];
        List<String> candidate = List.of(lines.get(0), changedName + " " + otherDigest, lines.get(2));
        List<String> differences = DigestComparison.differences(lines, candidate);
        assertEquals(1, differences.size(), differences.toString());
        assertTrue(differences.getFirst().startsWith(changedName + ": different bits"), differences.getFirst());
        assertTrue(differences.getFirst().contains(lines.get(1).split(" ")[1]), differences.getFirst());
        assertTrue(differences.getFirst().contains(otherDigest), differences.getFirst());
    }

    @Test
    void aCaseMissingOnEitherSideIsADifference() {
        String first = BitDigest.CASES.get(0).name();
        String last = BitDigest.CASES.get(2).name();
        assertEquals(List.of(last + ": missing from the candidate's output"),
                DigestComparison.differences(lines, lines.subList(0, 2)));
        assertEquals(List.of(first + ": missing from the baseline's output"),
                DigestComparison.differences(lines.subList(1, 3), lines));
    }

    @Test
    void theOrderOfTheLinesDoesNotMatter() {
        assertEquals(List.of(), DigestComparison.differences(lines, lines.reversed()));
    }

    @Test
    void malformedEmptyOrRepeatedOutputIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> DigestComparison.differences(lines,
                List.of("Exception in thread \"main\" java.lang.NoClassDefFoundError")));
        assertThrows(IllegalArgumentException.class, () -> DigestComparison.differences(List.of(), lines));
        assertThrows(IllegalArgumentException.class, () -> DigestComparison.differences(lines,
                List.of(lines.get(0), lines.get(0))));
    }
}
