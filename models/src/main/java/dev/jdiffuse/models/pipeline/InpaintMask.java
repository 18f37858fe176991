package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;

import java.awt.image.BufferedImage;
import java.awt.image.Raster;

/**
 * An inpainting mask as the generation path reads it (white = repaint), following diffusers' mask processor
 * ({@code VaeImageProcessor(do_convert_grayscale=True, do_binarize=True, do_normalize=False)}) and AUTOMATIC1111's
 * {@code mask_blur}: the image's luminance (PIL's {@code "L"}: {@code (19595 R + 38470 G + 7471 B + 2^15) >> 16}),
 * blurred (Gaussian, standard deviation {@code blur} pixels, at the mask's own size), resized to the request's size,
 * then binarized at 0.5 for the model. The soft (blurred) values are the alpha of a paste-back.
 */
public final class InpaintMask {

    private final float[] soft;
    private final int width;
    private final int height;

    private InpaintMask(float[] soft, int width, int height) {
        this.soft = soft;
        this.width = width;
        this.height = height;
    }

    /** {@code mask} blurred and resized to {@code width x height}; values in [0, 1]. */
    public static InpaintMask of(BufferedImage mask, int blur, int width, int height) {
        BufferedImage blurred = blurred(mask, blur);
        if (blurred.getWidth() == width && blurred.getHeight() == height) {
            return new InpaintMask(luminance(blurred), width, height);
        }
        try (NDManager m = NDManager.newBaseManager()) {
            float[] rgb = Images.fromBufferedImage(m, blurred, width, height).toFloatArray();
            float[] grey = new float[width * height];
            System.arraycopy(rgb, 0, grey, 0, grey.length); // a grey picture: every channel is the same
            for (int i = 0; i < grey.length; i++) {
                grey[i] = Math.max(0f, Math.min(1f, grey[i]));
            }
            return new InpaintMask(grey, width, height);
        }
    }

    /** The mask's luminance, Gaussian-blurred by {@code sigma} pixels (0: unchanged), as a grey RGB image. */
    public static BufferedImage blurred(BufferedImage mask, int sigma) {
        int w = mask.getWidth();
        int h = mask.getHeight();
        float[] l = gaussian(luminance(mask), w, h, sigma);
        int[] rgb = new int[w * h];
        for (int i = 0; i < rgb.length; i++) {
            int v = Math.round(Math.max(0f, Math.min(1f, l[i])) * 255f);
            rgb[i] = (v << 16) | (v << 8) | v;
        }
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        out.setRGB(0, 0, w, h, rgb, 0, w);
        return out;
    }

    /**
     * Luminance in [0, 1], row-major. A one-band (grey) raster is read as stored: Java's {@code getRGB} would convert
     * it through a linear grey colour space and change mid-grey values.
     */
    static float[] luminance(BufferedImage image) {
        int w = image.getWidth();
        int h = image.getHeight();
        float[] out = new float[w * h];
        Raster raster = image.getRaster();
        if (raster.getNumBands() == 1 && image.getColorModel().getPixelSize() <= 16) {
            double max = (1 << image.getColorModel().getPixelSize()) - 1;
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    out[y * w + x] = (float) (raster.getSample(x, y, 0) / max);
                }
            }
            return out;
        }
        int[] rgb = image.getRGB(0, 0, w, h, null, 0, w);
        for (int i = 0; i < rgb.length; i++) {
            int r = (rgb[i] >> 16) & 0xff;
            int g = (rgb[i] >> 8) & 0xff;
            int b = rgb[i] & 0xff;
            out[i] = ((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16) / 255f;
        }
        return out;
    }

    /** Separable Gaussian blur, kernel radius {@code ceil(3 sigma)}, edges clamped. */
    private static float[] gaussian(float[] v, int w, int h, int sigma) {
        if (sigma <= 0) {
            return v;
        }
        int radius = 3 * sigma;
        float[] k = new float[2 * radius + 1];
        float sum = 0;
        for (int i = -radius; i <= radius; i++) {
            k[i + radius] = (float) Math.exp(-(i * i) / (2.0 * sigma * sigma));
            sum += k[i + radius];
        }
        for (int i = 0; i < k.length; i++) {
            k[i] /= sum;
        }
        float[] tmp = new float[v.length];
        float[] out = new float[v.length];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                float acc = 0;
                for (int i = -radius; i <= radius; i++) {
                    acc += k[i + radius] * v[y * w + Math.min(w - 1, Math.max(0, x + i))];
                }
                tmp[y * w + x] = acc;
            }
        }
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                float acc = 0;
                for (int i = -radius; i <= radius; i++) {
                    acc += k[i + radius] * tmp[Math.min(h - 1, Math.max(0, y + i)) * w + x];
                }
                out[y * w + x] = acc;
            }
        }
        return out;
    }

    /** The soft values in [0, 1] (the paste-back's alpha), row-major {@code height x width}. */
    public float[] soft() {
        return soft.clone();
    }

    /** diffusers' binarized mask [1, 1, H, W]: 1 where the value is at least 0.5 (repaint), else 0. */
    public NDArray pixels(NDManager manager) {
        float[] b = new float[soft.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = soft[i] >= 0.5f ? 1f : 0f;
        }
        return manager.create(b, new Shape(1, 1, height, width));
    }

    /**
     * The binarized mask at latent size [1, 1, H/f, W/f]: torch's default {@code interpolate(mode="nearest")} to
     * {@code (H/f, W/f)} takes source pixel {@code floor(i * f)}, i.e. the top-left pixel of each f x f cell.
     */
    public NDArray latents(NDManager manager, int f) {
        int lw = width / f;
        int lh = height / f;
        float[] b = new float[lw * lh];
        for (int y = 0; y < lh; y++) {
            for (int x = 0; x < lw; x++) {
                b[y * lw + x] = soft[(y * f) * width + x * f] >= 0.5f ? 1f : 0f;
            }
        }
        return manager.create(b, new Shape(1, 1, lh, lw));
    }
}
