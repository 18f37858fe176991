package dev.jdiffuse.safetensors;

import dev.jdiffuse.testkit.GgufWriter;
import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Each ggml block type decoded from a hand-built block: random integer quants and scales are packed the way ggml's
 * reference quantizers pack them ({@link GgmlTestBlocks}), and every element is expected to equal the format's
 * documented formula of those integers, evaluated in the order ggml's {@code dequantize_row_*} evaluates it (so the
 * comparison is exact). Covers the layouts a wrong nibble order, bit plane or scale unpacking would break: Q4_0's low
 * nibbles giving elements 0..15 and high nibbles 16..31, Q5's fifth-bit word, Q2_K/Q3_K's 2-bit planes and Q3_K's
 * high-bit mask, the 6-bit packed scales and mins of Q4_K/Q5_K, Q6_K's ql/qh/scales interleave.
 */
class GgmlDequantizerTest {

    private final Random rnd = new Random(20261204);

    /** A random float fp16 holds exactly, in [lo, hi). */
    private float half(double lo, double hi) {
        return GgufWriter.fromHalf(GgufWriter.toHalf((float) (lo + (hi - lo) * rnd.nextDouble())));
    }

    private int[] ints(int n, int lo, int hiInclusive) {
        int[] v = new int[n];
        for (int i = 0; i < n; i++) {
            v[i] = lo + rnd.nextInt(hiInclusive - lo + 1);
        }
        return v;
    }

    private static float[] decode(GgmlType type, byte[] block) {
        float[] y = new float[type.blockElements()];
        assertEquals(type.blockBytes(), block.length, type + " block size");
        ByteBuffer b = ByteBuffer.allocate(block.length + 7).order(ByteOrder.LITTLE_ENDIAN);
        b.position(7); // blocks are read at an arbitrary offset, as within a tensor
        b.put(block);
        GgmlDequantizer.dequantize(type, b, 7, 1, y, 0);
        return y;
    }

    @RepeatedTest(3)
    void q4_0IsDTimesNibbleMinus8LowNibblesFirst() {
        float d = half(-0.5, 0.5);
        int[] l = ints(32, 0, 15);
        float[] y = decode(GgmlType.Q4_0, GgmlTestBlocks.q4_0(d, l));
        for (int e = 0; e < 32; e++) {
            assertEquals((l[e] - 8) * d, y[e], "element " + e);
        }
    }

    @Test
    void q4_0NibbleOrderIsLowThenHigh() {
        // byte j = 0x21: low nibble 1 (element j), high nibble 2 (element j + 16)
        ByteBuffer b = GgmlTestBlocks.le(18).putShort(GgufWriter.toHalf(1f));
        for (int j = 0; j < 16; j++) {
            b.put((byte) 0x21);
        }
        float[] y = decode(GgmlType.Q4_0, b.array());
        for (int e = 0; e < 16; e++) {
            assertEquals(1 - 8, y[e]);
            assertEquals(2 - 8, y[e + 16]);
        }
    }

    @RepeatedTest(3)
    void q4_1IsDTimesNibblePlusM() {
        float d = half(0, 0.5);
        float m = half(-1, 1);
        int[] l = ints(32, 0, 15);
        float[] y = decode(GgmlType.Q4_1, GgmlTestBlocks.q4_1(d, m, l));
        for (int e = 0; e < 32; e++) {
            assertEquals(l[e] * d + m, y[e], "element " + e);
        }
    }

    @RepeatedTest(3)
    void q5_0IsDTimesFiveBitsMinus16() {
        float d = half(-0.5, 0.5);
        int[] l = ints(32, 0, 31);
        float[] y = decode(GgmlType.Q5_0, GgmlTestBlocks.q5(d, null, l));
        for (int e = 0; e < 32; e++) {
            assertEquals((l[e] - 16) * d, y[e], "element " + e);
        }
    }

    @RepeatedTest(3)
    void q5_1IsDTimesFiveBitsPlusM() {
        float d = half(0, 0.5);
        float m = half(-1, 1);
        int[] l = ints(32, 0, 31);
        float[] y = decode(GgmlType.Q5_1, GgmlTestBlocks.q5(d, m, l));
        for (int e = 0; e < 32; e++) {
            assertEquals(l[e] * d + m, y[e], "element " + e);
        }
    }

