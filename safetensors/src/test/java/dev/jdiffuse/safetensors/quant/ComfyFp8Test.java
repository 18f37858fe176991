package dev.jdiffuse.safetensors.quant;

import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.HalfFloats;
import dev.jdiffuse.safetensors.SafetensorsException;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.safetensors.TensorInfo;
import dev.jdiffuse.safetensors.TensorSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.jdiffuse.safetensors.quant.QuantFiles.codes;
import static dev.jdiffuse.safetensors.quant.QuantFiles.f32;
import static dev.jdiffuse.safetensors.quant.QuantFiles.fp8;
import static dev.jdiffuse.safetensors.quant.QuantFiles.json;
import static dev.jdiffuse.safetensors.quant.QuantFiles.scalar;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * ComfyUI FP8 files: the scale multiplies exactly the weights it belongs to, once; the helpers disappear; everything
 * else, and every file without the formats' markers, is read exactly as stored.
 */
class ComfyFp8Test {

    @TempDir
    Path tmp;

    private static float[] decoded(byte[] codes) {
        float[] f = new float[codes.length];
        for (int i = 0; i < codes.length; i++) {
            f[i] = HalfFloats.e4m3fnToFloat(codes[i]);
        }
        return f;
    }

    /** A scaled_fp8 T5-like file: two scaled linears, one unscaled FP8 weight, an F32 norm, an F16 embedding. */
    private Map<String, TensorData> scaledFile(String prefix, byte[] q, byte[] k, byte[] plain) {
        Map<String, TensorData> t = new LinkedHashMap<>();
        t.put(prefix + "shared.weight", TensorData.ofFloats(DType.F16, new long[] {2, 3}, new float[] {1, 2, 3, 4, 5,
                6}));
        t.put(prefix + "q.weight", fp8(new long[] {3, 4}, q));
        t.put(prefix + "q.scale_weight", scalar(0.0125f));
        t.put(prefix + "q.scale_input", scalar(1f));
        t.put(prefix + "k.weight", fp8(new long[] {2, 5}, k));
        t.put(prefix + "k.scale_weight", scalar(3.5f));
        t.put(prefix + "o.weight", fp8(new long[] {2, 2}, plain));
        t.put(prefix + "norm.weight", f32(new long[] {4}, 1, 2, 3, 4));
        t.put(prefix + "scaled_fp8", fp8(new long[] {0}, new byte[0]));
        return t;
    }

    @Test
    void scaledWeightsAreFp8TimesTheirScaleAndTheHelpersAreHidden() {
        byte[] q = codes(12, 1);
        byte[] k = codes(10, 90);
        byte[] plain = codes(4, 200);
        try (TensorSource s = QuantFiles.write(tmp.resolve("t5xxl_fp8_e4m3fn_scaled.safetensors"),
                scaledFile("", q, k, plain))) {
            assertInstanceOf(DequantizingSource.class, s);
            assertEquals(List.of("shared.weight", "q.weight", "k.weight", "o.weight", "norm.weight"),
                    List.copyOf(s.names()));
            float[] dq = decoded(q);
            float[] dk = decoded(k);
            for (int i = 0; i < dq.length; i++) {
                dq[i] *= 0.0125f;
            }
            for (int i = 0; i < dk.length; i++) {
                dk[i] *= 3.5f;
            }
            assertArrayEquals(dq, s.toFloatArray("q.weight"));
            assertArrayEquals(dk, s.toFloatArray("k.weight"));
            TensorInfo info = s.info("q.weight");
            assertEquals(DType.F32, info.dtype());
            assertArrayEquals(new long[] {3, 4}, info.shape());
            assertEquals(48, info.byteSize());
            float[] fromBuffer = new float[12];
            ByteBuffer b = s.buffer("q.weight");
            assertEquals(ByteOrder.LITTLE_ENDIAN, b.order());
            assertTrue(b.isDirect());
            b.asFloatBuffer().get(fromBuffer);
            assertArrayEquals(dq, fromBuffer);
            // an FP8 weight without a scale (ComfyUI's default scale 1) and the other tensors are as stored
            assertEquals(DType.F8_E4M3, s.info("o.weight").dtype());
            assertArrayEquals(decoded(plain), s.toFloatArray("o.weight"));
            assertArrayEquals(new float[] {1, 2, 3, 4}, s.toFloatArray("norm.weight"));
            assertEquals(DType.F16, s.info("shared.weight").dtype());
            for (String helper : List.of("scaled_fp8", "q.scale_weight", "q.scale_input", "k.scale_weight")) {
                assertFalse(s.contains(helper), helper);
                SafetensorsException e = assertThrows(SafetensorsException.class, () -> s.info(helper));
                assertTrue(e.getMessage().contains(helper), e.getMessage());
            }
        }
    }

