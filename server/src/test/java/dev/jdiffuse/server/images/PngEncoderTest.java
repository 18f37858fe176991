package dev.jdiffuse.server.images;

import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
}
