package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.testkit.DiTPipelineFolder;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Continuous batching for the DiT family on the {@code dit} fixture transformer and {@code vae_kl} VAE (assembled as
 * a diffusers DiTPipeline folder): four jobs with different classes (by label, index and name), seeds, samplers (a
 * stochastic one among them), step counts, guidance (one unguided, so its calls bring B rows where the guided ones
 * bring 2B) and batch sizes, run at once each in its own lane, give the images they give run one by one (CPU float32,
 * within 1e-5 on the [0, 1] image), and forwards of several jobs did happen.
 */
class DitConcurrentBatchingTest {

    private static final double TOL = 1e-5;

    @TempDir
    Path folder;

    @Test
    void concurrentDitJobsEqualTheSameJobsRunAlone() throws Exception {
        Fixtures.require("dit");
        Fixtures.require("vae_kl");
        DiTPipelineFolder.assemble(folder, DiTPipelineFolder.Placement.LINK);
        try (DiffusionPipeline pipe = Pipelines.open(folder, LoadOptions.cpu())) {
            assertEquals("dit", pipe.family());
            assertNotNull(pipe.stepBatcher(), "the DiT family shares its transformer's forwards");
            int size = pipe.defaults().width();
            List<GenerationRequest> jobs = List.of(
                    job("", 1, size, 5, "ddim", 4.0, 11, 1),
                    job("goldfish", null, size, 7, "dpmpp_2m", 1.0, 22, 1),
                    job("0", null, size, 4, "euler_ancestral", 6.0, 33, 2),
                    job("", 7, size, 6, "euler", 2.5, 44, 1));
            ConcurrentJobs.Outcome o = ConcurrentJobs.run(pipe, jobs, 16, Duration.ofMillis(200));
            assertEquals(0, o.forwardsAlone(), "calls from threads without a lane go straight to the network");
            for (int j = 0; j < jobs.size(); j++) {
                double max = o.maxDiff(j);
                System.out.printf("DitConcurrentBatchingTest: job %d max|diff| %.3g%n", j, max);
                assertTrue(max <= TOL, "job " + j + ": max|diff| " + max);
            }
            System.out.printf("DitConcurrentBatchingTest: %d forwards for %d calls, %d of several jobs%n",
                    o.forwards().size(), o.calls(), o.shared());
            assertTrue(o.shared() > 0, "some forwards served more than one job");
            assertEquals(5 + 7 + 4 + 6, o.calls(), "one network call per step and job");
            assertEquals(0, pipe.stepBatcher().lanes());
        }
    }

    /** A square request of {@code size} pixels for a class given by {@code label}, or else by the prompt. */
    private static GenerationRequest job(String prompt, Integer label, int size, int steps, String sampler,
            double guidance, long seed, int batch) {
        return new GenerationRequest(prompt, "", size, size, steps, sampler, null, guidance, 0, seed, batch, label,
                List.of(), null, null, null, List.of(), null, null);
    }
}
