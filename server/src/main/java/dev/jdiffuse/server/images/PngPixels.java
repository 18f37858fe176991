package dev.jdiffuse.server.images;

import java.awt.image.BufferedImage;
import java.awt.image.ComponentSampleModel;
import java.awt.image.DataBufferByte;
import java.awt.image.DataBufferInt;
import java.awt.image.Raster;
import java.awt.image.SinglePixelPackedSampleModel;

/**
 * One image row as 8-bit RGB or RGBA bytes, the sample order of PNG colour types 2 and 6 (PNG spec, sec. 7.2).
 * The layouts the server's images have ({@code TYPE_INT_RGB} from the pipeline; {@code TYPE_INT_ARGB},
 * {@code TYPE_3BYTE_BGR}, {@code TYPE_4BYTE_ABGR} from ImageIO) are read from the raster's array directly, offsets
 * taken from the sample model so sub-images work; any other type through {@link BufferedImage#getRGB}, which
 * converts to non-premultiplied sRGB. Alpha is kept when the colour model has it.
 */
final class PngPixels {

    private enum Layout { INT_RGB, INT_ARGB, BYTES, OTHER }

    private final BufferedImage image;
    private final Layout layout;
    private final int width;
    private final int channels;
    private final Raster raster;

    private PngPixels(BufferedImage image, Layout layout) {
        this.image = image;
        this.layout = layout;
        this.width = image.getWidth();
        this.channels = image.getColorModel().hasAlpha() ? 4 : 3;
        this.raster = image.getRaster();
    }

    static PngPixels of(BufferedImage image) {
        Layout layout = switch (image.getType()) {
            case BufferedImage.TYPE_INT_RGB -> Layout.INT_RGB;
            case BufferedImage.TYPE_INT_ARGB -> Layout.INT_ARGB;
            case BufferedImage.TYPE_3BYTE_BGR, BufferedImage.TYPE_4BYTE_ABGR -> Layout.BYTES;
            default -> Layout.OTHER;
        };
        return new PngPixels(image, layout);
    }

    int width() {
        return width;
    }

    int height() {
        return image.getHeight();
    }

    /** 3 (RGB) or 4 (RGBA). */
    int channels() {
        return channels;
    }

    /** Writes row {@code y}'s {@code width * channels} bytes into {@code dst} from {@code at}. */
    void row(int y, byte[] dst, int at) {
        switch (layout) {
            case INT_RGB, INT_ARGB -> packedRow(y, dst, at);
            case BYTES -> interleavedRow(y, dst, at);
            default -> argbRow(image.getRGB(0, y, width, 1, null, 0, width), dst, at);
        }
    }

    private void packedRow(int y, byte[] dst, int at) {
        SinglePixelPackedSampleModel sm = (SinglePixelPackedSampleModel) raster.getSampleModel();
        DataBufferInt buffer = (DataBufferInt) raster.getDataBuffer();
        int[] data = buffer.getData();
        int from = buffer.getOffset() + sm.getOffset(-raster.getSampleModelTranslateX(),
                y - raster.getSampleModelTranslateY());
        if (channels == 3) {
            for (int x = 0; x < width; x++, at += 3) {
                int p = data[from + x];
                dst[at] = (byte) (p >> 16);
                dst[at + 1] = (byte) (p >> 8);
                dst[at + 2] = (byte) p;
            }
        } else {
            for (int x = 0; x < width; x++, at += 4) {
                int p = data[from + x];
                dst[at] = (byte) (p >> 16);
                dst[at + 1] = (byte) (p >> 8);
                dst[at + 2] = (byte) p;
                dst[at + 3] = (byte) (p >>> 24);
            }
        }
    }

    private void interleavedRow(int y, byte[] dst, int at) {
        ComponentSampleModel sm = (ComponentSampleModel) raster.getSampleModel();
        DataBufferByte buffer = (DataBufferByte) raster.getDataBuffer();
        byte[] data = buffer.getData();
        int x0 = -raster.getSampleModelTranslateX();
        int y0 = y - raster.getSampleModelTranslateY();
        int stride = sm.getPixelStride();
        for (int band = 0; band < channels; band++) {
            // band order is R, G, B(, A) whatever the bytes' order in memory
            int from = buffer.getOffset() + sm.getOffset(x0, y0, band);
            for (int x = 0, o = at + band; x < width; x++, o += channels, from += stride) {
                dst[o] = data[from];
            }
        }
    }

    private void argbRow(int[] argb, byte[] dst, int at) {
        for (int x = 0; x < width; x++) {
            int p = argb[x];
            dst[at++] = (byte) (p >> 16);
            dst[at++] = (byte) (p >> 8);
            dst[at++] = (byte) p;
            if (channels == 4) {
                dst[at++] = (byte) (p >>> 24);
            }
        }
    }
}
