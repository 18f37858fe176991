package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Float NCHW images to 8-bit RGB: clamped, rounded as numpy rounds for diffusers, each batch row its own image. */
class ImagesTest {

    @Test
    void everyPixelOfEveryRowIsClampedAndRounded() {
        int b = 2;
        int h = 3;
        int w = 5;
        float[] data = new float[b * 3 * h * w];
        for (int i = 0; i < data.length; i++) {
            data[i] = (i % 13) / 10f - 0.1f; // -0.1 .. 1.1: both clamps and values between
        }
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            List<BufferedImage> images = Images.toBufferedImages(m.create(data, new Shape(b, 3, h, w)));
            assertEquals(b, images.size());
            int plane = h * w;
            for (int n = 0; n < b; n++) {
                BufferedImage img = images.get(n);
                assertEquals(w, img.getWidth());
                assertEquals(h, img.getHeight());
                for (int y = 0; y < h; y++) {
                    for (int x = 0; x < w; x++) {
                        int i = n * 3 * plane + y * w + x;
                        int rgb = img.getRGB(x, y) & 0xffffff;
                        assertEquals(expected(data[i]), rgb >> 16, "red " + n + "," + y + "," + x);
                        assertEquals(expected(data[i + plane]), (rgb >> 8) & 0xff, "green " + n + "," + y + "," + x);
                        assertEquals(expected(data[i + 2 * plane]), rgb & 0xff, "blue " + n + "," + y + "," + x);
                    }
                }
            }
        }
    }

    @Test
    void halfwayValuesRoundToEvenAsNumpyDoes() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            float tie76 = 76.5f / 255f;
            float tie77 = 77.5f / 255f;
            assertEquals(76.5f, tie76 * 255f, "a float32 whose product is exactly a half");
            assertEquals(77.5f, tie77 * 255f);
            // numpy: np.round(np.float32(76.5)) = 76, np.round(np.float32(77.5)) = 78; 0.5 * 255 = 127.5 -> 128
            float[] data = {tie76, tie77, 0.5f};
            BufferedImage img = Images.toBufferedImages(m.create(data, new Shape(1, 3, 1, 1))).get(0);
            assertEquals((76 << 16) | (78 << 8) | 128, img.getRGB(0, 0) & 0xffffff);
        }
    }

    /** diffusers' float32 {@code x * 255}, then numpy's round (half to even). */
    private static int expected(float v) {
        float c = Math.max(0f, Math.min(1f, v));
        return new java.math.BigDecimal(c * 255f).setScale(0, java.math.RoundingMode.HALF_EVEN).intValue();
    }
}
