package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Multistep latent consistency sampling: Luo et al. 2023, "Latent Consistency Models", Algorithm 1 (with Song et al.
 * 2023's consistency parameterisation). Each step maps the sample to the consistency function
 * {@code f(x, t) = c_skip(t) x_vp + c_out(t) x0}, {@code c_skip = sd^2/((k t)^2 + sd^2)},
 * {@code c_out = k t / sqrt((k t)^2 + sd^2)}, {@code sd = 0.5}, {@code k = timestep_scaling}, then re-noises it to the
 * next level ({@code x' = f + s' z} in the variance-exploding state); the last step returns {@code f}. Noise is drawn
 * on every step but the last, as diffusers draws it. {@code x_vp = x / sqrt(1 + s^2)} is the sample diffusers sees
 * and {@code t} the step's timestep.
 *
 * @param timestepScaling diffusers' {@code timestep_scaling} (10)
 * @param clipRange x0 clipping bound, or {@code Double.POSITIVE_INFINITY} for none
 */
public record Lcm(double timestepScaling, double clipRange) implements Sampler {

    private static final double SIGMA_DATA = 0.5;

    @Override
    public NDArray step(Step s) {
        double scaled = s.timestep() * timestepScaling;
        double norm = scaled * scaled + SIGMA_DATA * SIGMA_DATA;
        double cSkip = SIGMA_DATA * SIGMA_DATA / norm;
        double cOut = scaled / Math.sqrt(norm);
        NDArray x0 = Clip.apply(s.denoise(s.x()), clipRange);
        NDArray f = mul(x0, cOut).add(mul(s.x(), cSkip / Math.sqrt(1 + s.sigma() * s.sigma())));
        if (s.isLast()) {
            s.report(f, 0.0);
            return f;
        }
        s.report(f);
        return f.add(mul(s.noise(), s.next()));
    }
}
