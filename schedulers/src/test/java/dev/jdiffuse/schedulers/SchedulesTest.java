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
