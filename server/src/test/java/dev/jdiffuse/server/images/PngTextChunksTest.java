package dev.jdiffuse.server.images;

import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link PngTextChunks}: every text chunk kind, by keyword, and the refusals (a broken file, a text bomb). */
class PngTextChunksTest {

    private static byte[] png(Map<String, String> text) {
        return PngEncoder.encode(new BufferedImage(8, 8, BufferedImage.TYPE_INT_RGB), text);
    }

    /** {@code png} with the chunk {@code type} of {@code data} inserted before IEND (the last 12 bytes). */
    private static byte[] withChunk(byte[] png, String type, byte[] data) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(png, 0, png.length - 12);
        byte[] len = new byte[4];
        PngEncoder.putInt(len, 0, data.length);
        out.writeBytes(len);
        byte[] t = type.getBytes(StandardCharsets.ISO_8859_1);
        out.writeBytes(t);
        out.writeBytes(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        byte[] c = new byte[4];
        PngEncoder.putInt(c, 0, (int) crc.getValue());
        out.writeBytes(c);
        out.write(png, png.length - 12, 12);
        return out.toByteArray();
    }

    private static byte[] deflate(byte[] b) {
        Deflater d = new Deflater();
        d.setInput(b);
        d.finish();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[8192];
        while (!d.finished()) {
            out.write(buf, 0, d.deflate(buf));
        }
        d.end();
        return out.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    @Test
    void readsTextZtxtAndItxtByKeyword() throws Exception {
        Map<String, String> text = new LinkedHashMap<>();
        text.put("parameters", "a cat, sitting\nSteps: 4, Sampler: Euler, CFG scale: 7");
        text.put("title", "caf\u00e9 \u2713"); // not Latin-1: an uncompressed iTXt
        byte[] png = png(text);
        byte[] latin = "Comment".getBytes(StandardCharsets.ISO_8859_1);
        png = withChunk(png, "zTXt", concat(latin, new byte[] {0, 0},
                deflate("deflated, Latin-1 \u00e9".getBytes(StandardCharsets.ISO_8859_1))));
        png = withChunk(png, "iTXt", concat("Description".getBytes(StandardCharsets.ISO_8859_1),
                new byte[] {0, 1, 0}, "en".getBytes(StandardCharsets.ISO_8859_1), new byte[] {0},
                "Beschreibung".getBytes(StandardCharsets.UTF_8), new byte[] {0},
                deflate("deflated UTF-8 \u2713".getBytes(StandardCharsets.UTF_8))));
        Map<String, String> read = PngTextChunks.read(png);
        assertEquals(text.get("parameters"), read.get("parameters"));
        assertEquals(text.get("title"), read.get("title"));
        assertEquals("deflated, Latin-1 \u00e9", read.get("Comment"));
        assertEquals("deflated UTF-8 \u2713", read.get("Description"));
        assertEquals(4, read.size());
        assertTrue(PngTextChunks.read(png(Map.of())).isEmpty(), "a PNG without text");
    }

    @Test
    void refusesBrokenFilesAndTextBombs() {
        byte[] png = png(Map.of("parameters", "x"));
        byte[] corrupt = png.clone();
        corrupt[40] ^= 1; // inside the tEXt chunk: its CRC no longer matches
        assertThrows(PngTextChunks.Malformed.class, () -> PngTextChunks.read(corrupt));
        assertThrows(PngTextChunks.Malformed.class, () -> PngTextChunks.read(Arrays.copyOf(png, png.length - 5)));
        assertThrows(PngTextChunks.Malformed.class, () -> PngTextChunks.read("GIF89a....".getBytes()));
        // 2 MiB of zeros deflate to about 2 KiB: more than a text may inflate to
        byte[] bomb = withChunk(png, "zTXt", concat("Comment".getBytes(StandardCharsets.ISO_8859_1),
                new byte[] {0, 0}, deflate(new byte[2 << 20])));
        PngTextChunks.Malformed e = assertThrows(PngTextChunks.Malformed.class, () -> PngTextChunks.read(bomb));
        assertTrue(e.getMessage().contains("inflates to more than"), e.getMessage());
        byte[] noSeparator = withChunk(png, "tEXt", "keyword-without-nul".getBytes(StandardCharsets.ISO_8859_1));
        assertThrows(PngTextChunks.Malformed.class, () -> PngTextChunks.read(noSeparator));
    }

    /**
     * Many chunks each under the one-text bound add up to more than Pillow's total (64 MiB): 70 zTXt chunks of 1 MiB
     * of zeros (about 1 KiB each deflated, 70 KiB of file) are refused; 60 of them are read.
     */
    @Test
    void refusesManyTextsThatInflateTooMuchTogether() throws Exception {
        byte[] deflated = deflate(new byte[PngTextChunks.MAX_TEXT]);
        byte[] sixty = png(Map.of());
        for (int i = 0; i < 60; i++) {
            sixty = withChunk(sixty, "zTXt", concat(("k" + i).getBytes(StandardCharsets.ISO_8859_1),
                    new byte[] {0, 0}, deflated));
        }
        assertTrue(sixty.length < 100_000, "a small file: " + sixty.length);
        assertEquals(60, PngTextChunks.read(sixty).size());
        byte[] seventy = sixty;
        for (int i = 60; i < 70; i++) {
            seventy = withChunk(seventy, "zTXt", concat(("k" + i).getBytes(StandardCharsets.ISO_8859_1),
                    new byte[] {0, 0}, deflated));
        }
        byte[] bomb = seventy;
        PngTextChunks.Malformed e = assertThrows(PngTextChunks.Malformed.class, () -> PngTextChunks.read(bomb));
        assertTrue(e.getMessage().contains("texts hold more than"), e.getMessage());
    }
}
