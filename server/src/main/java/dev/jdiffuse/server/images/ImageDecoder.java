package dev.jdiffuse.server.images;

import dev.jdiffuse.server.web.ApiException;

import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Iterator;

/**
 * Decodes an uploaded PNG, JPEG or WebP (as far as the JDK's ImageIO readers go: the JDK ships PNG and JPEG, WebP
 * only with a plug-in on the class path). The format is taken from the magic bytes, never from the client's
 * Content-Type. The header's declared size is checked (in {@code long}) before any pixel is decoded, so a
 * decompression bomb (a tiny file declaring 100000x100000) costs nothing (reliability notes 5.4).
 *
 * @param maxPixels most pixels a header may declare
 * @param maxSide longest side a header may declare
 */
public record ImageDecoder(long maxPixels, int maxSide) {

    /** The decoded image as 8-bit sRGB without alpha, and its format name. */
    public record Decoded(BufferedImage image, String format) {
    }

    /** What an upload is: its format and size, every byte of it decoded once, the pixels not kept. */
    public record Checked(String format, int width, int height) {
    }

    /** Pixels at most a check allocates: larger images are read subsampled (every row still inflated). */
    static final long CHECK_PIXELS = 1L << 20;

    public Decoded decode(byte[] bytes) {
        return decode(bytes, false).decoded();
    }

    /**
     * Checks an upload without holding its pixels: a non-interlaced PNG by its chunk CRCs and by inflating its
     * image data to exactly the size IHDR implies (a 49 KB file declaring 4096x4096 costs a 64 KiB buffer, not
     * 64 MiB); other images by decoding all of them at a subsampling that keeps the pixels under
     * {@link #CHECK_PIXELS}.
     */
    public Checked check(byte[] bytes) {
        if ("png".equals(sniff(bytes)) && bytes.length >= 33) {
            String problem = PngChunks.problem(bytes);
            if (problem != null) {
                throw new ApiException(400, "invalid_image", problem, null);
            }
            long w = ((bytes[16] & 0xffL) << 24) | ((bytes[17] & 0xff) << 16) | ((bytes[18] & 0xff) << 8)
                    | (bytes[19] & 0xff);
            long h = ((bytes[20] & 0xffL) << 24) | ((bytes[21] & 0xff) << 16) | ((bytes[22] & 0xff) << 8)
                    | (bytes[23] & 0xff);
            checkSize(w, h);
            problem = PngChunks.dataProblem(bytes);
            if (problem != null) {
                throw new ApiException(400, "invalid_image", problem, null);
            }
            if (bytes[28] == 0) {
                // not interlaced: the chunks and the inflated size are right, the pixels need not be touched now
                return new Checked("png", (int) w, (int) h);
            }
        }
        return decode(bytes, true).checked();
    }

    private void checkSize(long w, long h) {
        if (w <= 0 || h <= 0) {
            throw new ApiException(400, "invalid_image", "the image declares an empty size", null);
        }
        if (w > maxSide || h > maxSide || w * h > maxPixels) {
            throw new ApiException(422, "too_many_pixels", "the image declares " + w + "x" + h
                    + " pixels; the limit is " + maxSide + " per side and " + maxPixels + " in all", null);
        }
    }

    private record Result(Decoded decoded, Checked checked) {
    }

    private Result decode(byte[] bytes, boolean checkOnly) {
        String format = sniff(bytes);
        if (format == null) {
            throw new ApiException(415, "unsupported_media_type",
                    "the upload is not a PNG, JPEG or WebP image", null);
        }
        if (format.equals("png")) {
            String problem = PngChunks.problem(bytes);
            if (problem != null) {
                throw new ApiException(400, "invalid_image", problem, null);
            }
        }
        Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName(format);
        if (!readers.hasNext()) {
            throw new ApiException(415, "unsupported_media_type",
                    "this server's Java runtime has no " + format + " decoder; send PNG or JPEG", null);
        }
        ImageReader reader = readers.next();
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(bytes))) {
            reader.setInput(in, true, true);
            long w = reader.getWidth(0);
            long h = reader.getHeight(0);
            checkSize(w, h);
            if (checkOnly) {
                javax.imageio.ImageReadParam param = reader.getDefaultReadParam();
                int step = (int) Math.max(1, Math.ceil(Math.sqrt((double) (w * h) / CHECK_PIXELS)));
                param.setSourceSubsampling(step, step, 0, 0);
                reader.read(0, param);
                return new Result(null, new Checked(format, (int) w, (int) h));
            }
            BufferedImage raw = reader.read(0);
            return new Result(new Decoded(toRgb(raw), format), null);
        } catch (OutOfMemoryError e) {
            throw new ApiException(507, "insufficient_memory", "the server has no memory left to decode this image "
                    + "now; retry later", null, 5L);
        } catch (IOException | RuntimeException e) {
            if (e instanceof ApiException api) {
                throw api;
            }
            throw new ApiException(400, "invalid_image", "the " + format + " image could not be decoded", null);
        } finally {
            reader.dispose();
        }
    }

    /** "png", "jpeg", "webp" from the first bytes, or null. */
    public static String sniff(byte[] b) {
        if (b.length >= 8 && (b[0] & 0xff) == 0x89 && b[1] == 'P' && b[2] == 'N' && b[3] == 'G') {
            return "png";
        }
        if (b.length >= 3 && (b[0] & 0xff) == 0xFF && (b[1] & 0xff) == 0xD8 && (b[2] & 0xff) == 0xFF) {
            return "jpeg";
        }
        if (b.length >= 12 && b[0] == 'R' && b[1] == 'I' && b[2] == 'F' && b[3] == 'F' && b[8] == 'W' && b[9] == 'E'
                && b[10] == 'B' && b[11] == 'P') {
            return "webp";
        }
        return null;
    }

    private static BufferedImage toRgb(BufferedImage src) {
        if (src.getType() == BufferedImage.TYPE_INT_RGB) {
            return src;
        }
        BufferedImage rgb = new BufferedImage(src.getWidth(), src.getHeight(), BufferedImage.TYPE_INT_RGB);
        Graphics2D g = rgb.createGraphics();
        try {
            g.setColor(java.awt.Color.WHITE);
            g.fillRect(0, 0, rgb.getWidth(), rgb.getHeight());
            g.drawImage(src, 0, 0, null);
        } finally {
            g.dispose();
        }
        return rgb;
    }
}
