package dev.vlstm.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** Both grammars of the strict parser: what each accepts and what it refuses. */
class StrictJsonTest {

    @Test
    void theFullGrammarReadsEveryNumberAndLiteral() {
        Object value = StrictJson.parse("{\"a\": [-1.5e-3, 0, 12.25, 3E2], \"t\": true, \"f\": false, \"n\": null}", 4,
                StrictJson.Grammar.FULL);
        Map<?, ?> map = (Map<?, ?>) value;
        assertEquals(List.of(-1.5e-3, 0.0, 12.25, 300.0), map.get("a"));
        assertEquals(Boolean.TRUE, map.get("t"));
        assertEquals(Boolean.FALSE, map.get("f"));
        assertNull(map.get("n"));
        assertEquals(Arrays.asList("a", "t", "f", "n"), List.copyOf(map.keySet()));
    }

    @Test
    void theFullGrammarRefusesMalformedNumbers() {
        for (String bad : List.of("01", "-", "1.", ".5", "1e", "1e+", "--1", "tru", "nul")) {
            assertThrows(IllegalArgumentException.class, () -> StrictJson.parse(bad, 2, StrictJson.Grammar.FULL), bad);
        }
    }

    @Test
    void theHeaderGrammarTakesOnlyNonNegativeIntegers() {
        assertEquals(List.of(0L, 7L), StrictJson.parse("[0, 7]", 2, StrictJson.Grammar.HEADER));
        for (String bad : List.of("[1.5]", "[-1]", "[true]", "[null]", "[1e3]")) {
            assertThrows(IllegalArgumentException.class, () -> StrictJson.parse(bad, 2, StrictJson.Grammar.HEADER),
                    bad);
        }
    }

    @Test
    void bothRefuseDuplicateKeysDeepNestingAndTrailingText() {
        for (StrictJson.Grammar grammar : StrictJson.Grammar.values()) {
            assertThrows(IllegalArgumentException.class, () -> StrictJson.parse("{\"a\": 1, \"a\": 2}", 2, grammar));
            assertThrows(IllegalArgumentException.class, () -> StrictJson.parse("[[[1]]]", 2, grammar));
            assertThrows(IllegalArgumentException.class, () -> StrictJson.parse("[1] x", 2, grammar));
        }
    }
}
