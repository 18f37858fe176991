package dev.jdiffuse.models.pipeline;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.pipeline.flux.FluxFamily;
import dev.jdiffuse.models.pipeline.sd3.StableDiffusion3Family;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * The prompt-embedding cache of the T5 families (SD 3.5, FLUX; SD's own test is {@code PromptEmbeddingCacheTest}): a
 * prompt asked again is not encoded again and gives the same image; another T5 length encodes anew (it changes the
 * context), and FLUX's true-CFG negative prompt is cached like any prompt.
 */
class PromptCacheFamiliesTest {

    @Test
    void sd35ReusesARepeatedPromptAndItsNegative() {
        Fixtures.require("layouts/sd35/model");
        try (DiffusionPipeline base = Pipelines.open(Fixtures.root().resolve("layouts/sd35/model"),
                LoadOptions.cpu())) {
            DiffusionPipeline pipe = StableDiffusion3Family.withMaxSequenceLength(base, 16);
            GenerationRequest r = GenerationRequest.of("a lighthouse at dusk", "fog", 64, 64, 2, 4.5, 3);
            check(pipe, r, 2, StableDiffusion3Family.withMaxSequenceLength(base, 24));
        }
    }

    @Test
    void fluxReusesARepeatedPromptAndItsTrueCfgNegative() {
        Fixtures.require("layouts/flux_dev/model");
        try (DiffusionPipeline base = Pipelines.open(Fixtures.root().resolve("layouts/flux_dev/model"),
                LoadOptions.cpu())) {
            DiffusionPipeline pipe = FluxFamily.withMaxSequenceLength(base, 16);
            check(pipe, GenerationRequest.of("a red fox", "", 64, 64, 2, 3.5, 3), 1,
                    FluxFamily.withMaxSequenceLength(base, 24));
            check(pipe, GenerationRequest.of("a blue boat", "blurry", 64, 64, 2, 3.5, 3).withTrueCfgScale(2), 2,
                    FluxFamily.withMaxSequenceLength(base, 24));
        }
    }

    /** {@code encodes} prompts per run of {@code r}: encoded the first time, reused the second, anew at another length. */
    private static void check(DiffusionPipeline pipe, GenerationRequest r, int encodes, DiffusionPipeline otherLength) {
        PromptEmbeddingCache<?> cache = pipe.architecture().promptCache();
        assertNotNull(cache);
        long[] before = cache.hitsAndMisses();
        float[] first = image(pipe, r);
        long[] afterFirst = cache.hitsAndMisses();
        float[] second = image(pipe, r);
        long[] afterSecond = cache.hitsAndMisses();
        assertEquals(encodes, afterFirst[1] - before[1], "encoded the first time");
        assertEquals(encodes, afterSecond[0] - afterFirst[0], "reused the second time");
        assertEquals(afterFirst[1], afterSecond[1], "nothing encoded the second time");
        assertArrayEquals(first, second, "the same image from the reused encodings");
        image(otherLength, r);
        assertEquals(afterSecond[1] + encodes, cache.hitsAndMisses()[1], "another T5 length encodes again");
    }

    private static float[] image(DiffusionPipeline pipe, GenerationRequest r) {
        try (NDManager job = NDManager.newBaseManager(Device.cpu())) {
            return pipe.render(r, job, GenerationListener.NONE).image().toFloatArray();
        }
    }
}
