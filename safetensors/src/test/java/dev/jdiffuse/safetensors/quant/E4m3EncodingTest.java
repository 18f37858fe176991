package dev.jdiffuse.safetensors.quant;

import dev.jdiffuse.safetensors.HalfFloats;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** float to FP8 E4M3FN: nearest finite code, ties to the even code, past 464 NaN (as torch's cast). */
class E4m3EncodingTest {

    /** The nearest of all finite codes by brute force; a tie goes to the code with an even mantissa. */
    private static int nearestByDefinition(float x) {
        int best = -1;
        double bestDiff = Double.POSITIVE_INFINITY;
        for (int c = 0; c < 256; c++) {
            float v = HalfFloats.e4m3fnToFloat(c);
            if (Float.isNaN(v) || (c & 0x80) != (Float.floatToRawIntBits(x) >>> 24 & 0x80)) {
                continue; // same sign only, so that -0.0 and small negatives keep their sign as the cast does
            }
            double d = Math.abs((double) x - v);
            if (d < bestDiff || (d == bestDiff && (c & 1) == 0)) {
                best = c;
                bestDiff = d;
            }
        }
        return best;
    }

    @Test
    void everyFiniteCodeRoundTrips() {
        for (int c = 0; c < 256; c++) {
            float v = HalfFloats.e4m3fnToFloat(c);
            if (!Float.isNaN(v)) {
                assertEquals(c, HalfFloats.floatToE4m3fn(v) & 0xff, "code " + Integer.toHexString(c));
            }
        }
    }

    @Test
    void roundsToNearestEvenLikeTheCast() {
        SplittableRandom rnd = new SplittableRandom(11);
        for (int i = 0; i < 100_000; i++) {
            float x = (float) ((rnd.nextDouble() * 2 - 1) * Math.scalb(1.0, rnd.nextInt(-12, 9)));
            if (Math.abs(x) <= 464f) {
                assertEquals(nearestByDefinition(x), HalfFloats.floatToE4m3fn(x) & 0xff, "x = " + x);
            }
        }
        assertEquals(0x7e, HalfFloats.floatToE4m3fn(464f)); // tie between 448 and the NaN step goes to 448
        assertEquals(0x7f, HalfFloats.floatToE4m3fn(Math.nextUp(464f)));
        assertEquals(0xff, HalfFloats.floatToE4m3fn(-1000f) & 0xff);
        assertEquals(0x7f, HalfFloats.floatToE4m3fn(Float.NaN));
        assertEquals(0x00, HalfFloats.floatToE4m3fn(0x1p-10f)); // half the smallest subnormal: tie to even 0
        assertEquals(0x02, HalfFloats.floatToE4m3fn(0x1.8p-9f)); // 1.5 x 2^-9: tie to even 2
        assertEquals(0x38, HalfFloats.floatToE4m3fn(1.0625f)); // 1 + 1/16: tie between 1 and 1.125 goes to 1
    }
}
