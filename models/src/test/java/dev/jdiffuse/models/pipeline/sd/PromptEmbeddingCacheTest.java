package dev.jdiffuse.models.pipeline.sd;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import dev.jdiffuse.models.pipeline.DiffusionPipeline;
import dev.jdiffuse.models.pipeline.GenerationListener;
import dev.jdiffuse.models.pipeline.GenerationRequest;
import dev.jdiffuse.models.pipeline.PromptEmbeddingCache;
import dev.jdiffuse.models.pipeline.LoadOptions;
import dev.jdiffuse.samplers.batching.Lane;
import dev.jdiffuse.samplers.batching.StepBatcher;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * On the tiny SD 1.x fixture: a prompt asked again is not encoded again (prompt and negative prompt each hit once
 * per repeat) and gives the very same image; another clip skip is another encoding. That the cached encodings follow
 * the LoRA set is {@code LoraParityTest.cachedPromptEncodingsFollowTheLoraSet}.
 */
class PromptEmbeddingCacheTest {

    @Test
    void aRepeatedPromptIsEncodedOnceAndGivesTheSameImage() {
        Fixtures.require("pipeline_sd1/model");
        try (DiffusionPipeline pipe = SdLoader.openFolder(Fixtures.root().resolve("pipeline_sd1/model"), "sd1",
                LoadOptions.cpu())) {
            PromptEmbeddingCache<?> cache = ((StableDiffusionFamily) pipe.architecture()).prompts().cache();
            GenerationRequest r = GenerationRequest.of("a red apple on a wooden table", "blurry", 64, 64, 3, 7.5, 5)
                    .withSampler("euler", "default");
            long[] before = cache.hitsAndMisses();
            float[] first = image(pipe, r);
            long[] afterFirst = cache.hitsAndMisses();
            float[] second = image(pipe, r);
            long[] afterSecond = cache.hitsAndMisses();
            assertEquals(before[0], afterFirst[0], "nothing to reuse the first time");
            assertEquals(2, afterFirst[1] - before[1], "prompt and negative prompt encoded");
            assertEquals(2, afterSecond[0] - afterFirst[0], "both reused the second time");
            assertEquals(afterFirst[1], afterSecond[1], "nothing encoded the second time");
            assertArrayEquals(first, second, "the same image from the reused encodings");
            image(pipe, r.withClipSkip(2));
            assertEquals(afterSecond[1] + 2, cache.hitsAndMisses()[1], "another clip skip encodes again");
        }
    }

    /**
     * Encoders on the host (the CPU here; T5 kept apart on a GPU server) encode on the job's own thread even when the
     * job has joined a batcher: seconds of host work must not hold up the shared forwards. (Encoders all on a GPU
     * encode on the forward thread instead; that path needs a GPU.)
     */
    @Test
    @SuppressWarnings("unchecked")
    void hostEncodersEncodeOnTheCallingThreadEvenInALane() {
        Fixtures.require("pipeline_sd1/model");
        try (DiffusionPipeline pipe = SdLoader.openFolder(Fixtures.root().resolve("pipeline_sd1/model"), "sd1",
                LoadOptions.cpu()); NDManager job = NDManager.newBaseManager(Device.cpu())) {
            PromptEmbeddingCache<Object> cache = (PromptEmbeddingCache<Object>) (PromptEmbeddingCache<?>)
                    ((StableDiffusionFamily) pipe.architecture()).prompts().cache();
            StepBatcher batcher = new StepBatcher((x, t, c) -> x);
            String here = Thread.currentThread().getName();
            // the encoding reports where it ran by what it throws (the cache keeps nothing then)
            IllegalStateException e;
            try (Lane lane = batcher.join(1)) {
                e = assertThrows(IllegalStateException.class, () -> cache.get(job, "a key no prompt makes", () -> {
                    throw new IllegalStateException(Thread.currentThread().getName());
                }));
            } finally {
                batcher.close();
            }
            assertEquals(here, e.getMessage());
        }
    }

    private static float[] image(DiffusionPipeline pipe, GenerationRequest r) {
        try (NDManager job = NDManager.newBaseManager(Device.cpu())) {
            return pipe.render(r, job, GenerationListener.NONE).image().toFloatArray();
        }
    }
}