    @RepeatedTest(3)
    void q8_0IsDTimesSignedByte() {
        float d = half(-0.1, 0.1);
        int[] q = ints(32, -128, 127);
        float[] y = decode(GgmlType.Q8_0, GgmlTestBlocks.q8_0(d, q));
        for (int e = 0; e < 32; e++) {
            assertEquals(q[e] * d, y[e], "element " + e);
        }
    }

    @RepeatedTest(3)
    void q2KIsScaleTimesTwoBitsMinusMinPer16() {
        float d = half(0, 0.2);
        float dmin = half(0, 0.2);
        int[] sc = ints(16, 0, 15);
        int[] m = ints(16, 0, 15);
        int[] l = ints(256, 0, 3);
        float[] y = decode(GgmlType.Q2_K, GgmlTestBlocks.q2K(d, dmin, sc, m, l));
        for (int e = 0; e < 256; e++) {
            int s = e / 16;
            assertEquals(d * sc[s] * l[e] - dmin * m[s], y[e], "element " + e);
        }
    }

    @RepeatedTest(3)
    void q3KIsSignedSixBitScaleTimesThreeBitsMinus4() {
        float d = half(-0.2, 0.2);
        int[] ls = ints(16, 0, 63);
        int[] l = ints(256, 0, 7);
        float[] y = decode(GgmlType.Q3_K, GgmlTestBlocks.q3K(d, ls, l));
        for (int e = 0; e < 256; e++) {
            assertEquals(d * (ls[e / 16] - 32) * (l[e] - 4), y[e], "element " + e);
        }
    }

    @RepeatedTest(3)
    void q4KUsesSixBitScalesAndMinsPer32() {
        float d = half(0, 0.1);
        float dmin = half(0, 0.1);
        int[] sc = ints(8, 0, 63);
        int[] m = ints(8, 0, 63);
        int[] l = ints(256, 0, 15);
        float[] y = decode(GgmlType.Q4_K, GgmlTestBlocks.q4K(d, dmin, sc, m, l));
        for (int e = 0; e < 256; e++) {
            int g = e / 32;
            assertEquals(d * sc[g] * l[e] - dmin * m[g], y[e], "element " + e);
        }
    }

    @RepeatedTest(3)
    void q5KAddsTheFifthBitFromQh() {
        float d = half(0, 0.1);
        float dmin = half(0, 0.1);
        int[] sc = ints(8, 0, 63);
        int[] m = ints(8, 0, 63);
        int[] l = ints(256, 0, 31);
        float[] y = decode(GgmlType.Q5_K, GgmlTestBlocks.q5K(d, dmin, sc, m, l));
        for (int e = 0; e < 256; e++) {
            int g = e / 32;
            assertEquals(d * sc[g] * l[e] - dmin * m[g], y[e], "element " + e);
        }
    }

    @RepeatedTest(3)
    void q6KIsInt8ScaleTimesSixBitsMinus32() {
        float d = half(-0.01, 0.01);
        int[] scales = ints(16, -128, 127);
        int[] l = ints(256, 0, 63);
        float[] y = decode(GgmlType.Q6_K, GgmlTestBlocks.q6K(d, scales, l));
        for (int e = 0; e < 256; e++) {
            assertEquals(d * scales[e / 16] * (l[e] - 32), y[e], "element " + e);
        }
    }

    @Test
    void consecutiveBlocksLandInOrder() {
        int[] a = ints(32, -128, 127);
        int[] c = ints(32, -128, 127);
        byte[] two = new byte[68];
        System.arraycopy(GgmlTestBlocks.q8_0(0.5f, a), 0, two, 0, 34);
        System.arraycopy(GgmlTestBlocks.q8_0(0.25f, c), 0, two, 34, 34);
        float[] y = new float[64];
        GgmlDequantizer.dequantize(GgmlType.Q8_0, ByteBuffer.wrap(two).order(ByteOrder.LITTLE_ENDIAN), 0, 2, y, 0);
        float[] expected = new float[64];
        for (int i = 0; i < 32; i++) {
            expected[i] = a[i] * 0.5f;
            expected[32 + i] = c[i] * 0.25f;
        }
        assertArrayEquals(expected, y);
    }
}
