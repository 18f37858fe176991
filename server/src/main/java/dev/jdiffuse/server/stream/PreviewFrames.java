package dev.jdiffuse.server.stream;

import dev.jdiffuse.server.images.ImageWriting;
import dev.jdiffuse.models.pipeline.Preview;

import javax.imageio.IIOImage;
import javax.imageio.ImageWriteParam;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Function;

/**
 * Encodes previews as binary WebSocket frames ({@link Frame#binary} layout). Header fields: {@code type}
 * ("preview"), {@code job}, {@code step} (completed steps, 1-based), {@code total}, {@code method} (rgb|taesd|latent),
 * {@code format} ("jpeg" or "latent"), {@code width}, {@code height}, and for latents {@code channels},
 * {@code dtype} ("float16") and {@code byte_order} ("little"): the payload is then the first batch row's latent,
 * shape [channels, height, width], row-major. RGB and TAESD previews are JPEG (quality 0.85), scaled down to the
 * request's {@code max_size} on the long side.
 */
public final class PreviewFrames {

    private PreviewFrames() {
    }

    public static Frame encode(String jobId, int total, Preview p, int maxSize, Function<Object, String> toJson) {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("type", "preview");
        h.put("job", jobId);
        h.put("step", p.step() + 1);
        h.put("total", total);
        h.put("method", p.method().name().toLowerCase(java.util.Locale.ROOT));
        byte[] payload;
        if (p.latentFp16() != null) {
            h.put("format", "latent");
            h.put("channels", p.channels());
            h.put("width", p.width());
            h.put("height", p.height());
            h.put("dtype", "float16");
            h.put("byte_order", "little");
            payload = p.latentFp16();
        } else {
            BufferedImage img = scale(p.image(), maxSize);
            h.put("format", "jpeg");
            h.put("width", img.getWidth());
            h.put("height", img.getHeight());
            payload = jpeg(img);
        }
        return Frame.binary(Frame.Kind.PREVIEW, jobId, toJson.apply(h), payload);
    }

    static BufferedImage scale(BufferedImage src, int maxSize) {
        int w = src.getWidth();
        int h = src.getHeight();
        int longSide = Math.max(w, h);
        boolean rgb = src.getType() == BufferedImage.TYPE_INT_RGB;
        if ((maxSize <= 0 || longSide <= maxSize) && rgb) {
            return src;
        }
        double f = maxSize > 0 && longSide > maxSize ? (double) maxSize / longSide : 1.0;
        int nw = Math.max(1, (int) Math.round(w * f));
        int nh = Math.max(1, (int) Math.round(h * f));
        BufferedImage out = new BufferedImage(nw, nh, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.drawImage(src, 0, 0, nw, nh, null);
        } finally {
            g.dispose();
        }
        return out;
    }

    static byte[] jpeg(BufferedImage img) {
        return ImageWriting.write("jpeg", writer -> {
            ImageWriteParam param = writer.getDefaultWriteParam();
            param.setCompressionMode(ImageWriteParam.MODE_EXPLICIT);
            param.setCompressionQuality(0.85f);
            writer.write(null, new IIOImage(img, null, null), param);
        });
    }
}
