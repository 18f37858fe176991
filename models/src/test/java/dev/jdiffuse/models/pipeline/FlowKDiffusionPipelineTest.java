package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.jdiffuse.models.pipeline.PipelineRuns.maxAbs;
import static dev.jdiffuse.models.pipeline.PipelineRuns.pixels;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * k-diffusion's samplers on rectified-flow models (ComfyUI runs them there; SD 3.5 guides recommend DPM++ 2S a where
 * ComfyUI's example uses Euler) through the real SD 3 and FLUX fixture pipelines. Their convergence is
 * measured on Gaussian data with the exact flow denoiser ({@code SamplerAnalyticTest}): a random-weight network's
 * prediction oscillates with the timestep, so even flow Heun's image does not settle monotonically here (against a
 * 200-step run, max |diff| 1.4e-2, 5.2e-3, 8.9e-3, 3.4e-3 at 16, 32, 64, 128 steps). What the pipeline shows exactly:
 * the multistep solvers' first step is Euler's and a step to 0 lands on the prediction, so two-step runs equal flow
 * Euler's; the stochastic ones are seeded; FLUX's shifted levels and the sigma spacings take them all.
 */
class FlowKDiffusionPipelineTest {

    /** Whose first step is Euler's and whose step to 0 lands on the prediction. */
    private static final List<String> MULTISTEP = List.of("flow_lms", "flow_dpmpp_2m", "flow_ipndm",
            "flow_res_multistep", "flow_ipndm_v", "flow_deis", "flow_gradient_estimation");
    private static final List<String> STOCHASTIC = List.of("flow_euler_ancestral", "flow_dpm_2_ancestral",
            "flow_dpmpp_2s_ancestral", "flow_dpmpp_sde", "flow_dpmpp_2m_sde", "flow_dpmpp_3m_sde",
            "flow_dpmpp_2m_sde_heun", "flow_er_sde", "flow_seeds_2", "flow_exp_heun_2_x0_sde");

    private static GenerationRequest request(int steps, String sampler, long seed) {
        return GenerationRequest.of("an astronaut riding a horse on the moon", "", 128, 128, steps, 4.5, seed)
                .withSampler(sampler, "default");
    }

    @Test
    void multistepSolversStartWithEulersStep() {
        try (DiffusionPipeline pipe = Pipelines.open(Fixtures.require("pipeline_sd3/model"), LoadOptions.cpu())) {
            float[] euler = pixels(pipe, request(2, "flow_euler", 5));
            for (String name : MULTISTEP) {
                assertEquals(List.of(), pipe.check(request(2, name, 5)), name);
                double diff = maxAbs(pixels(pipe, request(2, name, 5)), euler);
                assertTrue(diff < 1e-5, name + " differs from flow Euler by " + diff + " in two steps");
            }
            // DPM2 evaluates at the geometric midpoint of its first step, Heun++ and exponential Heun at the next
            // level: their two steps are their own
            for (String name : List.of("flow_dpm_2", "flow_heunpp2", "flow_exp_heun_2_x0")) {
                double own = maxAbs(pixels(pipe, request(2, name, 5)), euler);
                assertTrue(own > 1e-3, name + " makes its own first step: " + own);
            }
            // and a third step is where the multistep history shows
            float[] euler3 = pixels(pipe, request(3, "flow_euler", 5));
            for (String name : MULTISTEP) {
                assertTrue(maxAbs(pixels(pipe, request(3, name, 5)), euler3) > 1e-4, name + " uses its history");
            }
        }
    }

    @Test
    void stochasticSamplersAreSeeded() {
        try (DiffusionPipeline pipe = Pipelines.open(Fixtures.require("pipeline_sd3/model"), LoadOptions.cpu())) {
            float[] ode = pixels(pipe, request(8, "flow_euler", 5));
            for (String name : STOCHASTIC) {
                float[] a = pixels(pipe, request(8, name, 5));
                assertArrayEquals(a, pixels(pipe, request(8, name, 5)), name + " repeats for one seed");
                assertTrue(maxAbs(a, pixels(pipe, request(8, name, 6))) > 1e-2, name + ": another seed, another image");
                assertTrue(maxAbs(a, ode) > 1e-2, name + " adds noise");
                for (float v : a) {
                    assertFalse(Float.isNaN(v), name);
                }
            }
        }
    }

    /** FLUX lists every flow sampler, and its shifted (mu) levels take the sigma spacings with them. */
    @Test
    void fluxRunsThemOnItsShiftedLevels() {
        try (DiffusionPipeline pipe = Pipelines.open(Fixtures.require("layouts/flux_dev/model"), LoadOptions.cpu())) {
            assertTrue(pipe.samplers().containsAll(MULTISTEP) && pipe.samplers().containsAll(STOCHASTIC),
                    pipe.samplers().toString());
            assertFalse(pipe.samplers().contains("dpmpp_2m"), "the diffusion-space DPM++ 2M is not offered on flow");
            for (String[] run : new String[][] {{"flow_dpmpp_2m", "beta"}, {"flow_dpmpp_2m_sde", "karras"},
                {"flow_euler_ancestral", "default"}, {"flow_dpm_2", "kl_optimal"}}) {
                GenerationRequest r = GenerationRequest.of("a fox", "", 64, 64, 6, 3.5, 3)
                        .withSampler(run[0], run[1]);
                assertEquals(List.of(), pipe.check(r), run[0] + " + " + run[1]);
                float[] a = pixels(pipe, r);
                assertArrayEquals(a, pixels(pipe, r), run[0] + " + " + run[1] + " repeats");
            }
        }
    }
}
