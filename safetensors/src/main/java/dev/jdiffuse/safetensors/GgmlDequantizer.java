package dev.jdiffuse.safetensors;

import java.nio.ByteBuffer;

/**
 * Dequantizes ggml blocks to floats, one block at a time, written from the block structs of ggml's
 * {@code ggml-common.h} and the {@code dequantize_row_*} functions of {@code ggml-quants.c} (llama.cpp; the same
 * formulas as gguf-py's {@code gguf/quants.py}). Every block begins with or holds fp16 scales, read as IEEE half
 * ({@link HalfFloats#halfToFloat}); the products are float, in the order ggml computes them. This class holds the
 * 32-element types; the 256-element K-quants are in {@link GgmlKQuants}.
 *
 * <p>Buffers are little-endian; {@code at} is the byte offset of the block, {@code y[yo..yo+blockElements)} receives
 * its elements in storage order (ggml's {@code ne[0]} fastest, i.e. PyTorch's row-major order of the reversed
 * dimensions).
 */
final class GgmlDequantizer {

    private GgmlDequantizer() {
    }

    /** Dequantizes {@code blocks} consecutive blocks of {@code type} starting at byte {@code at} of {@code b}. */
    static void dequantize(GgmlType type, ByteBuffer b, int at, int blocks, float[] y, int yo) {
        int bytes = type.blockBytes();
        int n = type.blockElements();
        for (int i = 0; i < blocks; i++) {
            int a = at + i * bytes;
            int o = yo + i * n;
            switch (type) {
                case Q4_0 -> q4_0(b, a, y, o);
                case Q4_1 -> q4_1(b, a, y, o);
                case Q5_0 -> q5_0(b, a, y, o);
                case Q5_1 -> q5_1(b, a, y, o);
                case Q8_0 -> q8_0(b, a, y, o);
                case Q2_K -> GgmlKQuants.q2K(b, a, y, o);
                case Q3_K -> GgmlKQuants.q3K(b, a, y, o);
                case Q4_K -> GgmlKQuants.q4K(b, a, y, o);
                case Q5_K -> GgmlKQuants.q5K(b, a, y, o);
                case Q6_K -> GgmlKQuants.q6K(b, a, y, o);
                default -> throw new IllegalArgumentException(type + " is not a quantized type");
            }
        }
    }

    static float half(ByteBuffer b, int at) {
        return HalfFloats.halfToFloat(b.getShort(at));
    }

    static int u8(ByteBuffer b, int at) {
        return b.get(at) & 0xff;
    }

    /**
     * {@code block_q4_0 {half d; uint8 qs[16]}}: x = d * (nibble - 8); byte j's low nibble is element j, its high
     * nibble element j + 16 ({@code dequantize_row_q4_0}).
     */
    static void q4_0(ByteBuffer b, int at, float[] y, int yo) {
        float d = half(b, at);
        for (int j = 0; j < 16; j++) {
            int q = u8(b, at + 2 + j);
            y[yo + j] = ((q & 0x0F) - 8) * d;
            y[yo + j + 16] = ((q >> 4) - 8) * d;
        }
    }

    /** {@code block_q4_1 {half d; half m; uint8 qs[16]}}: x = d * nibble + m, nibbles as in Q4_0. */
    static void q4_1(ByteBuffer b, int at, float[] y, int yo) {
        float d = half(b, at);
        float m = half(b, at + 2);
        for (int j = 0; j < 16; j++) {
            int q = u8(b, at + 4 + j);
            y[yo + j] = (q & 0x0F) * d + m;
            y[yo + j + 16] = (q >> 4) * d + m;
        }
    }

    /**
     * {@code block_q5_0 {half d; uint8 qh[4]; uint8 qs[16]}}: x = d * (q - 16) with q = nibble | fifth bit << 4; the
     * fifth bit of element j is bit j of the little-endian {@code uint32 qh} (elements 0..15 bits 0..15, elements
     * 16..31 bits 16..31: {@code xh_1 = (qh >> (j + 12)) & 0x10}).
     */
    static void q5_0(ByteBuffer b, int at, float[] y, int yo) {
        float d = half(b, at);
        int qh = b.getInt(at + 2);
        for (int j = 0; j < 16; j++) {
            int q = u8(b, at + 6 + j);
            int xh0 = ((qh >>> j) << 4) & 0x10;
            int xh1 = (qh >>> (j + 12)) & 0x10;
            y[yo + j] = (((q & 0x0F) | xh0) - 16) * d;
            y[yo + j + 16] = (((q >> 4) | xh1) - 16) * d;
        }
    }

    /** {@code block_q5_1 {half d; half m; uint8 qh[4]; uint8 qs[16]}}: x = d * q + m, q as in Q5_0 without the -16. */
    static void q5_1(ByteBuffer b, int at, float[] y, int yo) {
        float d = half(b, at);
        float m = half(b, at + 2);
        int qh = b.getInt(at + 4);
        for (int j = 0; j < 16; j++) {
            int q = u8(b, at + 8 + j);
            int xh0 = ((qh >>> j) << 4) & 0x10;
            int xh1 = (qh >>> (j + 12)) & 0x10;
            y[yo + j] = ((q & 0x0F) | xh0) * d + m;
            y[yo + j + 16] = ((q >> 4) | xh1) * d + m;
        }
    }

    /** {@code block_q8_0 {half d; int8 qs[32]}}: x = d * q. */
    static void q8_0(ByteBuffer b, int at, float[] y, int yo) {
        float d = half(b, at);
        for (int j = 0; j < 32; j++) {
            y[yo + j] = b.get(at + 2 + j) * d;
        }
    }
}
