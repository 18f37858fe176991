package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.samplers.SamplerOptions;
import dev.jdiffuse.samplers.StepListener;
import dev.jdiffuse.schedulers.DiffusersSchedules;
import dev.jdiffuse.schedulers.SamplingSchedule;
import dev.jdiffuse.schedulers.SchedulerClass;
import dev.jdiffuse.schedulers.SchedulerConfig;
import dev.jdiffuse.testkit.Close;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * {@link Plms} against diffusers' {@code PNDMScheduler.step_plms} ({@code skip_prk_steps=True}): the network is fed
 * diffusers' {@code plms_timesteps}, and a whole run equals a line-by-line transcription of {@code step_plms} and
 * {@code _get_prev_sample} (in double precision, on diffusers' variance-preserving sample) with the same toy network.
 */
class PlmsTest {

    private static final int T = 1000;

    private static SchedulerConfig sd15(String spacing, int offset, boolean alphaToOne) {
        Map<String, Object> raw = new HashMap<>(Map.of("_class_name", "PNDMScheduler", "beta_start", 0.00085,
                "beta_end", 0.012, "beta_schedule", "scaled_linear", "set_alpha_to_one", alphaToOne,
                "skip_prk_steps", true, "steps_offset", offset, "timestep_spacing", spacing));
        return SchedulerConfig.of(raw, null);
    }

    @Test
    void catalogMapsPndmToPlms() {
        assertEquals("pndm", SamplerCatalog.forDiffusersClass("PNDMScheduler").name());
        assertEquals(true, SamplerCatalog.isExact("PNDMScheduler"));
        assertEquals("PLMS", SamplerCatalog.samplerLabel("pndm"));
        assertEquals(SchedulerClass.PNDM, SamplerCatalog.forSchedulerClass(SchedulerClass.PNDM).schedulerClass());
    }

    @Test
    void networkSeesDiffusersPlmsTimesteps() {
        // plms_timesteps = concat(_timesteps[:-1], _timesteps[-2:-1], _timesteps[-1:])[::-1], leading + offset 1:
        // n = 8: _timesteps = [1, 126, ..., 876] -> [876, 751, 751, 626, 501, 376, 251, 126, 1]
        assertArrayEquals(new double[] {876, 751, 751, 626, 501, 376, 251, 126, 1}, evaluatedTimesteps(8));
        // n = 2: _timesteps = [1, 501] -> [501, 1, 1]
        assertArrayEquals(new double[] {501, 1, 1}, evaluatedTimesteps(2));
        // n = 1: _timesteps = [1] -> [1]
        assertArrayEquals(new double[] {1}, evaluatedTimesteps(1));
    }

    @Test
    void runMatchesDiffusersStepPlms() {
        for (int n : new int[] {1, 2, 3, 5, 8, 20}) {
            assertMatches(sd15("leading", 1, false), n);
        }
        assertMatches(sd15("trailing", 0, true), 4);
        assertMatches(sd15("trailing", 0, false), 10);
    }

    private static double[] evaluatedTimesteps(int n) {
        SamplingSchedule schedule = DiffusersSchedules.of(sd15("leading", 1, false), n);
        List<Double> seen = new ArrayList<>();
        Denoiser d = (x, level, c) -> {
            seen.add(level.timestep());
            return x.mul(0.5);
        };
        try (NDManager m = NDManager.newBaseManager()) {
            new Plms().sample(d, m.ones(new Shape(2)), schedule, null, null, StepListener.NONE);
        }
        return seen.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** The toy network's noise prediction on diffusers' sample {@code x_vp} at timestep {@code t}. */
    private static double eps(double xvp, double t) {
        return 0.5 * Math.tanh(xvp) + 0.1 * Math.sin(3.0 * t / T) + 0.05 * xvp * t / T;
    }

    private static void assertMatches(SchedulerConfig c, int n) {
        SamplingSchedule schedule = DiffusersSchedules.of(c, n);
        double[] abar = DiffusersSchedules.alphasCumprod(c);
        double[] init = new Random(n).doubles(16).map(v -> 2 * v - 1).toArray();
        double[] expected = diffusersRun(c, abar, schedule.timesteps(), n, init);

        Denoiser d = (x, level, cond) -> {
            float[] in = x.toFloatArray();
            float[] x0 = new float[in.length];
            double s = level.sigma();
            for (int i = 0; i < in.length; i++) {
                x0[i] = (float) (in[i] - s * eps(in[i] / Math.sqrt(1 + s * s), level.timestep()));
            }
            return x.getManager().create(x0, x.getShape());
        };
        try (NDManager m = NDManager.newBaseManager()) {
            float[] start = new float[init.length];
            for (int i = 0; i < init.length; i++) {
                start[i] = (float) init[i];
            }
            NDArray x = m.create(start, new Shape(init.length)).mul(schedule.initNoiseSigma());
            NDArray out = SamplerCatalog.forDiffusersClass("PNDMScheduler").create(SamplerOptions.of(c))
                    .sample(d, x, schedule, null, null, StepListener.NONE);
            double last = schedule.sigma(n);
            float[] ours = out.toFloatArray();
            double[] vp = new double[ours.length];
            for (int i = 0; i < ours.length; i++) {
                vp[i] = ours[i] / Math.sqrt(1 + last * last);
            }
            Close.assertMaxAbsRelative(c.timestepSpacing() + " n=" + n, expected, vp, 1e-5);
        }
    }

    /**
     * diffusers' loop {@code for t in plms_timesteps: x = step_plms(eps(x, t), t, x)} transcribed: {@code distinct}
     * are the schedule's timesteps, checked against diffusers' formulas in {@code PndmScheduleTest}.
     */
    private static double[] diffusersRun(SchedulerConfig c, double[] abar, double[] distinct, int n, double[] init) {
        List<Double> plms = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            plms.add(distinct[i]);
            if (i == 1) {
                plms.add(distinct[1]); // _timesteps[-2:-1], reversed: the second-largest repeated
            }
        }
        double finalAlpha = c.setAlphaToOne() ? 1.0 : abar[0];
        double[] x = init.clone();
        double[] curSample = null;
        List<double[]> ets = new ArrayList<>();
        int counter = 0;
        for (double tt : plms) {
            int timestep = (int) tt;
            double[] out = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                out[i] = eps(x[i], timestep);
            }
            int prev = timestep - T / n;
            if (counter != 1) {
                ets = new ArrayList<>(ets.subList(Math.max(0, ets.size() - 3), ets.size())); // ets[-3:]
                ets.add(out);
            } else {
                prev = timestep;
                timestep = timestep + T / n;
            }
            double[] mo = new double[x.length];
            double[] sample = x;
            for (int i = 0; i < x.length; i++) {
                int k = ets.size();
                if (k == 1 && counter == 0) {
                    mo[i] = out[i];
                } else if (k == 1 && counter == 1) {
                    mo[i] = (out[i] + ets.get(0)[i]) / 2;
                } else if (k == 2) {
                    mo[i] = (3 * ets.get(1)[i] - ets.get(0)[i]) / 2;
                } else if (k == 3) {
                    mo[i] = (23 * ets.get(2)[i] - 16 * ets.get(1)[i] + 5 * ets.get(0)[i]) / 12;
                } else {
                    mo[i] = (55 * ets.get(3)[i] - 59 * ets.get(2)[i] + 37 * ets.get(1)[i] - 9 * ets.get(0)[i]) / 24;
                }
            }
            if (ets.size() == 1 && counter == 0) {
                curSample = x;
            } else if (ets.size() == 1 && counter == 1) {
                sample = curSample;
                curSample = null;
            }
            // _get_prev_sample (PNDM paper eq. 9)
            double a = abar[timestep];
            double aPrev = prev >= 0 ? abar[prev] : finalAlpha;
            double sampleCoeff = Math.sqrt(aPrev / a);
            double denom = a * Math.sqrt(1 - aPrev) + Math.sqrt(a * (1 - a) * aPrev);
            double[] next = new double[x.length];
            for (int i = 0; i < x.length; i++) {
                next[i] = sampleCoeff * sample[i] - (aPrev - a) * mo[i] / denom;
            }
            x = next;
            counter++;
        }
        return x;
    }
}
