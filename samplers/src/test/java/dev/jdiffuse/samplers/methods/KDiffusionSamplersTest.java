package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.NoiseLevel;
import dev.jdiffuse.samplers.NoiseSource;
import dev.jdiffuse.samplers.SamplerCatalog;
import dev.jdiffuse.samplers.SamplerOptions;
import dev.jdiffuse.samplers.StepListener;
import dev.jdiffuse.samplers.noise.TorchCpuNoise;
import dev.jdiffuse.schedulers.DiffusersSchedules;
import dev.jdiffuse.schedulers.SamplingSchedule;
import dev.jdiffuse.schedulers.SchedulerClass;
import dev.jdiffuse.schedulers.SchedulerConfig;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The k-diffusion samplers (LMS, DPM2, DPM2 a, DPM++ 2S a, DPM++ SDE, DPM++ 3M SDE): how the catalogue maps diffusers'
 * classes onto them, where they evaluate the network, and how much noise they draw. Their numerics on Gaussian data
 * are in {@code SamplerAnalyticTest}.
 */
class KDiffusionSamplersTest {

    private static final Map<String, Object> SD_BETAS = Map.of("beta_start", 0.00085, "beta_end", 0.012,
            "beta_schedule", "scaled_linear", "num_train_timesteps", 1000);

    @Test
    void diffusersClassesMapOntoTheirSamplers() {
        assertEquals("lms", SamplerCatalog.forDiffusersClass("LMSDiscreteScheduler").name());
        assertEquals("dpm_2", SamplerCatalog.forDiffusersClass("KDPM2DiscreteScheduler").name());
        assertEquals("dpm_2_ancestral", SamplerCatalog.forDiffusersClass("KDPM2AncestralDiscreteScheduler").name());
        for (String exact : List.of("LMSDiscreteScheduler", "KDPM2DiscreteScheduler",
                "KDPM2AncestralDiscreteScheduler", "EulerDiscreteScheduler")) {
            assertTrue(SamplerCatalog.isExact(exact), exact);
        }
        // same method, noise from the request's stream instead of torchsde's Brownian tree
        assertEquals("dpmpp_sde", SamplerCatalog.forDiffusersClass("DPMSolverSDEScheduler").name());
        assertFalse(SamplerCatalog.isExact("DPMSolverSDEScheduler"));
        // the k-diffusion-only methods run on Euler's schedule but do not stand for Euler's class
        for (String name : List.of("dpmpp_2s_ancestral", "dpmpp_sde", "dpmpp_3m_sde")) {
            SamplerCatalog.Entry e = SamplerCatalog.sampler(name).orElseThrow();
            assertEquals(SchedulerClass.EULER, e.schedulerClass(), name);
            assertTrue(e.diffusersClasses().isEmpty(), name);
            assertTrue(e.stochastic() && e.sigmaSpaced(), name);
        }
        assertEquals("euler", SamplerCatalog.forDiffusersClass("EulerDiscreteScheduler").name());
        assertEquals("euler", SamplerCatalog.forSchedulerClass(SchedulerClass.EULER).name());
    }

    /**
     * DPM2 evaluates each step at {@code s} and at the geometric midpoint {@code sqrt(s s')} (the last step, to 0, once):
     * diffusers' KDPM2 interleaved layout {@code [s0, m0, s1, m1, ..., s_{n-1}]}. The midpoint's timestep is the
     * training timestep whose log-interpolated sigma is the midpoint (diffusers' {@code _sigma_to_t}), so it lies
     * between its neighbours' timesteps and maps back to the midpoint.
     */
    @Test
    void dpm2EvaluatesAtTheGeometricMidpointWithItsInterpolatedTimestep() {
        SchedulerConfig c = SchedulerConfig.of(SD_BETAS, SchedulerClass.KDPM2);
        int n = 5;
        SamplingSchedule schedule = DiffusersSchedules.of(c, n);
        List<NoiseLevel> levels = evaluate("dpm_2", schedule, n);
        assertEquals(2 * n - 1, levels.size());
        double[] table = DiffusersSchedules.trainingSigmas(c);
        for (int i = 0; i < n; i++) {
            NoiseLevel at = levels.get(2 * i);
            assertEquals(schedule.sigma(i), at.sigma(), 0);
            assertEquals(schedule.timestepOf(i), at.timestep(), 0);
            if (i < n - 1) {
                NoiseLevel mid = levels.get(2 * i + 1);
                assertEquals(Math.sqrt(schedule.sigma(i) * schedule.sigma(i + 1)), mid.sigma(), 1e-12);
                assertEquals(i, mid.step());
                assertTrue(mid.timestep() < schedule.timestepOf(i) && mid.timestep() > schedule.timestepOf(i + 1),
                        "midpoint timestep " + mid.timestep());
                int lo = (int) Math.floor(mid.timestep());
                double w = mid.timestep() - lo;
                double logSigma = (1 - w) * Math.log(table[lo]) + w * Math.log(table[lo + 1]);
                assertEquals(Math.log(mid.sigma()), logSigma, 1e-6, "timestep " + mid.timestep() + " maps back");
            }
        }
    }

