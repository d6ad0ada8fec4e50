package dev.vlstm.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * NumPy's {@code .npy} format, versions 1.0, 2.0 and 3.0: read {@code <f4}, {@code <f8} and {@code <f2} arrays in C
 * order (widened or narrowed to float), write {@code <f4}. The header parser is strict and bounded: anything but the
 * three keys of the format, a header longer than {@link #MAX_HEADER_BYTES}, Fortran order, another dtype or a data
 * size that does not match the shape is refused with a message naming the file and what is wrong. Writes go to a
 * temporary file that is then moved into place, so a failed write leaves no partial file.
 */
public final class Npy {

    /** Longest header accepted; NumPy's own headers are a few hundred bytes. */
    public static final int MAX_HEADER_BYTES = 1 << 16;
    private static final byte[] MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final int ALIGNMENT = 64;

    private Npy() {
    }

    /**
     * Reads {@code file}.
     *
     * @param file a {@code .npy} file, read whole into memory
     * @return its shape and values, converted to float
     * @throws IOException if the file cannot be read, or is not a {@code .npy} file this class reads (the message
     *                     names the file and what is wrong)
     */
    public static FloatTensor read(Path file) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        try {
            return parse(bytes);
        } catch (IllegalArgumentException e) {
            throw new IOException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Parses the bytes of a whole {@code .npy} file; IllegalArgumentException says what is wrong.
     *
     * @param bytes the whole file: magic, header and data
     * @return its shape and values, converted to float
     * @throws IllegalArgumentException for a malformed or unsupported file
     */
    public static FloatTensor parse(byte[] bytes) {
        if (bytes.length < MAGIC.length + 2 || !Arrays.equals(Arrays.copyOf(bytes, MAGIC.length), MAGIC)) {
            throw new IllegalArgumentException("not a .npy file (no \\x93NUMPY magic)");
        }
        int major = bytes[6] & 0xff;
        if (major < 1 || major > 3) {
            throw new IllegalArgumentException("unsupported .npy version " + major + "." + (bytes[7] & 0xff));
        }
        int lengthBytes = major == 1 ? 2 : 4;
        if (bytes.length < 8 + lengthBytes) {
            throw new IllegalArgumentException("truncated: the header length is missing");
        }
        ByteBuffer buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        long headerLength = major == 1 ? buffer.getShort(8) & 0xffff : buffer.getInt(8) & 0xffffffffL;
        if (headerLength > MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("header of " + headerLength + " bytes is longer than the "
                    + MAX_HEADER_BYTES + " accepted");
        }
        int dataStart = 8 + lengthBytes + (int) headerLength;
        if (dataStart > bytes.length) {
            throw new IllegalArgumentException("header length " + headerLength + " runs past the end of the file ("
                    + bytes.length + " bytes)");
        }
        String header = new String(bytes, 8 + lengthBytes, (int) headerLength,
                major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        Header parsed = Header.parse(header);
        int itemSize = switch (parsed.descr) {
            case "<f4" -> 4;
            case "<f8" -> 8;
            case "<f2" -> 2;
            default -> throw new IllegalArgumentException("dtype '" + parsed.descr
                    + "' is not supported (only little-endian floats: <f4, <f8, <f2)");
        };
        if (parsed.fortranOrder) {
            throw new IllegalArgumentException("Fortran-order arrays are not supported; save it in C order "
                    + "(numpy.ascontiguousarray)");
        }
        long count = 1;
        long dataBytes;
        try {
            for (long dimension : parsed.shape) {
                count = Math.multiplyExact(count, dimension);
            }
            dataBytes = Math.multiplyExact(count, itemSize);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("shape " + Arrays.toString(parsed.shape) + " needs more data bytes than"
                    + " a long can count");
        }
        if (dataBytes != bytes.length - dataStart) {
            throw new IllegalArgumentException("shape " + Arrays.toString(parsed.shape) + " of " + parsed.descr
                    + " needs " + dataBytes + " data bytes, the file has " + (bytes.length - dataStart));
        }
        if (count > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("shape " + Arrays.toString(parsed.shape) + " has more values than a"
                    + " float array holds");
        }
        float[] data = new float[(int) count];
        for (int n = 0; n < data.length; n++) {
            int at = dataStart + n * itemSize;
            data[n] = switch (itemSize) {
                case 4 -> buffer.getFloat(at);
                case 8 -> (float) buffer.getDouble(at);
                default -> Float.float16ToFloat(buffer.getShort(at));
            };
        }
        return new FloatTensor(parsed.shape, data);
    }

    /**
     * Writes {@code array} as a version 1.0 {@code <f4} file (2.0 if the header needs it), atomically.
     *
     * @param file  the destination, replaced if it exists; the temporary file is made in the same directory
     * @param array the shape and values to write
     * @throws IOException if writing or moving fails; {@code file} is then as it was
     */
    public static void write(Path file, FloatTensor array) throws IOException {
        StringBuilder shape = new StringBuilder("(");
        for (int n = 0; n < array.shape().length; n++) {
            shape.append(array.shape()[n]).append(n == 0 && array.shape().length == 1 ? "," : n + 1 < array.shape().length ? ", " : "");
        }
        shape.append(')');
        String dictionary = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
        int major = dictionary.length() + 1 + 10 > 0xffff ? 2 : 1;
        int prefix = 8 + (major == 1 ? 2 : 4);
        int padded = (prefix + dictionary.length() + 1 + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
        String header = dictionary + " ".repeat(padded - prefix - dictionary.length() - 1) + "\n";
        ByteBuffer out = ByteBuffer.allocate(Math.addExact(padded, Math.multiplyExact(array.data().length, 4)))
                .order(ByteOrder.LITTLE_ENDIAN);
        out.put(MAGIC).put((byte) major).put((byte) 0);
        if (major == 1) {
            out.putShort((short) header.length());
        } else {
            out.putInt(header.length());
        }
        out.put(header.getBytes(StandardCharsets.ISO_8859_1));
        for (float value : array.data()) {
            out.putFloat(value);
        }
        AtomicFiles.write(file, out.array());
    }

    /** The three keys of a .npy header, parsed from its Python dict literal. */
    private record Header(String descr, boolean fortranOrder, long[] shape) {

        static Header parse(String text) {
            Cursor cursor = new Cursor(text.stripTrailing());
            String descr = null;
            Boolean fortranOrder = null;
            long[] shape = null;
            cursor.expect('{');
            while (!cursor.peek('}')) {
                String key = cursor.string();
                cursor.expect(':');
                switch (key) {
                    case "descr" -> descr = once(descr, key, cursor.string());
                    case "fortran_order" -> fortranOrder = once(fortranOrder, key, cursor.bool());
                    case "shape" -> shape = once(shape, key, cursor.tuple());
                    default -> throw new IllegalArgumentException("unexpected header key '" + key + "'");
                }
                if (!cursor.peek('}')) {
                    cursor.expect(',');
                }
            }
            cursor.expect('}');
            cursor.end();
            if (descr == null || fortranOrder == null || shape == null) {
                throw new IllegalArgumentException("header lacks one of 'descr', 'fortran_order', 'shape': " + text.strip());
            }
            return new Header(descr, fortranOrder, shape);
        }

        private static <T> T once(T previous, String key, T value) {
            if (previous != null) {
                throw new IllegalArgumentException("header key '" + key + "' appears twice");
            }
            return value;
        }
    }

    /** A strict reader of the small Python-literal grammar of .npy headers. */
    private static final class Cursor {
        private final String text;
        private int at;

        Cursor(String text) {
            this.text = text;
        }

        boolean peek(char c) {
            skipSpaces();
            return at < text.length() && text.charAt(at) == c;
        }

        void expect(char c) {
            if (!peek(c)) {
                throw error("expected '" + c + "'");
            }
            at++;
        }

        String string() {
            skipSpaces();
            if (at >= text.length() || (text.charAt(at) != '\'' && text.charAt(at) != '"')) {
                throw error("expected a quoted string");
            }
            char quote = text.charAt(at++);
            int end = text.indexOf(quote, at);
            if (end < 0) {
                throw error("unterminated string");
            }
            String value = text.substring(at, end);
            at = end + 1;
            return value;
        }

        boolean bool() {
            skipSpaces();
            for (String word : new String[]{"True", "False"}) {
                if (text.startsWith(word, at)) {
                    at += word.length();
                    return word.equals("True");
                }
            }
            throw error("expected True or False");
        }

        long[] tuple() {
            expect('(');
            List<Long> values = new ArrayList<>();
            while (!peek(')')) {
                skipSpaces();
                int start = at;
                while (at < text.length() && Character.isDigit(text.charAt(at))) {
                    at++;
                }
                if (start == at || at - start > 18) {
                    throw error("expected a dimension (a non-negative integer)");
                }
                values.add(Long.parseLong(text.substring(start, at)));
                if (!peek(')')) {
                    expect(',');
                }
            }
            expect(')');
            return values.stream().mapToLong(Long::longValue).toArray();
        }

        void end() {
            skipSpaces();
            if (at != text.length()) {
                throw error("unexpected text after the dict");
            }
        }

        private void skipSpaces() {
            while (at < text.length() && text.charAt(at) == ' ') {
                at++;
            }
        }

        private IllegalArgumentException error(String what) {
            return new IllegalArgumentException("malformed header at character " + at + ": " + what + " in " + text);
        }
    }
}
