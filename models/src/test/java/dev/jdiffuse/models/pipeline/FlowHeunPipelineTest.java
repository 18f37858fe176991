package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import static dev.jdiffuse.models.pipeline.PipelineRuns.maxAbs;
import static dev.jdiffuse.models.pipeline.PipelineRuns.pixels;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Heun on the rectified-flow ODE ({@code flow_heun}, diffusers' FlowMatchHeunDiscreteScheduler) through the real SD 3
 * fixture pipeline (its FlowMatchEuler config, shift 3, CFG 4.5): it evaluates twice a step on the same schedule,
 * approaches a long run's image as its steps grow, and closer than flow Euler at equal steps.
 */
class FlowHeunPipelineTest {

    private static GenerationRequest request(int steps, String sampler) {
        return GenerationRequest.of("an astronaut riding a horse on the moon", "", 128, 128, steps, 4.5, 5)
                .withSampler(sampler, "default");
    }

    @Test
    void flowHeunApproachesTheOdeSolution() {
        try (DiffusionPipeline pipe = Pipelines.open(Fixtures.require("pipeline_sd3/model"), LoadOptions.cpu())) {
            assertEquals(java.util.List.of(), pipe.check(request(8, "flow_heun")));
            float[] reference = pixels(pipe, request(96, "flow_heun"));
            double coarse = maxAbs(pixels(pipe, request(4, "flow_heun")), reference);
            for (int steps : new int[] {8, 32}) {
                double heun = maxAbs(pixels(pipe, request(steps, "flow_heun")), reference);
                double euler = maxAbs(pixels(pipe, request(steps, "flow_euler")), reference);
                System.out.printf("vs flow_heun at 96 steps, %d steps: flow_heun %.3e, flow_euler %.3e (flow_heun at 4:"
                        + " %.3e)%n", steps, heun, euler, coarse);
                assertTrue(heun < euler, steps + " steps: flow_heun " + heun + " vs flow_euler " + euler);
                if (steps == 32) {
                    assertTrue(heun < coarse / 3, "converges: " + heun + " at 32 steps, " + coarse + " at 4");
                }
            }
        }
    }
}
