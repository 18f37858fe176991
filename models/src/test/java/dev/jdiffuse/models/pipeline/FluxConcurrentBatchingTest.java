package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.pipeline.flux.FluxFamily;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Continuous batching for the FLUX family on the FLUX.1-dev layout fixture: jobs with different prompts, step counts,
 * distilled guidance scales and seeds, run at once each in its own lane, give the images they give run one by one (CPU
 * float32, within 1e-5 on the [0, 1] image), and forwards of several jobs did happen: the guidance scale travels per
 * row, so jobs with different scales still share a forward.
 */
class FluxConcurrentBatchingTest {

    private static final double TOL = 1e-5;
    private static final String MODEL = "layouts/flux_dev/model";

    @Test
    void concurrentFluxJobsEqualTheSameJobsRunAlone() throws Exception {
        check(false);
    }

    /**
     * The same with the prompt encodings (T5 and CLIP) on the forward thread, where a GPU server runs them: the same
     * images, and the three encodings made while the jobs run together neither stall nor deadlock them.
     */
    @Test
    void encodingPromptsOnTheForwardThreadChangesNoImage() throws Exception {
        check(true);
    }

    private static void check(boolean encodeOnForwardThread) throws Exception {
        Fixtures.require(MODEL);
        List<GenerationRequest> jobs = List.of(
                GenerationRequest.of("a red fox in fresh snow", "", 64, 64, 5, 3.5, 11),
                GenerationRequest.of("a blue boat on a calm lake", "", 64, 64, 7, 1.0, 22),
                GenerationRequest.of("a green hill under a cloudy sky", "", 64, 64, 4, 5.0, 33));
        try (DiffusionPipeline base = Pipelines.open(Fixtures.root().resolve(MODEL), LoadOptions.cpu())) {
            DiffusionPipeline pipe = FluxFamily.withMaxSequenceLength(base, 32);
            assertEquals("flux", pipe.family());
            assertNotNull(pipe.stepBatcher(), "the FLUX family shares its transformer's forwards");
            PromptEmbeddingCache<?> cache = pipe.architecture().promptCache();
            cache.encodeWhereForwardsRun(encodeOnForwardThread);
            long[] misses = new long[1];
            ConcurrentJobs.Outcome o = ConcurrentJobs.run(pipe, jobs, 8, Duration.ofMillis(200), () -> {
                cache.close(); // encoded again when the jobs run together
                misses[0] = cache.hitsAndMisses()[1];
            });
            assertEquals(3, cache.hitsAndMisses()[1] - misses[0], "the 3 prompts encoded while the jobs ran together");
            assertEquals(0, o.forwardsAlone(), "calls from threads without a lane go straight to the network");
            for (int j = 0; j < jobs.size(); j++) {
                double max = o.maxDiff(j);
                System.out.printf("FluxConcurrentBatchingTest: job %d max|diff| %.3g%n", j, max);
                assertTrue(max <= TOL, "job " + j + ": max|diff| " + max);
            }
            System.out.printf("FluxConcurrentBatchingTest: %d forwards for %d calls, %d of several jobs%n",
                    o.forwards().size(), o.calls(), o.shared());
            assertTrue(o.shared() > 0, "some forwards served more than one job");
            assertEquals(5 + 7 + 4, o.calls(), "one network call per step and job (no classifier-free guidance)");
            assertEquals(0, pipe.stepBatcher().lanes());
        }
    }
}
