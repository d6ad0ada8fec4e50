package dev.vlstm.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import dev.vlstm.internal.StrictJson;

/**
 * A safetensors file, memory-mapped (no copy of the tensor data before use): an 8-byte little-endian header length,
 * a JSON header naming each tensor's dtype, shape and data offsets (plus an optional {@code __metadata__} map of
 * strings), then the data. F32, F16 and BF16 tensors are read (widened to float on request); F32 is written.
 *
 * <p>The header is checked strictly before any tensor is used: a bounded JSON parser (at most
 * {@link #MAX_HEADER_BYTES}, no duplicate names, no unknown keys), shapes and offsets that must match the dtype,
 * and data offsets that must tile the data area exactly (no overlap, no gap, nothing out of range), as the format's
 * reference implementation requires. Every problem is an IOException that names the file and the tensor.
 * Closing unmaps the file; tensors read from it are then unusable.
 */
public final class SafeTensors implements AutoCloseable {

    /** Largest header accepted, as in the reference implementation. */
    public static final long MAX_HEADER_BYTES = 100L << 20;
    private static final String METADATA = "__metadata__";
    private static final ValueLayout.OfFloat FLOAT_LE = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Element types this reader understands. */
    public enum DType {
        /** IEEE 754 single precision, 4 bytes. */
        F32(4),
        /** IEEE 754 half precision, 2 bytes; widened to float when read. */
        F16(2),
        /** bfloat16 (the upper half of a float), 2 bytes; widened to float when read. */
        BF16(2);

        final int bytes;

        DType(int bytes) {
            this.bytes = bytes;
        }
    }

    /**
     * One tensor of an open file: its data is a slice of the mapping, little-endian.
     *
     * @param name  its key in the header, e.g. {@code "lstm.weight_ih_l0"}
     * @param dtype its element type
     * @param shape its dimensions, outermost first; empty for a scalar
     * @param data  its bytes, row-major, read-only; valid until the file is closed
     */
    public record Tensor(String name, DType dtype, long[] shape, MemorySegment data) {

        /**
         * Number of elements.
         *
         * @return the product of {@link #shape()} (1 for a scalar)
         */
        public long count() {
            return data.byteSize() / dtype.bytes;
        }

        /**
         * The values as floats (F16 and BF16 widened exactly), in row-major order.
         *
         * @return a new array of {@link #count()} floats: a copy, which outlives the file
         * @throws IllegalArgumentException if there are more values than a float array holds
         */
        public float[] toFloats() {
            if (count() > Integer.MAX_VALUE - 8) {
                throw new IllegalArgumentException("tensor '" + name + "' has too many values for a float array");
            }
            float[] values = new float[(int) count()];
            for (int n = 0; n < values.length; n++) {
                values[n] = switch (dtype) {
                    case F32 -> data.getAtIndex(FLOAT_LE, n);
                    case F16 -> Float.float16ToFloat(data.getAtIndex(SHORT_LE, n));
                    case BF16 -> Float.intBitsToFloat((data.getAtIndex(SHORT_LE, n) & 0xffff) << 16);
                };
            }
            return values;
        }
    }

