package dev.jdiffuse.safetensors.quant;

import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.safetensors.TensorSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static dev.jdiffuse.safetensors.quant.QuantFiles.f32;
import static dev.jdiffuse.safetensors.quant.QuantFiles.json;
import static dev.jdiffuse.safetensors.quant.QuantFiles.u8;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * bitsandbytes 4-bit weights against values computed here from the code tables of bitsandbytes'
 * {@code get_4bit_type} (NF4: the normal-float quantiles; FP4: {0, 0.0625, 8, 12, 4, 6, 2, 3} / 12 with sign bit 8),
 * in the layout {@code QuantState.as_dict(packed=True)} saves.
 */
class BitsAndBytes4bitTest {

    static final double[] NF4 = {-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534,
        0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
        0.7229568362236023, 1.0};
    static final double[] FP4 = new double[16];

    static {
        double[] magnitudes = {0, 0.0625, 8, 12, 4, 6, 2, 3};
        for (int i = 0; i < 8; i++) {
            FP4[i] = magnitudes[i] / 12;
            FP4[i + 8] = -magnitudes[i] / 12;
        }
    }

    @TempDir
    Path tmp;

    static float[] floats(double[] d) {
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }

    /** Two codes a byte, the first in the high nibble; an odd count pads the last low nibble with 0. */
    static byte[] pack(int[] q) {
        byte[] out = new byte[(q.length + 1) / 2];
        for (int j = 0; j < q.length; j++) {
            out[j / 2] |= (byte) ((j % 2 == 0) ? q[j] << 4 : q[j]);
        }
        return out;
    }

    static String state(String type, int blocksize, long[] shape, String nested) {
        StringBuilder s = new StringBuilder("{\"quant_type\": \"" + type + "\", \"absmax\": null, \"blocksize\": "
                + blocksize + ", \"dtype\": \"bfloat16\", \"shape\": [");
        for (int i = 0; i < shape.length; i++) {
            s.append(i == 0 ? "" : ", ").append(shape[i]);
        }
        return s.append("]").append(nested).append("}").toString().replace("\"absmax\": null, ", "");
    }

    /** One 4-bit weight {@code w.weight} with its state, plus a plain bias. */
    static Map<String, TensorData> layer(String type, long[] shape, int[] q, float[] absmax, double[] code) {
        Map<String, TensorData> t = new LinkedHashMap<>();
        byte[] packed = pack(q);
        t.put("w.weight", u8(new long[] {packed.length, 1}, packed));
        t.put("w.weight.absmax", f32(new long[] {absmax.length}, absmax));
        t.put("w.weight.quant_map", f32(new long[] {16}, floats(code)));
        t.put("w.weight.quant_state.bitsandbytes__" + type, json(state(type, 64, shape, "")));
        t.put("w.bias", f32(new long[] {2}, 7, 8));
        return t;
    }

    @Test
    void knownValuesHighNibbleFirst() {
        // bytes 0x0F 0x7E 0x30: codes 0, 15 | 7, 14 | 3 (and a padding nibble)
        int[] q = {0, 15, 7, 14, 3};
        assertArrayEquals(new byte[] {0x0f, 0x7e, 0x30}, pack(q));
        try (TensorSource s = QuantFiles.write(tmp.resolve("known.safetensors"),
                layer("nf4", new long[] {5}, q, new float[] {2f}, NF4))) {
            assertArrayEquals(new float[] {-2f, 2f, 0f, (float) (0.7229568362236023 * 2), (float) (-0.39491748809814453
                    * 2)}, s.toFloatArray("w.weight"));
            assertEquals(List.of("w.weight", "w.bias"), List.copyOf(s.names()));
            assertEquals(DType.F32, s.info("w.weight").dtype());
            assertArrayEquals(new float[] {7, 8}, s.toFloatArray("w.bias"));
        }
    }

