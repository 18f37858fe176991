package dev.jdiffuse.models.emoji;

import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.ImagePipeline;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.models.pipeline.Pipelines;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shipped default model (models-default/emoji-sd, trained by training/) loads through the real pipeline and
 * draws what the prompt asks for, checked by the colour of the drawn (saturated) pixels: a random-weight model gives
 * speckled noise whose colour does not follow the prompt. Prompts are held out of training: "grinning face" is a
 * concept never trained on, "blue heart" in Twemoji style a held-out (concept, style) pair; "red heart" is trained.
 */
class EmojiDefaultModelTest {

    private static final Path MODEL = Path.of("..", "models-default", "emoji-sd");
    private static ImagePipeline pipe;

    @BeforeAll
    static void open() {
        assertTrue(Files.isDirectory(MODEL), "the default model ships with the repository: " + MODEL.toAbsolutePath());
        pipe = Pipelines.open(MODEL, LoadOptions.cpu());
    }

    @AfterAll
    static void close() {
        if (pipe != null) {
            pipe.close();
        }
    }

    @Test
    void isAn128PixelSd1Model() {
        assertEquals("sd1", pipe.family());
        assertEquals(128, pipe.defaults().width());
        assertEquals(128, pipe.defaults().height());
        assertEquals(4, pipe.pixelsPerLatent(), "f=4 VAE: 128x128 images from 32x32 latents");
    }

    @Test
    void drawsTheColourThePromptNames() {
        float red = meanHue(draw("red heart, heart, twemoji flat"));
        float yellow = meanHue(draw("grinning face, face smiling, twemoji flat"));
        float blue = meanHue(draw("blue heart, heart, twemoji flat"));
        // HSB hue in [0,1): red wraps around 0, yellow near 1/6, blue near 2/3
        assertTrue(red < 0.06f || red > 0.92f, "red heart hue " + red);
        assertTrue(yellow > 0.08f && yellow < 0.20f, "grinning face hue " + yellow);
        assertTrue(blue > 0.50f && blue < 0.75f, "blue heart hue " + blue);
    }

    private static BufferedImage draw(String prompt) {
        GenerationRequest r = GenerationRequest.of(prompt, "", 128, 128, 12, 5.0, 1).withSampler("euler", null);
        return pipe.generate(r, GenerationListener.NONE).images().get(0);
    }

    /** Hue of the mean colour of the saturated pixels (max - min channel > 60 of 255): the drawing, not the white. */
    private static float meanHue(BufferedImage img) {
        double r = 0, g = 0, b = 0;
        int n = 0;
        for (int y = 0; y < img.getHeight(); y++) {
            for (int x = 0; x < img.getWidth(); x++) {
                int p = img.getRGB(x, y);
                int pr = (p >> 16) & 255, pg = (p >> 8) & 255, pb = p & 255;
                if (Math.max(pr, Math.max(pg, pb)) - Math.min(pr, Math.min(pg, pb)) > 60) {
                    r += pr;
                    g += pg;
                    b += pb;
                    n++;
                }
            }
        }
        assertTrue(n > img.getWidth() * img.getHeight() / 10, "a drawing covers at least a tenth: " + n + " pixels");
        return Color.RGBtoHSB((int) (r / n), (int) (g / n), (int) (b / n), null)[0];
    }
}
