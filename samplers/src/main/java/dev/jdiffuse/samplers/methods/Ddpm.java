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
 * Ancestral sampling of Ho et al. 2020 ("Denoising Diffusion Probabilistic Models", Algorithm 2 in the x0 form of
 * eq. 7): {@code x_{t-1} ~ q(x_{t-1} | x_t, x0)} with the posterior ("fixed_small") variance
 * {@code (1 - abar_prev)/(1 - abar_t) beta_t}, clamped at 1e-20 as diffusers does.
 *
 * <p>In the variance-exploding state ({@code abar = 1/(1 + sigma^2)}) the posterior mean is
 * {@code (1 - s'^2/s^2) x0 + (s'^2/s^2) x} and the noise scale {@code sqrt(var_vp (1 + s'^2))}, where
 * {@code s, s'} are the current and next sigma. Like diffusers, noise is drawn whenever the step's timestep is
 * positive (also on a last step whose variance is the 1e-20 clamp). {@code x0} is clipped to
 * {@code [-clipRange, clipRange]} when {@code clipRange} is finite (diffusers' {@code clip_sample}).
 */
public final class Ddpm implements Sampler {

    private final double clipRange;

    /** @param clipRange x0 clipping bound, or {@code Double.POSITIVE_INFINITY} for none */
    public Ddpm(double clipRange) {
        this.clipRange = clipRange;
    }

    @Override
    public String name() {
        return "ddpm";
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
                double ratio = next * next / (s * s);
                NDArray nx = x0.mul(1 - ratio).add(cur.mul(ratio));
                if (t > 0) {
                    double abar = 1 / (1 + s * s);
                    double abarPrev = 1 / (1 + next * next);
                    double variance = Math.max((1 - abarPrev) / (1 - abar) * (1 - abar / abarPrev), 1e-20);
                    nx = nx.add(noise.normal(nx.getManager(), nx.getShape()).mul(Math.sqrt(variance / abarPrev)));
                }
                listener.onStep(i, n, next, nx, x0);
                cur = scope.keep(nx);
            }
        }
        return cur;
    }
}