    @Test
    void oddSizesAndAPartialLastBlockKeepTheirShape() {
        long[] shape = {3, 67}; // 201 values: 101 bytes, blocks of 64, 64, 64 and 9
        int n = 201;
        int[] q = new int[n];
        for (int j = 0; j < n; j++) {
            q[j] = (j * 7 + 3) % 16;
        }
        float[] absmax = {0.5f, 1.25f, 3f, 0.01f};
        for (String type : List.of("nf4", "fp4")) {
            double[] code = type.equals("nf4") ? NF4 : FP4;
            try (TensorSource s = QuantFiles.write(tmp.resolve(type + ".safetensors"),
                    layer(type, shape, q, absmax, code))) {
                assertArrayEquals(shape, s.info("w.weight").shape());
                float[] got = s.toFloatArray("w.weight");
                assertEquals(n, got.length);
                for (int j = 0; j < n; j++) {
                    assertEquals(code[q[j]] * absmax[j / 64], got[j], 1e-7 * Math.abs(code[q[j]] * absmax[j / 64]),
                            type + " element " + j);
                }
            }
        }
    }

    @Test
    void nestedAbsmaxIsDequantizedBlockwisePlusTheOffset() {
        nested(64 * 300 + 33); // 301 absmax blocks: two nested blocks of 256
    }

    @Test
    void aLargeWeightSplitAcrossThreadsDecodesTheSame() {
        nested(64 * 9000 + 17); // over Chunks.CHUNK elements: the blocks are decoded in parallel ranges
    }

    private void nested(int n) {
        int blocks = (n + 63) / 64;
        int nestedBlocks = (blocks + 255) / 256;
        int[] q = new int[n];
        for (int j = 0; j < n; j++) {
            q[j] = (j * 5 + j / 64) % 16;
        }
        byte[] absmaxCodes = new byte[blocks];
        for (int b = 0; b < blocks; b++) {
            absmaxCodes[b] = (byte) (b * 13);
        }
        double[] code2 = new double[256];
        for (int i = 0; i < 256; i++) {
            code2[i] = (i - 127.5) / 127.5;
        }
        float[] nestedAbsmax = new float[nestedBlocks];
        for (int b = 0; b < nestedBlocks; b++) {
            nestedAbsmax[b] = 0.02f + 0.03f * b;
        }
        double offset = 0.1;
        Map<String, TensorData> t = new LinkedHashMap<>();
        byte[] packed = pack(q);
        t.put("w.weight", u8(new long[] {packed.length, 1}, packed));
        t.put("w.weight.absmax", u8(new long[] {blocks}, absmaxCodes));
        t.put("w.weight.quant_map", f32(new long[] {16}, floats(NF4)));
        t.put("w.weight.nested_absmax", f32(new long[] {nestedBlocks}, nestedAbsmax));
        t.put("w.weight.nested_quant_map", f32(new long[] {256}, floats(code2)));
        t.put("w.weight.quant_state.bitsandbytes__nf4", json(state("nf4", 64, new long[] {n}, ", \"nested_blocksize\": "
                + "256, \"nested_dtype\": \"float32\", \"nested_offset\": " + offset)));
        try (TensorSource s = QuantFiles.write(tmp.resolve("nested" + n + ".safetensors"), t)) {
            assertEquals(List.of("w.weight"), List.copyOf(s.names()));
            float[] got = s.toFloatArray("w.weight");
            for (int j = 0; j < n; j++) {
                int b = j / 64;
                // in float32, step by step, as bitsandbytes' tensors compute it (absmax near the offset cancels,
                // so a double-precision reference would differ in the last bits)
                float absmax = (float) code2[absmaxCodes[b] & 0xff] * nestedAbsmax[b / 256];
                absmax += (float) offset;
                float expected = (float) NF4[q[j]] * absmax;
                assertEquals(expected, got[j], 0f, "element " + j);
            }
        }
    }

