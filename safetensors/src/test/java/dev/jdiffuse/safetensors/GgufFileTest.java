package dev.jdiffuse.safetensors;

import dev.jdiffuse.testkit.GgufWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GGUF files written by the test-side {@link GgufWriter} read back through {@link GgufFile}: PyTorch shapes from the
 * reversed ggml dimensions (non-square 2-D, 3-D and 4-D tensors, whose element order would be scrambled by a
 * transposition), ComfyUI-GGUF's {@code orig_shape}, metadata of every value type, alignment, plain types served as
 * stored and quantized ones dequantized to F32, whole and in chunks.
 */
class GgufFileTest {

    @TempDir
    Path dir;

    private static float[] ramp(int n, float scale) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (i - n / 3f) * scale;
        }
        return v;
    }

    @Test
    void shapesAreTheReversedGgmlDimensionsAndElementsKeepRowMajorOrder() {
        float[] a = ramp(3 * 5, 0.5f);
        float[] b = ramp(2 * 3 * 4, 0.25f);
        float[] c = ramp(2 * 1 * 3 * 4, 1f);
        Path f = dir.resolve("shapes.gguf");
        new GgufWriter().f32("a", new long[] {3, 5}, a).f32("b", new long[] {2, 3, 4}, b)
                .f32("c", new long[] {2, 1, 3, 4}, c).f32("scalar", new long[] {}, new float[] {7})
                .write(f);
        try (GgufFile g = GgufFile.open(f)) {
            assertArrayEquals(new long[] {3, 5}, g.info("a").shape());
            assertArrayEquals(new long[] {5, 3}, g.tensor("a").ggmlDims(), "ne[0] is the innermost (last) dim");
            assertArrayEquals(new long[] {2, 3, 4}, g.info("b").shape());
            assertArrayEquals(new long[] {4, 3, 2}, g.tensor("b").ggmlDims());
            assertArrayEquals(new long[] {2, 1, 3, 4}, g.info("c").shape());
            assertArrayEquals(new long[] {}, g.info("scalar").shape());
            assertArrayEquals(a, g.toFloatArray("a"));
            assertArrayEquals(b, g.toFloatArray("b"));
            assertArrayEquals(c, g.toFloatArray("c"));
            assertArrayEquals(new float[] {7}, g.toFloatArray("scalar"));
            assertEquals(DType.F32, g.info("a").dtype());
            assertEquals(List.of("a", "b", "c", "scalar"), List.copyOf(g.names()));
        }
    }

    @Test
    void f16AndBf16AreServedAsStored() {
        float[] v = {1f, -2.5f, 0.099975586f, 65504f, 0f, -0.5f};
        ByteBuffer bf = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 6; i++) {
            bf.putShort(2 * i, (short) (Float.floatToIntBits(v[i]) >>> 16));
        }
        Path f = dir.resolve("half.gguf");
        new GgufWriter().f16("h", new long[] {2, 3}, v).tensor("b", GgufWriter.BF16, new long[] {3, 2}, bf.array())
                .write(f);
        try (GgufFile g = GgufFile.open(f)) {
            assertEquals(DType.F16, g.info("h").dtype());
            assertEquals(12, g.info("h").byteSize());
            assertEquals(12, g.buffer("h").remaining());
            assertArrayEquals(v, g.toFloatArray("h"));
            assertEquals(DType.BF16, g.info("b").dtype());
            assertArrayEquals(new long[] {3, 2}, g.info("b").shape());
            float[] truncated = g.toFloatArray("b");
            for (int i = 0; i < 6; i++) {
                assertEquals(Float.intBitsToFloat(Float.floatToIntBits(v[i]) & 0xffff0000), truncated[i]);
            }
        }
    }

    @Test
    void q8_0IsServedDequantizedAsF32InPyTorchOrientation() {
        // a 4 x 64 weight: each row is two Q8_0 blocks along ne[0] = 64
        float[] w = new float[4 * 64];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) Math.sin(i * 0.37) * (1 + i / 64);
        }
        Path f = dir.resolve("q8.gguf");
        new GgufWriter().q8_0("w", new long[] {4, 64}, w).write(f);
        byte[] blocks = GgufWriter.quantizeQ8_0(w);
        try (GgufFile g = GgufFile.open(f)) {
            TensorInfo info = g.info("w");
            assertEquals(DType.F32, info.dtype());
            assertArrayEquals(new long[] {4, 64}, info.shape());
            assertEquals(4L * 4 * 64, info.byteSize());
            assertEquals(GgmlType.Q8_0, g.tensor("w").type());
            assertEquals(8L * 34, g.tensor("w").storedBytes());
            float[] got = g.toFloatArray("w");
            for (int i = 0; i < w.length; i++) {
                ByteBuffer b = ByteBuffer.wrap(blocks).order(ByteOrder.LITTLE_ENDIAN);
                float d = GgufWriter.fromHalf(b.getShort(34 * (i / 32)));
                assertEquals(b.get(34 * (i / 32) + 2 + i % 32) * d, got[i], "element " + i);
                // half a step, plus the fp16 rounding of d (at most 2^-11 d) times |q| <= 127
                assertEquals(w[i], got[i], Math.abs(d) * (0.5 + 127 * 0x1p-11) + 1e-7, "element " + i + " near");
            }
            assertTrue(g.buffer("w").isDirect(), "engine-ready direct memory");
        }
    }

    @Test
    void chunksOfAQuantizedTensorConcatenateToTheWhole() {
        float[] w = ramp(8 * 256, 0.01f);
        Path f = dir.resolve("chunks.gguf");
        byte[] q6 = GgmlRoundTripTest.q6K(w);
        new GgufWriter().tensor("w", GgufWriter.Q6_K, new long[] {8, 256}, q6).write(f);
        try (GgufFile g = GgufFile.open(f)) {
            float[] whole = g.toFloatArray("w");
            for (int chunkBytes : new int[] {40, 1024, 4000, 1 << 20}) {
                List<ByteBuffer> chunks = g.bufferChunks("w", chunkBytes);
                float[] joined = new float[whole.length];
                int at = 0;
                for (ByteBuffer c : chunks) {
                    assertTrue(c.remaining() <= chunkBytes && c.remaining() % 4 == 0);
                    int n = c.remaining() / 4;
                    c.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(joined, at, n);
                    at += n;
                }
                assertEquals(whole.length, at);
                assertArrayEquals(whole, joined, "chunks of " + chunkBytes + " bytes");
            }
        }
    }

    @Test
    void largeQuantizedTensorsDecodeInParallelSlicesInOrder() {
        int rows = 1100;
        int cols = 1024; // 35,200 Q8_0 blocks: three parallel slices, the last one partial
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) Math.cos(i * 0.001) * (i % 7);
        }
        byte[] q = GgufWriter.quantizeQ8_0(w);
        Path f = dir.resolve("big.gguf");
        new GgufWriter().tensor("w", GgufWriter.Q8_0, new long[] {rows, cols}, q).write(f);
        float[] expected = new float[w.length];
        GgmlDequantizer.dequantize(GgmlType.Q8_0, ByteBuffer.wrap(q).order(ByteOrder.LITTLE_ENDIAN), 0,
                w.length / 32, expected, 0);
        try (GgufFile g = GgufFile.open(f)) {
            assertArrayEquals(expected, g.toFloatArray("w"));
        }
    }

    @Test
    void comfyOrigShapeReplacesTheReversedDimensions() {
        // ComfyUI-GGUF's converter flattens e.g. a conv weight [8, 4, 2, 2] to ne = [16, 8] and records the shape
        float[] w = ramp(8 * 16, 0.1f);
        Path f = dir.resolve("orig.gguf");
        new GgufWriter().origShape("conv.weight", 8, 4, 2, 2)
                .tensorNe("conv.weight", GgufWriter.F32, new long[] {16, 8}, GgufWriter.f32Bytes(w))
                .write(f);
        try (GgufFile g = GgufFile.open(f)) {
            assertArrayEquals(new long[] {8, 4, 2, 2}, g.info("conv.weight").shape());
            assertArrayEquals(new long[] {16, 8}, g.tensor("conv.weight").ggmlDims());
            assertArrayEquals(w, g.toFloatArray("conv.weight"));
        }
    }

    @Test
    void metadataOfEveryTypeIsReadAndRendered() {
        Path f = dir.resolve("meta.gguf");
        new GgufWriter().version(2).metadata("general.architecture", "flux").metadata("i", -7)
                .metadata("u32", new GgufWriter.U32(4_000_000_000L)).metadata("u64", 1L << 40)
                .metadata("f", 0.5f).metadata("d", 0.25).metadata("yes", true).metadata("byte", (byte) 200)
                .metadata("list", List.of(1, 2, 3)).metadata("names", List.of("a", "b"))
                .metadata("nested", List.of(List.of(1), List.of(2, 3)))
                .f32("t", new long[] {1}, new float[] {1}).write(f);
        try (GgufFile g = GgufFile.open(f)) {
            assertEquals(2, g.version());
            Map<String, Object> v = g.metadataValues();
            assertEquals("flux", v.get("general.architecture"));
            assertEquals(-7, v.get("i"));
            assertEquals(4_000_000_000L, v.get("u32"));
            assertEquals(1L << 40, v.get("u64"));
            assertEquals(0.5f, v.get("f"));
            assertEquals(0.25, v.get("d"));
            assertEquals(true, v.get("yes"));
            assertEquals(200, v.get("byte"));
            assertEquals(List.of(1, 2, 3), v.get("list"));
            assertEquals(List.of(List.of(1), List.of(2, 3)), v.get("nested"));
            assertEquals("flux", g.metadata().get("general.architecture"));
            assertEquals("[1, 2, 3]", g.metadata().get("list"));
            assertEquals("[a, b]", g.metadata().get("names"));
            assertArrayEquals(new float[] {1}, g.toFloatArray("t"));
        }
    }

    @Test
    void customAlignmentIsHonoured() {
        float[] a = ramp(3, 1f);
        float[] b = ramp(5, 2f);
        Path f = dir.resolve("aligned.gguf");
        new GgufWriter().alignment(256).f32("a", new long[] {3}, a).f32("b", new long[] {5}, b).write(f);
        try (GgufFile g = GgufFile.open(f)) {
            assertEquals(256, g.alignment());
            assertEquals(0, g.dataStart() % 256);
            assertEquals(256, g.tensor("b").offset());
            assertArrayEquals(a, g.toFloatArray("a"));
            assertArrayEquals(b, g.toFloatArray("b"));
        }
    }

    @Test
    void tensorSourceOpenDispatchesOnTheExtension() {
        Path f = dir.resolve("Model.GGUF");
        new GgufWriter().f32("x", new long[] {2}, new float[] {1, 2}).write(f);
        try (TensorSource s = TensorSource.open(f)) {
            assertInstanceOf(GgufFile.class, s);
            assertTrue(s.contains("x"));
            assertFalse(s.contains("y"));
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> s.info("y"));
            assertTrue(e.getMessage().contains(f.toString()) && e.getMessage().contains("'y'"), e.getMessage());
        }
        GgufFile closed = GgufFile.open(f);
        closed.close();
        assertThrows(IllegalStateException.class, () -> closed.buffer("x"));
    }
}
