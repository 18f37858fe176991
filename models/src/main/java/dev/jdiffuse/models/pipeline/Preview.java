package dev.jdiffuse.models.pipeline;

import java.awt.image.BufferedImage;

/**
 * An intermediate result: an RGB image (methods RGB and TAESD) or the raw latent (method LATENT: float16
 * little-endian bytes of shape [channels, height, width] of the first batch row).
 */
public record Preview(int step, PreviewSpec.Method method, BufferedImage image, byte[] latentFp16, int channels,
        int height, int width) {

    public static Preview ofImage(int step, PreviewSpec.Method method, BufferedImage image) {
        return new Preview(step, method, image, null, 3, image.getHeight(), image.getWidth());
    }

    public static Preview ofLatent(int step, byte[] fp16, int channels, int height, int width) {
        return new Preview(step, PreviewSpec.Method.LATENT, null, fp16, channels, height, width);
    }
}
