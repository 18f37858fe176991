package dev.jdiffuse.samplers;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import dev.jdiffuse.samplers.methods.DpmPp2m;
import dev.jdiffuse.samplers.noise.TorchCpuNoise;
import dev.jdiffuse.schedulers.SamplingSchedule;
import dev.jdiffuse.schedulers.Sigmas;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CFG++ samplers (Chung et al. 2024, ComfyUI's {@code _cfg_pp}): without guidance ({@code D_u = D}) each is its
 * base method, step for step and draw for draw; with guidance their first step is the paper's
 * {@code x' = D + s' (x - D_u)/s} (DPM++ 2S a: two stages along {@code D_u} plus the guidance {@code D - D_u}), which
 * differs from the base method's step along {@code D}.
 */
class CfgPpSamplersTest {

    private static final double S = 0.7;
    /** CFG++ name to its base method without guidance. */
    private static final Map<String, Sampler> BASE = Map.of(
            "euler_cfg_pp", sampler("euler"),
            "euler_ancestral_cfg_pp", sampler("euler_ancestral"),
            "dpmpp_2m_cfg_pp", new DpmPp2m(false, false), // k-diffusion's rule (no lower_order_final)
            "dpmpp_2s_ancestral_cfg_pp", sampler("dpmpp_2s_ancestral"),
            "res_multistep_cfg_pp", sampler("res_multistep"),
            "gradient_estimation_cfg_pp", sampler("gradient_estimation"));

    private static Sampler sampler(String name) {
        return SamplerCatalog.sampler(name).orElseThrow().create(SamplerOptions.DEFAULTS);
    }

    private static SamplingSchedule karras(int steps) {
        double[] sigmas = Arrays.copyOf(Sigmas.karras(steps, 0.03, 14.6, 7.0), steps + 1);
        return new SamplingSchedule(sigmas, new double[steps], 14.6, sigma -> 0);
    }

    /** Gaussian data's exact denoiser: no guidance, so D_u = D. */
    private static final Denoiser PLAIN = (x, level, c) -> x.mul(S * S / (S * S + level.sigma() * level.sigma()));

    @Test
    void withoutGuidanceEachIsItsBaseMethod() {
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray xT = m.create(new float[] {-25f, -3f, 8f, 30f, 1f, -12f});
            for (Map.Entry<String, Sampler> e : BASE.entrySet()) {
                assertTrue(SamplerCatalog.sampler(e.getKey()).orElseThrow().needsUnconditional(), e.getKey());
                float[] pp = sampler(e.getKey()).sample(PLAIN, xT, karras(10), null, new TorchCpuNoise(7),
                        StepListener.NONE).toFloatArray();
                float[] base = e.getValue().sample(PLAIN, xT, karras(10), null, new TorchCpuNoise(7),
                        StepListener.NONE).toFloatArray();
                assertArrayEquals(base, pp, 1e-4f, e.getKey());
            }
        }
    }

    /**
     * A guided denoiser with {@code D = 0.8 x} and {@code D_u = 0.5 x} (at every level, so the expected first steps are
     * plain arithmetic): from {@code x = 10} at {@code s = 14.6} to {@code s' = 4}, Euler CFG++ lands on
     * {@code 8 + 4 (10 - 5)/14.6}, Euler on {@code 10 + (4 - 14.6)(10 - 8)/14.6}.
     */
    @Test
    void withGuidanceTheStepFollowsTheUnconditionalPrediction() {
        Denoiser guided = new Denoiser() {
            @Override
            public NDArray denoise(NDArray x, NoiseLevel level, Conditioning c) {
                return x.mul(0.8);
            }

            @Override
            public Guided denoiseGuided(NDArray x, NoiseLevel level, Conditioning c) {
                return new Guided(x.mul(0.8), x.mul(0.5));
            }
        };
        SamplingSchedule oneStep = new SamplingSchedule(new double[] {14.6, 4, 0}, new double[2], 14.6, sigma -> 0);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray x = m.create(new float[] {10f});
            float[] pp = stepOnce(sampler("euler_cfg_pp"), guided, x, oneStep);
            float[] euler = stepOnce(sampler("euler"), guided, x, oneStep);
            assertArrayEquals(new float[] {(float) (8 + 4 * 5 / 14.6)}, pp, 1e-5f);
            assertArrayEquals(new float[] {(float) (10 + (4 - 14.6) * 2 / 14.6)}, euler, 1e-5f);
            // DPM++ 2M CFG++'s first step is Euler CFG++'s; RES multistep CFG++ and gradient estimation CFG++ too
            for (String name : new String[] {"dpmpp_2m_cfg_pp", "res_multistep_cfg_pp", "gradient_estimation_cfg_pp"}) {
                assertArrayEquals(pp, stepOnce(sampler(name), guided, x, oneStep), 1e-5f, name);
            }
            // DPM++ 2S a CFG++: stages along D_u = 0.5 x, then the guidance 0.3 x of the first evaluation
            double down = 4 * 4 / 14.6;
            double up = Math.sqrt(16 - down * down);
            double mid = Math.sqrt(14.6 * down);
            double xMid = mid / 14.6 * 10 + (1 - mid / 14.6) * 5;
            double moved = down / 14.6 * 10 + (1 - down / 14.6) * 0.5 * xMid;
            NDArray z = new TorchCpuNoise(3).normal(m, new Shape(1));
            double expected = moved + up * z.getFloat() + 0.3 * 10;
            float[] twoS = sampler("dpmpp_2s_ancestral_cfg_pp").sample(guided, x,
                    new SamplingSchedule(new double[] {14.6, 4, 0}, new double[2], 14.6, sigma -> 0), null,
                    new TorchCpuNoise(3), (step, total, sigma, sample, denoised) -> {
                        if (step == 0) {
                            assertArrayEquals(new float[] {(float) expected}, sample.toFloatArray(), 1e-4f);
                        }
                    }).toFloatArray();
            assertTrue(Float.isFinite(twoS[0]));
        }
    }

    /** The sample after the first of two steps. */
    private static float[] stepOnce(Sampler sampler, Denoiser denoiser, NDArray x, SamplingSchedule schedule) {
        float[][] first = new float[1][];
        sampler.sample(denoiser, x, schedule, null, new TorchCpuNoise(3), (step, total, sigma, sample, denoised) -> {
            if (step == 0) {
                first[0] = sample.toFloatArray();
            }
        });
        return first[0];
    }
}
