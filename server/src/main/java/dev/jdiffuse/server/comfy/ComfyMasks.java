package dev.jdiffuse.server.comfy;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * ComfyUI's masks as native mask images: LoadImageMask takes one channel (for {@code alpha}, {@code 1 - alpha}, so
 * transparent pixels are repainted; LoadImage's MASK output is that too), the native API a gray image where white is
 * repainted.
 */
final class ComfyMasks {

    private ComfyMasks() {
    }

    /** The mask of {@code image}'s {@code channel} as a PNG (white = repaint); refused when no pixel is masked. */
    static byte[] png(BufferedImage image, String channel) {
        int w = image.getWidth();
        int h = image.getHeight();
        BufferedImage m = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        boolean any = false;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int argb = image.getRGB(x, y);
                int v = switch (channel) {
                    case "alpha" -> 255 - (argb >>> 24);
                    case "red" -> (argb >> 16) & 0xff;
                    case "green" -> (argb >> 8) & 0xff;
                    default -> argb & 0xff;
                };
                any |= v != 0;
                m.setRGB(x, y, v * 0x010101);
            }
        }
        if (!any) {
            throw new IllegalArgumentException("the mask is empty: no pixel of the " + channel + " channel marks "
                    + "an area to repaint" + (channel.equals("alpha") ? " (transparent pixels are repainted)" : ""));
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ImageIO.write(m, "png", out);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
