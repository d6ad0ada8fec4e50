package dev.vlstm.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The .npy reader and writer on hand-made files of every supported version and dtype, and on bad files. */
class NpyTest {

    @TempDir
    Path directory;

    /** A .npy file as NumPy lays it out: magic, version, header length, dict padded to 64 bytes, data. */
    private static byte[] npy(int major, String dictionary, byte[] data) {
        int prefix = major == 1 ? 10 : 12;
        int padded = (prefix + dictionary.length() + 1 + 63) / 64 * 64;
        String header = dictionary + " ".repeat(padded - prefix - dictionary.length() - 1) + "\n";
        byte[] headerBytes = header.getBytes(major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
        ByteBuffer out = ByteBuffer.allocate(prefix + headerBytes.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
        out.put(new byte[]{(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', (byte) major, 0});
        if (major == 1) {
            out.putShort((short) headerBytes.length);
        } else {
            out.putInt(headerBytes.length);
        }
        return out.put(headerBytes).put(data).array();
    }

    private static byte[] doubles(double... values) {
        ByteBuffer out = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (double value : values) {
            out.putDouble(value);
        }
        return out.array();
    }

    private static byte[] floats(float... values) {
        ByteBuffer out = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float value : values) {
            out.putFloat(value);
        }
        return out.array();
    }

    @Test
    void roundTripsEveryShapeExactly() throws IOException {
        float[] values = {1.5f, -2.25f, Float.MIN_VALUE, -0f, 3e38f, 0.1f};
        for (long[] shape : new long[][]{{}, {6}, {2, 3}, {1, 2, 3}, {0, 4}}) {
            int count = 1;
            for (long dimension : shape) {
                count *= (int) dimension;
            }
            float[] data = java.util.Arrays.copyOf(values, count);
            Path file = directory.resolve("a" + shape.length + count + ".npy");
            Npy.write(file, new FloatTensor(shape, data));
            FloatTensor read = Npy.read(file);
            assertArrayEquals(shape, read.shape());
            assertArrayEquals(data, read.data());
            byte[] bytes = Files.readAllBytes(file);
            int headerEnd = 10 + (bytes[8] & 0xff | (bytes[9] & 0xff) << 8);
            assertEquals(0, headerEnd % 64, "the data starts on a 64-byte boundary, as NumPy writes it");
            assertEquals('\n', bytes[headerEnd - 1]);
        }
        try (Stream<Path> files = Files.list(directory)) {
            assertTrue(files.noneMatch(path -> path.toString().endsWith(".partial")), "no temporary file is left");
        }
    }

    @Test
    void readsVersionsOneTwoAndThreeAndWidensOrNarrowsF8AndF2() {
        FloatTensor f8 = Npy.parse(npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }",
                doubles(1.0, -0.5, 1e-3, 123456.789)));
        assertArrayEquals(new long[]{2, 2}, f8.shape());
        assertArrayEquals(new float[]{1f, -0.5f, 1e-3f, 123456.789f}, f8.data());

        ByteBuffer halves = ByteBuffer.allocate(6).order(ByteOrder.LITTLE_ENDIAN);
        halves.putShort(Float.floatToFloat16(0.5f)).putShort(Float.floatToFloat16(-2f)).putShort(Float.floatToFloat16(65504f));
        FloatTensor f2 = Npy.parse(npy(2, "{\"descr\": \"<f2\", \"shape\": (3,), \"fortran_order\": False}", halves.array()));
        assertArrayEquals(new float[]{0.5f, -2f, 65504f}, f2.data());

        FloatTensor f4 = Npy.parse(npy(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", floats(7f)));
        assertArrayEquals(new long[0], f4.shape());
        assertArrayEquals(new float[]{7f}, f4.data());
    }

    private static void refused(byte[] bytes, String fragment) {
        IllegalArgumentException thrown = assertThrows(IllegalArgumentException.class, () -> Npy.parse(bytes));
        assertTrue(thrown.getMessage().contains(fragment), "'" + thrown.getMessage() + "' should contain '" + fragment + "'");
    }

    @Test
    void badFilesAreRefusedWithTheReason() throws IOException {
        String good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
        byte[] valid = npy(1, good, floats(1, 2));
        refused("PK\u0003\u0004 zip".getBytes(StandardCharsets.ISO_8859_1), "not a .npy file");
        refused(java.util.Arrays.copyOf(valid, 7), "not a .npy file");
        refused(java.util.Arrays.copyOf(valid, 9), "header length is missing");
        byte[] version4 = valid.clone();
        version4[6] = 4;
        refused(version4, "unsupported .npy version 4.0");
        byte[] longHeader = valid.clone();
        longHeader[8] = (byte) 0xff;
        longHeader[9] = (byte) 0x7f;
        refused(longHeader, "runs past the end of the file");
        ByteBuffer huge = ByteBuffer.wrap(npy(2, good, floats(1, 2))).order(ByteOrder.LITTLE_ENDIAN);
        huge.putInt(8, Npy.MAX_HEADER_BYTES + 1);
        refused(huge.array(), "is longer than the");
        refused(npy(1, "{'descr': '<f4', 'fortran_order': Flase, 'shape': (2,), }", floats(1, 2)), "expected True or False");
        refused(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}", floats(1, 2)),
                "unexpected header key 'extra'");
        refused(npy(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", floats(1, 2)),
                "appears twice");
        refused(npy(1, "{'descr': '<f4', 'shape': (2,)}", floats(1, 2)), "lacks one of");
        refused(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", floats(1, 2)), "expected a dimension");
        refused(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} trailing", floats(1, 2)),
                "unexpected text after the dict");
        refused(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,", floats(1, 2)), "malformed header");
        refused(npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}", floats(1, 2)), "dtype '>f4' is not supported");
        refused(npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,)}", floats(1, 2)), "dtype '<i4'");
        refused(npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}", floats(1, 2)), "Fortran-order");
        refused(npy(1, good, floats(1)), "needs 8 data bytes, the file has 4");
        refused(npy(1, good, floats(1, 2, 3)), "needs 8 data bytes, the file has 12");
        refused(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", floats(1)),
                "needs");

        Path file = directory.resolve("broken.npy");
        Files.write(file, npy(1, good, floats(1)));
        IOException thrown = assertThrows(IOException.class, () -> Npy.read(file));
        assertTrue(thrown.getMessage().startsWith(file.toString()), "the message names the file: " + thrown.getMessage());
    }
}
