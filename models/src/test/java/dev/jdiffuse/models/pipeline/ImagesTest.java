package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Float NCHW images to 8-bit RGB: clamped, rounded as diffusers rounds, each batch row its own image. */
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
    void halfwayValuesRoundUp() {
        try (NDManager m = NDManager.newBaseManager("PyTorch")) {
            // 0.5 * 255 = 127.5 -> 128; 0.2 * 255 = 51.000004 -> 51
            float[] data = {0.5f, 0.2f, 1f};
            BufferedImage img = Images.toBufferedImages(m.create(data, new Shape(1, 3, 1, 1))).get(0);
            assertEquals((128 << 16) | (51 << 8) | 255, img.getRGB(0, 0) & 0xffffff);
        }
    }

    /** diffusers' float32 {@code x * 255}, then rounded half up. */
    private static int expected(float v) {
        float c = Math.max(0f, Math.min(1f, v));
        return (int) Math.floor((double) (c * 255f) + 0.5);
    }
}
