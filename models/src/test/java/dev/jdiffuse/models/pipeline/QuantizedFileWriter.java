package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.HalfFloats;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.safetensors.TensorInfo;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Rewrites a float safetensors file the way quantized releases are made, quantizing every matrix ({@code *.weight} of
 * rank 2) under the given prefixes and copying everything else, and writes beside it the "folded" file: the same
 * weights as plain F32 holding exactly the values the quantized file stands for (its definition, computed here).
 * <ul>
 *   <li>{@link #scaledFp8}: ComfyUI's scaled fp8: per-tensor scale = amax / 448 (E4M3's largest finite value),
 *       {@code q = e4m3(w x (1 / scale))} as ComfyUI's {@code TensorCoreFP8Layout.quantize}, {@code <layer>.scale_weight},
 *       {@code <layer>.scale_input} = 1 and a {@code <prefix>scaled_fp8} marker; stands for {@code fp8(q) x scale}.
 *       {@code diskScaleFactor} multiplies the scale written to the file (1 for a true file; else a damaged one whose
 *       stated scale is off, for a control that must fail the sanity bound).</li>
 *   <li>{@link #nf4}: bitsandbytes NF4 with double quantization, as Forge's {@code flux1-dev-bnb-nf4}: blocks of 64 with
 *       their absmax, each value the nearest of the 16 NF4 levels; the absmax values less their mean (the offset) in
 *       blocks of 256 as 8-bit codes of a linear 256-level map with their own absmax.</li>
 * </ul>
 */
final class QuantizedFileWriter {

    static final float[] NF4 = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
        -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f, 0.07958029955625534f,
        0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
        0.7229568362236023f, 1.0f};

    /** Quantization statistics: relative RMS error of the quantized matrices, ||deq - w|| / ||w||. */
    record Stats(int tensors, double relativeRmsError) {
    }

    private QuantizedFileWriter() {
    }

    static Stats scaledFp8(Path in, Path out, Path folded, List<String> prefixes, float diskScaleFactor) {
        return rewrite(in, out, folded, prefixes, true, (name, w, shape, quant, plain) -> {
            float amax = 0;
            for (float v : w) {
                amax = Math.max(amax, Math.abs(v));
            }
            float scale = amax > 0 ? amax / 448f : 1f;
            float inv = 1f / scale;
            byte[] q = new byte[w.length];
            float[] deq = new float[w.length];
            for (int i = 0; i < w.length; i++) {
                q[i] = HalfFloats.floatToE4m3fn(w[i] * inv);
                deq[i] = HalfFloats.e4m3fnToFloat(q[i]) * scale;
            }
            String layer = name.substring(0, name.length() - ".weight".length());
            quant.put(name, TensorData.of(DType.F8_E4M3, shape, q));
            quant.put(layer + ".scale_weight", scalar(scale * diskScaleFactor));
            quant.put(layer + ".scale_input", scalar(1f));
            return deq;
        });
    }

    /**
     * {@code swapNibbles} writes each byte's two codes the other way round (low nibble first), for a control that
     * decodes as a reader with the wrong nibble order would.
     */
    static Stats nf4(Path in, Path out, Path folded, List<String> prefixes, boolean swapNibbles) {
        return rewrite(in, out, folded, prefixes, false, (name, w, shape, quant, plain) -> {
            int n = w.length;
            int blocks = (n + 63) / 64;
            float[] absmax = new float[blocks];
            for (int i = 0; i < n; i++) {
                absmax[i / 64] = Math.max(absmax[i / 64], Math.abs(w[i]));
            }
            // double quantization of absmax: offset = mean, then 8-bit codes per 256-block over a linear map
            double sum = 0;
            for (float a : absmax) {
                sum += a;
            }
            float offset = (float) (sum / blocks);
            int nestedBlocks = (blocks + 255) / 256;
            float[] nestedAbsmax = new float[nestedBlocks];
            for (int b = 0; b < blocks; b++) {
                nestedAbsmax[b / 256] = Math.max(nestedAbsmax[b / 256], Math.abs(absmax[b] - offset));
            }
            float[] code2 = new float[256];
            for (int i = 0; i < 256; i++) {
                code2[i] = (i - 127.5f) / 127.5f;
            }
            byte[] absmaxCodes = new byte[blocks];
            float[] absmaxDeq = new float[blocks];
            for (int b = 0; b < blocks; b++) {
                float na = nestedAbsmax[b / 256];
                int c = na > 0 ? nearest(code2, (absmax[b] - offset) / na) : 128;
                absmaxCodes[b] = (byte) c;
                absmaxDeq[b] = code2[c] * na + offset; // bitsandbytes: dequantize_blockwise, then + offset
            }
            byte[] packed = new byte[(n + 1) / 2];
            float[] deq = new float[n];
            for (int i = 0; i < n; i++) {
                float a = absmaxDeq[i / 64];
                int q = a != 0 ? nearest(NF4, w[i] / a) : 7;
                packed[i / 2] |= (byte) ((i % 2 == 0) != swapNibbles ? q << 4 : q);
                deq[i] = NF4[q] * a;
            }
            quant.put(name, TensorData.of(DType.U8, new long[] {packed.length, 1}, packed));
            quant.put(name + ".absmax", TensorData.of(DType.U8, new long[] {blocks}, absmaxCodes));
            quant.put(name + ".quant_map", TensorData.ofFloats(new long[] {16}, NF4));
            quant.put(name + ".nested_absmax", TensorData.ofFloats(new long[] {nestedBlocks}, nestedAbsmax));
            quant.put(name + ".nested_quant_map", TensorData.ofFloats(new long[] {256}, code2));
            String state = "{\"quant_type\": \"nf4\", \"blocksize\": 64, \"dtype\": \"bfloat16\", \"shape\": ["
                    + shape[0] + ", " + shape[1] + "], \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", "
                    + "\"nested_offset\": " + offset + "}";
            byte[] json = state.getBytes(StandardCharsets.UTF_8);
            quant.put(name + ".quant_state.bitsandbytes__nf4", TensorData.of(DType.U8, new long[] {json.length}, json));
            return deq;
        });
    }

    /** Quantizes {@code w} into {@code quant}; returns the values it stands for. */
    private interface Quantizer {
        float[] quantize(String name, float[] w, long[] shape, Map<String, TensorData> quant, Map<String, TensorData> plain);
    }

    private static Stats rewrite(Path in, Path out, Path folded, List<String> prefixes, boolean fp8Markers,
                                 Quantizer quantizer) {
        Map<String, TensorData> quant = new LinkedHashMap<>();
        Map<String, TensorData> plain = new LinkedHashMap<>();
        double err = 0;
        double norm = 0;
        int count = 0;
        try (SafetensorsFile f = SafetensorsFile.open(in)) {
            for (String name : f.names()) {
                TensorInfo info = f.info(name);
                boolean selected = prefixes.stream().anyMatch(name::startsWith) && name.endsWith(".weight")
                        && info.rank() == 2 && info.dtype().isFloatingPoint();
                if (!selected) {
                    ByteBuffer b = f.buffer(name);
                    byte[] bytes = new byte[b.remaining()];
                    b.get(bytes);
                    TensorData copy = TensorData.of(info.dtype(), info.shape(), bytes);
                    quant.put(name, copy);
                    plain.put(name, copy);
                    continue;
                }
                float[] w = f.toFloatArray(name);
                float[] deq = quantizer.quantize(name, w, info.shape(), quant, plain);
                plain.put(name, TensorData.ofFloats(info.shape(), deq));
                for (int i = 0; i < w.length; i++) {
                    err += (double) (deq[i] - w[i]) * (deq[i] - w[i]);
                    norm += (double) w[i] * w[i];
                }
                count++;
            }
        }
        if (fp8Markers) {
            for (String p : prefixes) {
                quant.put(p + "scaled_fp8", TensorData.of(DType.F8_E4M3, new long[] {0}, new byte[0]));
            }
        }
        SafetensorsWriter.write(out, quant);
        if (folded != null) {
            SafetensorsWriter.write(folded, plain);
        }
        return new Stats(count, Math.sqrt(err / norm));
    }

    private static TensorData scalar(float v) {
        return TensorData.ofFloats(new long[0], new float[] {v});
    }

    /** Index of the value of {@code code} nearest {@code x} (the first on a tie). */
    private static int nearest(float[] code, float x) {
        int best = 0;
        for (int i = 1; i < code.length; i++) {
            if (Math.abs(code[i] - x) < Math.abs(code[best] - x)) {
                best = i;
            }
        }
        return best;
    }
}
