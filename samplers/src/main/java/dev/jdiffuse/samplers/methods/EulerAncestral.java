package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Euler ancestral sampling (k-diffusion's {@code sample_euler_ancestral}, after Karras et al. 2022, Sec. 4): an Euler
 * step to {@code s_down}, then fresh noise of scale {@code s_up}, where {@code s_up = sqrt(s'^2 (s^2 - s'^2) / s^2)}
 * and {@code s_down = sqrt(s'^2 - s_up^2)} (the DDPM posterior in the variance-exploding state). Noise is drawn on
 * every step (scale 0 on the last), as diffusers draws it.
 */
public final class EulerAncestral implements Sampler {

    @Override
    public NDArray step(Step s) {
        double sigma = s.sigma();
        Ancestral a = Ancestral.levels(sigma, s.next());
        NDArray x = s.x();
        NDArray d = div(x.sub(s.denoise(x)), sigma);
        return x.add(mul(d, a.down() - sigma)).add(mul(s.noise(), a.up()));
    }
}
