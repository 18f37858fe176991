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
}
