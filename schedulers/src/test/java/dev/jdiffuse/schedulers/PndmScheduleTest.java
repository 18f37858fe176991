package dev.jdiffuse.schedulers;

import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@code PNDMScheduler} with {@code skip_prk_steps=True} against diffusers' {@code set_timesteps}, its values worked
 * out by hand from the source (diffusers 0.40, {@code scheduling_pndm.py}):
 * <pre>
 *   leading:  _timesteps = arange(n) * (T // n) + steps_offset
 *   trailing: _timesteps = round(arange(T, 0, -T / n))[::-1] - 1
 *   plms_timesteps = concat(_timesteps[:-1], _timesteps[-2:-1], _timesteps[-1:])[::-1]
 *   step_plms: prev_timestep = t - T // n; alphas_cumprod[prev] if prev >= 0 else final_alpha_cumprod
 *   final_alpha_cumprod = 1 if set_alpha_to_one else alphas_cumprod[0];  init_noise_sigma = 1
 * </pre>
 * The schedule holds the distinct timesteps (the repeated one is the PLMS sampler's corrector evaluation inside its
 * first step), one sigma per timestep and the level the last step lands on.
 */
class PndmScheduleTest {

    /** Stable Diffusion 1.5's published {@code scheduler/scheduler_config.json}. */
    private static SchedulerConfig sd15(Map<String, Object> overrides) {
        Map<String, Object> raw = new HashMap<>(Map.of("_class_name", "PNDMScheduler", "beta_start", 0.00085,
                "beta_end", 0.012, "beta_schedule", "scaled_linear", "clip_sample", false, "num_train_timesteps", 1000,
                "prediction_type", "epsilon", "set_alpha_to_one", false, "skip_prk_steps", true, "steps_offset", 1));
        raw.put("timestep_spacing", "leading");
        raw.putAll(overrides);
        return SchedulerConfig.of(raw, null);
    }

    @Test
    void leadingWithOffsetMatchesDiffusers() {
        // n = 8: T // n = 125, _timesteps = [1, 126, 251, 376, 501, 626, 751, 876];
        // plms_timesteps = [876, 751, 751, 626, 501, 376, 251, 126, 1]; last prev = 1 - 125 < 0 -> alphas_cumprod[0]
        assertSchedule(sd15(Map.of()), 8, new double[] {876, 751, 626, 501, 376, 251, 126, 1}, false);
        // n = 3: T // n = 333, _timesteps = [1, 334, 667]; plms_timesteps = [667, 334, 334, 1]; last prev = -332
        assertSchedule(sd15(Map.of()), 3, new double[] {667, 334, 1}, false);
        // n = 1: _timesteps = [1]; plms_timesteps = [1] (nothing repeated); prev = 1 - 1000 < 0
        assertSchedule(sd15(Map.of()), 1, new double[] {1}, false);
        // n = 50: T // n = 20, _timesteps = [1, 21, ..., 981]; plms_timesteps = [981, 961, 961, 941, ..., 1]
        double[] fifty = new double[50];
        for (int i = 0; i < 50; i++) {
            fifty[i] = 981 - 20 * i;
        }
        assertSchedule(sd15(Map.of()), 50, fifty, false);
    }

    @Test
    void trailingAndSetAlphaToOneMatchDiffusers() {
        // n = 4: round(arange(1000, 0, -250)) = [1000, 750, 500, 250] -> [::-1] - 1 = [249, 499, 749, 999];
        // plms_timesteps = [999, 749, 749, 499, 249]; last prev = 249 - 250 = -1 -> final_alpha_cumprod = 1
        SchedulerConfig c = sd15(Map.of("timestep_spacing", "trailing", "steps_offset", 0, "set_alpha_to_one", true));
        assertSchedule(c, 4, new double[] {999, 749, 499, 249}, true);
    }

    @Test
    void defaultsAreDiffusersConstructorDefaults() {
        // PNDMScheduler.__init__: linear 0.0001..0.02, set_alpha_to_one=False, timestep_spacing="leading", offset 0
        SchedulerConfig c = SchedulerConfig.of(Map.of("_class_name", "PNDMScheduler"), null);
        assertEquals(SchedulerClass.PNDM, c.schedulerClass());
        assertEquals("leading", c.timestepSpacing());
        assertEquals(false, c.setAlphaToOne());
        assertEquals(0, c.stepsOffset());
        assertEquals(true, c.schedulerClass().variancePreservingSample());
    }

    private static void assertSchedule(SchedulerConfig c, int n, double[] expectedTimesteps, boolean alphaToOne) {
        SamplingSchedule s = DiffusersSchedules.of(c, n);
        assertArrayEquals(expectedTimesteps, s.timesteps(), "timesteps, n = " + n);
        double[] abar = DiffusersSchedules.alphasCumprod(c);
        double[] expectedSigmas = new double[n + 1];
        for (int i = 0; i < n; i++) {
            double a = abar[(int) expectedTimesteps[i]];
            expectedSigmas[i] = Math.sqrt((1 - a) / a); // VE sigma of alphas_cumprod[t]
        }
        expectedSigmas[n] = alphaToOne ? 0.0 : Math.sqrt((1 - abar[0]) / abar[0]);
        assertArrayEquals(expectedSigmas, s.sigmas(), 1e-6, "sigmas, n = " + n);
        // diffusers' init_noise_sigma = 1 on the variance-preserving sample x_vp = x / sqrt(1 + sigma_0^2)
        assertEquals(Math.sqrt(1 + expectedSigmas[0] * expectedSigmas[0]), s.initNoiseSigma(), 1e-6);
    }
}