    @Test
    void aShardedSaveWithTheStateInAnotherShardDequantizes() throws Exception {
        // diffusers / transformers shard bnb saves; a weight's helpers need not share its shard
        int[] q = {1, 14, 7, 8, 0, 15};
        Map<String, TensorData> all = layer("nf4", new long[] {2, 3}, q, new float[] {0.5f}, NF4);
        Map<String, TensorData> first = new LinkedHashMap<>();
        Map<String, TensorData> second = new LinkedHashMap<>();
        StringBuilder map = new StringBuilder();
        for (String n : all.keySet()) {
            boolean one = n.equals("w.weight") || n.equals("w.bias");
            (one ? first : second).put(n, all.get(n));
            map.append(map.length() == 0 ? "" : ", ").append('"').append(n).append("\": \"model-0000")
                    .append(one ? 1 : 2).append("-of-00002.safetensors\"");
        }
        dev.jdiffuse.safetensors.SafetensorsWriter.write(tmp.resolve("model-00001-of-00002.safetensors"), first);
        dev.jdiffuse.safetensors.SafetensorsWriter.write(tmp.resolve("model-00002-of-00002.safetensors"), second);
        Path index = tmp.resolve("model.safetensors.index.json");
        java.nio.file.Files.writeString(index, "{\"metadata\": {}, \"weight_map\": {" + map + "}}");
        try (TensorSource s = QuantizedCheckpoints.dequantizing(TensorSource.open(index))) {
            assertEquals(List.of("w.weight", "w.bias"), List.copyOf(s.names()));
            assertArrayEquals(new long[] {2, 3}, s.info("w.weight").shape());
            float[] expected = new float[6];
            for (int j = 0; j < 6; j++) {
                expected[j] = (float) NF4[q[j]] * 0.5f;
            }
            assertArrayEquals(expected, s.toFloatArray("w.weight"));
        }
    }

    @Test
    void inconsistentStatesAreRefusedNamingTheTensor() {
        int[] q = new int[10];
        float[] absmax = {1f};
        Map<String, TensorData> wrongShape = layer("nf4", new long[] {4, 4}, q, absmax, NF4); // needs 8 bytes, has 5
        assertRefused("wrongShape", wrongShape, "w.weight", "[4,4]");

        Map<String, TensorData> wrongType = layer("nf4", new long[] {10}, q, absmax, NF4);
        wrongType.put("w.weight.quant_state.bitsandbytes__nf4", json(state("fp4", 64, new long[] {10}, "")));
        assertRefused("wrongType", wrongType, "w.weight.quant_state.bitsandbytes__nf4", "fp4");

        Map<String, TensorData> absmaxCount = layer("nf4", new long[] {10}, q, new float[] {1f, 2f}, NF4);
        assertRefused("absmaxCount", absmaxCount, "w.weight.absmax", "expected 1");

        Map<String, TensorData> noAbsmax = layer("nf4", new long[] {10}, q, absmax, NF4);
        noAbsmax.remove("w.weight.absmax");
        assertRefused("noAbsmax", noAbsmax, "w.weight.absmax", "missing");

        Map<String, TensorData> noState = layer("nf4", new long[] {10}, q, absmax, NF4);
        noState.remove("w.weight.quant_state.bitsandbytes__nf4");
        assertRefused("noState", noState, "w.weight", "quant_state");

        Map<String, TensorData> nestedNoOffset = layer("nf4", new long[] {10}, q, absmax, NF4);
        nestedNoOffset.put("w.weight.absmax", u8(new long[] {1}, new byte[] {3}));
        nestedNoOffset.put("w.weight.nested_absmax", f32(new long[] {1}, 1f));
        nestedNoOffset.put("w.weight.quant_state.bitsandbytes__nf4", json(state("nf4", 64, new long[] {10},
                ", \"nested_blocksize\": 256")));
        assertRefused("nestedNoOffset", nestedNoOffset, "w.weight.quant_state.bitsandbytes__nf4", "nested_offset");

        Map<String, TensorData> int8 = new LinkedHashMap<>();
        int8.put("l.weight", TensorData.of(DType.I8, new long[] {2}, new byte[] {1, 2}));
        int8.put("l.SCB", f32(new long[] {1}, 1f));
        assertRefused("int8", int8, "l.SCB", "8-bit");
    }

    private void assertRefused(String name, Map<String, TensorData> t, String... mentions) {
        QuantizedCheckpointException e = assertThrows(QuantizedCheckpointException.class,
                () -> QuantFiles.write(tmp.resolve(name + ".safetensors"), t).close());
        for (String m : mentions) {
            assertTrue(e.getMessage().contains(m), name + ": '" + m + "' not in: " + e.getMessage());
        }
    }
}
