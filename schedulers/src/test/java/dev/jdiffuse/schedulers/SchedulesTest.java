package dev.jdiffuse.schedulers;

import java.util.Map;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class SchedulesTest {

    @Test
    void karrasHitsBothEndsAndIsMonotone() {
        double[] s = Sigmas.karras(10, 0.03, 14.6, 7);
        assertEquals(14.6, s[0], 1e-12);
        assertEquals(0.03, s[9], 1e-12);
        for (int i = 1; i < s.length; i++) {
            assertEquals(true, s[i] < s[i - 1]);
        }
    }

    /**
     * Beta spacing against scipy 1.17.1's {@code scipy.stats.beta.ppf} (what diffusers and A1111 call), evaluated
     * at {@code 1 - linspace(0, 1, n)}: Beta(0.6, 0.6) for 7 steps and Beta(0.5, 2) for 4.
     */
    @Test
    void betaSpacingFollowsScipysQuantiles() {
        double[] ppf = {1.0, 0.9085132044499549, 0.7245867092223766, 0.5000000000000001, 0.2754132907776235,
            0.09148679555004528, 0.0};
        double min = 0.03;
        double max = 14.6;
        double[] s = Sigmas.beta(7, min, max);
        for (int i = 0; i < ppf.length; i++) {
            assertEquals(min + ppf[i] * (max - min), s[i], 1e-12, "level " + i);
        }
        double[] skewed = {1.0, 0.2320367883945374, 0.05110932406644476, 0.0};
        double[] t = Sigmas.beta(4, 0, 1, 0.5, 2.0);
        for (int i = 0; i < skewed.length; i++) {
            assertEquals(skewed[i], t[i], 1e-12, "Beta(0.5, 2) level " + i);
        }
    }

    @Test
    void betaSigmasReplaceTheSpacedLevelsWithFractionalTimesteps() {
        Map<String, Object> sd = Map.of("beta_start", 0.00085, "beta_end", 0.012, "beta_schedule", "scaled_linear",
                "use_beta_sigmas", true);
        SamplingSchedule plain = DiffusersSchedules.of(SchedulerConfig.of(Map.of("beta_start", 0.00085, "beta_end",
                0.012, "beta_schedule", "scaled_linear"), SchedulerClass.EULER), 10);
        SamplingSchedule beta = DiffusersSchedules.of(SchedulerConfig.of(sd, SchedulerClass.EULER), 10);
        // diffusers' _convert_to_beta spans the spaced schedule's own first and last sigma
        double[] expected = Sigmas.beta(10, plain.sigma(9), plain.sigma(0));
        for (int i = 0; i < 10; i++) {
            assertEquals(expected[i], beta.sigma(i), 1e-12);
        }
        assertEquals(0.0, beta.sigma(10));
        double[] table = DiffusersSchedules.trainingSigmas(SchedulerConfig.of(sd, SchedulerClass.EULER));
        double[] logs = new double[table.length];
        for (int i = 0; i < logs.length; i++) {
            logs[i] = (float) Math.log(table[i]);
        }
        for (int i = 0; i < 10; i++) {
            assertEquals(Sigmas.sigmaToTimestep(beta.sigma(i), logs), beta.timestepOf(i), 1e-12);
        }
        assertEquals(true, beta.timestepOf(1) != Math.rint(beta.timestepOf(1)), "fractional, as diffusers keeps them");
        // DPM-Solver spans the whole training table instead
        SamplingSchedule dpm = DiffusersSchedules.of(SchedulerConfig.of(sd, SchedulerClass.DPM_SOLVER_MULTISTEP), 10);
        assertEquals(table[table.length - 1], dpm.sigma(0), 1e-9);
        assertEquals(table[0], dpm.sigma(9), 1e-9);
    }

    @Test
    void klOptimalIsEvenInArctanFromMaxToMin() {
        double[] s = SigmaSpacing.klOptimal(8, 0.03, 14.6);
        assertEquals(14.6, s[0], 1e-12);
        assertEquals(0.03, s[7], 1e-12);
        double step = Math.atan(s[1]) - Math.atan(s[0]);
        for (int i = 1; i < s.length; i++) {
            assertEquals(step, Math.atan(s[i]) - Math.atan(s[i - 1]), 1e-12);
        }
        assertArrayEquals(new double[] {14.6}, SigmaSpacing.klOptimal(1, 0.03, 14.6), 1e-12);
        // polyexponential with rho 1 is exponential spacing; rho 2 crowds the levels at the small end
        assertArrayEquals(Sigmas.exponential(8, 0.03, 14.6), SigmaSpacing.polyexponential(8, 0.03, 14.6, 1), 1e-12);
        assertEquals(true, SigmaSpacing.polyexponential(8, 0.03, 14.6, 2)[3] < Sigmas.exponential(8, 0.03, 14.6)[3]);
    }

    @Test
    void kDiffusionSpacingsSpanTheTrainedRange() {
        Map<String, Object> sd = Map.of("beta_start", 0.00085, "beta_end", 0.012, "beta_schedule", "scaled_linear");
        SchedulerConfig euler = SchedulerConfig.of(sd, SchedulerClass.EULER);
        double[] table = DiffusersSchedules.trainingSigmas(euler);
        SamplingSchedule s = DiffusersSchedules.spaced(euler, 6, SigmaSpacing.klOptimal());
        double[] expected = SigmaSpacing.klOptimal(6, table[0], table[999]);
        double[] logs = new double[table.length];
        for (int i = 0; i < logs.length; i++) {
            logs[i] = (float) Math.log(table[i]);
        }
        for (int i = 0; i < 6; i++) {
            assertEquals(expected[i], s.sigma(i), 1e-12);
            assertEquals(Sigmas.sigmaToTimestep(expected[i], logs), s.timestepOf(i), 1e-12);
        }
        assertEquals(0.0, s.sigma(6));
        assertEquals(expected[0], s.initNoiseSigma(), 1e-12);
        assertEquals(999.0, s.timestepOf(0), 1e-6);
        SamplingSchedule vp = DiffusersSchedules.spaced(SchedulerConfig.of(sd, SchedulerClass.DPM_SOLVER_MULTISTEP), 6,
                SigmaSpacing.klOptimal());
        assertEquals(Math.sqrt(1 + expected[0] * expected[0]), vp.initNoiseSigma(), 1e-12);
        // EDM's continuous-time configs have no trained levels to space
        assertThrows(IllegalArgumentException.class, () -> DiffusersSchedules.spaced(
                SchedulerConfig.of(Map.of(), SchedulerClass.EDM_EULER), 6, SigmaSpacing.klOptimal()));
    }

    /**
     * A1111's and ComfyUI's beta schedule lands on the training timesteps scipy 1.17.1 gives for
     * {@code rint(beta.ppf(1 - linspace(0, 1, n, endpoint=False), 0.6, 0.6) * 999)}, at their trained sigmas.
     */
    @Test
    void betaTimestepsAreScipysRoundedQuantiles() {
        Map<String, Object> sd = Map.of("beta_start", 0.00085, "beta_end", 0.012, "beta_schedule", "scaled_linear");
        SchedulerConfig euler = SchedulerConfig.of(sd, SchedulerClass.EULER);
        double[] table = DiffusersSchedules.trainingSigmas(euler);
        int[] t10 = {999, 959, 876, 765, 637, 500, 362, 234, 123, 40};
        SamplingSchedule s = DiffusersSchedules.spaced(euler, 10, SigmaSpacing.betaTimesteps(0.6, 0.6));
        for (int i = 0; i < t10.length; i++) {
            assertEquals(table[t10[i]], s.sigma(i), 0, "level " + i);
            // sigma_to_t interpolates the float32 log table (as diffusers), so a trained level maps back within ~1e-6
            assertEquals(t10[i], s.timestepOf(i), 1e-5, "timestep " + i);
        }
        assertEquals(0.0, s.sigma(10));
        int[] t25 = {999, 990, 972, 946, 913, 876, 835, 789, 741, 690, 637, 582, 527, 472, 417, 362, 309, 258, 210,
            164, 123, 86, 53, 27, 9};
        ModelSigmas model = new ModelSigmas(table, null);
        double[] levels = SigmaSpacing.betaTimesteps(0.6, 0.6).levels(25, model);
        for (int i = 0; i < t25.length; i++) {
            assertEquals(table[t25[i]], levels[i], 0, "25 steps, level " + i);
        }
        SigmaSpacing.betaTimesteps(0.6, 0.6).levels(138, model);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> SigmaSpacing.betaTimesteps(0.6, 0.6).levels(139, model));
        assertEquals(true, e.getMessage().contains("timestep 999"), e.getMessage());
    }

    /**
     * Align Your Steps: the published 11 levels at 11 steps; other counts resampled log-linearly, against numpy's
     * {@code exp(interp(linspace(0, 1, n), linspace(0, 1, 11), log(levels[::-1])))[::-1]} (A1111's
     * {@code _loglinear_interp}) for SD 1.5 at 7 steps and SDXL at 15.
     */
    @Test
    void alignYourStepsResamplesThePublishedLevels() {
        assertArrayEquals(AlignYourSteps.sd15(), AlignYourSteps.levels(11, AlignYourSteps.sd15()), 0);
        double[] sd7 = {14.614999999999997, 4.587187146238487, 2.3938734813363083, 1.396, 0.7425182963215853,
            0.28924317921876924, 0.028999999999999998};
        assertArrayEquals(sd7, AlignYourSteps.levels(7, AlignYourSteps.sd15()), 1e-12);
        double[] xl15 = {14.614999999999997, 8.025921658855022, 5.0630125324768205, 3.4872652328122253,
            2.358452956951452, 1.6524928155713252, 1.1825657634279099, 0.862, 0.6293984011144996, 0.4718337041917909,
            0.3545704111917484, 0.2507823472949435, 0.15437106722009145, 0.07661478759422205, 0.028999999999999998};
        assertArrayEquals(xl15, AlignYourSteps.levels(15, AlignYourSteps.sdxl()), 1e-12);
        SchedulerConfig euler = SchedulerConfig.of(Map.of("beta_start", 0.00085, "beta_end", 0.012,
                "beta_schedule", "scaled_linear"), SchedulerClass.EULER);
        SamplingSchedule s = DiffusersSchedules.spaced(euler, 7, AlignYourSteps.spacing(), AlignYourSteps.sd15(),
                Double.NaN);
        assertArrayEquals(sd7, java.util.Arrays.copyOf(s.sigmas(), 7), 1e-12);
        assertEquals(0.0, s.sigma(7));
        assertThrows(UnsupportedOperationException.class,
                () -> DiffusersSchedules.spaced(euler, 7, AlignYourSteps.spacing()));
    }

    /**
     * Flow matching: diffusers' FlowMatchEuler respaces its shifted levels between their own ends when the config asks
     * for Karras sigmas; the k-diffusion spacings take ComfyUI's trained levels {@code shift(t/T)}, t = 1..T, with
     * timesteps {@code T sigma} and the unit noise as the first sample.
     */
    @Test
    void flowSchedulesRespaceTheShiftedLevels() {
        SchedulerConfig plain = SchedulerConfig.of(Map.of("shift", 3.0), SchedulerClass.FLOW_MATCH_EULER);
        SchedulerConfig karras = SchedulerConfig.of(Map.of("shift", 3.0, "use_karras_sigmas", true),
                SchedulerClass.FLOW_MATCH_EULER);
        SamplingSchedule p = DiffusersSchedules.of(plain, 8);
        SamplingSchedule k = DiffusersSchedules.of(karras, 8);
        double[] expected = Sigmas.karras(8, p.sigma(7), p.sigma(0), 7.0);
        for (int i = 0; i < 8; i++) {
            assertEquals(expected[i], k.sigma(i), 1e-12);
            assertEquals(1000 * expected[i], k.timestepOf(i), 1e-9);
        }
        assertEquals(0.0, k.sigma(8));

        SamplingSchedule beta = DiffusersSchedules.spaced(plain, 10, SigmaSpacing.betaTimesteps(0.6, 0.6));
        int[] t10 = {999, 959, 876, 765, 637, 500, 362, 234, 123, 40};
        for (int i = 0; i < t10.length; i++) {
            double u = (t10[i] + 1) / 1000.0;
            assertEquals(Sigmas.shiftFlow(3.0, u), beta.sigma(i), 1e-12, "level " + i);
            assertEquals(1000 * beta.sigma(i), beta.timestepOf(i), 1e-9);
        }
        assertEquals(1.0, beta.sigma(0), 1e-12);
        assertEquals(1.0, beta.initNoiseSigma());
        assertEquals(0.0, beta.sigma(10));
        SchedulerConfig dynamic = SchedulerConfig.of(Map.of("use_dynamic_shifting", true),
                SchedulerClass.FLOW_MATCH_EULER);
        SamplingSchedule kl = DiffusersSchedules.spaced(dynamic, 6, SigmaSpacing.klOptimal(), null, 1.15);
        assertEquals(1.0, kl.sigma(0), 1e-12);
        assertEquals(Sigmas.timeShiftExponential(1.15, 0.001), kl.sigma(5), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> DiffusersSchedules.spaced(dynamic, 6,
                SigmaSpacing.klOptimal()));
    }

    @Test
    void onlyOneSigmaSpacingMayBeSet() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> SchedulerConfig.of(
                Map.of("use_beta_sigmas", true, "use_karras_sigmas", true), SchedulerClass.EULER));
        assertEquals(true, e.getMessage().contains("only one of"), e.getMessage());
        // EulerAncestralDiscreteScheduler has no such option: diffusers ignores it in a config, and so is it here
        assertArrayEquals(DiffusersSchedules.of(SchedulerConfig.of(Map.of(), SchedulerClass.EULER_ANCESTRAL), 10)
                .sigmas(), DiffusersSchedules.of(SchedulerConfig.of(Map.of("use_karras_sigmas", true),
                SchedulerClass.EULER_ANCESTRAL), 10).sigmas(), 0);
    }

    @Test
    void spacingsFollowLinTable2() {
        assertArrayEquals(new double[] {751, 501, 251, 1}, TimestepSpacing.LEADING.timesteps(1000, 4, 1));
        assertArrayEquals(new double[] {999, 749, 499, 249}, TimestepSpacing.TRAILING.timesteps(1000, 4, 0));
        assertArrayEquals(new double[] {999, 666, 333, 0}, TimestepSpacing.LINSPACE.integerTimesteps(1000, 4, 0));
        assertArrayEquals(new double[] {999, 749, 500, 250}, TimestepSpacing.LINSPACE.solverTimesteps(1000, 4, 0));
    }

    @Test
    void zeroSnrRescaleEndsAtZeroAndKeepsTheFirstLevel() {
        double[] betas = BetaSchedules.scaledLinear(1000, 0.00085, 0.012);
        double[] abar = BetaSchedules.alphasCumprod(BetaSchedules.rescaleZeroSnr(betas));
        assertEquals(0.0, abar[999], 1e-15);
        assertEquals(BetaSchedules.alphasCumprod(betas)[0], abar[0], 1e-12);
    }

    @Test
    void sigmaToTimestepInvertsTheTable() {
        double[] table = Sigmas.fromAlphasCumprod(BetaSchedules.alphasCumprod(BetaSchedules.linear(1000, 1e-4, 0.02)));
        double[] logs = new double[table.length];
        for (int i = 0; i < logs.length; i++) {
            logs[i] = Math.log(table[i]);
        }
        assertEquals(321.0, Sigmas.sigmaToTimestep(table[321], logs), 1e-9);
        double mid = Math.exp(0.5 * (logs[10] + logs[11]));
        assertEquals(10.5, Sigmas.sigmaToTimestep(mid, logs), 1e-9);
    }

    @Test
    void configTakesClassDefaultsAndToleratesUnknownKeys() {
        SchedulerConfig c = SchedulerConfig.of(Map.of("_class_name", "DDIMScheduler", "lambda_min_clipped",
                Double.NEGATIVE_INFINITY, "beta_end", 0.012, "skip_prk_steps", true, "_diffusers_version", "0.6.0"),
                null);
        assertEquals(SchedulerClass.DDIM, c.schedulerClass());
        assertEquals(true, c.clipSample());
        assertEquals("leading", c.timestepSpacing());
        assertEquals(0.012, c.betaEnd());
        assertThrows(IllegalArgumentException.class,
                () -> SchedulerConfig.of(Map.of("_class_name", "EulerDiscreteScheduler", "thresholding", true), null));
    }

    @Test
    void flowShiftOfOneIsIdentityAndDynamicShiftUsesExpMu() {
        assertEquals(0.3, Sigmas.shiftFlow(1.0, 0.3), 1e-15);
        assertEquals(Sigmas.shiftFlow(Math.exp(0.8), 0.3), Sigmas.timeShiftExponential(0.8, 0.3), 1e-15);
    }
}
