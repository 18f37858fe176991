package dev.jdiffuse.models.pipeline;

import dev.jdiffuse.samplers.methods.DpmPp2m;
import dev.jdiffuse.samplers.methods.DpmPp2mSde;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * A DPM-Solver config's {@code algorithm_type} picks the sampler variant: {@code sde-dpmsolver++} (SDXL fine-tunes
 * ship it; it failed to generate before DPM++ 2M SDE existed) defaults to {@code dpmpp_2m_sde}, the plain one to
 * {@code dpmpp_2m}; either sampler can be chosen on either config (the variant's key is set, the rest kept), on the
 * same sigmas.
 */
class SchedulerVariantsTest {

    private static final Map<String, Object> SD = Map.of("_class_name", "DPMSolverMultistepScheduler",
            "beta_start", 0.00085, "beta_end", 0.012, "beta_schedule", "scaled_linear", "num_train_timesteps", 1000,
            "timestep_spacing", "leading", "steps_offset", 1);

    @Test
    void algorithmTypeChoosesTheDefaultAndEitherCanBeRun() {
        SchedulerSelection plain = new SchedulerSelection(SD, null);
        Map<String, Object> sdeConfig = new java.util.HashMap<>(SD);
        sdeConfig.put("algorithm_type", "sde-dpmsolver++");
        SchedulerSelection sde = new SchedulerSelection(sdeConfig, null);
        assertEquals("dpmpp_2m", plain.defaultSampler());
        assertEquals("dpmpp_2m_sde", sde.defaultSampler());

        SchedulerSelection.Resolved a = sde.resolve(null, null, 20, 0);
        assertInstanceOf(DpmPp2mSde.class, a.sampler());
        assertEquals("sde-dpmsolver++", a.config().algorithmType());
        SchedulerSelection.Resolved b = sde.resolve("dpmpp_2m", "karras", 20, 0);
        assertInstanceOf(DpmPp2m.class, b.sampler());
        assertEquals("dpmsolver++", b.config().algorithmType());
        SchedulerSelection.Resolved c = plain.resolve("dpmpp_2m_sde", "karras", 20, 0);
        assertInstanceOf(DpmPp2mSde.class, c.sampler());
        assertEquals("sde-dpmsolver++", c.config().algorithmType());
        org.junit.jupiter.api.Assertions.assertArrayEquals(b.schedule().sigmas(), c.schedule().sigmas(),
                "the variant changes the update, not the schedule");
    }

    /**
     * The k-diffusion spacings (KL-optimal, polyexponential) replace the levels for any sigma-spaced sampler of a
     * discrete-time model, whatever its configured class; samplers bound to integer timesteps refuse them.
     */
    @Test
    void kDiffusionSpacingsApplyToSigmaSpacedSamplers() {
        Map<String, Object> pndm = new java.util.HashMap<>(SD);
        pndm.put("_class_name", "PNDMScheduler");
        pndm.put("skip_prk_steps", true);
        SchedulerSelection sd15 = new SchedulerSelection(pndm, null);
        for (String sampler : java.util.List.of("euler", "dpmpp_2m", "lms", "dpm_2", "dpmpp_sde")) {
            SchedulerSelection.Resolved r = sd15.resolve(sampler, "kl_optimal", 12, 0);
            double[] table = dev.jdiffuse.schedulers.DiffusersSchedules.trainingSigmas(r.config());
            double[] expected = dev.jdiffuse.schedulers.SigmaSpacing.klOptimal(12, table[0], table[999]);
            for (int i = 0; i < 12; i++) {
                assertEquals(expected[i], r.schedule().sigma(i), 1e-9, sampler + " level " + i);
            }
            assertEquals(0.0, r.schedule().sigma(12), sampler);
        }
        InvalidRequestException e = org.junit.jupiter.api.Assertions.assertThrows(InvalidRequestException.class,
                () -> sd15.resolve("ddim", "polyexponential", 12, 0));
        assertEquals("schedule", e.errors().get(0).field());
        // a config whose family published no Align Your Steps levels refuses that schedule, naming it
        java.util.List<FieldError> ays = sd15.check("euler", "align_your_steps", 12);
        assertEquals(1, ays.size());
        assertEquals("schedule", ays.get(0).field());
        assertEquals("unsupported_combination", ays.get(0).code());
        assertEquals(java.util.List.of(), sd15.withAlignYourSteps(dev.jdiffuse.schedulers.AlignYourSteps.SDXL)
                .check("euler", "align_your_steps", 12));
    }
}