    private final Path file;
    private final Arena arena;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafeTensors(Path file, Arena arena, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.file = file;
        this.arena = arena;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /**
     * Maps and checks {@code file}.
     *
     * @param file a safetensors file
     * @return the open file, owned by the caller: closing it unmaps the file
     * @throws IOException if the file cannot be read or its header is malformed or unsupported (the message names
     *                     the file and the tensor)
     */
    public static SafeTensors open(Path file) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            MemorySegment mapped = size == 0 ? MemorySegment.NULL
                    : channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            return parse(file, arena, mapped, size);
        } catch (IllegalArgumentException e) {
            arena.close();
            throw new IOException(file + ": " + e.getMessage(), e);
        } catch (IOException | RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    private static SafeTensors parse(Path file, Arena arena, MemorySegment mapped, long size) {
        if (size < 8) {
            throw new IllegalArgumentException("truncated: " + size + " bytes, not even the 8-byte header length");
        }
        long headerLength = mapped.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
            throw new IllegalArgumentException("header length " + Long.toUnsignedString(headerLength)
                    + " is beyond the " + MAX_HEADER_BYTES + " bytes accepted");
        }
        if (8 + headerLength > size) {
            throw new IllegalArgumentException("header length " + headerLength + " runs past the end of the file ("
                    + size + " bytes)");
        }
        byte[] headerBytes = mapped.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
        Object json = StrictJson.parse(new String(headerBytes, StandardCharsets.UTF_8), 3, StrictJson.Grammar.HEADER);
        if (!(json instanceof Map<?, ?> header)) {
            throw new IllegalArgumentException("the header is not a JSON object");
        }
        MemorySegment data = mapped.asSlice(8 + headerLength);
        Map<String, String> metadata = Map.of();
        List<Tensor> found = new ArrayList<>();
        for (Map.Entry<?, ?> entry : header.entrySet()) {
            String name = (String) entry.getKey();
            if (name.equals(METADATA)) {
                metadata = metadata(entry.getValue());
            } else {
                found.add(tensor(name, entry.getValue(), data));
            }
        }
        List<Tensor> byOffset = new ArrayList<>(found);
        byOffset.sort(Comparator.comparingLong(tensor -> tensor.data().address() - data.address()));
        long expected = 0;
        for (Tensor tensor : byOffset) {
            long begin = tensor.data().address() - data.address();
            if (begin != expected) {
                throw new IllegalArgumentException("tensor '" + tensor.name() + "' starts at data offset " + begin
                        + " but the previous tensor ends at " + expected + ": offsets must tile the data without "
                        + (begin < expected ? "overlap" : "gaps"));
            }
            expected = begin + tensor.data().byteSize();
        }
        if (expected != data.byteSize()) {
            throw new IllegalArgumentException("the tensors cover " + expected + " data bytes, the file has "
                    + data.byteSize());
        }
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        for (Tensor tensor : found) {
            tensors.put(tensor.name(), tensor);
        }
        return new SafeTensors(file, arena, Collections.unmodifiableMap(tensors), metadata);
    }

