package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Conditioning;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.NoiseLevel;
import dev.jdiffuse.samplers.NoiseSource;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.StepListener;
import dev.jdiffuse.schedulers.SamplingSchedule;

/**
 * Multistep latent consistency sampling: Luo et al. 2023, "Latent Consistency Models", Algorithm 1 (with Song et al.
 * 2023's consistency parameterisation). Each step maps the sample to the consistency function
 * {@code f(x, t) = c_skip(t) x_vp + c_out(t) x0}, {@code c_skip = sd^2/((k t)^2 + sd^2)},
 * {@code c_out = k t / sqrt((k t)^2 + sd^2)}, {@code sd = 0.5}, {@code k = timestep_scaling}, then re-noises it to the
 * next level ({@code x' = f + s' z} in the variance-exploding state); the last step returns {@code f}. Noise is drawn
 * on every step but the last, as diffusers draws it. Here {@code x_vp = x / sqrt(1 + s^2)} is the sample diffusers
 * sees and {@code t} the step's timestep.
 */
public final class Lcm implements Sampler {

    private static final double SIGMA_DATA = 0.5;

    private final double timestepScaling;
    private final double clipRange;

    /**
     * @param timestepScaling diffusers' {@code timestep_scaling} (10)
     * @param clipRange x0 clipping bound, or {@code Double.POSITIVE_INFINITY} for none
     */
    public Lcm(double timestepScaling, double clipRange) {
        this.timestepScaling = timestepScaling;
        this.clipRange = clipRange;
    }

    @Override
    public String name() {
        return "lcm";
    }

    @Override
    public NDArray sample(Denoiser denoiser, NDArray x, SamplingSchedule schedule, Conditioning cond,
            NoiseSource noise, StepListener listener) {
        int n = schedule.steps();
        NDArray cur = x;
        for (int i = 0; i < n; i++) {
            double s = schedule.sigma(i);
            double next = schedule.sigma(i + 1);
            double t = schedule.timestepOf(i);
            try (StepScope scope = new StepScope(cur, i == 0)) {
                NDArray x0 = Clip.apply(denoiser.denoise(cur, new NoiseLevel(s, t, i, n), cond), clipRange);
                double scaled = t * timestepScaling;
                double norm = scaled * scaled + SIGMA_DATA * SIGMA_DATA;
                double cSkip = SIGMA_DATA * SIGMA_DATA / norm;
                double cOut = scaled / Math.sqrt(norm);
                NDArray f = x0.mul(cOut).add(cur.mul(cSkip / Math.sqrt(1 + s * s)));
                NDArray nx = i == n - 1 ? f : f.add(noise.normal(f.getManager(), f.getShape()).mul(next));
                listener.onStep(i, n, i == n - 1 ? 0.0 : next, nx, f);
                cur = scope.keep(nx);
            }
        }
        return cur;
    }
}
