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
     * Euler ancestral takes every schedule: the Karras and exponential spacings, which diffusers' EulerAncestral class
     * does not have, are computed as Euler's class computes them (A1111's "Euler a" with Karras), and the k-diffusion
     * spacings as for any sampler.
     */
    @Test
    void eulerAncestralRunsOnRespacedLevels() {
        SchedulerSelection sd = new SchedulerSelection(SD, null);
        SchedulerSelection.Resolved a = sd.resolve("euler_ancestral", "karras", 12, 0);
        assertInstanceOf(dev.jdiffuse.samplers.methods.EulerAncestral.class, a.sampler());
        org.junit.jupiter.api.Assertions.assertArrayEquals(sd.resolve("euler", "karras", 12, 0).schedule().sigmas(),
                a.schedule().sigmas(), "Euler's Karras levels");
        for (String schedule : java.util.List.of("exponential", "beta", "kl_optimal", "polyexponential")) {
            assertEquals(java.util.List.of(), sd.check("euler_ancestral", schedule, 12), schedule);
            assertInstanceOf(dev.jdiffuse.samplers.methods.EulerAncestral.class,
                    sd.resolve("euler_ancestral", schedule, 12, 0).sampler(), schedule);
        }
    }

    /**
     * A class no sampler reproduces defaults to the nearest sampler, even one that takes its schedule from another
     * class: DPM-Solver SDE is k-diffusion's DPM++ SDE (on Euler's schedule), diffusers' DEIS (log-rho) runs as the
     * time-based DEIS of ComfyUI.
     */
    @Test
    void unreproducedClassesDefaultToTheirNearestSampler() {
        Map<String, Object> sde = new java.util.HashMap<>(SD);
        sde.put("_class_name", "DPMSolverSDEScheduler");
        SchedulerSelection s = new SchedulerSelection(sde, null);
        assertEquals("dpmpp_sde", s.defaultSampler());
        assertInstanceOf(dev.jdiffuse.samplers.methods.DpmPpSde.class, s.resolve(null, null, 10, 0).sampler());
        Map<String, Object> deis = new java.util.HashMap<>(SD);
        deis.put("_class_name", "DEISMultistepScheduler");
        assertEquals("deis", new SchedulerSelection(deis, null).defaultSampler());
        assertInstanceOf(dev.jdiffuse.samplers.methods.Deis.class,
                new SchedulerSelection(deis, null).resolve(null, null, 10, 0).sampler());
        Map<String, Object> lms = new java.util.HashMap<>(SD);
        lms.put("_class_name", "LMSDiscreteScheduler");
        assertEquals("lms", new SchedulerSelection(lms, null).defaultSampler());
        assertEquals("lms", new SchedulerSelection(lms, null).withAlignYourSteps(null).defaultSampler());
    }

    /**
     * UniPC's two B(h) variants are both diffusers' config values: a {@code solver_type="bh1"} model defaults to
     * {@code unipc_bh1} (it used to be refused at the first request), {@code bh2} (diffusers' default) to
     * {@code unipc}; either is selectable on the other's config.
     */
    @Test
    void uniPcBh1ConfigsRunTheirVariant() {
        Map<String, Object> bh1 = new java.util.HashMap<>(SD);
        bh1.put("_class_name", "UniPCMultistepScheduler");
        bh1.put("solver_type", "bh1");
        SchedulerSelection s = new SchedulerSelection(bh1, null);
        assertEquals("unipc_bh1", s.defaultSampler());
        assertEquals(new dev.jdiffuse.samplers.methods.UniPc(true), s.resolve(null, null, 10, 0).sampler());
        assertEquals(new dev.jdiffuse.samplers.methods.UniPc(false), s.resolve("unipc", null, 10, 0).sampler());
        Map<String, Object> bh2 = new java.util.HashMap<>(bh1);
        bh2.remove("solver_type");
        assertEquals("unipc", new SchedulerSelection(bh2, null).defaultSampler());
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
        assertEquals(java.util.List.of(), sd15.withAlignYourSteps(dev.jdiffuse.schedulers.AlignYourSteps.sdxl())
                .check("euler", "align_your_steps", 12));
    }
}
