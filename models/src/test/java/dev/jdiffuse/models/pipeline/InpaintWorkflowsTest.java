package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.testkit.Close;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The workflows around the inpainting run, end to end on the fixtures' Stable Diffusion 1.5 layout (tiny random
 * weights, so only geometry and what is kept are checked, not what is painted): paste-back, "only masked",
 * outpainting, the hires fix, and the request checks.
 */
class InpaintWorkflowsTest {

    private static DiffusionPipeline pipe;
    private static BufferedImage init;
    private static BufferedImage mask;

    @BeforeAll
    static void open() throws IOException {
        Path c = Fixtures.require("inpaint/sd15_4ch");
        pipe = Pipelines.open(Fixtures.require("layouts/sd15/model"), LoadOptions.cpu());
        init = ImageIO.read(c.resolve("init.png").toFile());
        mask = ImageIO.read(c.resolve("mask.png").toFile());
    }

    @AfterAll
    static void close() {
        if (pipe != null) {
            pipe.close();
        }
    }

    private static GenerationRequest request(int w, int h) {
        return GenerationRequest.of("a bowl of ramen", "", w, h, 4, 7.5, 3);
    }

    private static GenerationRequest inpaint(GenerationRequest.Inpaint in) {
        return request(128, 128).withInit(new GenerationRequest.InitImage(init, 0.75)).withInpaint(in);
    }

    /** Pixels of the mask image that are exactly black (kept even after a blur of {@code blur}). */
    private static boolean[] kept(BufferedImage m, int blur) {
        float[] soft = InpaintMask.of(m, blur, m.getWidth(), m.getHeight()).soft();
        boolean[] k = new boolean[soft.length];
        for (int i = 0; i < k.length; i++) {
            k[i] = soft[i] == 0f;
        }
        return k;
    }

    @Test
    void pasteBackKeepsTheUnmaskedPixelsAndChangesNothingElse() {
        BufferedImage plain = pipe.generate(inpaint(GenerationRequest.Inpaint.of(mask)), GenerationListener.NONE)
                .images().get(0);
        BufferedImage pasted = pipe.generate(inpaint(new GenerationRequest.Inpaint(mask, 0, false, 0, true)),
                GenerationListener.NONE).images().get(0);
        int[] a = plain.getRGB(0, 0, 128, 128, null, 0, 128);
        int[] b = pasted.getRGB(0, 0, 128, 128, null, 0, 128);
        int[] o = init.getRGB(0, 0, 128, 128, null, 0, 128);
        boolean[] keep = kept(mask, 0);
        int changedOutside = 0;
        for (int i = 0; i < a.length; i++) {
            assertEquals(keep[i] ? o[i] : a[i], b[i], "pixel " + i);
            changedOutside += keep[i] && a[i] != o[i] ? 1 : 0;
        }
        assertTrue(changedOutside > 0, "without paste-back diffusers' decoded image differs from the init image");
    }

    @Test
    void onlyMaskedRepaintsACropAndReturnsTheInitImageSize() {
        GenerationRequest r = request(64, 64).withInit(new GenerationRequest.InitImage(init, 0.75))
                .withInpaint(new GenerationRequest.Inpaint(mask, 4, true, 8, false));
        InpaintComposite.Region region = InpaintComposite.region(r);
        assertEquals(region.width(), region.height(), "the crop takes the request's aspect ratio (square)");
        assertTrue(region.width() < 128, "a crop, not the whole image: " + region);
        BufferedImage out = pipe.generate(r, GenerationListener.NONE).images().get(0);
        assertEquals(128, out.getWidth());
        assertEquals(128, out.getHeight());
        int[] got = out.getRGB(0, 0, 128, 128, null, 0, 128);
        int[] o = init.getRGB(0, 0, 128, 128, null, 0, 128);
        boolean[] keep = kept(mask, 4);
        int repainted = 0;
        for (int i = 0; i < got.length; i++) {
            if (keep[i]) {
                assertEquals(o[i], got[i], "kept pixel " + i);
            } else {
                repainted += got[i] != o[i] ? 1 : 0;
            }
        }
        assertTrue(repainted > 0, "the masked region is repainted");
    }

    @Test
    void outpaintingExtendsTheCanvasAndKeepsThePicture() {
        Outpaint pads = new Outpaint(32, 0, 0, 16);
        GenerationRequest r = pads.apply(request(128, 128).withInit(new GenerationRequest.InitImage(init, 1.0)), 0,
                true);
        assertEquals(160, r.width());
        assertEquals(144, r.height());
        BufferedImage out = pipe.generate(r, GenerationListener.NONE).images().get(0);
        assertEquals(160, out.getWidth());
        assertEquals(144, out.getHeight());
        int margin = Outpaint.OVERLAP;
        int checked = 0;
        for (int y = 0; y < 128 - margin; y++) {
            for (int x = margin; x < 128; x++) {
                assertEquals(init.getRGB(x, y), out.getRGB(x + 32, y), "original pixel " + x + "," + y);
                checked++;
            }
        }
        assertTrue(checked > 10000);
        List<Integer> border = new ArrayList<>();
        for (int y = 0; y < 144; y++) {
            border.add(out.getRGB(5, y));
        }
        assertTrue(border.stream().distinct().count() > 1, "the border is painted, not a flat fill");
    }

