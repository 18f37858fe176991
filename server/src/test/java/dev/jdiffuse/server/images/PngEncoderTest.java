package dev.jdiffuse.server.images;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import java.util.zip.Inflater;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PngEncoderTest {

    @Test
    void latinTextGoesToTextChunksAndOtherTextToItxtBothReadBack() throws Exception {
        BufferedImage img = new BufferedImage(8, 4, BufferedImage.TYPE_INT_RGB);
        img.setRGB(3, 2, 0x123456);
        Map<String, String> text = new LinkedHashMap<>();
        text.put("parameters", "a café\nSteps: 20, Seed: 1");
        text.put("jdiffuse", "{\"prompt\":\"猫 🐈\"}");
        byte[] png = PngEncoder.encode(img, text);
        assertEquals(text, PngText.read(png));
        String raw = new String(png, StandardCharsets.ISO_8859_1);
        assertTrue(raw.contains("tEXtparameters"), "Latin-1 text as tEXt (what A1111 readers look for)");
        assertTrue(raw.contains("iTXtjdiffuse"), "non-Latin-1 text as iTXt");
        BufferedImage back = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(0x123456, back.getRGB(3, 2) & 0xffffff, "pixels survive");
    }

    @Test
    void infotextQuotesLikeA1111() {
        assertEquals("plain", ImageMetadata.quote("plain"));
        assertEquals("\"a, b\"", ImageMetadata.quote("a, b"));
        assertEquals("\"k: \\\"v\\\"\"", ImageMetadata.quote("k: \"v\""));
        assertEquals("7", ImageMetadata.number(7.0));
        assertEquals("7.5", ImageMetadata.number(7.5));
    }

    static Stream<Arguments> images() {
        return Stream.of(
                Arguments.of("1x1 RGB", noise(BufferedImage.TYPE_INT_RGB, 1, 1)),
                Arguments.of("odd width RGB", noise(BufferedImage.TYPE_INT_RGB, 7, 5)),
                Arguments.of("512x512 noise RGB", noise(BufferedImage.TYPE_INT_RGB, 512, 512)),
                Arguments.of("1024x768 gradient RGB", gradient(BufferedImage.TYPE_INT_RGB, 1024, 768)),
                Arguments.of("tall noise, many stripes", noise(BufferedImage.TYPE_INT_RGB, 97, 2000)),
                Arguments.of("odd width 3-byte BGR", noise(BufferedImage.TYPE_3BYTE_BGR, 333, 65)),
                Arguments.of("ARGB", noise(BufferedImage.TYPE_INT_ARGB, 129, 257)),
                Arguments.of("4-byte ABGR", gradient(BufferedImage.TYPE_4BYTE_ABGR, 65, 300)),
                Arguments.of("int BGR, through getRGB", noise(BufferedImage.TYPE_INT_BGR, 31, 17)),
                Arguments.of("gray, through getRGB", gradient(BufferedImage.TYPE_BYTE_GRAY, 100, 40)),
                Arguments.of("RGB sub-image", noise(BufferedImage.TYPE_INT_RGB, 300, 200).getSubimage(17, 9, 201, 150)),
                Arguments.of("BGR sub-image", noise(BufferedImage.TYPE_3BYTE_BGR, 300, 200).getSubimage(3, 50, 77, 99)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void everyPixelDecodesBackExactly(String name, BufferedImage image) throws Exception {
        byte[] png = PngEncoder.encode(image, Map.of("parameters", name));
        assertSamePixels(image, png);
        assertNull(PngChunks.problem(png), "every chunk's CRC (PNG spec 5.3)");
        assertNull(PngChunks.dataProblem(png), "IDAT inflates to exactly the size IHDR implies");
        assertEquals(image.getColorModel().hasAlpha() ? 6 : 2, png[25], "colour type RGBA when there is alpha");
    }

    @Test
    void oneRowStripesAndOneStripeDecodeToTheSamePixelsAsTheDefault() throws Exception {
        BufferedImage image = gradient(BufferedImage.TYPE_INT_RGB, 123, 77);
        noiseOver(image, 40, 30, 50, 20);
        byte[] perRow = PngEncoder.encode(image, Map.of(), 1);
        byte[] whole = PngEncoder.encode(image, Map.of(), Integer.MAX_VALUE);
        assertSamePixels(image, perRow);
        assertSamePixels(image, whole);
        assertArrayEquals(inflateIdat(whole), inflateIdat(perRow), "the same filtered rows however deflated");
    }

    @Test
    void idatIsOneZlibStreamThatInflaterChecksEndToEnd() throws Exception {
        BufferedImage image = noise(BufferedImage.TYPE_INT_RGB, 700, 300);
        byte[] png = PngEncoder.encode(image, Map.of());
        byte[] zlib = idat(png);
        assertEquals(0, ((zlib[0] & 0xff) * 256 + (zlib[1] & 0xff)) % 31, "zlib header check bits (RFC 1950)");
        assertEquals(8, zlib[0] & 0x0f, "deflate");
        byte[] rows = inflateIdat(png);
        assertEquals(300 * (1 + 700 * 3), rows.length);
        for (int y = 0; y < 300; y++) {
            int type = rows[y * (1 + 700 * 3)];
            assertTrue(type >= 0 && type <= 4, "row " + y + " filter type " + type);
        }
        zlib[zlib.length - 1] ^= 1;
        Inflater inflater = new Inflater();
        inflater.setInput(zlib);
        assertThrows(java.util.zip.DataFormatException.class, () -> {
            byte[] out = new byte[rows.length + 1];
            while (!inflater.finished()) {
                inflater.inflate(out);
            }
        }, "a wrong Adler-32 is caught, so the right one was checked");
        inflater.end();
    }

    @Test
    void textChunksComeBeforeImageDataTextThenItxtEachInTheMapsOrder() {
        Map<String, String> text = new LinkedHashMap<>();
        text.put("b-utf8", "Ω");
        text.put("a-latin", "x");
        text.put("c-utf8", "日本");
        text.put("d-latin", "");
        byte[] png = PngEncoder.encode(new BufferedImage(3, 3, BufferedImage.TYPE_INT_RGB), text);
        assertEquals(List.of("IHDR", "tEXt:a-latin", "tEXt:d-latin", "iTXt:b-utf8", "iTXt:c-utf8", "IDAT", "IEND"),
                chunks(png));
        assertEquals(text, PngText.read(png));
    }

    @Test
    void noTextNoTextChunks() throws Exception {
        byte[] png = PngEncoder.encode(new BufferedImage(2, 2, BufferedImage.TYPE_INT_RGB));
        assertEquals(List.of("IHDR", "IDAT", "IEND"), chunks(png));
        assertEquals(Map.of(), PngText.read(png));
        assertSamePixels(new BufferedImage(2, 2, BufferedImage.TYPE_INT_RGB), png);
    }

    @Test
    void aKeywordPngCannotHoldIsRefused() {
        BufferedImage img = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
        assertThrows(IllegalArgumentException.class, () -> PngEncoder.encode(img, Map.of("", "v")));
        assertThrows(IllegalArgumentException.class, () -> PngEncoder.encode(img, Map.of("k".repeat(80), "v")));
        assertThrows(IllegalArgumentException.class, () -> PngEncoder.encode(img, Map.of("Ω", "v")));
    }

    private static void assertSamePixels(BufferedImage expected, byte[] png) throws Exception {
        BufferedImage back = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(expected.getWidth(), back.getWidth());
        assertEquals(expected.getHeight(), back.getHeight());
        int w = expected.getWidth();
        int[] want = expected.getRGB(0, 0, w, expected.getHeight(), null, 0, w);
        int[] got = back.getRGB(0, 0, w, back.getHeight(), null, 0, w);
        for (int i = 0; i < want.length; i++) {
            if (want[i] != got[i]) {
                throw new AssertionError(String.format("pixel (%d, %d): %08x, decoded %08x", i % w, i / w,
                        want[i], got[i]));
            }
        }
    }

    private static BufferedImage noise(int type, int w, int h) {
        BufferedImage img = new BufferedImage(w, h, type);
        noiseOver(img, 0, 0, w, h);
        return img;
    }

    private static void noiseOver(BufferedImage img, int x0, int y0, int w, int h) {
        SplittableRandom random = new SplittableRandom(w * 31L + h);
        for (int y = y0; y < y0 + h; y++) {
            for (int x = x0; x < x0 + w; x++) {
                img.setRGB(x, y, random.nextInt());
            }
        }
    }

    private static BufferedImage gradient(int type, int w, int h) {
        BufferedImage img = new BufferedImage(w, h, type);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int r = x * 255 / Math.max(1, w - 1);
                int g = y * 255 / Math.max(1, h - 1);
                img.setRGB(x, y, (x + y) % 256 << 24 | r << 16 | g << 8 | (r + g) / 2);
            }
        }
        return img;
    }

    /** Chunk types in order, text chunks as type:keyword. */
    private static List<String> chunks(byte[] png) {
        List<String> types = new ArrayList<>();
        for (int at = 8; at < png.length; ) {
            int length = readInt(png, at);
            String type = new String(png, at + 4, 4, StandardCharsets.ISO_8859_1);
            if (type.equals("tEXt") || type.equals("iTXt")) {
                int end = at + 8;
                while (png[end] != 0) {
                    end++;
                }
                type += ":" + new String(png, at + 8, end - at - 8, StandardCharsets.ISO_8859_1);
            }
            types.add(type);
            at += 12 + length;
        }
        return types;
    }

    private static byte[] idat(byte[] png) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int at = 8; at < png.length; ) {
            int length = readInt(png, at);
            if (new String(png, at + 4, 4, StandardCharsets.ISO_8859_1).equals("IDAT")) {
                out.write(png, at + 8, length);
            }
            at += 12 + length;
        }
        return out.toByteArray();
    }

    /** The IDAT stream through java.util.zip.Inflater, which checks the zlib header and the Adler-32. */
    private static byte[] inflateIdat(byte[] png) throws Exception {
        Inflater inflater = new Inflater();
        inflater.setInput(idat(png));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buffer = new byte[1 << 16];
        while (!inflater.finished()) {
            int n = inflater.inflate(buffer);
            if (n == 0 && !inflater.finished() && (inflater.needsInput() || inflater.needsDictionary())) {
                throw new AssertionError("the zlib stream ends early");
            }
            out.write(buffer, 0, n);
        }
        assertEquals(0, inflater.getRemaining(), "nothing after the zlib stream");
        inflater.end();
        return out.toByteArray();
    }

    private static int readInt(byte[] b, int at) {
        return (b[at] & 0xff) << 24 | (b[at + 1] & 0xff) << 16 | (b[at + 2] & 0xff) << 8 | (b[at + 3] & 0xff);
    }
}
