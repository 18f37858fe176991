package dev.jdiffuse.samplers.noise;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TorchCpuGeneratorTest {

    /** std::mt19937 with the default seed 5489: the well-known first outputs and, per the C++ standard, the 10000th. */
    @Test
    void mt19937MatchesTheStandardReferenceOutputs() {
        TorchCpuGenerator g = new TorchCpuGenerator(5489);
        long[] first = {3499211612L, 581869302L, 3890346734L, 3586334585L, 545404204L};
        for (long expected : first) {
            assertEquals(expected, Integer.toUnsignedLong(g.random()));
        }
        for (int i = first.length + 1; i < 10000; i++) {
            g.random();
        }
        assertEquals(4123659995L, Integer.toUnsignedLong(g.random()));
    }

    @Test
    void random64PutsTheFirstOutputInTheHighWord() {
        TorchCpuGenerator wide = new TorchCpuGenerator(7);
        TorchCpuGenerator narrow = new TorchCpuGenerator(7);
        long hi = Integer.toUnsignedLong(narrow.random());
        long lo = Integer.toUnsignedLong(narrow.random());
        assertEquals((hi << 32) | lo, wide.random64());
    }

    /** manual_seed keeps only the low 32 bits of its 64-bit seed for the MT19937 state. */
    @Test
    void seedsEqualModulo2To32GiveTheSameStream() {
        TorchCpuGenerator small = new TorchCpuGenerator(5);
        TorchCpuGenerator large = new TorchCpuGenerator((1L << 32) + 5);
        TorchCpuGenerator other = new TorchCpuGenerator(6);
        boolean differsFromOther = false;
        for (int i = 0; i < 1000; i++) {
            int a = small.random();
            assertEquals(a, large.random());
            differsFromOther |= a != other.random();
        }
        assertTrue(differsFromOther);
    }

    @Test
    void manualSeedRestartsTheStream() {
        TorchCpuGenerator g = new TorchCpuGenerator(42);
        float[] first = new float[15];
        g.fillNormal(first);
        g.manualSeed(42);
        float[] again = new float[15];
        g.fillNormal(again);
        assertArrayEquals(first, again);
    }

    @Test
    void uniformFloatUsesTheLow24BitsOfOneOutput() {
        TorchCpuGenerator raw = new TorchCpuGenerator(3);
        TorchCpuGenerator uniform = new TorchCpuGenerator(3);
        for (int i = 0; i < 1000; i++) {
            float u = uniform.uniformFloat();
            assertEquals((raw.random() & 0xffffff) / 16777216f, u);
            assertTrue(u >= 0f && u < 1f);
        }
    }

    /**
     * A size that is not a multiple of 16 transforms every full block of the first fill, then redraws the last 16
     * elements from fresh uniforms: the head equals the head of a 16-element draw, the tail equals a 16-element draw
     * from a generator advanced past the first {@code size} uniforms.
     */
    @Test
    void sizeNotAMultipleOf16RedrawsTheLast16() {
        int size = 20;
        float[] out = new float[size];
        new TorchCpuGenerator(11).fillNormal(out);

        float[] head = new float[16];
        new TorchCpuGenerator(11).fillNormal(head);
        assertArrayEquals(Arrays.copyOfRange(head, 0, size - 16), Arrays.copyOfRange(out, 0, size - 16));

        TorchCpuGenerator advanced = new TorchCpuGenerator(11);
        for (int i = 0; i < size; i++) {
            advanced.random();
        }
        float[] tail = new float[16];
        advanced.fillNormal(tail);
        assertArrayEquals(tail, Arrays.copyOfRange(out, size - 16, size));
    }

    /** Below 16 elements torch draws doubles pairwise and caches the sine half on the generator across calls. */
    @Test
    void smallDrawsShareTheCachedSecondNormal() {
        TorchCpuGenerator split = new TorchCpuGenerator(9);
        float[] a = new float[3];
        float[] b = new float[3];
        split.fillNormal(a);
        split.fillNormal(b);
        float[] whole = new float[6];
        new TorchCpuGenerator(9).fillNormal(whole);
        float[] joined = new float[6];
        System.arraycopy(a, 0, joined, 0, 3);
        System.arraycopy(b, 0, joined, 3, 3);
        assertArrayEquals(whole, joined);
    }

    @Test
    void normalsHaveUnitMomentsOverALatent() {
        float[] out = new float[4 * 64 * 64];
        new TorchCpuGenerator(123).fillNormal(out);
        double sum = 0;
        double squares = 0;
        for (float v : out) {
            assertTrue(Float.isFinite(v));
            sum += v;
            squares += (double) v * v;
        }
        double mean = sum / out.length;
        double variance = squares / out.length - mean * mean;
        assertEquals(0.0, mean, 0.03);
        assertEquals(1.0, variance, 0.05);
    }
}
