package dev.jdiffuse.safetensors.quant;

import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.SafetensorsFile;
import dev.jdiffuse.safetensors.SafetensorsWriter;
import dev.jdiffuse.safetensors.TensorData;
import dev.jdiffuse.safetensors.TensorSource;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;

/** Small builders for the quantized test files. */
final class QuantFiles {

    private QuantFiles() {
    }

    static TensorData fp8(long[] shape, byte[] codes) {
        return TensorData.of(DType.F8_E4M3, shape, codes);
    }

    static TensorData u8(long[] shape, byte[] bytes) {
        return TensorData.of(DType.U8, shape, bytes);
    }

    static TensorData f32(long[] shape, float... v) {
        return TensorData.ofFloats(shape, v);
    }

    static TensorData scalar(float v) {
        return TensorData.ofFloats(new long[0], new float[] {v});
    }

    /** A U8 tensor of UTF-8 JSON, as ComfyUI and bitsandbytes store their per-layer configs. */
    static TensorData json(String json) {
        byte[] b = json.getBytes(StandardCharsets.UTF_8);
        return u8(new long[] {b.length}, b);
    }

    /** {@code n} codes cycling through every finite E4M3 value (no NaN), both signs. */
    static byte[] codes(int n, int seed) {
        byte[] out = new byte[n];
        for (int i = 0; i < n; i++) {
            int c = (seed + 37 * i) & 0xff;
            out[i] = (byte) ((c & 0x7f) == 0x7f ? c - 1 : c);
        }
        return out;
    }

    static TensorSource write(Path file, Map<String, TensorData> tensors, Map<String, String> metadata) {
        SafetensorsWriter.write(file, tensors, metadata);
        return QuantizedCheckpoints.dequantizing(SafetensorsFile.open(file));
    }

    static TensorSource write(Path file, Map<String, TensorData> tensors) {
        return write(file, tensors, Map.of());
    }
}
