package dev.jdiffuse.models.pipeline;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.models.pipeline.sd.SdLoader;
import dev.jdiffuse.models.vae.AutoencoderKL;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.function.UnaryOperator;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * A request's VAE tiling through the whole pipeline (tiny SD 1.x fixture, CPU float32, 128x128 images, 16x16
 * latents): with {@code ALWAYS} the image is the tiled decoding of the run's final latents, with {@code AUTO} (no
 * memory pressure on the CPU) and {@code NEVER} the untiled one; and an image-to-image encoding in tiles changes the
 * run. The decodings compared with are made by a second copy of the VAE, loaded from the same files.
 */
class VaeTilingPipelineTest {

    private static final Path MODEL = Fixtures.root().resolve("pipeline_sd1/model");
    private static final GenerationRequest BASE = GenerationRequest.of("a red apple on a wooden table", "blurry",
            128, 128, 3, 7.5, 5).withSampler("euler", "default");
    /** 64-pixel tiles: 8 latents, 3 x 3 tiles over 16 x 16 latents. */
    private static final int TILE = 64;

    private static DiffusionPipeline pipe;
    private static NDManager weights;
    private static AutoencoderKL vae;

    @BeforeAll
    static void open() {
        Fixtures.require("pipeline_sd1/model");
        pipe = SdLoader.openFolder(MODEL, "sd1", LoadOptions.cpu());
        weights = NDManager.newBaseManager();
        vae = AutoencoderKL.load(MODEL.resolve("vae"), weights, DataType.FLOAT32);
    }

    @AfterAll
    static void close() {
        if (pipe != null) {
            pipe.close();
            weights.close();
        }
    }

    @AfterEach
    void reset() {
        pipe.latentsBeforeDecode = UnaryOperator.identity();
    }

    @Test
    void alwaysDecodesTheFinalLatentsInTiles() {
        Run run = run(BASE.withVaeTiling(new VaeTiling(VaeTiling.Mode.ALWAYS, TILE)));
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray latents = m.create(run.latents, run.shape);
            assertArrayEquals(vae.latentsToImageTiled(latents, TILE, VaeTiling.OVERLAP).toFloatArray(), run.image,
                    1e-6f);
            assertNotEquals(0f, maxDiff(vae.latentsToImage(latents).toFloatArray(), run.image),
                    "tiles of 64 pixels give another image than one decoding");
        }
    }

    @Test
    void autoAndNeverDecodeWhole() {
        for (VaeTiling.Mode mode : new VaeTiling.Mode[] {VaeTiling.Mode.AUTO, VaeTiling.Mode.NEVER}) {
            Run run = run(BASE.withVaeTiling(new VaeTiling(mode, TILE)));
            try (NDManager m = NDManager.newBaseManager()) {
                assertArrayEquals(vae.latentsToImage(m.create(run.latents, run.shape)).toFloatArray(), run.image,
                        1e-6f, mode.name());
            }
        }
    }

    @Test
    void imageToImageEncodesInTilesWhenAsked() {
        BufferedImage init = new BufferedImage(128, 128, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 128; y++) {
            for (int x = 0; x < 128; x++) {
                init.setRGB(x, y, (x * 2) << 16 | (y * 2) << 8 | ((x + y) & 0xff));
            }
        }
        GenerationRequest img2img = BASE.withInit(new GenerationRequest.InitImage(init, 0.5));
        // decoded whole in both, so any difference comes from the encoding
        float[] whole = run(img2img.withVaeTiling(new VaeTiling(VaeTiling.Mode.NEVER, TILE))).image;
        float[] tiledOnce = run(img2img.withVaeTiling(new VaeTiling(VaeTiling.Mode.ALWAYS, 128))).image;
        float[] wholeAgain = run(img2img.withVaeTiling(new VaeTiling(VaeTiling.Mode.ALWAYS, 128 + 32))).image;
        assertArrayEquals(whole, tiledOnce, 1e-6f, "a 128-pixel tile holds the whole 128x128 image: no tiling");
        assertArrayEquals(whole, wholeAgain, 1e-6f);
        float[] tiled = run(img2img.withVaeTiling(new VaeTiling(VaeTiling.Mode.ALWAYS, TILE))).image;
        assertNotEquals(0f, maxDiff(whole, tiled), "64-pixel tiles change the encoding (and the decoding)");
    }

    @Test
    void aTileSizeOffTheGridIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new VaeTiling(VaeTiling.Mode.ALWAYS, 80));
        assertThrows(IllegalArgumentException.class, () -> new VaeTiling(VaeTiling.Mode.ALWAYS, 32));
        assertEquals(VaeTiling.AUTO, BASE.vaeTiling(), "a request without a choice is AUTO");
    }

    /** The run's final latents (as the VAE got them) and its image, as host arrays. */
    private record Run(float[] latents, Shape shape, float[] image) {
    }

    private static Run run(GenerationRequest r) {
        float[][] latents = new float[1][];
        Shape[] shape = new Shape[1];
        pipe.latentsBeforeDecode = l -> {
            latents[0] = l.toFloatArray();
            shape[0] = l.getShape();
            return l;
        };
        float[] image = ConcurrentJobs.image(pipe, r, GenerationListener.NONE);
        return new Run(latents[0], shape[0], image);
    }

    private static float maxDiff(float[] a, float[] b) {
        float max = 0;
        for (int i = 0; i < a.length; i++) {
            max = Math.max(max, Math.abs(a[i] - b[i]));
        }
        return max;
    }
}
