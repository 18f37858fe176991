package dev.jdiffuse.schedulers;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** ComfyUI's and A1111's {@code torch.cat([sigmas[:-2], sigmas[-1:]])} on the levels of one step more. */
class PenultimateSigmaTest {

    private static final Map<String, Object> SD15 = Map.of("beta_start", 0.00085, "beta_end", 0.012,
            "beta_schedule", "scaled_linear", "timestep_spacing", "leading", "steps_offset", 1);

    @Test
    void dropsTheNextToLastLevelOnly() {
        assertArrayEquals(new double[] {10, 5, 2, 0}, PenultimateSigma.discard(new double[] {10, 5, 2, 1, 0}));
        assertArrayEquals(new double[] {10, 0}, PenultimateSigma.discard(new double[] {10, 3, 0}));
        // a final level that is not 0 (DDIM without set_alpha_to_one) is kept as it is
        assertArrayEquals(new double[] {9, 4, 0.03}, PenultimateSigma.discard(new double[] {9, 4, 1, 0.03}));
        assertEquals(6, PenultimateSigma.levelsFor(5));
    }

    @Test
    void karrasLevelsOfOneStepMoreLoseTheirSmallestNonZeroLevel() {
        int n = 5;
        double[] longer = Arrays.copyOf(Sigmas.karras(n + 1, 0.0292, 14.6146, 7.0), n + 2); // terminal 0 appended
        double[] got = PenultimateSigma.discard(longer);
        assertEquals(n + 1, got.length, "n steps: n + 1 levels");
        assertEquals(14.6146, got[0], 1e-12, "same first level");
        assertEquals(0.0, got[n], "same final level");
        for (int i = 0; i < n; i++) {
            assertEquals(longer[i], got[i], 0.0, "level " + i + " of the n + 1 step schedule");
        }
        // the level dropped is sigma_min: the last step now lands on 0 from the n + 1 schedule's level n - 1, which
        // is not what an n-step Karras schedule would visit
        assertEquals(0.0292, longer[n], 1e-12);
        assertNotEquals(Sigmas.karras(n, 0.0292, 14.6146, 7.0)[n - 1], got[n - 1], 1e-3);
    }

    @Test
    void aScheduleLosesTheDroppedLevelsTimestepAndKeepsItsNoiseScale() {
        SchedulerConfig c = SchedulerConfig.of(SD15, SchedulerClass.KDPM2);
        SamplingSchedule longer = DiffusersSchedules.of(c, 7);
        SamplingSchedule s = PenultimateSigma.discard(longer);
        assertEquals(6, s.steps());
        double[] ls = longer.sigmas();
        assertArrayEquals(PenultimateSigma.discard(ls), s.sigmas(), 0.0);
        assertArrayEquals(Arrays.copyOf(longer.timesteps(), 6), s.timesteps(), 0.0);
        assertEquals(longer.initNoiseSigma(), s.initNoiseSigma(), 0.0);
        assertSame(longer.levels(), s.levels(), "DPM2's midpoints still find their timesteps");
        assertEquals(longer.timestepAt(0.5), s.timestepAt(0.5), 0.0);
        // image to image enters the dropped schedule: its tail, ending on the same final level
        SamplingSchedule tail = s.from(2);
        assertEquals(4, tail.steps());
        assertEquals(ls[2], tail.sigma(0), 0.0);
        assertEquals(ls[ls.length - 1], tail.sigma(4), 0.0);
        assertEquals(ls[ls.length - 3], tail.sigma(3), 0.0, "the last step starts two levels before the end");
    }

    @Test
    void refusesWhatHasNoLevelToDrop() {
        assertThrows(IllegalArgumentException.class, () -> PenultimateSigma.discard(new double[] {5, 0}));
        SamplingSchedule one = new SamplingSchedule(new double[] {5, 0}, new double[] {999}, 5.0);
        assertThrows(IllegalArgumentException.class, () -> PenultimateSigma.discard(one));
        SamplingSchedule interleaved = new SamplingSchedule(new double[] {5, 2, 0}, new double[] {999, 500, 500, 1}, 5.0);
        assertThrows(IllegalArgumentException.class, () -> PenultimateSigma.discard(interleaved));
    }
}
