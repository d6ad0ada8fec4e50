package dev.vlstm.io;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Just enough of the protobuf wire format to write an ONNX model: varints, 32-bit floats, strings, bytes, packed
 * floats and nested messages (written first, then embedded by length). Field numbers are the caller's
 * business. A copy of the bench's writer (src-tests does not depend on the bench), with 32-bit float fields added.
 */
final class ProtobufWriter {

    private static final int VARINT = 0;
    private static final int LENGTH_DELIMITED = 2;
    private static final int FIXED32 = 5;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    /** An int32/int64/enum field. */
    ProtobufWriter varint(int field, long value) {
        tag(field, VARINT);
        rawVarint(value);
        return this;
    }

    /** A float field (fixed 32 bits, little-endian). */
    ProtobufWriter fixed32(int field, float value) {
        tag(field, FIXED32);
        int bits = Float.floatToRawIntBits(value);
        for (int shift = 0; shift < 32; shift += 8) {
            out.write(bits >>> shift & 0xFF);
        }
        return this;
    }

    ProtobufWriter string(int field, String value) {
        return bytes(field, value.getBytes(StandardCharsets.UTF_8));
    }

    ProtobufWriter bytes(int field, byte[] value) {
        tag(field, LENGTH_DELIMITED);
        rawVarint(value.length);
        out.writeBytes(value);
        return this;
    }

    ProtobufWriter message(int field, ProtobufWriter message) {
        return bytes(field, message.toByteArray());
    }

    /** Floats as little-endian IEEE 754 bytes: ONNX's {@code raw_data}. */
    static byte[] littleEndian(float[] values) {
        ByteBuffer buffer = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
        buffer.asFloatBuffer().put(values);
        return buffer.array();
    }

    byte[] toByteArray() {
        return out.toByteArray();
    }

    private void tag(int field, int wireType) {
        rawVarint((long) field << 3 | wireType);
    }

    private void rawVarint(long value) {
        while ((value & ~0x7FL) != 0) {
            out.write((int) (value & 0x7F) | 0x80);
            value >>>= 7;
        }
        out.write((int) value);
    }
}
