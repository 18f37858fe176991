package dev.jdiffuse.models.vae;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class LatentPreviewTest {

    @Test
    void mapsLatentsToRgbInUnitRange() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray latents = m.randomNormal(0, 3, new Shape(1, 4, 5, 7), DataType.FLOAT32);
            for (LatentPreview preview : new LatentPreview[] {LatentPreview.SD1, LatentPreview.SDXL}) {
                NDArray rgb = preview.toRgb(latents);
                assertEquals(new Shape(1, 3, 5, 7), rgb.getShape());
                assertEquals(DataType.FLOAT32, rgb.getDataType());
                for (float v : rgb.toFloatArray()) {
                    assertTrue(v >= 0f && v <= 1f, "value " + v + " outside [0, 1]");
                }
            }
        }
    }

    @Test
    void isTheLinearMapThenHalfShift() {
        float[][] factors = {{0.1f, 0.2f, 0.3f}, {-0.4f, 0.5f, 0f}};
        try (NDManager m = NDManager.newBaseManager()) {
            // one pixel with channel values (a, b): rgb_j = (a f0j + b f1j + 1) / 2, before clamping
            float a = 0.5f;
            float b = -1f;
            NDArray latents = m.create(new float[] {a, b}, new Shape(1, 2, 1, 1));
            float[] rgb = new LatentPreview(factors).toRgb(latents).toFloatArray();
            for (int j = 0; j < 3; j++) {
                assertEquals((a * factors[0][j] + b * factors[1][j] + 1) / 2, rgb[j], 1e-6);
            }
            NDArray zero = m.zeros(new Shape(2, 4, 3, 3));
            for (float v : LatentPreview.SD1.toRgb(zero).toFloatArray()) {
                assertEquals(0.5f, v, 0f);
            }
        }
    }

    @Test
    void rejectsOtherChannelCounts() {
        try (NDManager m = NDManager.newBaseManager()) {
            assertThrows(IllegalArgumentException.class, () -> LatentPreview.SD1.toRgb(m.zeros(new Shape(1, 16, 2, 2))));
        }
    }
}
