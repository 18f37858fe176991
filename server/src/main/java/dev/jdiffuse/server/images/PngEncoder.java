package dev.jdiffuse.server.images;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * Writes 8-bit RGB (or RGBA, when the image has alpha) PNGs with text chunks, directly rather than through
 * ImageIO, whose writer took 33-43 ms for a 512x512 image on the H200 host, time spent after the denoiser (issue
 * 13): it reads pixels through the generic raster API, leaves every row unfiltered (filter type None on every row
 * of its output, JDK 17) and deflates at level 4 on one thread. No library on Maven Central fits: pngj is
 * unmaintained since 2015; commons-imaging's writer deflates on one thread; com.pngencoder (MIT, last release
 * 0.15.0 in January 2024) deflates in parallel but writes no text chunks (its README: metadata support "close to
 * zero") and filters rows only in an optional slow mode.
 *
 * <p>The file (PNG spec, sec. 5): signature, IHDR (sec. 11.2.2, non-interlaced), the text chunks, one IDAT holding
 * the zlib stream of the filtered rows (sec. 10), IEND; each chunk with its CRC-32 (sec. 5.3). A value that
 * Latin-1 can hold goes into a {@code tEXt} chunk (sec. 11.3.4.3, as A1111 and Pillow write {@code parameters}),
 * anything else into an uncompressed UTF-8 {@code iTXt} chunk (sec. 11.3.4.5), which is what Pillow falls back to
 * as well; all {@code tEXt} chunks first, then all {@code iTXt}, each in the map's order (as the ImageIO writer
 * this replaces did).
 *
 * <p>Rows are filtered with the minimum-sum-of-absolute-differences heuristic ({@link PngRowFilter}) and deflated
 * at level {@value #LEVEL} in stripes of about {@value #STRIPE_BYTES} bytes on the common pool
 * ({@link ParallelZlib}); an image of one stripe is written on the calling thread alone.
 */
public final class PngEncoder {

    private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    /**
     * Deflate level, measured on 512x512 images with these filters (bytes; ImageIO, the writer this replaced,
     * leaves every row unfiltered at level 4): a photograph 515558 at level 1, 500797 at 4, 480894 at 4 with
     * {@code FILTERED}, ImageIO 694763; a smooth picture 101233 at 1, 83234 at 4, ImageIO 145553; the smooth
     * picture with +-6 noise 479550 at 1, 464952 at 4, ImageIO 582734. Level 4 deflates at half level 1's speed
     * and {@code FILTERED} at a third for 3-7% smaller photographs; level 1 is 18-30% smaller than before.
     */
    static final int LEVEL = 1;

    /**
     * Filtered bytes per stripe: 13 stripes for 512x512 RGB, 49 for 1024x1024. A stripe costs a 5-byte flush and a
     * 32 KiB dictionary (priming it took under 5% of deflating the stripe); files grew by under 0.1% against one
     * stripe.
     */
    static final int STRIPE_BYTES = 64 * 1024;

    private PngEncoder() {
    }

    public static byte[] encode(BufferedImage image, Map<String, String> text) {
        return encode(image, text, STRIPE_BYTES);
    }

    /**
     * Encodes a few synthetic 512x512 images and throws them away, so that the first finished job does not pay for
     * loading and compiling the encoder (H200 host, session 9: the first job after start took 131 ms from its last
     * step to its PNG, the next ones 6-7 ms). Call off the request path.
     */
    public static void warmUp() {
        BufferedImage image = new BufferedImage(512, 512, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 512; y++) {
            for (int x = 0; x < 512; x++) {
                image.setRGB(x, y, (x * 31 + y * 17) * 2654435761L > 0 ? x ^ (y << 8) ^ (x * y << 16) : x + y);
            }
        }
        for (int i = 0; i < 3; i++) {
            encode(image, Map.of("parameters", "warm-up " + i));
        }
    }

    /** Encodes without text chunks (previews). */
    public static byte[] encode(BufferedImage image) {
        return encode(image, Map.of());
    }

    /** With {@code stripeBytes} of filtered data per stripe ({@link Integer#MAX_VALUE}: one stripe, one thread). */
    static byte[] encode(BufferedImage image, Map<String, String> text, int stripeBytes) {
        PngPixels pixels = PngPixels.of(image);
        long filteredBytes = (long) pixels.height() * (1 + (long) pixels.width() * pixels.channels());
        if (filteredBytes > Integer.MAX_VALUE - 1024) {
            throw new IllegalArgumentException("image too large for one PNG buffer: " + pixels.width() + "x"
                    + pixels.height());
        }
        int rowBytes = 1 + pixels.width() * pixels.channels();
        int rowsPerStripe = (int) Math.max(1, Math.min(pixels.height(), stripeBytes / rowBytes));
        byte[] filtered = filterRows(pixels, rowsPerStripe);
        int stripes = (pixels.height() + rowsPerStripe - 1) / rowsPerStripe;
        int[] bounds = new int[stripes + 1];
        for (int i = 1; i <= stripes; i++) {
            bounds[i] = Math.min(pixels.height(), i * rowsPerStripe) * rowBytes;
        }
        ParallelZlib.Parts zlib = ParallelZlib.compress(filtered, bounds, LEVEL);

        List<TextChunk> textChunks = textChunks(text);
        int size = SIGNATURE.length + 25 + zlib.total() + 12 + 12
                + textChunks.stream().mapToInt(c -> c.data().length + 12).sum();
        Chunks out = new Chunks(size);
        out.write(SIGNATURE, 0, SIGNATURE.length);
        out.chunk("IHDR", ihdr(pixels));
        for (TextChunk c : textChunks) {
            out.chunk(c.type(), c.data());
        }
        out.chunk("IDAT", zlib.bytes(), zlib.lengths());
        out.chunk("IEND", new byte[0]);
        return out.toByteArray();
    }

    /** Sec. 7.3 and 9: each row as a filter-type byte and the filtered bytes, filtered in parallel stripes. */
    private static byte[] filterRows(PngPixels pixels, int rowsPerStripe) {
        int height = pixels.height();
        int length = pixels.width() * pixels.channels();
        byte[] out = new byte[height * (length + 1)];
        int stripes = (height + rowsPerStripe - 1) / rowsPerStripe;
        Stripes.run(stripes, s -> {
            PngRowFilter filter = new PngRowFilter(pixels.channels(), length);
            int from = s * rowsPerStripe;
            int to = Math.min(height, from + rowsPerStripe);
            byte[] prior = new byte[length];
            byte[] row = new byte[length];
            if (from > 0) {
                pixels.row(from - 1, prior, 0);
            }
            for (int y = from; y < to; y++) {
                pixels.row(y, row, 0);
                filter.filter(row, prior, out, y * (length + 1));
                byte[] t = prior;
                prior = row;
                row = t;
            }
        });
        return out;
    }

    /** Sec. 11.2.2: width, height, bit depth 8, colour type 2 (RGB) or 6 (RGBA), deflate, adaptive, no interlace. */
    private static byte[] ihdr(PngPixels pixels) {
        byte[] b = new byte[13];
        putInt(b, 0, pixels.width());
        putInt(b, 4, pixels.height());
        b[8] = 8;
        b[9] = (byte) (pixels.channels() == 4 ? 6 : 2);
        return b;
    }

    private record TextChunk(String type, byte[] data) {
    }

    /** The {@code tEXt} chunks, then the {@code iTXt} chunks. */
    private static List<TextChunk> textChunks(Map<String, String> text) {
        List<TextChunk> latin = new ArrayList<>();
        List<TextChunk> utf8 = new ArrayList<>();
        text.forEach((key, value) -> {
            byte[] keyword = keyword(key);
            if (StandardCharsets.ISO_8859_1.newEncoder().canEncode(value)) {
                // sec. 11.3.4.3: keyword, null separator, Latin-1 text
                latin.add(new TextChunk("tEXt",
                        concat(keyword, new byte[] {0}, value.getBytes(StandardCharsets.ISO_8859_1))));
            } else {
                // sec. 11.3.4.5: keyword, null, compression flag 0, method 0, empty language tag and translated
                // keyword each ended by a null, UTF-8 text
                utf8.add(new TextChunk("iTXt",
                        concat(keyword, new byte[] {0, 0, 0, 0, 0}, value.getBytes(StandardCharsets.UTF_8))));
            }
        });
        List<TextChunk> all = new ArrayList<>(latin);
        all.addAll(utf8);
        return all;
    }

    /** Sec. 11.3.4.2: 1 to 79 printable Latin-1 characters (space allowed, not leading, trailing or doubled). */
    private static byte[] keyword(String key) {
        boolean printable = key.chars().allMatch(c -> c >= 32 && c <= 126 || c >= 161 && c <= 255);
        if (key.isEmpty() || key.length() > 79 || !printable || key.startsWith(" ") || key.endsWith(" ")
                || key.contains("  ")) {
            throw new IllegalArgumentException("not a PNG text keyword: \"" + key + "\"");
        }
        return key.getBytes(StandardCharsets.ISO_8859_1);
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    static void putInt(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }

    /** The file being written, sized up front: length, type, data, CRC-32 of type and data (sec. 5.3). */
    private static final class Chunks {
        private final byte[] bytes;
        private int at;

        Chunks(int size) {
            bytes = new byte[size];
        }

        void write(byte[] b, int from, int length) {
            System.arraycopy(b, from, bytes, at, length);
            at += length;
        }

        void chunk(String type, byte[] data) {
            chunk(type, new byte[][] {data}, new int[] {data.length});
        }

        void chunk(String type, byte[][] parts, int[] lengths) {
            int length = 0;
            for (int l : lengths) {
                length += l;
            }
            putInt(bytes, at, length);
            int typeAt = at + 4;
            at = typeAt;
            write(type.getBytes(StandardCharsets.ISO_8859_1), 0, 4);
            for (int i = 0; i < parts.length; i++) {
                write(parts[i], 0, lengths[i]);
            }
            CRC32 crc = new CRC32();
            crc.update(bytes, typeAt, at - typeAt);
            putInt(bytes, at, (int) crc.getValue());
            at += 4;
        }

        byte[] toByteArray() {
            if (at != bytes.length) {
                throw new IllegalStateException("PNG size miscounted: " + at + " of " + bytes.length);
            }
            return bytes;
        }
    }
}