    private static Tensor tensor(String name, Object value, MemorySegment data) {
        if (name.isEmpty()) {
            throw new IllegalArgumentException("a tensor has an empty name");
        }
        if (!(value instanceof Map<?, ?> info) || !info.keySet().equals(Set.of("dtype", "shape", "data_offsets"))) {
            throw new IllegalArgumentException("tensor '" + name + "' must be an object with exactly dtype, shape "
                    + "and data_offsets");
        }
        if (!(info.get("dtype") instanceof String dtypeName)) {
            throw new IllegalArgumentException("tensor '" + name + "': dtype must be a string");
        }
        DType dtype;
        try {
            dtype = DType.valueOf(dtypeName);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("tensor '" + name + "': dtype " + dtypeName
                    + " is not supported (F32, F16, BF16)");
        }
        long[] shape = integers(name, "shape", info.get("shape"));
        long[] offsets = integers(name, "data_offsets", info.get("data_offsets"));
        if (offsets.length != 2 || offsets[0] > offsets[1] || offsets[1] > data.byteSize()) {
            throw new IllegalArgumentException("tensor '" + name + "': data_offsets " + Arrays.toString(offsets)
                    + " are not [begin, end] within the " + data.byteSize() + " data bytes");
        }
        long bytes;
        try {
            long count = 1;
            for (long dimension : shape) {
                count = Math.multiplyExact(count, dimension);
            }
            bytes = Math.multiplyExact(count, dtype.bytes);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape) + " is too large");
        }
        if (bytes != offsets[1] - offsets[0]) {
            throw new IllegalArgumentException("tensor '" + name + "': shape " + Arrays.toString(shape) + " of "
                    + dtype + " needs " + bytes + " bytes, data_offsets give " + (offsets[1] - offsets[0]));
        }
        return new Tensor(name, dtype, shape, data.asSlice(offsets[0], bytes));
    }

    private static long[] integers(String name, String key, Object value) {
        if (!(value instanceof List<?> list) || !list.stream().allMatch(Long.class::isInstance)) {
            throw new IllegalArgumentException("tensor '" + name + "': " + key + " must be a list of integers");
        }
        return list.stream().mapToLong(item -> (Long) item).toArray();
    }

    private static Map<String, String> metadata(Object value) {
        if (!(value instanceof Map<?, ?> map) || !map.values().stream().allMatch(String.class::isInstance)) {
            throw new IllegalArgumentException("__metadata__ must map strings to strings");
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        map.forEach((key, text) -> metadata.put((String) key, (String) text));
        return Collections.unmodifiableMap(metadata);
    }

    /**
     * The file this was opened from.
     *
     * @return the path given to {@link #open(Path)}
     */
    public Path path() {
        return file;
    }

    /**
     * Tensor names, in header order.
     *
     * @return an unmodifiable set, without {@code __metadata__}
     */
    public Set<String> names() {
        return tensors.keySet();
    }

    /**
     * The {@code __metadata__} map (empty if absent).
     *
     * @return an unmodifiable map of strings, in header order
     */
    public Map<String, String> metadata() {
        return metadata;
    }

    /**
     * The tensor called {@code name}.
     *
     * @param name one of {@link #names()}
     * @return the tensor; its data is valid until this file is closed
     * @throws IllegalArgumentException naming the file and the tensors it has, if there is none
     * @throws IllegalStateException    if this file is closed
     */
    public Tensor tensor(String name) {
        if (!arena.scope().isAlive()) {
            throw new IllegalStateException(file + " is closed");
        }
        Tensor tensor = tensors.get(name);
        if (tensor == null) {
            throw new IllegalArgumentException(file + ": no tensor '" + name + "' (it has " + tensors.keySet() + ")");
        }
        return tensor;
    }

    /** Unmaps the file. Closing twice is harmless. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    /**
     * Writes F32 tensors, in the map's order, and string metadata, to {@code file} through a temporary file that is
     * moved into place (no partial file is ever left under {@code file}'s name).
     *
     * @param file     the destination, replaced if it exists
     * @param tensors  the tensors by name, in the order written; no name may be empty or {@code __metadata__}
     * @param metadata strings for the header's {@code __metadata__}; empty for none
     * @throws IOException              if writing or moving fails; {@code file} is then as it was
     * @throws IllegalArgumentException for an empty or reserved tensor name
     */
    public static void write(Path file, Map<String, FloatTensor> tensors, Map<String, String> metadata)
            throws IOException {
        StringBuilder json = new StringBuilder("{");
        if (!metadata.isEmpty()) {
            json.append(StrictJson.quote(METADATA)).append(":{");
            String separator = "";
            for (Map.Entry<String, String> entry : metadata.entrySet()) {
                json.append(separator).append(StrictJson.quote(entry.getKey())).append(':')
                        .append(StrictJson.quote(entry.getValue()));
                separator = ",";
            }
            json.append('}');
        }
        long offset = 0;
        String separator = metadata.isEmpty() ? "" : ",";
        for (Map.Entry<String, FloatTensor> entry : tensors.entrySet()) {
            if (entry.getKey().equals(METADATA) || entry.getKey().isEmpty()) {
                throw new IllegalArgumentException("a tensor cannot be called '" + entry.getKey() + "'");
            }
            long bytes = (long) entry.getValue().data().length * Float.BYTES;
            json.append(separator).append(StrictJson.quote(entry.getKey())).append(":{\"dtype\":\"F32\",\"shape\":")
                    .append(Arrays.toString(entry.getValue().shape()).replace(" ", ""))
                    .append(",\"data_offsets\":[").append(offset).append(',').append(offset + bytes).append("]}");
            offset += bytes;
            separator = ",";
        }
        json.append('}');
        byte[] header = json.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (header.length + 7) / 8 * 8;
        ByteBuffer out = ByteBuffer.allocate(Math.toIntExact(8 + padded + offset)).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(padded).put(header);
        for (int n = header.length; n < padded; n++) {
            out.put((byte) ' ');
        }
        for (FloatTensor tensor : tensors.values()) {
            for (float value : tensor.data()) {
                out.putFloat(value);
            }
        }
        AtomicFiles.write(file, out.array());
    }
}
