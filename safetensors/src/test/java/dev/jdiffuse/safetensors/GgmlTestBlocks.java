package dev.jdiffuse.safetensors;

import dev.jdiffuse.testkit.GgufWriter;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Test-side block packers: each builds one ggml block from chosen integer quants and scales, following the packing
 * code of ggml's reference quantizers in {@code ggml-quants.c} ({@code quantize_row_*_ref}), which is the inverse of
 * the dequantizer under test; the tests then expect the documented formula of those integers. Scales are given as
 * floats that fp16 holds exactly.
 */
final class GgmlTestBlocks {

    private GgmlTestBlocks() {
    }

    static ByteBuffer le(int bytes) {
        return ByteBuffer.allocate(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    static short h(float f) {
        return GgufWriter.toHalf(f);
    }

    /** quantize_row_q4_0_ref: qs[j] = L[j] | L[j + 16] << 4; L in 0..15 (value L - 8). */
    static byte[] q4_0(float d, int[] l) {
        ByteBuffer b = le(18).putShort(h(d));
        for (int j = 0; j < 16; j++) {
            b.put((byte) (l[j] | l[j + 16] << 4));
        }
        return b.array();
    }

    /** quantize_row_q4_1_ref: d, m, then nibbles as Q4_0; L in 0..15 (value d L + m). */
    static byte[] q4_1(float d, float m, int[] l) {
        ByteBuffer b = le(20).putShort(h(d)).putShort(h(m));
        for (int j = 0; j < 16; j++) {
            b.put((byte) (l[j] | l[j + 16] << 4));
        }
        return b.array();
    }

    /**
     * quantize_row_q5_0_ref / q5_1: qs[j] = (L[j] & 0xF) | (L[j + 16] & 0xF) << 4; bit 4 of L[j] goes to bit j of the
     * u32 qh, of L[j + 16] to bit j + 16.
     */
    static byte[] q5(float d, Float m, int[] l) {
        ByteBuffer b = le(m == null ? 22 : 24).putShort(h(d));
        if (m != null) {
            b.putShort(h(m));
        }
        int qh = 0;
        for (int j = 0; j < 16; j++) {
            qh |= ((l[j] & 0x10) >> 4) << j;
            qh |= ((l[j + 16] & 0x10) >> 4) << (j + 16);
        }
        b.putInt(qh);
        for (int j = 0; j < 16; j++) {
            b.put((byte) ((l[j] & 0xF) | (l[j + 16] & 0xF) << 4));
        }
        return b.array();
    }

    /** block_q8_0: d then 32 int8. */
    static byte[] q8_0(float d, int[] q) {
        ByteBuffer b = le(34).putShort(h(d));
        for (int j = 0; j < 32; j++) {
            b.put((byte) q[j]);
        }
        return b.array();
    }

    /** Two-bit planes of quantize_row_q2_K_ref / q3_K: qs[j/4 + l] = L[j+l] | L[j+l+32] << 2 | ... << 4 | ... << 6. */
    private static void twoBitPlanes(ByteBuffer b, int at, int[] l) {
        for (int j = 0; j < 256; j += 128) {
            for (int i = 0; i < 32; i++) {
                b.put(at + j / 4 + i, (byte) ((l[j + i] & 3) | (l[j + i + 32] & 3) << 2 | (l[j + i + 64] & 3) << 4
                        | (l[j + i + 96] & 3) << 6));
            }
        }
    }

    /** quantize_row_q2_K_ref: scales[s] = sc | m << 4 (4 bits each, 16 groups of 16), 2-bit L, then d, dmin. */
    static byte[] q2K(float d, float dmin, int[] sc, int[] m, int[] l) {
        ByteBuffer b = le(84);
        for (int s = 0; s < 16; s++) {
            b.put(s, (byte) (sc[s] | m[s] << 4));
        }
        twoBitPlanes(b, 16, l);
        b.putShort(80, h(d)).putShort(82, h(dmin));
        return b.array();
    }

    /**
     * quantize_row_q3_K_ref: L in 0..7 (value L - 4): bit 2 goes to hmask[j % 32] bit j / 32, the low 2 bits to the
     * planes; 6-bit scales ls in 0..63 (value ls - 32): low nibble in scales[j] (j < 8) or the high nibble of
     * scales[j - 8], the top 2 bits in scales[8 + j % 4] at bit 2 (j / 4); then d.
     */
    static byte[] q3K(float d, int[] ls, int[] lIn) {
        ByteBuffer b = le(110);
        int[] l = lIn.clone();
        for (int j = 0; j < 256; j++) {
            if (l[j] > 3) {
                b.put(j % 32, (byte) (b.get(j % 32) | 1 << (j / 32)));
                l[j] -= 4;
            }
        }
        twoBitPlanes(b, 32, l);
        for (int j = 0; j < 16; j++) {
            int v = ls[j];
            if (j < 8) {
                b.put(96 + j, (byte) (v & 0xF));
            } else {
                b.put(96 + j - 8, (byte) (b.get(96 + j - 8) | (v & 0xF) << 4));
            }
            b.put(96 + 8 + j % 4, (byte) (b.get(96 + 8 + j % 4) | (v >> 4) << (2 * (j / 4))));
        }
        b.putShort(108, h(d));
        return b.array();
    }

    /** The 12 scale bytes of quantize_row_q4_K_ref / q5_K: 8 six-bit scales and mins. */
    private static void packScalesK4(ByteBuffer b, int at, int[] sc, int[] m) {
        for (int j = 0; j < 8; j++) {
            if (j < 4) {
                b.put(at + j, (byte) sc[j]);
                b.put(at + j + 4, (byte) m[j]);
            } else {
                b.put(at + j + 4, (byte) ((sc[j] & 0xF) | (m[j] & 0xF) << 4));
                b.put(at + j - 4, (byte) (b.get(at + j - 4) | (sc[j] >> 4) << 6));
                b.put(at + j, (byte) (b.get(at + j) | (m[j] >> 4) << 6));
            }
        }
    }

    /** quantize_row_q4_K_ref: d, dmin, scales, then q[32 g + l] = L[64 g + l] | L[64 g + l + 32] << 4. */
    static byte[] q4K(float d, float dmin, int[] sc, int[] m, int[] l) {
        ByteBuffer b = le(144).putShort(0, h(d)).putShort(2, h(dmin));
        packScalesK4(b, 4, sc, m);
        for (int g = 0; g < 4; g++) {
            for (int i = 0; i < 32; i++) {
                b.put(16 + 32 * g + i, (byte) (l[64 * g + i] | l[64 * g + i + 32] << 4));
            }
        }
        return b.array();
    }

    /** quantize_row_q5_K_ref: as Q4_K with L in 0..31 whose bit 4 goes to qh[i] bit 2g (first 32) or 2g + 1. */
    static byte[] q5K(float d, float dmin, int[] sc, int[] m, int[] l) {
        ByteBuffer b = le(176).putShort(0, h(d)).putShort(2, h(dmin));
        packScalesK4(b, 4, sc, m);
        for (int g = 0; g < 4; g++) {
            for (int i = 0; i < 32; i++) {
                int l1 = l[64 * g + i];
                int l2 = l[64 * g + i + 32];
                int qh = b.get(16 + i);
                if (l1 > 15) {
                    l1 -= 16;
                    qh |= 1 << (2 * g);
                }
                if (l2 > 15) {
                    l2 -= 16;
                    qh |= 2 << (2 * g);
                }
                b.put(16 + i, (byte) qh);
                b.put(48 + 32 * g + i, (byte) (l1 | l2 << 4));
            }
        }
        return b.array();
    }

    /**
     * quantize_row_q6_K_ref: L in 0..63 (value L - 32); per 128: ql[l] = L[l] & 0xF | (L[l + 64] & 0xF) << 4,
     * ql[l + 32] = L[l + 32] & 0xF | (L[l + 96] & 0xF) << 4, qh[l] = the four top-2-bit pairs; int8 scales; d.
     */
    static byte[] q6K(float d, int[] scales, int[] l) {
        ByteBuffer b = le(210);
        for (int n = 0; n < 2; n++) {
            int j = 128 * n;
            for (int i = 0; i < 32; i++) {
                b.put(64 * n + i, (byte) ((l[j + i] & 0xF) | (l[j + i + 64] & 0xF) << 4));
                b.put(64 * n + i + 32, (byte) ((l[j + i + 32] & 0xF) | (l[j + i + 96] & 0xF) << 4));
                b.put(128 + 32 * n + i, (byte) ((l[j + i] >> 4) | (l[j + i + 32] >> 4) << 2
                        | (l[j + i + 64] >> 4) << 4 | (l[j + i + 96] >> 4) << 6));
            }
        }
        for (int s = 0; s < 16; s++) {
            b.put(192 + s, (byte) scales[s]);
        }
        b.putShort(208, h(d));
        return b.array();
    }
}
