package dev.jdiffuse.safetensors;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Writer then reader, for every dtype, with metadata, odd sizes, empty and scalar tensors. */
class RoundTripTest {

    @TempDir
    Path dir;

    @Test
    void everyDtypeRoundTripsBytesAndValues() throws IOException {
        SplittableRandom rnd = new SplittableRandom(3);
        Map<String, TensorData> tensors = new LinkedHashMap<>();
        Map<String, byte[]> raw = new LinkedHashMap<>();
        for (DType d : DType.values()) {
            long[] shape = {3, 5}; // 15 elements: odd byte counts for 1- and 2-byte types
            byte[] bytes = new byte[15 * d.byteSize()];
            rnd.nextBytes(bytes);
            if (d == DType.BOOL) {
                for (int i = 0; i < bytes.length; i++) {
                    bytes[i] = (byte) (bytes[i] & 1);
                }
            }
            tensors.put("t." + d, TensorData.of(d, shape, bytes));
            raw.put("t." + d, bytes);
        }
        tensors.put("scalar", TensorData.ofFloats(new long[0], new float[] {2.5f}));
        tensors.put("empty", TensorData.ofFloats(new long[] {0, 4}, new float[0]));
        Path f = dir.resolve("all.safetensors");
        SafetensorsWriter.write(f, tensors, Map.of("format", "pt", "note", "round trip"));

        byte[] file = Files.readAllBytes(f);
        long headerLength = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        assertEquals(0, (8 + headerLength) % 8, "data section 8-byte aligned");
        String header = new String(file, 8, (int) headerLength, java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(header.stripTrailing().endsWith("}") && header.substring(header.stripTrailing().length()).chars().allMatch(c -> c == ' '),
                "header padded with spaces");

        try (SafetensorsFile st = SafetensorsFile.open(f)) {
            assertEquals(List.copyOf(tensors.keySet()), List.copyOf(st.names()), "header order kept");
            assertEquals(Map.of("format", "pt", "note", "round trip"), st.metadata());
            for (DType d : DType.values()) {
                String name = "t." + d;
                TensorInfo info = st.info(name);
                assertEquals(d, info.dtype());
                assertArrayEquals(new long[] {3, 5}, info.shape());
                assertEquals(15, info.numel());
                assertEquals(0, info.begin() % d.byteSize(), "aligned to element size");
                ByteBuffer b = st.buffer(name);
                assertTrue(b.isReadOnly());
                assertEquals(ByteOrder.LITTLE_ENDIAN, b.order());
                byte[] back = new byte[b.remaining()];
                b.get(back);
                assertArrayEquals(raw.get(name), back, name);
                float[] asFloat = st.toFloatArray(name);
                assertEquals(15, asFloat.length);
                assertEquals(expectedFirst(d, raw.get(name)), asFloat[0], 0.0, name);
            }
            assertArrayEquals(new long[0], st.info("scalar").shape());
            assertArrayEquals(new float[] {2.5f}, st.toFloatArray("scalar"));
            assertEquals(0, st.toFloatArray("empty").length);
        }
    }

    /** Element 0 decoded independently of ElementConversions. */
    private static double expectedFirst(DType d, byte[] b) {
        ByteBuffer le = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        return switch (d) {
            case F64 -> (float) le.getDouble(0);
            case F32 -> le.getFloat(0);
            case F16 -> HalfFloats.halfToFloat(le.getShort(0));
            case BF16 -> Float.intBitsToFloat(le.getShort(0) << 16);
            case F8_E5M2 -> HalfFloats.halfToFloat((b[0] & 0xff) << 8);
            case F8_E4M3 -> HalfFloats.e4m3fnToFloat(b[0]);
            case I64 -> (float) le.getLong(0);
            case I32 -> (float) le.getInt(0);
            case I16 -> le.getShort(0);
            case I8 -> b[0];
            case U8 -> b[0] & 0xff;
            case BOOL -> b[0];
        };
    }

    @Test
    void typedFactoriesAndConversions() throws IOException {
        float[] values = {0f, -1.5f, 3.14159f, 1e-6f, 65504f, -2.0e-8f};
        long[] longs = {Long.MIN_VALUE, -1, 0, 1L << 40, Long.MAX_VALUE};
        int[] ints = {Integer.MIN_VALUE, -7, 0, 9, Integer.MAX_VALUE};
        double[] doubles = {Math.PI, -1e300, 1e-300};
        Map<String, TensorData> t = new LinkedHashMap<>();
        t.put("f32", TensorData.ofFloats(new long[] {2, 3}, values));
        t.put("f16", TensorData.ofFloats(DType.F16, new long[] {6}, values));
        t.put("bf16", TensorData.ofFloats(DType.BF16, new long[] {6}, values));
        t.put("f64", TensorData.ofDoubles(new long[] {3}, doubles));
        t.put("i64", TensorData.ofLongs(new long[] {5}, longs));
        t.put("i32", TensorData.ofInts(new long[] {5}, ints));
        Path f = dir.resolve("typed.safetensors");
        SafetensorsWriter.write(f, t);
        try (SafetensorsFile st = SafetensorsFile.open(f)) {
            assertArrayEquals(values, st.toFloatArray("f32"));
            float[] f16 = st.toFloatArray("f16");
            float[] bf16 = st.toFloatArray("bf16");
            for (int i = 0; i < values.length; i++) {
                assertEquals(HalfFloats.halfToFloat(HalfFloats.floatToHalf(values[i])), f16[i]);
                assertEquals(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(values[i])), bf16[i]);
                assertEquals(values[i], f16[i], Math.abs(values[i]) * 0x1p-11 + 0x1p-25);
            }
            assertArrayEquals(doubles, st.toDoubleArray("f64"));
            assertArrayEquals(longs, st.toLongArray("i64"));
            assertArrayEquals(ints, st.toIntArray("i32"));
            assertArrayEquals(new long[] {Integer.MIN_VALUE, -7, 0, 9, Integer.MAX_VALUE}, st.toLongArray("i32"));
            SafetensorsException narrow = assertThrows(SafetensorsException.class, () -> st.toIntArray("i64"));
            assertTrue(narrow.getMessage().contains("does not fit in an int"), narrow.getMessage());
            SafetensorsException fromFloat = assertThrows(SafetensorsException.class, () -> st.toLongArray("f32"));
            assertTrue(fromFloat.getMessage().contains(f.toString()) && fromFloat.getMessage().contains("F32"),
                    fromFloat.getMessage());
        }
    }

