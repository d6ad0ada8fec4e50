package dev.vlstm.internal;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A strict, bounded JSON parser: objects (no duplicate keys), arrays and strings with the standard escapes, and, by
 * {@link Grammar}, either only non-negative integers up to 2^63 - 1 (file headers, which need nothing else) or every
 * JSON number and {@code true}, {@code false} and {@code null}. Nesting deeper than {@code maxDepth} and trailing
 * text are refused. Objects become insertion-ordered {@code Map<String, Object>}, arrays {@code List<Object>},
 * integers of the header grammar {@code Long}, numbers of the full grammar {@code Double}, literals {@code Boolean}
 * or null. Errors are IllegalArgumentException with the position.
 */
public final class StrictJson {

    /** What values besides objects, arrays and strings a text may hold. */
    public enum Grammar {
        /** Non-negative integers only. */
        HEADER,
        /** Every JSON number, true, false and null. */
        FULL
    }

    private final String text;
    private final int maxDepth;
    private final Grammar grammar;
    private int at;

    private StrictJson(String text, int maxDepth, Grammar grammar) {
        this.text = text;
        this.maxDepth = maxDepth;
        this.grammar = grammar;
    }

    /**
     * Parses one JSON value filling {@code text} (surrounding spaces allowed).
     *
     * @param text     the JSON text
     * @param maxDepth how deeply objects and arrays may nest
     * @param grammar  which values besides objects, arrays and strings are accepted
     * @return the value: a map, list, string, number, boolean or null, as the class comment says
     * @throws IllegalArgumentException for malformed or refused JSON, with the position
     */
    public static Object parse(String text, int maxDepth, Grammar grammar) {
        StrictJson parser = new StrictJson(text, maxDepth, grammar);
        Object value = parser.value(0);
        parser.skipSpace();
        if (parser.at != text.length()) {
            throw parser.error("unexpected text after the JSON value");
        }
        return value;
    }

    /**
     * Writes {@code text} as a JSON string: quotes around it, {@code "} and {@code \\} escaped, control
     * characters as {@code \\uXXXX}, everything else as it is.
     *
     * @param text any string
     * @return the JSON string literal
     */
    public static String quote(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }

    private Object value(int depth) {
        if (depth > maxDepth) {
            throw error("nested deeper than " + maxDepth + " levels");
        }
        skipSpace();
        if (at >= text.length()) {
            throw error("unexpected end of JSON");
        }
        char c = text.charAt(at);
        if (c == '{') {
            return object(depth);
        }
        if (c == '[') {
            return array(depth);
        }
        if (c == '"') {
            return string();
        }
        if (grammar == Grammar.FULL) {
            if (c == '-' || (c >= '0' && c <= '9')) {
                return number();
            }
            for (String literal : LITERALS) {
                if (text.startsWith(literal, at)) {
                    at += literal.length();
                    return literal.equals("null") ? null : Boolean.valueOf(literal);
                }
            }
            throw error("unexpected character '" + c + "'");
        }
        if (c >= '0' && c <= '9') {
            return integer();
        }
        throw error("unexpected character '" + c + "' (only objects, arrays, strings and non-negative integers)");
    }

    private Map<String, Object> object(int depth) {
        at++;
        Map<String, Object> members = new LinkedHashMap<>();
        skipSpace();
        if (peek('}')) {
            at++;
            return members;
        }
        while (true) {
            skipSpace();
            if (!peek('"')) {
                throw error("expected a string key");
            }
            String key = string();
            skipSpace();
            expect(':');
            if (members.containsKey(key)) {
                throw error("duplicate key \"" + key + "\"");
            }
            members.put(key, value(depth + 1));
            skipSpace();
            if (peek(',')) {
                at++;
                continue;
            }
            expect('}');
            return members;
        }
    }

    private List<Object> array(int depth) {
        at++;
        List<Object> items = new ArrayList<>();
        skipSpace();
        if (peek(']')) {
            at++;
            return items;
        }
        while (true) {
            items.add(value(depth + 1));
            skipSpace();
            if (peek(',')) {
                at++;
                continue;
            }
            expect(']');
            return items;
        }
    }

    private String string() {
        at++;
        StringBuilder out = new StringBuilder();
        while (true) {
            if (at >= text.length()) {
                throw error("unterminated string");
            }
            char c = text.charAt(at++);
            if (c == '"') {
                return out.toString();
            }
            if (c < 0x20) {
                throw error("control character in a string");
            }
            if (c != '\\') {
                out.append(c);
                continue;
            }
            if (at >= text.length()) {
                throw error("unterminated escape");
            }
            char escape = text.charAt(at++);
            switch (escape) {
                case '"', '\\', '/' -> out.append(escape);
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'n' -> out.append('\n');
                case 'r' -> out.append('\r');
                case 't' -> out.append('\t');
                case 'u' -> {
                    if (at + 4 > text.length()) {
                        throw error("short \\u escape");
                    }
                    try {
                        out.append((char) Integer.parseInt(text.substring(at, at + 4), 16));
                    } catch (NumberFormatException e) {
                        throw error("bad \\u escape");
                    }
                    at += 4;
                }
                default -> throw error("unknown escape \\" + escape);
            }
        }
    }

    private Long integer() {
        int start = at;
        while (at < text.length() && Character.isDigit(text.charAt(at))) {
            at++;
        }
        if (at < text.length() && (text.charAt(at) == '.' || text.charAt(at) == 'e' || text.charAt(at) == 'E')) {
            throw error("only integers are accepted");
        }
        String digits = text.substring(start, at);
        if (digits.length() > 1 && digits.charAt(0) == '0') {
            throw error("leading zero in a number");
        }
        try {
            return Long.parseLong(digits);
        } catch (NumberFormatException e) {
            throw error("integer out of range");
        }
    }

    private static final String[] LITERALS = {"true", "false", "null"};

    /** A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
    private Double number() {
        int start = at;
        if (peek('-')) {
            at++;
        }
        int integerStart = at;
        digits("a digit");
        if (at - integerStart > 1 && text.charAt(integerStart) == '0') {
            throw error("leading zero in a number");
        }
        if (peek('.')) {
            at++;
            digits("a digit after the decimal point");
        }
        if (peek('e') || peek('E')) {
            at++;
            if (peek('+') || peek('-')) {
                at++;
            }
            digits("a digit in the exponent");
        }
        return Double.valueOf(text.substring(start, at));
    }

    private void digits(String what) {
        int start = at;
        while (at < text.length() && text.charAt(at) >= '0' && text.charAt(at) <= '9') {
            at++;
        }
        if (at == start) {
            throw error("expected " + what);
        }
    }

    private void skipSpace() {
        while (at < text.length() && " \t\r\n".indexOf(text.charAt(at)) >= 0) {
            at++;
        }
    }

    private boolean peek(char c) {
        return at < text.length() && text.charAt(at) == c;
    }

    private void expect(char c) {
        if (!peek(c)) {
            throw error("expected '" + c + "'");
        }
        at++;
    }

    private IllegalArgumentException error(String what) {
        return new IllegalArgumentException("malformed JSON at character " + at + ": " + what);
    }
}
