package dev.jdiffuse.safetensors;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Checks the 16/8-bit float conversions against definitions computed independently in double arithmetic. */
class HalfFloatsTest {

    /** binary16 value from its fields: (-1)^s 2^(e-15) (1 + m/1024), subnormal 2^-14 (m/1024). */
    private static double halfByDefinition(int h) {
        int s = (h >>> 15) & 1;
        int e = (h >>> 10) & 0x1f;
        int m = h & 0x3ff;
        double mag = e == 0 ? Math.scalb(m / 1024.0, -14) : Math.scalb(1 + m / 1024.0, e - 15);
        return s == 1 ? -mag : mag;
    }

    @Test
    void everyHalfWidensExactlyAndRoundTrips() {
        for (int h = 0; h < 0x10000; h++) {
            float f = HalfFloats.halfToFloat(h);
            int e = (h >>> 10) & 0x1f;
            if (e == 0x1f) {
                assertEquals((h & 0x3ff) != 0, Float.isNaN(f), "nan/inf " + Integer.toHexString(h));
                if ((h & 0x3ff) == 0) {
                    assertEquals((h & 0x8000) != 0 ? Float.NEGATIVE_INFINITY : Float.POSITIVE_INFINITY, f);
                }
                continue;
            }
            assertEquals(halfByDefinition(h), f, 0.0, "value of " + Integer.toHexString(h));
            assertEquals(h, HalfFloats.floatToHalf(f) & 0xffff, "round trip " + Integer.toHexString(h));
        }
        assertEquals(-0.0f, HalfFloats.halfToFloat(0x8000));
        assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(HalfFloats.halfToFloat(0x8000)));
        assertEquals(0x7c00, HalfFloats.floatToHalf(Float.POSITIVE_INFINITY));
        assertTrue(Float.isNaN(HalfFloats.halfToFloat(HalfFloats.floatToHalf(Float.NaN))));
    }

    @Test
    void narrowingToHalfRoundsToNearestEven() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int i = 0; i < 200_000; i++) {
            // random bit patterns spanning subnormal .. overflow range of binary16
            float x = Float.intBitsToFloat(0x30000000 + rnd.nextInt(0x18000000)) * (rnd.nextBoolean() ? 1 : -1);
            checkNearestHalf(x);
        }
        checkNearestHalf(65504f);
        checkNearestHalf(65519.99f);
        assertEquals(0x7c00, HalfFloats.floatToHalf(65520f));
        assertEquals(0x7bff, HalfFloats.floatToHalf(65519f));
        assertEquals(0, HalfFloats.floatToHalf(0x1p-25f)); // tie between 0 and 2^-24 goes to even 0
        assertEquals(1, HalfFloats.floatToHalf(Math.nextUp(0x1p-25f)));
        assertEquals(2, HalfFloats.floatToHalf(0x1.8p-24f)); // tie 1.5 x 2^-24 goes to even 2
        assertEquals(0x3c00, HalfFloats.floatToHalf(1 + 0x1p-11f)); // tie goes to even 1.0
        assertEquals(0x3c02, HalfFloats.floatToHalf(1 + 3 * 0x1p-11f)); // tie goes to even mantissa 2
    }

    private static void checkNearestHalf(float x) {
        int h = HalfFloats.floatToHalf(x) & 0xffff;
        if ((h & 0x7fff) == 0x7c00) {
            assertTrue(Math.abs(x) >= 65520f, "overflow only at >= 65520: " + x);
            return;
        }
        double got = halfByDefinition(h);
        double err = Math.abs(x - got);
        for (int nb : new int[] {h - 1, h + 1}) {
            if ((nb & 0x7fff) >= 0x7c00 || nb < 0 || ((nb ^ h) & 0x8000) != 0) {
                continue;
            }
            double other = Math.abs(x - halfByDefinition(nb));
            assertTrue(err < other || (err == other && (h & 1) == 0),
                    "not nearest-even for " + x + ": got " + Integer.toHexString(h));
        }
    }

    @Test
    void bfloat16RoundsToNearestEvenAndWidensExactly() {
        for (int b = 0; b < 0x10000; b++) {
            float f = HalfFloats.bf16ToFloat(b);
            assertEquals(Float.floatToRawIntBits(f), b << 16);
            if (!Float.isNaN(f)) {
                assertEquals(b, HalfFloats.floatToBf16(f) & 0xffff);
            }
        }
        assertEquals(0x3f80, HalfFloats.floatToBf16(Float.intBitsToFloat(0x3f808000))); // tie to even
        assertEquals(0x3f82, HalfFloats.floatToBf16(Float.intBitsToFloat(0x3f818000))); // tie to even (up)
        assertEquals(0x3f81, HalfFloats.floatToBf16(Float.intBitsToFloat(0x3f808001)));
        assertTrue(Float.isNaN(HalfFloats.bf16ToFloat(HalfFloats.floatToBf16(Float.NaN))));
    }

    @Test
    void fp8Formats() {
        assertEquals(1f, HalfFloats.e4m3fnToFloat(0x38));
        assertEquals(448f, HalfFloats.e4m3fnToFloat(0x7e));
        assertEquals(-448f, HalfFloats.e4m3fnToFloat(0xfe));
        assertEquals(0x1p-9f, HalfFloats.e4m3fnToFloat(0x01));
        assertEquals(0x1.cp-7f, HalfFloats.e4m3fnToFloat(0x07)); // largest subnormal 7/8 x 2^-6
        assertTrue(Float.isNaN(HalfFloats.e4m3fnToFloat(0x7f)));
        assertEquals(1f, HalfFloats.e5m2ToFloat(0x3c));
        assertEquals(57344f, HalfFloats.e5m2ToFloat(0x7b));
        assertEquals(Float.POSITIVE_INFINITY, HalfFloats.e5m2ToFloat(0x7c));
        assertEquals(0x1p-16f, HalfFloats.e5m2ToFloat(0x01));
    }
}
