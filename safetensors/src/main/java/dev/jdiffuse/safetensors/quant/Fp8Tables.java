package dev.jdiffuse.safetensors.quant;

import dev.jdiffuse.safetensors.HalfFloats;

/** The float value of each of the 256 FP8 codes (exact), for table-driven decoding. */
final class Fp8Tables {

    static final float[] E4M3 = new float[256];
    static final float[] E5M2 = new float[256];

    static {
        for (int c = 0; c < 256; c++) {
            E4M3[c] = HalfFloats.e4m3fnToFloat(c);
            E5M2[c] = HalfFloats.e5m2ToFloat(c);
        }
    }

    private Fp8Tables() {
    }
}
