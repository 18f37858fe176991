package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.pipeline.sd.SdLoader;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Continuous batching on the tiny SD 1.x fixture: four jobs with different prompts, samplers (deterministic,
 * multistep, ancestral), step counts, guidance, batch sizes and seeds, run at once with each its own lane, give the
 * images they give run one by one (CPU float32, within 1e-5 on the [0, 1] image), and forwards of several jobs did
 * happen. The arrays alive under the pipeline's manager are the same before and after.
 */
class ConcurrentBatchingTest {

    private static final double TOL = 1e-5;

    @Test
    void fourConcurrentJobsEqualTheSameJobsRunAlone() throws Exception {
        check(false);
    }

    /**
     * The same with the prompt encodings where a GPU server runs them (on the CPU they run on the job's thread unless
     * told otherwise): the CLIP calls of jobs starting together gathered on the forward thread, one call for the
     * prompts waiting there; the same images, and the calls queued between forwards neither stall nor deadlock the
     * jobs waiting for those forwards.
     */
    @Test
    void encodingPromptsOnTheForwardThreadChangesNoImage() throws Exception {
        check(true);
    }

    private static void check(boolean encodeOnForwardThread) throws Exception {
        Fixtures.require("pipeline_sd1/model");
        List<GenerationRequest> jobs = List.of(
                GenerationRequest.of("a red apple on a wooden table", "blurry", 64, 64, 6, 7.5, 11)
                        .withSampler("euler", "default"),
                GenerationRequest.of("a blue boat on a calm lake", "", 64, 64, 9, 5.0, 22)
                        .withSampler("dpmpp_2m", "karras"),
                GenerationRequest.of("a green hill under a cloudy sky", "ugly", 64, 64, 4, 1.0, 33)
                        .withSampler("ddim", "default"),
                batchOfTwo(GenerationRequest.of("a yellow cat sleeping", "dark", 64, 64, 7, 6.0, 44)
                        .withSampler("euler_ancestral", "default")));
        try (DiffusionPipeline pipe = SdLoader.openFolder(Fixtures.root().resolve("pipeline_sd1/model"), "sd1",
                LoadOptions.cpu())) {
            PromptEmbeddingCache<?> cache = pipe.architecture().promptCache();
            cache.encodeWhereForwardsRun(encodeOnForwardThread);
            List<int[]> clipCalls = new java.util.concurrent.CopyOnWriteArrayList<>();
            pipe.stepBatcher().starts().observe((calls, rows) -> clipCalls.add(new int[] {calls, rows}));
            long[] misses = new long[1];
            // the prompts are encoded again when the jobs run together (the cache is emptied after they ran alone)
            ConcurrentJobs.Outcome o = ConcurrentJobs.run(pipe, jobs, 8, Duration.ofMillis(200), () -> {
                cache.close();
                misses[0] = cache.hitsAndMisses()[1];
            });
            assertEquals(7, cache.hitsAndMisses()[1] - misses[0], "4 prompts and 3 negative prompts encoded together");
            if (encodeOnForwardThread) {
                // 4 + 3 prompts of 5 jobs' rows (one job has two images): every row encoded once, in gathered calls
                assertEquals(4 + 1 + 3 + 1, clipCalls.stream().mapToInt(c -> c[1]).sum(), "rows through CLIP");
                System.out.printf("ConcurrentBatchingTest: %d CLIP calls for 7 encodings, most prompts in one %d%n",
                        clipCalls.size(), clipCalls.stream().mapToInt(c -> c[0]).max().orElse(0));
            } else {
                assertEquals(0, clipCalls.size(), "on the CPU, encoded on the job threads");
            }
            assertEquals(0, o.forwardsAlone(), "calls from threads without a lane go straight to the network");
            for (int j = 0; j < jobs.size(); j++) {
                double max = o.maxDiff(j);
                System.out.printf("ConcurrentBatchingTest: job %d (%s) max|diff| %.3g%n", j, jobs.get(j).sampler(),
                        max);
                assertTrue(max <= TOL, "job " + j + " (" + jobs.get(j).sampler() + "): max|diff| " + max);
            }
            System.out.printf("ConcurrentBatchingTest: %d forwards for %d calls, %d of several jobs, most jobs %d%n",
                    o.forwards().size(), o.calls(), o.shared(),
                    o.forwards().stream().mapToInt(f -> f[0]).max().orElse(0));
            assertTrue(o.shared() > 0, "some forwards served more than one job");
            assertEquals(6 + 9 + 4 + 7, o.calls(), "one network call per step and job (no Heun here)");
            assertEquals(0, pipe.stepBatcher().lanes());
            assertEquals(o.liveArraysAfterAlone(), pipe.liveArrays(), "nothing left under the pipeline's manager");
        }
    }

    private static GenerationRequest batchOfTwo(GenerationRequest r) {
        return new GenerationRequest(r.prompt(), r.negativePrompt(), r.width(), r.height(), r.steps(), r.sampler(),
                r.schedule(), r.guidanceScale(), r.guidanceRescale(), r.seed(), 2, r.classLabel(), r.controlnets(),
                r.preview(), r.init(), r.variation());
    }
}
