package dev.vlstm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.UnaryOperator;

import org.junit.jupiter.api.Test;

/** BitDigest sees its outputs and nothing else: the same lines every run, a different digest for a changed input. */
class BitDigestTest {

    @Test
    void twoRunsInOneJvmPrintTheSameLines() {
        List<String> first = BitDigest.lines();
        List<String> second = BitDigest.lines();
        assertEquals(BitDigest.CASES.size(), first.size());
        assertEquals(first, second);
    }

    @Test
    void everyCaseHasItsOwnNameAndDigest() {
        Set<String> names = new HashSet<>();
        Set<String> digests = new HashSet<>();
        for (String line : BitDigest.lines()) {
            String[] fields = line.split(" ");
            assertEquals(2, fields.length, line);
            assertTrue(names.add(fields[0]), "name twice: " + line);
            assertTrue(digests.add(fields[1]), "two cases with the same outputs: " + line);
        }
    }

    @Test
    void changingOneInputElementChangesEveryCasesDigest() {
        for (BitDigest.Case c : BitDigest.CASES) {
            String digest = BitDigest.digest(c, UnaryOperator.identity());
            String edited = BitDigest.digest(c, x -> {
                float[] copy = x.clone();
                copy[0] += 0.25f;
                return copy;
            });
            assertNotEquals(digest, edited, c.name());
        }
    }

    @Test
    void variableLengthsIncludeZeroAndTAndStartWithT() {
        int[] lengths = BitDigest.lengths(5);
        assertEquals(BitDigest.STEPS, lengths[0]);
        assertTrue(Arrays.stream(lengths).anyMatch(length -> length == 0));
        assertTrue(Arrays.stream(lengths).allMatch(length -> length >= 0 && length <= BitDigest.STEPS));
    }
}
