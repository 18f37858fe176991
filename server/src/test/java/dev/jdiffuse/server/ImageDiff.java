package dev.jdiffuse.server;

import java.awt.image.BufferedImage;

/** How far a served PNG is from a reference: per channel, on the [0, 1] scale. */
final class ImageDiff {

    private ImageDiff() {
    }

    /** max |png - ref| over every pixel and channel; {@code ref} is [0, 1] NCHW for one image of the PNG's size. */
    static double maxAbs(BufferedImage img, float[] ref) {
        int h = img.getHeight();
        int w = img.getWidth();
        if (ref.length != 3 * h * w) {
            throw new AssertionError("reference holds " + ref.length + " values, the image 3 x " + h + " x " + w);
        }
        double max = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int rgb = img.getRGB(x, y);
                for (int ch = 0; ch < 3; ch++) {
                    double v = ((rgb >> (16 - 8 * ch)) & 0xff) / 255.0;
                    max = Math.max(max, Math.abs(v - ref[ch * h * w + y * w + x]));
                }
            }
        }
        return max;
    }

    /** max |a - b| over every pixel and channel of two images of one size. */
    static double maxAbs(BufferedImage a, BufferedImage b) {
        double max = 0;
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                int p = a.getRGB(x, y);
                int q = b.getRGB(x, y);
                for (int ch = 0; ch < 3; ch++) {
                    max = Math.max(max, Math.abs(((p >> (8 * ch)) & 0xff) - ((q >> (8 * ch)) & 0xff)) / 255.0);
                }
            }
        }
        return max;
    }
}
