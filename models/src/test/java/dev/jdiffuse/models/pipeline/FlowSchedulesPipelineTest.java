package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.schedulers.DiffusersSchedules;
import dev.jdiffuse.schedulers.SchedulerConfig;
import dev.jdiffuse.schedulers.SigmaSpacing;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.jdiffuse.models.pipeline.PipelineRuns.maxAbs;
import static dev.jdiffuse.models.pipeline.PipelineRuns.pixels;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Schedules on a flow model (the SD 3 fixture, FlowMatchEuler shift 3): the k-diffusion spacings (ComfyUI's beta and
 * KL-optimal on its trained levels) and diffusers' Karras respacing reach the schedule the flow samplers walk, each
 * gives an image different from the default schedule's; Align Your Steps has no published levels for it.
 */
class FlowSchedulesPipelineTest {

    private static GenerationRequest request(int steps, String sampler, String schedule) {
        return GenerationRequest.of("an astronaut riding a horse on the moon", "", 128, 128, steps, 4.5, 5)
                .withSampler(sampler, schedule);
    }

    @Test
    void flowSamplersWalkTheRespacedSchedules() {
        try (DiffusionPipeline pipe = Pipelines.open(Fixtures.require("pipeline_sd3/model"), LoadOptions.cpu())) {
            SchedulerConfig config = SchedulerConfig.of(java.util.Map.of("shift", 3.0),
                    dev.jdiffuse.schedulers.SchedulerClass.FLOW_MATCH_EULER);
            double[] beta = DiffusersSchedules.spaced(config, 6, SigmaSpacing.betaTimesteps(0.6, 0.6)).sigmas();
            assertArrayEquals(beta, pipe.schedule(request(6, "flow_euler", "beta")).sigmas(), 1e-12);
            float[] plain = pixels(pipe, request(6, "flow_euler", "default"));
            for (String schedule : List.of("beta", "kl_optimal", "karras")) {
                for (String sampler : List.of("flow_euler", "flow_heun")) {
                    float[] image = pixels(pipe, request(6, sampler, schedule));
                    for (float v : image) {
                        assertTrue(v >= 0 && v <= 1, sampler + " / " + schedule + " pixel " + v);
                    }
                    if (sampler.equals("flow_euler")) {
                        assertTrue(maxAbs(image, plain) > 1e-3, schedule + " changes the image");
                    }
                }
            }
            List<FieldError> ays = pipe.check(request(6, "flow_euler", "align_your_steps"));
            assertEquals(1, ays.size());
            assertEquals("schedule", ays.get(0).field());
        }
    }

    /** FLUX shifts its trained levels by the request's mu (dynamic shifting), so the beta levels follow the size. */
    @Test
    void fluxSpacesItsLevelsShiftedForTheImageSize() {
        try (DiffusionPipeline pipe = Pipelines.open(Fixtures.require("layouts/flux_dev/model"), LoadOptions.cpu())) {
            double[] small = pipe.schedule(GenerationRequest.of("a fox", "", 64, 64, 8, 3.5, 1)
                    .withSampler("flow_euler", "beta")).sigmas();
            double[] large = pipe.schedule(GenerationRequest.of("a fox", "", 256, 256, 8, 3.5, 1)
                    .withSampler("flow_euler", "beta")).sigmas();
            assertEquals(1.0, small[0], 1e-9);
            assertEquals(0.0, small[8]);
            for (int i = 1; i < 8; i++) {
                assertTrue(small[i] < small[i - 1], "decreasing");
                assertTrue(large[i] > small[i], "a larger image is shifted towards noise at level " + i);
            }
        }
    }
}
