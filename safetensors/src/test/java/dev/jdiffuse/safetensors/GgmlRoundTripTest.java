package dev.jdiffuse.safetensors;

import dev.jdiffuse.testkit.GgufWriter;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Round trips in the style of llama.cpp's {@code tests/test-quantize-fns.cpp}: synthetic data
 * {@code 0.1 + 2 cos(i + offset)} (4096 values), quantized by a plain test-side quantizer (absmax or min/max per
 * block, scales rounded to their stored widths; simpler than ggml's search-based ones, so the error is somewhat
 * larger), packed by {@link GgmlTestBlocks}, dequantized by the reader. The RMS error must stay under the rounding error
 * of a uniform quantizer of that bit width over the data's range 4.2: step / sqrt(12) with step = 4.2 / (2^bits - 1),
 * times 1.5 for the coarser scale grids (fp16 block scales, 4- or 6-bit sub-block scales). A layout bug puts values
 * in the wrong places and makes the error of the order of the data itself (about 1.4).
 */
class GgmlRoundTripTest {

    private static final int N = 32 * 128;
    private static final double RANGE = 4.2;

    enum Case {
        Q4_0(GgmlType.Q4_0, 4, GgmlRoundTripTest::q4_0),
        Q4_1(GgmlType.Q4_1, 4, x -> minMax32(x, 15, false)),
        Q5_0(GgmlType.Q5_0, 5, GgmlRoundTripTest::q5_0),
        Q5_1(GgmlType.Q5_1, 5, x -> minMax32(x, 31, true)),
        Q8_0(GgmlType.Q8_0, 8, GgufWriter::quantizeQ8_0),
        Q2_K(GgmlType.Q2_K, 2, GgmlRoundTripTest::q2K),
        Q3_K(GgmlType.Q3_K, 3, GgmlRoundTripTest::q3K),
        Q4_K(GgmlType.Q4_K, 4, x -> q45K(x, 15)),
        Q5_K(GgmlType.Q5_K, 5, x -> q45K(x, 31)),
        Q6_K(GgmlType.Q6_K, 6, GgmlRoundTripTest::q6K);

        final GgmlType type;
        final int bits;
        final Function<float[], byte[]> quantize;

        Case(GgmlType type, int bits, Function<float[], byte[]> quantize) {
            this.type = type;
            this.bits = bits;
            this.quantize = quantize;
        }
    }

    @ParameterizedTest
    @EnumSource(Case.class)
    void roundTripErrorIsThatOfTheBitWidth(Case c) {
        for (float offset : new float[] {0f, 0.7f, 3.3f}) {
            float[] x = new float[N];
            for (int i = 0; i < N; i++) {
                x[i] = (float) (0.1 + 2 * Math.cos(i + offset));
            }
            byte[] q = c.quantize.apply(x);
            float[] y = new float[N];
            GgmlDequantizer.dequantize(c.type, ByteBuffer.wrap(q).order(ByteOrder.LITTLE_ENDIAN), 0,
                    N / c.type.blockElements(), y, 0);
            double sum = 0;
            for (int i = 0; i < N; i++) {
                sum += (x[i] - y[i]) * (double) (x[i] - y[i]);
            }
            double rms = Math.sqrt(sum / N);
            double bound = 1.5 * RANGE / ((1 << c.bits) - 1) / Math.sqrt(12);
            System.out.printf("%s offset %.1f: RMS error %.3e (bound %.3e)%n", c, offset, rms, bound);
            assertTrue(rms < bound, c + ": RMS error " + rms + " over " + bound);
        }
    }

    private static float h(float f) {
        return GgufWriter.fromHalf(GgufWriter.toHalf(f));
    }

    private static int clamp(long v, int lo, int hi) {
        return (int) Math.max(lo, Math.min(hi, v));
    }

    /** Signed absmax per 32 as quantize_row_q4_0_ref: d = max / -8, L = x / d + 8 in 0..15. */
    private static byte[] q4_0(float[] x) {
        ByteBuffer out = ByteBuffer.allocate(N / 32 * 18);
        for (int b = 0; b < N / 32; b++) {
            float max = signedMax(x, 32 * b, 32);
            float d = h(max / -8);
            int[] l = new int[32];
            for (int j = 0; j < 32; j++) {
                l[j] = d == 0 ? 8 : clamp(Math.round(x[32 * b + j] / d) + 8, 0, 15);
            }
            out.put(GgmlTestBlocks.q4_0(d, l));
        }
        return out.array();
    }

