package dev.jdiffuse.models.prompt;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** {@link VariationNoise#slerp} against A1111's {@code slerp}: ends, norms, the per-column angle, the fallback. */
class VariationNoiseTest {

    private static final int[] SHAPE = {4, 8, 8};

    private static float[] gaussian(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[4 * 8 * 8];
        for (int i = 0; i < x.length; i++) {
            // Box-Muller; any non-parallel pair will do.
            x[i] = (float) (Math.sqrt(-2 * Math.log(1 - r.nextDouble())) * Math.cos(2 * Math.PI * r.nextDouble()));
        }
        return x;
    }

    @Test
    void strengthZeroIsTheSeedNoiseAndOneTheSubseedNoise() {
        float[] low = gaussian(1);
        float[] high = gaussian(2);
        assertArrayEquals(low, VariationNoise.slerp(0.0, low, high, SHAPE), 0f);
        assertArrayEquals(high, VariationNoise.slerp(1.0, low, high, SHAPE), 0f);
    }

    @Test
    void orthogonalUnitColumnsStayOnTheSphere() {
        // Shape [1, 2, 1]: one column, the vectors (1, 0) and (0, 1). Halfway: (cos 45, sin 45), norm 1, where a
        // lerp would give norm 0.707.
        float[] low = {1, 0};
        float[] high = {0, 1};
        float[] mid = VariationNoise.slerp(0.5, low, high, new int[] {1, 2, 1});
        double half = Math.sqrt(0.5);
        assertArrayEquals(new float[] {(float) half, (float) half}, mid, 1e-7f);
        // A third of the way: angle pi/6 from low.
        float[] third = VariationNoise.slerp(1.0 / 3, low, high, new int[] {1, 2, 1});
        assertArrayEquals(new float[] {(float) Math.cos(Math.PI / 6), (float) Math.sin(Math.PI / 6)}, third, 1e-7f);
    }

    @Test
    void eachChannelAndColumnHasItsOwnAngle() {
        // Shape [1, 2, 2] (C, H, W): the vectors run along H. Column 0: (1, 0) -> (0, 1), 90 degrees.
        // Column 1: (1, 0) -> (1, 1)/sqrt2 scaled, 45 degrees. Index (h, w) = h * 2 + w.
        float[] low = {1, 1, 0, 0};
        float[] high = {0, 1, 1, 1};
        float[] mid = VariationNoise.slerp(0.5, low, high, new int[] {1, 2, 2});
        double s90 = Math.sin(Math.PI / 4) / Math.sin(Math.PI / 2);
        double s45 = Math.sin(Math.PI / 8) / Math.sin(Math.PI / 4);
        float[] expected = {(float) s90, (float) (s45 + s45), (float) s90, (float) s45};
        assertArrayEquals(expected, mid, 1e-6f);
    }

    @Test
    void nearlyParallelNoiseFallsBackToA1111sSwappedBlend() {
        // high = 2 * low: every column's cosine is 1 > 0.9995, so A1111 returns low * val + high * (1 - val).
        float[] low = gaussian(3);
        float[] high = new float[low.length];
        for (int i = 0; i < low.length; i++) {
            high[i] = 2 * low[i];
        }
        float[] out = VariationNoise.slerp(0.25, low, high, SHAPE);
        for (int i = 0; i < low.length; i++) {
            assertEquals(low[i] * 0.25 + high[i] * 0.75, out[i], 1e-6 * Math.abs(high[i]) + 1e-12);
        }
    }

    @Test
    void batchVersionSlerpsEachImageOnItsOwn() {
        float[] low = gaussian(4);
        float[] high = gaussian(5);
        float[] low2 = gaussian(6);
        float[] high2 = gaussian(7);
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager()) {
            ai.djl.ndarray.types.Shape shape = new ai.djl.ndarray.types.Shape(2, 4, 8, 8);
            float[] lows = concat(low, low2);
            float[] highs = concat(high, high2);
            float[] out = VariationNoise.slerp(0.3, m.create(lows, shape), m.create(highs, shape)).toFloatArray();
            assertArrayEquals(concat(VariationNoise.slerp(0.3, low, high, SHAPE),
                    VariationNoise.slerp(0.3, low2, high2, SHAPE)), out, 0f);
        }
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void mismatchedShapesAreRefused() {
        assertThrows(IllegalArgumentException.class,
                () -> VariationNoise.slerp(0.5, new float[4], new float[3], new int[] {1, 2, 2}));
        assertThrows(IllegalArgumentException.class,
                () -> VariationNoise.slerp(0.5, new float[4], new float[4], new int[] {4}));
    }
}
