package dev.jdiffuse.safetensors.quant;

import dev.jdiffuse.safetensors.DType;
import dev.jdiffuse.safetensors.TensorInfo;
import dev.jdiffuse.safetensors.TensorSource;

/**
 * A weight stored in a low-precision float (FP8) with a float scale beside it: value = stored value x scale, in
 * float32 (ComfyUI: {@code weight.to(dtype) * scale}; float32 keeps the product exact to one rounding, the loader then
 * narrows to the model's dtype). The scale is one number per tensor, or, where {@code perRow} allows it, one per
 * output row (shape {@code [out, 1, ...]}, which broadcasts over the rows in PyTorch).
 */
record ScaledWeight(String weight, String scale, long[] shape, String format) implements Dequantized {

    /** Checks the pair in the header; throws naming the tensor if they do not fit together. */
    static ScaledWeight of(Plan p, String weight, String scale, String format, boolean perRow) {
        if (!p.raw.contains(weight)) {
            throw p.error(scale, "is the scale of '" + weight + "', which the file does not hold (" + format + ")");
        }
        TensorInfo w = p.raw.info(weight);
        TensorInfo s = p.raw.info(scale);
        if (!w.dtype().isFloatingPoint()) {
            throw p.error(weight, "has a scale (" + scale + ") but is " + w.dtype() + ", not a float (" + format + ")");
        }
        if (!s.dtype().isFloatingPoint()) {
            throw p.error(scale, "should be a float scale, is " + s.dtype() + " (" + format + ")");
        }
        if (s.numel() != 1 && !(perRow && isPerRow(s.shape(), w.shape()))) {
            throw p.error(scale, "has shape " + Plan.shapeOf(s.shape()) + " for weight '" + weight + "' "
                    + Plan.shapeOf(w.shape()) + ": expected one number" + (perRow ? " or one per output row" : "")
                    + " (" + format + ")");
        }
        return new ScaledWeight(weight, scale, w.shape(), format);
    }

    /** {@code [out, 1, ..., 1]} with the weight's rank and row count. */
    private static boolean isPerRow(long[] s, long[] w) {
        if (s.length != w.length || s.length == 0 || s[0] != w[0]) {
            return false;
        }
        for (int i = 1; i < s.length; i++) {
            if (s[i] != 1) {
                return false;
            }
        }
        return true;
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public float[] values(TensorSource raw) {
        float[] s = raw.toFloatArray(scale);
        DType stored = raw.info(weight).dtype();
        if (stored != DType.F8_E4M3 && stored != DType.F8_E5M2) {
            float[] v = raw.toFloatArray(weight); // exact for F16/BF16/F32
            int row = s.length == 1 ? Math.max(1, v.length) : v.length / s.length;
            Chunks.forEach(v.length, (from, to) -> {
                for (int i = from; i < to; i++) {
                    v[i] *= s[i / row];
                }
            });
            return v;
        }
        // FP8: one table of the 256 codes' values times the scale per scale (the same float products, computed once)
        byte[] codes = Bytes.of(raw, weight);
        float[] decoded = stored == DType.F8_E4M3 ? Fp8Tables.E4M3 : Fp8Tables.E5M2;
        float[] out = new float[codes.length];
        if (s.length == 1) {
            float[] table = new float[256];
            for (int c = 0; c < 256; c++) {
                table[c] = decoded[c] * s[0];
            }
            Chunks.forEach(codes.length, (from, to) -> {
                for (int i = from; i < to; i++) {
                    out[i] = table[codes[i] & 0xff];
                }
            });
            return out;
        }
        int row = codes.length / s.length;
        Chunks.forEach(s.length, row, (fromRow, toRow) -> {
            float[] table = new float[256];
            for (int r = fromRow; r < toRow; r++) {
                for (int c = 0; c < 256; c++) {
                    table[c] = decoded[c] * s[r];
                }
                for (int i = r * row, end = i + row; i < end; i++) {
                    out[i] = table[codes[i] & 0xff];
                }
            }
        });
        return out;
    }
}
