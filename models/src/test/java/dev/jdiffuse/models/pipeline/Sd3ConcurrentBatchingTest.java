package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Continuous batching for the SD3 family on its tiny fixture (MMDiT, flow matching): three jobs with different
 * prompts, samplers, step counts, guidance and seeds, run at once each in its own lane, give the images they give run
 * one by one (CPU float32, within 1e-5 on the [0, 1] image), and forwards of several jobs did happen. Jobs with equal
 * step counts run in step finish together and decode in one VAE call, with the same images.
 */
class Sd3ConcurrentBatchingTest {

    private static final double TOL = 1e-5;

    @Test
    void concurrentSd3JobsEqualTheSameJobsRunAlone() throws Exception {
        Fixtures.require("pipeline_sd3");
        List<GenerationRequest> jobs = List.of(
                GenerationRequest.of("a red apple on a wooden table", "blurry", 64, 64, 5, 5.0, 11),
                GenerationRequest.of("a blue boat on a calm lake", "", 64, 64, 7, 3.5, 22),
                GenerationRequest.of("a green hill under a cloudy sky", "ugly", 64, 64, 4, 7.0, 33));
        try (DiffusionPipeline pipe = Pipelines.open(Fixtures.root().resolve("pipeline_sd3/model"),
                LoadOptions.cpu())) {
            assertEquals("sd3", pipe.family());
            assertNotNull(pipe.stepBatcher(), "the SD3 family shares its transformer's forwards");
            ConcurrentJobs.Outcome o = ConcurrentJobs.run(pipe, jobs, 8, Duration.ofMillis(200));
            assertEquals(0, o.forwardsAlone(), "calls from threads without a lane go straight to the network");
            for (int j = 0; j < jobs.size(); j++) {
                double max = o.maxDiff(j);
                System.out.printf("Sd3ConcurrentBatchingTest: job %d max|diff| %.3g%n", j, max);
                assertTrue(max <= TOL, "job " + j + ": max|diff| " + max);
            }
            System.out.printf("Sd3ConcurrentBatchingTest: %d forwards for %d calls, %d of several jobs%n",
                    o.forwards().size(), o.calls(), o.shared());
            assertTrue(o.shared() > 0, "some forwards served more than one job");
            assertEquals(5 + 7 + 4, o.calls(), "one network call per step and job");
            assertEquals(0, pipe.stepBatcher().lanes());
        }
    }

    @Test
    void sd3JobsThatFinishTogetherDecodeInOneCall() throws Exception {
        Fixtures.require("pipeline_sd3");
        List<GenerationRequest> jobs = List.of(
                GenerationRequest.of("a red apple on a wooden table", "blurry", 64, 64, 4, 5.0, 11),
                GenerationRequest.of("a blue boat on a calm lake", "", 64, 64, 4, 3.5, 22),
                GenerationRequest.of("a green hill under a cloudy sky", "ugly", 64, 64, 4, 7.0, 33));
        try (DiffusionPipeline pipe = Pipelines.open(Fixtures.root().resolve("pipeline_sd3/model"),
                LoadOptions.cpu())) {
            List<float[]> alone = new java.util.ArrayList<>();
            for (GenerationRequest r : jobs) {
                alone.add(ConcurrentJobs.image(pipe, r, GenerationListener.NONE));
            }
            pipe.stepBatcher().configure(8, Duration.ofSeconds(2));
            List<int[]> decodes = new java.util.concurrent.CopyOnWriteArrayList<>();
            pipe.stepBatcher().gatherer().observe((n, images) -> decodes.add(new int[] {n, images}));
            List<Object> together = ConcurrentJobs.inStep(pipe, jobs, (j, lane) -> { });
            for (int j = 0; j < jobs.size(); j++) {
                double max = ConcurrentJobs.maxDiff(alone.get(j), (float[]) together.get(j));
                System.out.printf("Sd3ConcurrentBatchingTest: in step, job %d max|diff| %.3g%n", j, max);
                assertTrue(max <= TOL, "job " + j + ": max|diff| " + max);
            }
            assertEquals(1, decodes.size(), "one VAE call for the three jobs");
            assertEquals(3, decodes.get(0)[0]);
            assertEquals(0, pipe.stepBatcher().lanes());
        }
    }
}
