package dev.jdiffuse.models.pipeline;

import java.awt.image.BufferedImage;

/**
 * Outpainting as a pre-processing step of inpainting: the init image (at its own size) is placed on a canvas larger
 * by {@code left, right, top, bottom} pixels, the new border is filled by stretching the image's edge pixels outward,
 * and the mask is white over the border plus {@link #OVERLAP} pixels into the picture on each extended side (so the
 * seam is repainted too). The request then inpaints the canvas at its size.
 *
 * <p>Why edge-stretch rather than noise: it is deterministic (no draw shifts the seed's stream), it gives the VAE a
 * border whose colours continue the picture, so an ordinary model at strength below 1 starts from plausible colours
 * at the seam, and an inpainting model masks the border out anyway ({@code masked_image = init * (mask < 0.5)}).
 */
public record Outpaint(int left, int right, int top, int bottom) {

    /** Pixels of the original picture repainted along each extended side. */
    public static final int OVERLAP = 8;

    public Outpaint {
        if (left < 0 || right < 0 || top < 0 || bottom < 0) {
            throw new IllegalArgumentException("outpaint sides must not be negative");
        }
    }

    /** The canvas width for an image {@code width} pixels wide. */
    public int width(int width) {
        return width + left + right;
    }

    /** The canvas height for an image {@code height} pixels high. */
    public int height(int height) {
        return height + top + bottom;
    }

    /**
     * {@code r} (which has an init image) as an inpainting request on the extended canvas, its size set to the
     * canvas's; {@code blur} and {@code pasteBack} as in {@link GenerationRequest.Inpaint}.
     */
    public GenerationRequest apply(GenerationRequest r, int blur, boolean pasteBack) {
        BufferedImage image = r.init().image();
        int w = image.getWidth();
        int h = image.getHeight();
        int cw = width(w);
        int ch = height(h);
        int[] src = image.getRGB(0, 0, w, h, null, 0, w);
        int[] canvas = new int[cw * ch];
        int[] mask = new int[cw * ch];
        for (int y = 0; y < ch; y++) {
            int sy = Math.min(h - 1, Math.max(0, y - top));
            for (int x = 0; x < cw; x++) {
                int sx = Math.min(w - 1, Math.max(0, x - left));
                canvas[y * cw + x] = src[sy * w + sx] & 0xffffff;
                boolean repaint = x < left + (left > 0 ? OVERLAP : 0) || x >= left + w - (right > 0 ? OVERLAP : 0)
                        || y < top + (top > 0 ? OVERLAP : 0) || y >= top + h - (bottom > 0 ? OVERLAP : 0);
                mask[y * cw + x] = repaint ? 0xffffff : 0;
            }
        }
        BufferedImage init = new BufferedImage(cw, ch, BufferedImage.TYPE_INT_RGB);
        init.setRGB(0, 0, cw, ch, canvas, 0, cw);
        BufferedImage m = new BufferedImage(cw, ch, BufferedImage.TYPE_INT_RGB);
        m.setRGB(0, 0, cw, ch, mask, 0, cw);
        return r.withSize(cw, ch).withInit(new GenerationRequest.InitImage(init, r.init().strength()))
                .withInpaint(new GenerationRequest.Inpaint(m, blur, false, 0, pasteBack));
    }
}