    private static byte[] q5_0(float[] x) {
        ByteBuffer out = ByteBuffer.allocate(N / 32 * 22);
        for (int b = 0; b < N / 32; b++) {
            float d = h(signedMax(x, 32 * b, 32) / -16);
            int[] l = new int[32];
            for (int j = 0; j < 32; j++) {
                l[j] = d == 0 ? 16 : clamp(Math.round(x[32 * b + j] / d) + 16, 0, 31);
            }
            out.put(GgmlTestBlocks.q5(d, null, l));
        }
        return out.array();
    }

    /** Min/max per 32 (Q4_1, Q5_1): d = (max - min) / levels, m = min, L = (x - m) / d. */
    private static byte[] minMax32(float[] x, int levels, boolean five) {
        ByteBuffer out = ByteBuffer.allocate(N / 32 * (five ? 24 : 20));
        for (int b = 0; b < N / 32; b++) {
            float min = Float.MAX_VALUE;
            float max = -Float.MAX_VALUE;
            for (int j = 0; j < 32; j++) {
                min = Math.min(min, x[32 * b + j]);
                max = Math.max(max, x[32 * b + j]);
            }
            float d = h((max - min) / levels);
            float m = h(min);
            int[] l = new int[32];
            for (int j = 0; j < 32; j++) {
                l[j] = d == 0 ? 0 : clamp(Math.round((x[32 * b + j] - m) / d), 0, levels);
            }
            out.put(five ? GgmlTestBlocks.q5(d, m, l) : GgmlTestBlocks.q4_1(d, m, l));
        }
        return out.array();
    }

    /** Q2_K: min/max per 16, 4-bit scale and min on fp16 super-scales. */
    private static byte[] q2K(float[] x) {
        ByteBuffer out = ByteBuffer.allocate(N / 256 * 84);
        for (int b = 0; b < N / 256; b++) {
            int base = 256 * b;
            float[] scale = new float[16];
            float[] min = new float[16];
            float maxScale = 0;
            float maxMin = 0;
            for (int s = 0; s < 16; s++) {
                float lo = 0;
                float hi = 0;
                for (int j = 0; j < 16; j++) {
                    lo = Math.min(lo, x[base + 16 * s + j]);
                    hi = Math.max(hi, x[base + 16 * s + j]);
                }
                scale[s] = (hi - lo) / 3;
                min[s] = -lo;
                maxScale = Math.max(maxScale, scale[s]);
                maxMin = Math.max(maxMin, min[s]);
            }
            float d = h(maxScale / 15);
            float dmin = h(maxMin / 15);
            int[] sc = new int[16];
            int[] m = new int[16];
            int[] l = new int[256];
            for (int s = 0; s < 16; s++) {
                sc[s] = d == 0 ? 0 : clamp((long) Math.ceil(scale[s] / d), 0, 15); // round up: cover the range
                m[s] = dmin == 0 ? 0 : clamp((long) Math.ceil(min[s] / dmin), 0, 15);
                float ds = d * sc[s];
                float ms = dmin * m[s];
                for (int j = 0; j < 16; j++) {
                    l[16 * s + j] = ds == 0 ? 0 : clamp(Math.round((x[base + 16 * s + j] + ms) / ds), 0, 3);
                }
            }
            out.put(GgmlTestBlocks.q2K(d, dmin, sc, m, l));
        }
        return out.array();
    }

