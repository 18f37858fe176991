package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Ancestral sampling of Ho et al. 2020 ("Denoising Diffusion Probabilistic Models", Algorithm 2 in the x0 form of
 * eq. 7): {@code x_{t-1} ~ q(x_{t-1} | x_t, x0)} with the posterior ("fixed_small") variance
 * {@code (1 - abar')/(1 - abar) beta_t}, clamped at 1e-20 as diffusers does.
 *
 * <p>In the variance-exploding state ({@code abar = 1/(1 + s^2)}) the posterior mean is
 * {@code (1 - s'^2/s^2) x0 + (s'^2/s^2) x} and the noise scale {@code sqrt(var_vp (1 + s'^2))}. Like diffusers, noise
 * is drawn whenever the step's timestep is positive (also on a last step whose variance is the 1e-20 clamp).
 * {@code x0} is clipped to {@code [-clipRange, clipRange]} when finite (diffusers' {@code clip_sample}).
 *
 * @param clipRange x0 clipping bound, or {@code Double.POSITIVE_INFINITY} for none
 */
public record Ddpm(double clipRange) implements Sampler {

    @Override
    public NDArray step(Step s) {
        double sigma = s.sigma();
        double next = s.next();
        NDArray x0 = Clip.apply(s.denoise(s.x()), clipRange);
        s.report(x0);
        double ratio = next * next / (sigma * sigma);
        NDArray mean = mul(x0, 1 - ratio).add(mul(s.x(), ratio));
        if (s.timestep() <= 0) {
            return mean;
        }
        double abar = 1 / (1 + sigma * sigma);
        double abarNext = 1 / (1 + next * next);
        double variance = Math.max((1 - abarNext) / (1 - abar) * (1 - abar / abarNext), 1e-20);
        return mean.add(mul(s.noise(), Math.sqrt(variance / abarNext)));
    }
}