    @Test
    void ancestralMidpointsAimAtSigmaDown() {
        SchedulerConfig c = SchedulerConfig.of(SD_BETAS, SchedulerClass.KDPM2_ANCESTRAL);
        int n = 4;
        SamplingSchedule schedule = DiffusersSchedules.of(c, n);
        List<NoiseLevel> levels = evaluate("dpm_2_ancestral", schedule, n);
        assertEquals(2 * n - 1, levels.size());
        for (int i = 0; i < n - 1; i++) {
            double s = schedule.sigma(i);
            double next = schedule.sigma(i + 1);
            double up = Math.sqrt(next * next * (s * s - next * next) / (s * s));
            double down = Math.sqrt(next * next - up * up);
            assertEquals(Math.sqrt(s * down), levels.get(2 * i + 1).sigma(), 1e-12);
        }
    }

    /** How many normals each method draws for {@code n} steps ending at 0 (its noise stream's order of draws). */
    @Test
    void noiseDrawsPerRun() {
        SchedulerConfig c = SchedulerConfig.of(SD_BETAS, SchedulerClass.EULER);
        int n = 6;
        SamplingSchedule schedule = DiffusersSchedules.of(c, n);
        assertEquals(n - 1, draws("dpm_2_ancestral", SchedulerConfig.of(SD_BETAS, SchedulerClass.KDPM2_ANCESTRAL), n));
        assertEquals(n - 1, draws("dpmpp_2s_ancestral", c, n));
        assertEquals(2 * (n - 1), draws("dpmpp_sde", c, n), "two Brownian sub-increments per step, none on the last");
        assertEquals(n - 1, draws("dpmpp_3m_sde", c, n));
        assertEquals(0, draws("lms", SchedulerConfig.of(SD_BETAS, SchedulerClass.LMS), n));
        assertEquals(0, draws("dpm_2", SchedulerConfig.of(SD_BETAS, SchedulerClass.KDPM2), n));
        assertEquals(n, schedule.steps());
    }

    /** The same seed gives the same image; the stateless sampler can serve two runs interleaved step by step. */
    @Test
    void seededRunsRepeatAndInterleaveWithoutSharingState() throws Exception {
        SchedulerConfig c = SchedulerConfig.of(SD_BETAS, SchedulerClass.EULER);
        SamplingSchedule schedule = DiffusersSchedules.of(c, 8);
        for (String name : List.of("dpmpp_sde", "dpmpp_3m_sde", "lms")) {
            var sampler = SamplerCatalog.sampler(name).orElseThrow().create(SamplerOptions.DEFAULTS);
            try (NDManager m = NDManager.newBaseManager()) {
                NDArray x = new TorchCpuNoise(7).normal(m, new Shape(64)).mul(schedule.initNoiseSigma());
                Denoiser d = (in, level, cond) -> in.tanh().mul(0.3);
                float[] a = sampler.sample(d, x, schedule, null, new TorchCpuNoise(11), StepListener.NONE)
                        .toFloatArray();
                float[] b = sampler.sample(d, x, schedule, null, new TorchCpuNoise(11), StepListener.NONE)
                        .toFloatArray();
                assertArrayEquals(a, b, name);
                // a second run on its own thread, started while this one is between steps
                float[][] other = new float[1][];
                NDArray y = x.mul(0.5);
                StepListener interleave = (step, steps, sigma, sample, denoised) -> {
                    if (step == 3 && other[0] == null) {
                        Thread t = new Thread(() -> other[0] = sampler.sample(d, y, schedule, null,
                                new TorchCpuNoise(12), StepListener.NONE).toFloatArray());
                        t.start();
                        try {
                            t.join();
                        } catch (InterruptedException e) {
                            throw new IllegalStateException(e);
                        }
                    }
                };
                float[] c2 = sampler.sample(d, x, schedule, null, new TorchCpuNoise(11), interleave).toFloatArray();
                assertArrayEquals(a, c2, name + " unchanged by a run in between");
                float[] alone = sampler.sample(d, y, schedule, null, new TorchCpuNoise(12), StepListener.NONE)
                        .toFloatArray();
                assertArrayEquals(alone, other[0], name + " the run in between is itself");
            }
        }
    }

    private static List<NoiseLevel> evaluate(String name, SamplingSchedule schedule, int n) {
        List<NoiseLevel> levels = new ArrayList<>();
        try (NDManager m = NDManager.newBaseManager()) {
            Denoiser recording = (in, level, cond) -> {
                levels.add(level);
                return in.mul(0.5);
            };
            NDArray x = m.ones(new Shape(4)).mul(schedule.initNoiseSigma());
            SamplerCatalog.sampler(name).orElseThrow().create(SamplerOptions.DEFAULTS)
                    .sample(recording, x, schedule, null, new TorchCpuNoise(1), StepListener.NONE);
        }
        return levels;
    }

    private static int draws(String name, SchedulerConfig c, int n) {
        SamplingSchedule schedule = DiffusersSchedules.of(c, n);
        int[] count = {0};
        TorchCpuNoise stream = new TorchCpuNoise(3);
        NoiseSource counting = (manager, shape) -> {
            count[0]++;
            return stream.normal(manager, shape);
        };
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.ones(new Shape(4)).mul(schedule.initNoiseSigma());
            SamplerCatalog.sampler(name).orElseThrow().create(SamplerOptions.DEFAULTS)
                    .sample((in, level, cond) -> in.mul(0.5), x, schedule, null, counting, StepListener.NONE);
        }
        return count[0];
    }
}
