package dev.jdiffuse.safetensors;

import java.nio.ByteBuffer;

import static dev.jdiffuse.safetensors.GgmlDequantizer.half;
import static dev.jdiffuse.safetensors.GgmlDequantizer.u8;

/**
 * ggml's K-quants (super-blocks of {@code QK_K} = 256 elements), written from the structs in {@code ggml-common.h}
 * and {@code dequantize_row_q2_K .. dequantize_row_q6_K} of {@code ggml-quants.c} (the {@code QK_K == 256} branch).
 * Each method decodes the block at byte {@code at} into {@code y[yo..yo+256)}.
 */
final class GgmlKQuants {

    static final int QK_K = 256;

    private GgmlKQuants() {
    }

    /**
     * {@code block_q2_K {uint8 scales[16]; uint8 qs[64]; half d; half dmin}}: 16 groups of 16; group s has scale
     * {@code d * (scales[s] & 0xF)} and min {@code dmin * (scales[s] >> 4)}; x = scale * q - min with the 2-bit q taken
     * from {@code qs[32 * half + l (+16)] >> shift}, the shift stepping 0, 2, 4, 6 across the four group pairs of
     * each 128-element half.
     */
    static void q2K(ByteBuffer b, int at, float[] y, int yo) {
        float d = half(b, at + 80);
        float min = half(b, at + 82);
        int out = yo;
        int is = 0;
        for (int n = 0; n < QK_K; n += 128) {
            int q = at + 16 + n / 4;
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; part++) {
                    int sc = u8(b, at + is++);
                    float dl = d * (sc & 0xF);
                    float ml = min * (sc >> 4);
                    for (int l = 0; l < 16; l++) {
                        y[out++] = dl * ((u8(b, q + 16 * part + l) >> shift) & 3) - ml;
                    }
                }
            }
        }
    }

    /**
     * {@code block_q3_K {uint8 hmask[32]; uint8 qs[64]; uint8 scales[12]; half d}}: 16 groups of 16 with signed 6-bit
     * scales (low 4 bits: nibble of {@code scales[j % 8]}, low for j < 8, high after; high 2 bits: bits
     * {@code 2 * (j / 4)} of {@code scales[8 + j % 4]}; minus 32) and x = d * scale * (q - 4 if the hmask bit is clear,
     * else q), q the 2-bit value as in Q2_K; the hmask bit of element l (+16) of group pair k is bit k of
     * {@code hmask[l (+16)]}, k counting 0..7 over the whole block.
     */
    static void q3K(ByteBuffer b, int at, float[] y, int yo) {
        float dAll = half(b, at + 108);
        int[] scales = new int[16];
        for (int j = 0; j < 16; j++) {
            int lo = j < 8 ? u8(b, at + 96 + j) & 0xF : u8(b, at + 96 + j - 8) >> 4;
            int hi = (u8(b, at + 96 + 8 + j % 4) >> (2 * (j / 4))) & 3;
            scales[j] = (lo | (hi << 4)) - 32;
        }
        int out = yo;
        int is = 0;
        int m = 1;
        for (int n = 0; n < QK_K; n += 128) {
            int q = at + 32 + n / 4;
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; part++) {
                    float dl = dAll * scales[is++];
                    for (int l = 0; l < 16; l++) {
                        int low = (u8(b, q + 16 * part + l) >> shift) & 3;
                        int high = (u8(b, at + 16 * part + l) & m) != 0 ? 0 : 4;
                        y[out++] = dl * (low - high);
                    }
                }
                m <<= 1;
            }
        }
    }

    /**
     * The 6-bit scale and min of group {@code j} (0..7) of Q4_K / Q5_K ({@code get_scale_min_k4}): groups 0..3 keep
     * them in the low 6 bits of {@code scales[j]} / {@code scales[j + 4]}; groups 4..7 keep their low 4 bits in the
     * nibbles of {@code scales[j + 4]} and their high 2 bits in the top bits of {@code scales[j - 4]} / {@code scales[j]}.
     * Returns {@code scale | min << 8}.
     */
    static int scaleMinK4(ByteBuffer b, int scalesAt, int j) {
        int sc;
        int m;
        if (j < 4) {
            sc = u8(b, scalesAt + j) & 63;
            m = u8(b, scalesAt + j + 4) & 63;
        } else {
            sc = (u8(b, scalesAt + j + 4) & 0xF) | ((u8(b, scalesAt + j - 4) >> 6) << 4);
            m = (u8(b, scalesAt + j + 4) >> 4) | ((u8(b, scalesAt + j) >> 6) << 4);
        }
        return sc | (m << 8);
    }

    /**
     * {@code block_q4_K {half d; half dmin; uint8 scales[12]; uint8 qs[128]}}: 8 groups of 32, x = d * sc * q - dmin * m
     * ({@link #scaleMinK4}); each 64 elements share 32 bytes of qs, low nibbles first, then high nibbles.
     */
    static void q4K(ByteBuffer b, int at, float[] y, int yo) {
        float d = half(b, at);
        float min = half(b, at + 2);
        int out = yo;
        for (int g = 0; g < 4; g++) {
            int sm1 = scaleMinK4(b, at + 4, 2 * g);
            int sm2 = scaleMinK4(b, at + 4, 2 * g + 1);
            float d1 = d * (sm1 & 0xff);
            float m1 = min * (sm1 >> 8);
            float d2 = d * (sm2 & 0xff);
            float m2 = min * (sm2 >> 8);
            int q = at + 16 + 32 * g;
            for (int l = 0; l < 32; l++) {
                y[out++] = d1 * (u8(b, q + l) & 0xF) - m1;
            }
            for (int l = 0; l < 32; l++) {
                y[out++] = d2 * (u8(b, q + l) >> 4) - m2;
            }
        }
    }

    /**
     * {@code block_q5_K {half d; half dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]}}: as Q4_K with a fifth bit
     * (+16) for element l of group 2g from bit 2g of {@code qh[l]}, of group 2g + 1 from bit 2g + 1.
     */
    static void q5K(ByteBuffer b, int at, float[] y, int yo) {
        float d = half(b, at);
        float min = half(b, at + 2);
        int qh = at + 16;
        int out = yo;
        for (int g = 0; g < 4; g++) {
            int sm1 = scaleMinK4(b, at + 4, 2 * g);
            int sm2 = scaleMinK4(b, at + 4, 2 * g + 1);
            float d1 = d * (sm1 & 0xff);
            float m1 = min * (sm1 >> 8);
            float d2 = d * (sm2 & 0xff);
            float m2 = min * (sm2 >> 8);
            int u1 = 1 << (2 * g);
            int u2 = 2 << (2 * g);
            int ql = at + 48 + 32 * g;
            for (int l = 0; l < 32; l++) {
                y[out++] = d1 * ((u8(b, ql + l) & 0xF) + ((u8(b, qh + l) & u1) != 0 ? 16 : 0)) - m1;
            }
            for (int l = 0; l < 32; l++) {
                y[out++] = d2 * ((u8(b, ql + l) >> 4) + ((u8(b, qh + l) & u2) != 0 ? 16 : 0)) - m2;
            }
        }
    }

    /**
     * {@code block_q6_K {uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d}}: x = d * scale * (q - 32), q 6 bits; in
     * each 128-element half (ql advancing 64, qh 32, scales 8) element l + 32k (k = 0..3, l = 0..31) takes the low
     * nibble (k even) or high nibble (k odd) of {@code ql[l + 32 (k & 1)]}, the 2 bits {@code qh[l] >> 2k} and the scale
     * {@code scales[l / 16 + 2k]}.
     */
    static void q6K(ByteBuffer b, int at, float[] y, int yo) {
        float d = half(b, at + 208);
        for (int n = 0; n < 2; n++) {
            int ql = at + 64 * n;
            int qh = at + 128 + 32 * n;
            int sc = at + 192 + 8 * n;
            int o = yo + 128 * n;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int h = u8(b, qh + l);
                int lo0 = u8(b, ql + l);
                int lo1 = u8(b, ql + l + 32);
                int q1 = ((lo0 & 0xF) | ((h & 3) << 4)) - 32;
                int q2 = ((lo1 & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                int q3 = ((lo0 >> 4) | (((h >> 4) & 3) << 4)) - 32;
                int q4 = ((lo1 >> 4) | (((h >> 6) & 3) << 4)) - 32;
                y[o + l] = d * b.get(sc + is) * q1;
                y[o + l + 32] = d * b.get(sc + is + 2) * q2;
                y[o + l + 64] = d * b.get(sc + is + 4) * q3;
                y[o + l + 96] = d * b.get(sc + is + 6) * q4;
            }
        }
    }
}
