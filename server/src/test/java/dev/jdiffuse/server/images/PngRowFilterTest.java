package dev.jdiffuse.server.images;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;

class PngRowFilterTest {

    /** PNG spec sec. 9.4's predictor as the spec writes it, with branches. */
    private static int specPaeth(int a, int b, int c) {
        int p = a + b - c;
        int pa = Math.abs(p - a);
        int pb = Math.abs(p - b);
        int pc = Math.abs(p - c);
        if (pa <= pb && pa <= pc) {
            return a;
        }
        return pb <= pc ? b : c;
    }

    @Test
    void branchFreePaethIsTheSpecsForEveryByteTriple() {
        for (int a = 0; a < 256; a++) {
            for (int b = 0; b < 256; b++) {
                for (int c = 0; c < 256; c++) {
                    if (PngRowFilter.paethPredictor(a, b, c) != specPaeth(a, b, c)) {
                        throw new AssertionError("a=" + a + " b=" + b + " c=" + c);
                    }
                }
            }
        }
    }

    @Test
    void eightBytesAtATimeSumsLikeOneAtATime() {
        SplittableRandom random = new SplittableRandom(3);
        for (int length : new int[] {0, 1, 7, 8, 9, 2040, 2041, 5000, 20001}) {
            byte[] v = new byte[length + 3];
            for (int i = 0; i < v.length; i++) {
                v[i] = (byte) random.nextInt();
            }
            assertEquals(plainSum(v, length), PngRowFilter.sumAbs(v, length), "random, length " + length);
            java.util.Arrays.fill(v, (byte) -128);
            assertEquals(128L * length, PngRowFilter.sumAbs(v, length), "all -128 (the largest lanes), " + length);
        }
    }

    @Test
    void picksTheFilterWithTheSmallestAbsoluteSum() {
        int length = 12;
        PngRowFilter filter = new PngRowFilter(3, length);
        byte[] out = new byte[length + 1];
        byte[] prior = new byte[length];
        byte[] row = new byte[length];
        for (int i = 0; i < length; i++) {
            prior[i] = (byte) (17 * i + 5);
            row[i] = prior[i];
        }
        filter.filter(row, prior, out, 0);
        assertEquals(2, out[0], "a row equal to the one above: Up, all zeros");
        for (int i = 1; i <= length; i++) {
            assertEquals(0, out[i]);
        }
        filter.filter(new byte[length], prior, out, 0);
        assertEquals(0, out[0], "an all-zero row: None (ties go to the lower type)");
        for (int i = 0; i < length; i++) {
            row[i] = (byte) (i % 3 == 0 ? 100 : i % 3 == 1 ? 150 : 200);
        }
        filter.filter(row, new byte[length], out, 0);
        assertEquals(1, out[0], "a row of one repeated pixel under a zero row: Sub");
    }

    private static long plainSum(byte[] v, int length) {
        long s = 0;
        for (int i = 0; i < length; i++) {
            s += Math.abs(v[i]);
        }
        return s;
    }
}
