package dev.jdiffuse.models.pipeline;

import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;

/**
 * AUTOMATIC1111's inpainting around the model run, on 8-bit images (the pipeline's output is 8-bit anyway):
 * <ul>
 * <li>"only masked" ({@code inpaint_full_res}): the mask's bounding box grown by {@code padding} pixels and then to
 * the request's aspect ratio ({@code get_crop_region} + {@code expand_crop_region}) is cut from the init image and
 * mask, generated at the request's size, scaled back and pasted into the init image through the blurred mask; the
 * result has the init image's size;</li>
 * <li>paste-back (A1111's overlay): {@code out = init (1 - m) + generated m} with the blurred mask {@code m}, so the
 * kept region is the init image's pixels exactly. Off by default: diffusers returns the decoded image as it is.</li>
 * </ul>
 */
public final class InpaintComposite {

    private InpaintComposite() {
    }

    /** A crop of the init image: top-left corner and size in pixels. */
    record Region(int x, int y, int width, int height) {
    }

    /** The request the model runs: for "only masked", the crop of the init image and mask; else {@code r} itself. */
    public static GenerationRequest modelRequest(GenerationRequest r) {
        Region region = region(r);
        if (region == null) {
            return r;
        }
        GenerationRequest.Inpaint in = r.inpaint();
        return r.withInit(new GenerationRequest.InitImage(crop(r.init().image(), region), r.init().strength()))
                .withInpaint(new GenerationRequest.Inpaint(crop(InpaintMask.blurred(in.mask(), in.blur()), region), 0,
                        false, in.padding(), false));
    }

    /** The model's images made final: pasted into the init image ("only masked") or over it (paste-back). */
    public static List<BufferedImage> finish(GenerationRequest r, List<BufferedImage> generated) {
        GenerationRequest.Inpaint in = r.inpaint();
        if (in == null || !(in.onlyMasked() || in.pasteBack())) {
            return generated;
        }
        Region region = region(r);
        BufferedImage init = r.init().image();
        int w = region == null ? r.width() : init.getWidth();
        int h = region == null ? r.height() : init.getHeight();
        BufferedImage base = Images.resized(init, w, h);
        float[] alpha = InpaintMask.of(in.mask(), in.blur(), w, h).soft();
        List<BufferedImage> out = new ArrayList<>(generated.size());
        for (BufferedImage g : generated) {
            BufferedImage canvas = region == null ? g
                    : pasted(base, Images.resized(g, region.width(), region.height()), region);
            out.add(overlay(base, canvas, alpha));
        }
        return out;
    }

    /** The "only masked" crop, or null when the request repaints the whole image (or the mask is empty). */
    static Region region(GenerationRequest r) {
        GenerationRequest.Inpaint in = r.inpaint();
        if (in == null || !in.onlyMasked()) {
            return null;
        }
        BufferedImage mask = InpaintMask.blurred(in.mask(), in.blur());
        int mw = mask.getWidth();
        int mh = mask.getHeight();
        float[] m = InpaintMask.luminance(mask);
        int x1 = mw;
        int y1 = mh;
        int x2 = 0;
        int y2 = 0;
        for (int y = 0; y < mh; y++) {
            for (int x = 0; x < mw; x++) {
                if (m[y * mw + x] > 0) { // PIL getbbox: any non-zero pixel
                    x1 = Math.min(x1, x);
                    y1 = Math.min(y1, y);
                    x2 = Math.max(x2, x + 1);
                    y2 = Math.max(y2, y + 1);
                }
            }
        }
        if (x2 <= x1) {
            return null;
        }
        int pad = in.padding();
        int[] xs = expand(Math.max(x1 - pad, 0), Math.min(x2 + pad, mw), Math.max(y1 - pad, 0),
                Math.min(y2 + pad, mh), r.width(), r.height(), mw, mh);
        return new Region(xs[0], xs[1], xs[2] - xs[0], xs[3] - xs[1]);
    }

    /**
     * A1111's {@code expand_crop_region}: grows the shorter side of the crop (x1..x2, y1..y2) to the processing aspect
     * ratio {@code pw / ph}, shifting it back inside the image; returns {x1, y1, x2, y2}.
     */
    private static int[] expand(int x1, int x2, int y1, int y2, int pw, int ph, int iw, int ih) {
        double ratioCrop = (double) (x2 - x1) / (y2 - y1);
        double ratioProcessing = (double) pw / ph;
        if (ratioCrop > ratioProcessing) {
            int[] ys = grow(y1, y2, (int) ((x2 - x1) / ratioProcessing - (y2 - y1)), ih);
            return new int[] {x1, ys[0], x2, ys[1]};
        }
        int[] xs = grow(x1, x2, (int) ((y2 - y1) * ratioProcessing - (x2 - x1)), iw);
        return new int[] {xs[0], y1, xs[1], y2};
    }

    /** One side of {@link #expand}: {@code diff} more pixels split around (a, b), kept within [0, size]. */
    private static int[] grow(int a, int b, int diff, int size) {
        a -= diff / 2;
        b += diff - diff / 2;
        if (b >= size) {
            a -= b - size;
            b = size;
        }
        if (a < 0) {
            b -= a;
            a = 0;
        }
        return new int[] {a, Math.min(b, size)};
    }

    private static BufferedImage crop(BufferedImage image, Region r) {
        BufferedImage out = new BufferedImage(r.width(), r.height(), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        g.drawImage(image, -r.x(), -r.y(), null);
        g.dispose();
        return out;
    }

    private static BufferedImage pasted(BufferedImage base, BufferedImage patch, Region r) {
        BufferedImage out = Images.resized(base, base.getWidth(), base.getHeight());
        Graphics2D g = out.createGraphics();
        g.drawImage(patch, r.x(), r.y(), null);
        g.dispose();
        return out;
    }

    /** {@code base (1 - a) + top a} per pixel and channel, rounded; both images of the alpha's size. */
    private static BufferedImage overlay(BufferedImage base, BufferedImage top, float[] alpha) {
        int w = base.getWidth();
        int h = base.getHeight();
        int[] b = base.getRGB(0, 0, w, h, null, 0, w);
        int[] t = top.getRGB(0, 0, w, h, null, 0, w);
        int[] o = new int[w * h];
        for (int i = 0; i < o.length; i++) {
            float a = alpha[i];
            int px = 0;
            for (int shift = 16; shift >= 0; shift -= 8) {
                float v = ((b[i] >> shift) & 0xff) * (1 - a) + ((t[i] >> shift) & 0xff) * a;
                px |= Math.round(v) << shift;
            }
            o[i] = px;
        }
        BufferedImage out = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        out.setRGB(0, 0, w, h, o, 0, w);
        return out;
    }
}
