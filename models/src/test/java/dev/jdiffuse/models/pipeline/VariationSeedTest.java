package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.pipeline.sd.SdLoader;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import static dev.jdiffuse.models.pipeline.PipelineRuns.maxAbs;
import static dev.jdiffuse.models.pipeline.PipelineRuns.pixels;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * AUTOMATIC1111's variation seeds through the real pipeline: with a deterministic sampler, strength 0 is the seed's
 * image, strength 1 the subseed's (the initial noise is the subseed's; nothing else is drawn), and 0.5 neither.
 */
class VariationSeedTest {

    @Test
    void strengthBlendsTheInitialNoiseOfTwoSeeds() {
        try (DiffusionPipeline pipe = SdLoader.openFolder(Fixtures.require("pipeline_sd1/model"), "sd1",
                LoadOptions.cpu())) {
            GenerationRequest base = GenerationRequest.of("a red apple", "", 64, 64, 3, 5.0, 11)
                    .withSampler("euler", "default");
            float[] seed11 = pixels(pipe, base);
            float[] seed22 = pixels(pipe, GenerationRequest.of("a red apple", "", 64, 64, 3, 5.0, 22)
                    .withSampler("euler", "default"));
            assertArrayEquals(seed11, pixels(pipe, base.withVariation(new GenerationRequest.Variation(22, 0.0))),
                    1e-6f);
            assertArrayEquals(seed22, pixels(pipe, base.withVariation(new GenerationRequest.Variation(22, 1.0))),
                    1e-5f);
            float[] half = pixels(pipe, base.withVariation(new GenerationRequest.Variation(22, 0.5)));
            assertTrue(maxAbs(half, seed11) > 1e-3 && maxAbs(half, seed22) > 1e-3, "0.5 is neither seed's image");
            assertEquals("subseed_strength", pipe.check(base.withVariation(new GenerationRequest.Variation(22, 1.5)))
                    .get(0).field());
        }
    }
}