    @Test
    void chunksOfADequantizedWeightJoinToTheWhole() {
        try (TensorSource s = QuantFiles.write(tmp.resolve("c.safetensors"),
                scaledFile("", codes(12, 3), codes(10, 5), codes(4, 7)))) {
            List<ByteBuffer> chunks = s.bufferChunks("q.weight", 20); // 5 floats, 5, 2
            assertEquals(List.of(20, 20, 8), chunks.stream().map(ByteBuffer::remaining).toList());
            ByteBuffer all = ByteBuffer.allocate(48).order(ByteOrder.LITTLE_ENDIAN);
            chunks.forEach(all::put);
            assertEquals(s.buffer("q.weight"), all.flip());
        }
    }

    @Test
    void aComfyCheckpointScalesEachComponentUnderItsOwnMarkerOnly() {
        Map<String, TensorData> t = new LinkedHashMap<>(scaledFile("model.diffusion_model.", codes(12, 1),
                codes(10, 2), codes(4, 3)));
        // a component without a marker: its scale_weight is not ComfyUI's format and stays an ordinary tensor
        t.put("vae.w.weight", f32(new long[] {2}, 5, 6));
        t.put("vae.w.scale_weight", scalar(2f));
        try (TensorSource s = QuantFiles.write(tmp.resolve("flux1-dev-fp8-scaled.safetensors"), t)) {
            assertEquals(DType.F32, s.info("model.diffusion_model.q.weight").dtype());
            assertFalse(s.contains("model.diffusion_model.scaled_fp8"));
            assertArrayEquals(new float[] {5, 6}, s.toFloatArray("vae.w.weight"));
            assertTrue(s.contains("vae.w.scale_weight"));
        }
    }

    @Test
    void oneScalePerOutputRowScalesEachRow() {
        Map<String, TensorData> t = new LinkedHashMap<>();
        byte[] q = codes(6, 4);
        t.put("l.weight", fp8(new long[] {2, 3}, q));
        t.put("l.scale_weight", f32(new long[] {2, 1}, 0.5f, 4f));
        t.put("scaled_fp8", fp8(new long[] {0}, new byte[0]));
        try (TensorSource s = QuantFiles.write(tmp.resolve("rows.safetensors"), t)) {
            float[] d = decoded(q);
            float[] expected = {d[0] * 0.5f, d[1] * 0.5f, d[2] * 0.5f, d[3] * 4f, d[4] * 4f, d[5] * 4f};
            assertArrayEquals(expected, s.toFloatArray("l.weight"));
        }
    }

    @Test
    void largeWeightsSplitAcrossThreadsGiveTheSameProducts() {
        // over Chunks.CHUNK elements, so the table-driven loops run in parallel ranges
        int rows = 600;
        int cols = 1000;
        byte[] q = codes(rows * cols, 5);
        byte[] e5 = codes(rows * cols, 77);
        float[] rowScales = new float[rows];
        for (int r = 0; r < rows; r++) {
            rowScales[r] = 0.001f * (r + 1);
        }
        Map<String, TensorData> t = new LinkedHashMap<>();
        t.put("a.weight", fp8(new long[] {rows, cols}, q));
        t.put("a.scale_weight", f32(new long[] {rows, 1}, rowScales));
        t.put("b.weight", TensorData.of(DType.F8_E5M2, new long[] {rows, cols}, e5));
        t.put("b.scale_weight", scalar(0.37f));
        t.put("scaled_fp8", fp8(new long[] {0}, new byte[0]));
        try (TensorSource s = QuantFiles.write(tmp.resolve("large.safetensors"), t)) {
            float[] a = s.toFloatArray("a.weight");
            float[] b = s.toFloatArray("b.weight");
            for (int i = 0; i < rows * cols; i++) {
                assertEquals(HalfFloats.e4m3fnToFloat(q[i]) * rowScales[i / cols], a[i], 0f, "a " + i);
                assertEquals(HalfFloats.e5m2ToFloat(e5[i]) * 0.37f, b[i], 0f, "b " + i);
            }
        }
    }

