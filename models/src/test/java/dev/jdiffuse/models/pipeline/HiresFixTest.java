package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** The hires fix's latent upscalers against torch's {@code interpolate} worked by hand, and A1111's step count. */
class HiresFixTest {

    private static float[] up(String upscaler) {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {0, 1, 2, 3}, new Shape(1, 1, 2, 2));
            return HiresFix.upscaleLatents(x, 4, 4, upscaler).toFloatArray();
        }
    }

    @Test
    void latentIsBilinearWithoutAlignedCorners() {
        // align_corners=False: source coordinate (i + 0.5) / 2 - 0.5 clamped at 0 -> weights 0, .25, .75, 1 per axis
        float[] row = {0, 0.25f, 0.75f, 1};
        float[] col = {0, 0.5f, 1.5f, 2};
        float[] expected = new float[16];
        for (int y = 0; y < 4; y++) {
            for (int x = 0; x < 4; x++) {
                expected[y * 4 + x] = col[y] + row[x];
            }
        }
        assertArrayEquals(expected, up("latent"), 1e-6f);
    }

    @Test
    void latentNearestRepeatsEachValue() {
        float[] expected = {0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3};
        assertArrayEquals(expected, up("latent-nearest"), 0f);
    }

    @Test
    void hiresStepsRunExactlyOverALongerSchedule() {
        assertEquals(20, HiresFix.scheduleSteps(10, 0.5, 1000));
        assertEquals(10, HiresFix.scheduleSteps(10, 1.0, 1000), "min(strength, 0.999): 10 / 0.999 floors to 10");
        assertEquals(999, HiresFix.scheduleSteps(10, 0.001, 1000), "below the training timesteps");
    }
}
