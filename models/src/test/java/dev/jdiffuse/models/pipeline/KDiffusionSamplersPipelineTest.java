package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.models.pipeline.sd.SdLoader;
import dev.jdiffuse.testkit.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.jdiffuse.models.pipeline.PipelineRuns.maxAbs;
import static dev.jdiffuse.models.pipeline.PipelineRuns.pixels;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The k-diffusion samplers and schedules through the real pipeline (the tiny SD 1.x fixture UNet, CFG 5, CPU fp32).
 * DPM2, LMS and RES multistep integrate the same probability-flow ODE as Heun from the same noise, so they approach a fine Heun
 * run's image as their steps grow, and closer than Euler at equal steps (a midpoint evaluated at the wrong level or
 * timestep would leave DPM2 first order). The schedule is {@code linspace}: the fixture's {@code leading} spacing starts
 * at a step-count-dependent timestep ({@code (n - 1) (1000 // n) + 1}: 766 at 256 steps, 898 at 300), so its runs of
 * different lengths solve from different sigma_max and never converge to one image. Every sampler gives an image in
 * [0, 1] that its seed repeats and another seed changes. Their orders are pinned exactly on Gaussian data in the samplers
 * module ({@code SamplerAnalyticTest}).
 */
class KDiffusionSamplersPipelineTest {

    private static DiffusionPipeline pipe;

    @BeforeAll
    static void load() {
        pipe = SdLoader.openFolder(Fixtures.require("pipeline_sd1/model"), "sd1", LoadOptions.cpu());
    }

    @AfterAll
    static void close() {
        pipe.close();
    }

    private static GenerationRequest request(int steps, long seed, String sampler, String schedule) {
        return GenerationRequest.of("a red apple on a table", "blurry", 64, 64, steps, 5.0, seed)
                .withSampler(sampler, schedule);
    }

    @Test
    void higherOrderSamplersApproachTheOdeSolution() {
        float[] reference = pixels(pipe, request(120, 11, "heun", "linspace"));
        double euler = maxAbs(pixels(pipe, request(32, 11, "euler", "linspace")), reference);
        for (String sampler : List.of("dpm_2", "lms", "res_multistep")) {
            double coarse = maxAbs(pixels(pipe, request(8, 11, sampler, "linspace")), reference);
            double fine = maxAbs(pixels(pipe, request(32, 11, sampler, "linspace")), reference);
            System.out.printf("%s vs Heun 120: %.3e at 8 steps, %.3e at 32 (Euler at 32: %.3e)%n", sampler, coarse,
                    fine, euler);
            assertTrue(fine < coarse / 2, sampler + " converges: " + fine + " at 32 steps, " + coarse + " at 8");
            assertTrue(fine < euler, sampler + " " + fine + " vs Euler " + euler + " at 32 steps");
        }
    }

    @Test
    void newSamplersAndSpacingsGiveRepeatableImages() {
        String[][] runs = {{"dpm_2", "karras"}, {"lms", "beta_sigmas"}, {"dpm_2_ancestral", "default"},
            {"dpmpp_2s_ancestral", "kl_optimal"}, {"dpmpp_sde", "beta"}, {"dpmpp_3m_sde", "polyexponential"},
            {"ipndm", "default"}, {"res_multistep", "karras"}};
        for (String[] run : runs) {
            String what = String.join(" / ", run);
            float[] a = pixels(pipe, request(6, 11, run[0], run[1]));
            for (float v : a) {
                assertTrue(v >= 0 && v <= 1, what + " pixel " + v);
            }
            assertArrayEquals(a, pixels(pipe, request(6, 11, run[0], run[1])), 0f, what + " repeats");
            assertTrue(maxAbs(a, pixels(pipe, request(6, 12, run[0], run[1]))) > 1e-3, what + " seed 12 differs");
        }
    }

    /** An SD 1.x model runs Align Your Steps on SD 1.5's published levels, resampled to the request's steps. */
    @Test
    void alignYourStepsUsesTheFamilysLevels() {
        for (int steps : new int[] {7, 11, 20}) {
            double[] sigmas = pipe.schedule(request(steps, 11, "dpmpp_2m", "align_your_steps")).sigmas();
            assertArrayEquals(dev.jdiffuse.schedulers.AlignYourSteps.levels(steps,
                    dev.jdiffuse.schedulers.AlignYourSteps.sd15()), java.util.Arrays.copyOf(sigmas, steps), 1e-12);
            assertEquals(0.0, sigmas[steps]);
        }
    }

    @Test
    void theBetaScheduleRefusesStepsItCannotSpace() {
        assertEquals(List.of(), pipe.check(request(138, 11, "euler", "beta")));
        List<FieldError> errors = pipe.check(request(139, 11, "euler", "beta"));
        assertEquals(1, errors.size());
        assertEquals("steps", errors.get(0).field());
        assertTrue(errors.get(0).message().contains("fewer steps"), errors.get(0).message());
        // the hires pass runs steps / strength = 150 steps of its own schedule
        GenerationRequest hires = request(30, 11, "euler", "beta")
                .withHires(new GenerationRequest.Hires(128, 128, 2, 30, 0.2, "latent"));
        List<FieldError> second = pipe.check(hires);
        assertEquals(1, second.size(), second.toString());
        assertEquals("hires.steps", second.get(0).field());
        assertEquals(List.of(), pipe.check(request(30, 11, "euler", "beta")
                .withHires(new GenerationRequest.Hires(128, 128, 2, 30, 0.5, "latent"))));
    }
}