    /** Q3_K: signed absmax per 16 (levels -4..3), 6-bit signed scales on an fp16 super-scale. */
    private static byte[] q3K(float[] x) {
        ByteBuffer out = ByteBuffer.allocate(N / 256 * 110);
        for (int b = 0; b < N / 256; b++) {
            int base = 256 * b;
            float[] scale = new float[16];
            float maxScale = 0;
            for (int s = 0; s < 16; s++) {
                scale[s] = signedMax(x, base + 16 * s, 16) / -4;
                if (Math.abs(scale[s]) > Math.abs(maxScale)) {
                    maxScale = scale[s];
                }
            }
            float d = h(maxScale / -32);
            int[] ls = new int[16];
            int[] l = new int[256];
            for (int s = 0; s < 16; s++) {
                ls[s] = d == 0 ? 32 : clamp(Math.round(scale[s] / d) + 32, 0, 63);
                float ds = d * (ls[s] - 32);
                for (int j = 0; j < 16; j++) {
                    l[16 * s + j] = ds == 0 ? 4 : clamp(Math.round(x[base + 16 * s + j] / ds) + 4, 0, 7);
                }
            }
            out.put(GgmlTestBlocks.q3K(d, ls, l));
        }
        return out.array();
    }

    /** Q4_K / Q5_K: min/max per 32, 6-bit scales and mins on fp16 super-scales. */
    private static byte[] q45K(float[] x, int levels) {
        boolean five = levels == 31;
        ByteBuffer out = ByteBuffer.allocate(N / 256 * (five ? 176 : 144));
        for (int b = 0; b < N / 256; b++) {
            int base = 256 * b;
            float[] scale = new float[8];
            float[] min = new float[8];
            float maxScale = 0;
            float maxMin = 0;
            for (int g = 0; g < 8; g++) {
                float lo = 0;
                float hi = 0;
                for (int j = 0; j < 32; j++) {
                    lo = Math.min(lo, x[base + 32 * g + j]);
                    hi = Math.max(hi, x[base + 32 * g + j]);
                }
                scale[g] = (hi - lo) / levels;
                min[g] = -lo;
                maxScale = Math.max(maxScale, scale[g]);
                maxMin = Math.max(maxMin, min[g]);
            }
            float d = h(maxScale / 63);
            float dmin = h(maxMin / 63);
            int[] sc = new int[8];
            int[] m = new int[8];
            int[] l = new int[256];
            for (int g = 0; g < 8; g++) {
                sc[g] = d == 0 ? 0 : clamp((long) Math.ceil(scale[g] / d), 0, 63);
                m[g] = dmin == 0 ? 0 : clamp(Math.round(min[g] / dmin), 0, 63);
                float ds = d * sc[g];
                float ms = dmin * m[g];
                for (int j = 0; j < 32; j++) {
                    l[32 * g + j] = ds == 0 ? 0 : clamp(Math.round((x[base + 32 * g + j] + ms) / ds), 0, levels);
                }
            }
            out.put(five ? GgmlTestBlocks.q5K(d, dmin, sc, m, l) : GgmlTestBlocks.q4K(d, dmin, sc, m, l));
        }
        return out.array();
    }

    /** Q6_K: signed absmax per 16 (levels -32..31), int8 scales on an fp16 super-scale. */
    static byte[] q6K(float[] x) {
        ByteBuffer out = ByteBuffer.allocate(x.length / 256 * 210);
        for (int b = 0; b < x.length / 256; b++) {
            int base = 256 * b;
            float[] scale = new float[16];
            float maxScale = 0;
            for (int s = 0; s < 16; s++) {
                scale[s] = signedMax(x, base + 16 * s, 16) / -32;
                if (Math.abs(scale[s]) > Math.abs(maxScale)) {
                    maxScale = scale[s];
                }
            }
            float d = h(maxScale / -128);
            int[] sc = new int[16];
            int[] l = new int[256];
            for (int s = 0; s < 16; s++) {
                sc[s] = d == 0 ? 0 : clamp(Math.round(scale[s] / d), -128, 127);
                float ds = d * sc[s];
                for (int j = 0; j < 16; j++) {
                    l[16 * s + j] = ds == 0 ? 32 : clamp(Math.round(x[base + 16 * s + j] / ds) + 32, 0, 63);
                }
            }
            out.put(GgmlTestBlocks.q6K(d, sc, l));
        }
        return out.array();
    }

    /** The value of largest magnitude, with its sign (ggml's {@code max} in the absmax quantizers). */
    private static float signedMax(float[] x, int from, int n) {
        float best = 0;
        for (int j = 0; j < n; j++) {
            if (Math.abs(x[from + j]) > Math.abs(best)) {
                best = x[from + j];
            }
        }
        return best;
    }
}
