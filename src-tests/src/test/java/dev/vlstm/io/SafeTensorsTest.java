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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The safetensors reader and writer on hand-made files, bad files, and a seeded fuzz of mutated files. */
class SafeTensorsTest {

    @TempDir
    Path directory;

    /** A safetensors file from a header text and raw data, laid out as the format says. */
    private static byte[] file(String header, byte[] data) {
        byte[] json = header.getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + json.length + data.length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(json.length).put(json).put(data).array();
    }

    private Path save(String name, byte[] bytes) throws IOException {
        Path path = directory.resolve(name);
        Files.write(path, bytes);
        return path;
    }

    @Test
    void writesAndReadsBackExactlyWithMetadata() throws IOException {
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        tensors.put("lstm.weight_ih_l0", new FloatTensor(new long[]{8, 3}, random(24)));
        tensors.put("lstm.bias \"odd\" name", new FloatTensor(new long[]{8}, random(8)));
        tensors.put("scalar", new FloatTensor(new long[0], new float[]{-0f}));
        tensors.put("empty", new FloatTensor(new long[]{0, 5}, new float[0]));
        Path path = directory.resolve("model.safetensors");
        SafeTensors.write(path, tensors, Map.of("format", "pt", "note", "tab\there"));
        try (SafeTensors file = SafeTensors.open(path)) {
            assertEquals(List.copyOf(tensors.keySet()), List.copyOf(file.names()));
            assertEquals(Map.of("format", "pt", "note", "tab\there"), file.metadata());
            for (Map.Entry<String, FloatTensor> entry : tensors.entrySet()) {
                SafeTensors.Tensor tensor = file.tensor(entry.getKey());
                assertEquals(SafeTensors.DType.F32, tensor.dtype());
                assertArrayEquals(entry.getValue().shape(), tensor.shape());
                assertArrayEquals(entry.getValue().data(), tensor.toFloats());
            }
            IllegalArgumentException missing = assertThrows(IllegalArgumentException.class, () -> file.tensor("nope"));
            assertTrue(missing.getMessage().contains("no tensor 'nope'") && missing.getMessage().contains("model.safetensors"));
        }
        long headerLength = ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, headerLength % 8, "the header is padded so that the data start 8-byte aligned");
    }

    private static float[] random(int count) {
        SplittableRandom random = new SplittableRandom(count);
        float[] values = new float[count];
        for (int n = 0; n < count; n++) {
            values[n] = (float) random.nextGaussian();
        }
        return values;
    }

    @Test
    void readsF16AndBf16Widened() throws IOException {
        ByteBuffer data = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        data.putShort(Float.floatToFloat16(1.5f)).putShort(Float.floatToFloat16(-0.25f));
        data.putShort((short) (Float.floatToRawIntBits(3.0f) >>> 16)).putShort((short) (Float.floatToRawIntBits(-1e10f) >>> 16));
        String header = "{\"half\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                + "\"brain\":{\"data_offsets\":[4,8],\"shape\":[1,2],\"dtype\":\"BF16\"}}";
        try (SafeTensors file = SafeTensors.open(save("mixed.safetensors", file(header, data.array())))) {
            assertArrayEquals(new float[]{1.5f, -0.25f}, file.tensor("half").toFloats());
            float[] brain = file.tensor("brain").toFloats();
            assertEquals(3.0f, brain[0]);
            assertEquals(Float.intBitsToFloat(Float.floatToRawIntBits(-1e10f) & 0xffff0000), brain[1]);
        }
    }

    private void refused(String name, byte[] bytes, String fragment) throws IOException {
        Path path = save(name, bytes);
        IOException thrown = assertThrows(IOException.class, () -> SafeTensors.open(path));
        assertTrue(thrown.getMessage().contains(name) && thrown.getMessage().contains(fragment),
                "'" + thrown.getMessage() + "' should name the file and contain '" + fragment + "'");
    }

    @Test
    void badFilesAreRefusedNamingFileAndTensor() throws IOException {
        byte[] eight = new byte[8];
        String one = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        refused("short.safetensors", new byte[5], "truncated");
        refused("beyond.safetensors", ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(9).array(),
                "runs past the end");
        refused("huge.safetensors", ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(-1).array(),
                "is beyond the");
        refused("json.safetensors", file("{\"w\":{\"dtype\":\"F32\",", eight), "malformed JSON");
        refused("deep.safetensors", file("{\"a\":{\"b\":{\"c\":{\"d\":[1]}}}}", eight), "nested deeper");
        refused("duplicate.safetensors", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                + "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight), "duplicate key \"w\"");
        refused("dtype.safetensors", file(one.replace("F32", "I64"), eight), "tensor 'w': dtype I64 is not supported");
        refused("keys.safetensors", file("{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", eight), "exactly dtype, shape");
        refused("extra.safetensors", file(one.replace("}}", ",\"x\":[1]}}"), eight), "exactly dtype, shape");
        refused("size.safetensors", file(one.replace("[2]", "[3]"), eight), "needs 12 bytes, data_offsets give 8");
        refused("range.safetensors", file(one.replace("[0,8]", "[0,16]"), eight), "not [begin, end] within");
        refused("reversed.safetensors", file(one.replace("[0,8]", "[8,0]"), eight), "not [begin, end]");
        refused("gap.safetensors", file(one.replace("[0,8]", "[4,12]"), new byte[12]), "without gaps");
        refused("overlap.safetensors", file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", eight), "without overlap");
        refused("tail.safetensors", file(one, new byte[12]), "cover 8 data bytes, the file has 12");
        refused("float.safetensors", file(one.replace("[2]", "[2.0]"), eight), "only integers");
        refused("negative.safetensors", file(one.replace("[2]", "[-2]"), eight), "malformed JSON");
        refused("meta.safetensors", file("{\"__metadata__\":{\"k\":[1]}}", new byte[0]), "__metadata__ must map");
        refused("array.safetensors", file("[1,2]", new byte[0]), "not a JSON object");
    }

    /**
     * A seeded fuzz: thousands of copies of a valid file with random bytes changed or cut off. Each must open or be
     * refused with an IOException naming the file, never another exception from deep inside.
     */
    @Test
    void mutatedFilesOpenOrFailCleanly() throws IOException {
        Map<String, FloatTensor> tensors = new LinkedHashMap<>();
        tensors.put("weight_ih_l0", new FloatTensor(new long[]{4, 3}, random(12)));
        tensors.put("bias_ih_l0", new FloatTensor(new long[]{4}, random(4)));
        Path valid = directory.resolve("valid.safetensors");
        SafeTensors.write(valid, tensors, Map.of("format", "pt"));
        byte[] original = Files.readAllBytes(valid);
        SplittableRandom random = new SplittableRandom(2026);
        Path mutated = directory.resolve("mutated.safetensors");
        int opened = 0;
        for (int trial = 0; trial < 3000; trial++) {
            byte[] bytes = original.clone();
            if (trial % 5 == 0) {
                bytes = java.util.Arrays.copyOf(bytes, random.nextInt(bytes.length));
            } else {
                int changes = 1 + random.nextInt(4);
                for (int n = 0; n < changes; n++) {
                    // Mostly the header, where the structure is.
                    int at = random.nextInt(4) == 0 ? random.nextInt(bytes.length) : random.nextInt(Math.min(bytes.length, 200));
                    bytes[at] = (byte) random.nextInt(256);
                }
            }
            Files.write(mutated, bytes);
            try (SafeTensors file = SafeTensors.open(mutated)) {
                for (String name : file.names()) {
                    file.tensor(name).toFloats();
                }
                opened++;
            } catch (IOException e) {
                assertTrue(e.getMessage().startsWith(mutated.toString()), "the error names the file: " + e.getMessage());
            }
        }
        assertTrue(opened > 0 && opened < 3000, "some mutations keep the file valid (data bytes), most do not: " + opened);
    }
}
