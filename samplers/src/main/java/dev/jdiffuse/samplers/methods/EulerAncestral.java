package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Interpolant;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Euler ancestral sampling (k-diffusion's {@code sample_euler_ancestral}, after Karras et al. 2022, Sec. 4): an Euler
 * step to {@code s_down}, then fresh noise of scale {@code s_up} ({@link Ancestral}: in the variance-exploding state
 * {@code s_up = sqrt(s'^2 (s^2 - s'^2) / s^2)}, {@code s_down = sqrt(s'^2 - s_up^2)}, the DDPM posterior; on rectified
 * flow ComfyUI's {@code sample_euler_ancestral_RF}, which rescales the moved state before adding the noise). Noise is
 * drawn on every step (scale 0 on the last), as diffusers draws it.
 *
 * @param path the state the model samples in
 */
public record EulerAncestral(Interpolant path) implements Sampler {

    /** In the variance-exploding state (diffusion models). */
    public EulerAncestral() {
        this(Interpolant.VARIANCE_EXPLODING);
    }

    @Override
    public NDArray step(Step s) {
        double sigma = s.sigma();
        Ancestral a = Ancestral.levels(sigma, s.next(), path);
        NDArray x = s.x();
        NDArray d = div(x.sub(s.denoise(x)), sigma);
        return a.renoise(x.add(mul(d, a.down() - sigma)), s.noise());
    }
}