    @Test
    void filesWithoutMarkersAreTheVerySameSource() {
        Map<String, TensorData> plainFp8 = new LinkedHashMap<>();
        plainFp8.put("a.weight", fp8(new long[] {2, 2}, codes(4, 9)));
        plainFp8.put("b.bias", f32(new long[] {2}, 1, 2));
        // names that look like helpers but without the formats' markers: a scale_weight without scaled_fp8, a
        // weight_scale beside a weight that is not FP8, an absmax beside a float weight
        Map<String, TensorData> lookalikes = new LinkedHashMap<>(plainFp8);
        lookalikes.put("a.scale_weight", scalar(2f));
        lookalikes.put("c.weight", f32(new long[] {2}, 1, 2));
        lookalikes.put("c.weight_scale", scalar(2f));
        lookalikes.put("a.weight.absmax", f32(new long[] {1}, 3f));
        lookalikes.put("scaled_fp8.weight", f32(new long[] {3}, 1, 2, 3)); // a layer named so, not a marker
        for (Map<String, TensorData> t : List.of(plainFp8, lookalikes)) {
            Path f = tmp.resolve("plain" + t.size() + ".safetensors");
            dev.jdiffuse.safetensors.SafetensorsWriter.write(f, t);
            try (SafetensorsFile raw = SafetensorsFile.open(f)) {
                TensorSource s = QuantizedCheckpoints.dequantizing(raw);
                assertSame(raw, s);
                for (String n : t.keySet()) {
                    assertEquals(t.get(n).data(), s.buffer(n), n);
                }
            }
        }
    }

    @Test
    void mixedPrecisionLayersFromComfyQuantTensorsAndFromTheHeader() {
        byte[] q = codes(8, 17);
        byte[] e5 = codes(4, 60);
        Map<String, TensorData> t = new LinkedHashMap<>();
        t.put("blocks.0.attn.weight", fp8(new long[] {2, 4}, q));
        t.put("blocks.0.attn.weight_scale", scalar(0.75f));
        t.put("blocks.0.attn.input_scale", scalar(1.5f));
        t.put("blocks.0.attn.comfy_quant", json("{\"format\": \"float8_e4m3fn\"}"));
        t.put("blocks.0.attn.bias", f32(new long[] {2}, 1, 2));
        t.put("blocks.0.mlp.weight", TensorData.of(DType.F8_E5M2, new long[] {2, 2}, e5));
        t.put("blocks.0.mlp.weight_scale", scalar(2f));
        t.put("blocks.0.norm.weight", f32(new long[] {2}, 1, 1));
        try (TensorSource s = QuantFiles.write(tmp.resolve("mixed.safetensors"), t, Map.of(
                ComfyFp8.METADATA_KEY, "{\"format_version\": \"1.0\", \"layers\": {\"blocks.0.mlp\": "
                        + "{\"format\": \"float8_e5m2\"}}}"))) {
            assertEquals(List.of("blocks.0.attn.weight", "blocks.0.attn.bias", "blocks.0.mlp.weight",
                    "blocks.0.norm.weight"), List.copyOf(s.names()));
            float[] d = decoded(q);
            for (int i = 0; i < d.length; i++) {
                d[i] *= 0.75f;
            }
            assertArrayEquals(d, s.toFloatArray("blocks.0.attn.weight"));
            float[] m = new float[4];
            for (int i = 0; i < 4; i++) {
                m[i] = HalfFloats.e5m2ToFloat(e5[i]) * 2f;
            }
            assertArrayEquals(m, s.toFloatArray("blocks.0.mlp.weight"));
        }
    }