    @Test
    void bufferChunksCoverTheTensorInWholeElements() throws IOException {
        float[] values = new float[1001];
        for (int i = 0; i < values.length; i++) {
            values[i] = i * 0.5f;
        }
        Path f = dir.resolve("chunks.safetensors");
        SafetensorsWriter.write(f, Map.of("x", TensorData.ofFloats(new long[] {1001}, values)));
        try (SafetensorsFile st = SafetensorsFile.open(f)) {
            List<ByteBuffer> chunks = st.bufferChunks("x", 1001); // 250 floats per chunk
            assertEquals(5, chunks.size());
            float[] back = new float[1001];
            int at = 0;
            for (ByteBuffer c : chunks) {
                assertEquals(0, c.remaining() % 4);
                while (c.hasRemaining()) {
                    back[at++] = c.getFloat();
                }
            }
            assertArrayEquals(values, back);
        }
    }

    @Test
    void closedFileRefusesAccess() throws IOException {
        Path f = dir.resolve("closed.safetensors");
        SafetensorsWriter.write(f, Map.of("x", TensorData.ofFloats(new long[] {2}, new float[] {1, 2})));
        SafetensorsFile st = SafetensorsFile.open(f);
        ByteBuffer held = st.buffer("x");
        st.close();
        st.close();
        assertThrows(IllegalStateException.class, () -> st.buffer("x"));
        assertEquals(2f, held.getFloat(4), "a buffer obtained before close stays readable");
    }

    @Test
    void writerRejectsDataOfTheWrongSize() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TensorData.of(DType.F32, new long[] {3}, new byte[8]));
        assertTrue(e.getMessage().contains("needs 12 bytes"), e.getMessage());
    }
}