    /**
     * The image upscaler's round trip (decode, resize, encode) is only checked for its geometry: the random-weight
     * VAE's encoder is no inverse of its decoder, so its re-encoded latents say nothing about what is kept.
     */
    @Test
    void hiresFixRunsBothPassesAtTheRightSizes() {
        GenerationRequest r = request(64, 64).withHires(new GenerationRequest.Hires(128, 96, 2, 3, 0.5, "bicubic"));
        int[] steps = {0, 0};
        BufferedImage out = pipe.generate(r, new GenerationListener() {
            @Override
            public void onStep(int step, int total, double sigma) {
                steps[0]++;
                steps[1] = total;
            }
        }).images().get(0);
        assertEquals(128, out.getWidth());
        assertEquals(96, out.getHeight());
        assertEquals(4 + 3, steps[0], "base steps, then exactly the hires steps (A1111)");
        assertEquals(7, steps[1]);
    }

    @Test
    void hiresFixAtAlmostNoStrengthKeepsTheUpscaledBase() {
        for (String upscaler : List.of("latent")) { // A1111's default; nearest differs only in the interpolation
            GenerationRequest weak = request(64, 64).withSampler("euler", null)
                    .withHires(new GenerationRequest.Hires(128, 128, 2, 2, 0.001, upscaler));
            GenerationRequest strong = weak.withHires(new GenerationRequest.Hires(128, 128, 2, 2, 0.9, upscaler));
            try (NDManager job = NDManager.newBaseManager(Device.cpu())) {
                NDArray base = pipe.hiresInput(weak, job).image();
                assertEquals(List.of(1L, 3L, 128L, 128L), List.of(base.getShape().getShape()[0],
                        base.getShape().get(1), base.getShape().get(2), base.getShape().get(3)));
                double[] b = Close.toDouble(base.toFloatArray());
                double dWeak = meanAbsDiff(b, Close.toDouble(pipe.render(weak, job, GenerationListener.NONE).image()
                        .toFloatArray()));
                double dStrong = meanAbsDiff(b, Close.toDouble(pipe.render(strong, job, GenerationListener.NONE)
                        .image().toFloatArray()));
                Close.report(String.format("hires %s mean|diff| to the upscaled base: strength 0.001 %.3e, 0.9 %.3e",
                        upscaler, dWeak, dStrong));
                assertTrue(dWeak < 0.01, upscaler + ": strength 0.001 keeps the upscaled base, got " + dWeak);
                assertTrue(dStrong > 4 * dWeak, upscaler + ": strength 0.9 repaints it");
            }
        }
    }

    /**
     * Mean rather than max: the random-weight VAE's encoder is no inverse of its decoder, so after the image
     * upscaler's encode a few pixels are extremely sensitive and flip between 0 and 1 under any perturbation.
     */
    private static double meanAbsDiff(double[] a, double[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m += Math.abs(a[i] - b[i]);
        }
        return m / a.length;
    }

    @Test
    void anInpaintingModelAlsoGeneratesWithoutAMask() {
        try (DiffusionPipeline nine = Pipelines.open(Fixtures.require("inpaint/sd15_9ch/model"),
                LoadOptions.cpu())) {
            assertEquals(4, nine.latentShape(request(64, 64)).get(1), "latent channels come from the VAE");
            assertEquals(5, nine.architecture().imageConditioningChannels());
            BufferedImage txt2img = nine.generate(request(64, 64), GenerationListener.NONE).images().get(0);
            assertEquals(64, txt2img.getWidth());
            BufferedImage img2img = nine.generate(request(128, 128).withInit(new GenerationRequest.InitImage(init,
                    0.5)), GenerationListener.NONE).images().get(0);
            assertEquals(128, img2img.getWidth());
            // DDIM ("leading", steps_offset 1) at a strength so low that the schedule is as long as it can be
            BufferedImage hires = nine.generate(request(64, 64).withHires(new GenerationRequest.Hires(96, 96, 0, 1,
                    0.0001, "latent")), GenerationListener.NONE).images().get(0);
            assertEquals(96, hires.getWidth());
        }
    }

    @Test
    void requestChecksNameTheField() {
        GenerationRequest noInit = request(128, 128).withInpaint(GenerationRequest.Inpaint.of(mask));
        assertEquals(List.of("mask"), fields(pipe.check(noInit)));
        GenerationRequest hires = request(64, 64).withHires(new GenerationRequest.Hires(100, 128, 2, 0, 1.5, "x"));
        assertEquals(List.of("hires.width", "hires.strength", "hires.upscaler"), fields(pipe.check(hires)));
        GenerationRequest both = inpaint(GenerationRequest.Inpaint.of(mask)).withHires(
                new GenerationRequest.Hires(128, 128, 1, 0, 0.5, "latent"));
        assertEquals(List.of("hires"), fields(pipe.check(both)));
        assertNotEquals(0, pipe.check(noInit).get(0).message().length());
    }

    private static List<String> fields(List<FieldError> errors) {
        return errors.stream().map(FieldError::field).toList();
    }
}