    @Test
    void anFp8WeightWithAWeightScaleBesideItIsScaledWithoutAnyTable() {
        byte[] q = codes(6, 33);
        Map<String, TensorData> t = new LinkedHashMap<>();
        t.put("proj.weight", fp8(new long[] {2, 3}, q));
        t.put("proj.weight_scale", f32(new long[] {2, 1}, 0.25f, 8f)); // per output channel
        t.put("proj.input_scale", scalar(1f));
        t.put("proj.bias", f32(new long[] {2}, 1, 2));
        try (TensorSource s = QuantFiles.write(tmp.resolve("qwen_fp8_scaled.safetensors"), t)) {
            assertEquals(List.of("proj.weight", "proj.bias"), List.copyOf(s.names()));
            float[] d = decoded(q);
            assertArrayEquals(new float[] {d[0] * 0.25f, d[1] * 0.25f, d[2] * 0.25f, d[3] * 8f, d[4] * 8f, d[5] * 8f},
                    s.toFloatArray("proj.weight"));
        }
        Map<String, TensorData> blockwise = new LinkedHashMap<>(t);
        blockwise.put("proj.weight_scale", f32(new long[] {1, 3}, 1, 2, 3));
        assertRefused("blockwise", blockwise, Map.of(), "proj.weight_scale", "[1, 3]");
    }

    @Test
    void aDamagedOrUnsupportedFileIsRefusedNamingTheTensor() {
        Map<String, TensorData> noScale = scaledFile("", codes(12, 1), codes(10, 2), codes(4, 3));
        noScale.remove("q.scale_weight");
        assertRefused("noScale", noScale, Map.of(), "q.scale_input", "q.scale_weight");

        Map<String, TensorData> orphan = scaledFile("", codes(12, 1), codes(10, 2), codes(4, 3));
        orphan.put("gone.scale_weight", scalar(1f));
        assertRefused("orphan", orphan, Map.of(), "gone.scale_weight", "gone.weight");

        Map<String, TensorData> badShape = scaledFile("", codes(12, 1), codes(10, 2), codes(4, 3));
        badShape.put("k.scale_weight", f32(new long[] {5}, 1, 2, 3, 4, 5));
        assertRefused("badShape", badShape, Map.of(), "k.scale_weight", "[5]");

        Map<String, TensorData> mixedNoScale = new LinkedHashMap<>();
        mixedNoScale.put("l.weight", fp8(new long[] {2, 2}, codes(4, 1)));
        mixedNoScale.put("l.comfy_quant", json("{\"format\": \"float8_e4m3fn\"}"));
        assertRefused("mixedNoScale", mixedNoScale, Map.of(), "l.weight", "l.weight_scale");

        Map<String, TensorData> nvfp4 = new LinkedHashMap<>();
        nvfp4.put("l.weight", QuantFiles.u8(new long[] {2, 1}, new byte[] {1, 2}));
        nvfp4.put("l.weight_scale", scalar(1f));
        assertRefused("nvfp4", nvfp4, Map.of(ComfyFp8.METADATA_KEY, "{\"layers\": {\"l\": {\"format\": \"nvfp4\"}}}"),
                "'l'", "nvfp4");

        Map<String, TensorData> wrongDtype = new LinkedHashMap<>();
        wrongDtype.put("l.weight", fp8(new long[] {2, 2}, codes(4, 1)));
        wrongDtype.put("l.weight_scale", scalar(1f));
        wrongDtype.put("l.comfy_quant", json("{\"format\": \"float8_e5m2\"}"));
        assertRefused("wrongDtype", wrongDtype, Map.of(), "l.weight", "float8_e5m2");
    }

    private void assertRefused(String name, Map<String, TensorData> t, Map<String, String> metadata,
                               String... mentions) {
        QuantizedCheckpointException e = assertThrows(QuantizedCheckpointException.class,
                () -> QuantFiles.write(tmp.resolve(name + ".safetensors"), t, metadata).close());
        for (String m : mentions) {
            assertTrue(e.getMessage().contains(m), name + ": '" + m + "' not in: " + e.getMessage());
        }
        assertTrue(e.getMessage().contains(name + ".safetensors"), e.getMessage());
    }
}
