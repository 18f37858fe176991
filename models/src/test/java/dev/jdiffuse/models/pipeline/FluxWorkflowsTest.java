package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.pipeline.flux.FluxFamily;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The workflows written once (image to image, inpainting, the hires fix) serve the FLUX family too, on the FLUX.1-dev
 * layout fixture (tiny random weights: only what is kept and the geometry are checked, not what is painted): a lower
 * strength changes the init image less, the step count follows the strength, inpainting with paste-back keeps
 * every unmasked pixel, and the hires fix returns the upscaled size.
 */
class FluxWorkflowsTest {

    private static DiffusionPipeline pipe;
    private static BufferedImage init;
    private static BufferedImage mask;

    @BeforeAll
    static void open() throws IOException {
        Path c = Fixtures.require("inpaint/sd15_4ch");
        DiffusionPipeline base = Pipelines.open(Fixtures.require("layouts/flux_dev/model"), LoadOptions.cpu());
        pipe = FluxFamily.withMaxSequenceLength(base, 32);
        init = ImageIO.read(c.resolve("init.png").toFile());
        mask = ImageIO.read(c.resolve("mask.png").toFile());
    }

    @AfterAll
    static void close() {
        if (pipe != null) {
            pipe.close();
        }
    }

    private static GenerationRequest request() {
        return GenerationRequest.of("a bowl of ramen", "", 128, 128, 10, 3.5, 5);
    }

    @Test
    void imageToImageFollowsTheStrength() {
        int[] steps = new int[3];
        // the tiny random VAE does not reconstruct the init image, so closeness is measured against the run that
        // changes it least (one step of ten): the VAE round trip plus a little noise
        BufferedImage least = pipe.generate(request().withInit(new GenerationRequest.InitImage(init, 0.1)),
                counting(steps, 0)).images().get(0);
        BufferedImage light = pipe.generate(request().withInit(new GenerationRequest.InitImage(init, 0.2)),
                counting(steps, 1)).images().get(0);
        BufferedImage heavy = pipe.generate(request().withInit(new GenerationRequest.InitImage(init, 1.0)),
                counting(steps, 2)).images().get(0);
        double dLight = meanAbs(light, least);
        double dHeavy = meanAbs(heavy, least);
        System.out.printf("FluxWorkflowsTest: mean |image - strength 0.1 image| strength 0.2 %.4f, 1.0 %.4f; "
                + "steps %d, %d, %d%n", dLight, dHeavy, steps[0], steps[1], steps[2]);
        assertTrue(dLight < dHeavy, "strength 0.2 should stay closer to the lightest run than 1.0 (pure noise)");
        assertEquals(1, steps[0], "10 steps at strength 0.1 run the last one");
        assertEquals(2, steps[1], "10 steps at strength 0.2 run the last 2");
        assertEquals(10, steps[2], "strength 1 runs all 10");
    }

    @Test
    void inpaintingWithPasteBackKeepsEveryUnmaskedPixel() {
        BufferedImage out = pipe.generate(request().withInit(new GenerationRequest.InitImage(init, 0.75))
                .withInpaint(new GenerationRequest.Inpaint(mask, 0, false, 0, true)), GenerationListener.NONE)
                .images().get(0);
        float[] soft = InpaintMask.of(mask, 0, 128, 128).soft();
        int[] o = init.getRGB(0, 0, 128, 128, null, 0, 128);
        int[] a = out.getRGB(0, 0, 128, 128, null, 0, 128);
        int kept = 0;
        int changed = 0;
        for (int i = 0; i < a.length; i++) {
            if (soft[i] == 0f) {
                assertEquals(o[i], a[i], "unmasked pixel " + i);
                kept++;
            } else if (a[i] != o[i]) {
                changed++;
            }
        }
        assertTrue(kept > 0 && changed > 0, "kept " + kept + ", changed " + changed);
    }

    @Test
    void hiresFixReturnsTheUpscaledSize() {
        BufferedImage out = pipe.generate(GenerationRequest.of("a bowl of ramen", "", 64, 64, 4, 3.5, 5)
                .withHires(new GenerationRequest.Hires(128, 128, 2, 2, 0.5, "latent")), GenerationListener.NONE)
                .images().get(0);
        assertEquals(128, out.getWidth());
        assertEquals(128, out.getHeight());
    }

    private static GenerationListener counting(int[] counts, int slot) {
        return new GenerationListener() {
            @Override
            public void onStep(int step, int steps, double sigma) {
                counts[slot]++;
            }
        };
    }

    private static double meanAbs(BufferedImage a, BufferedImage b) {
        double sum = 0;
        int n = 0;
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                int p = a.getRGB(x, y);
                int q = b.getRGB(x, y);
                for (int ch = 0; ch < 3; ch++) {
                    sum += Math.abs(((p >> (8 * ch)) & 0xff) - ((q >> (8 * ch)) & 0xff));
                    n++;
                }
            }
        }
        return sum / n / 255.0;
    }
}
