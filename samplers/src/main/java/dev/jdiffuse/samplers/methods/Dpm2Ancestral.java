package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Ancestral DPM-Solver-2 (k-diffusion's {@code sample_dpm_2_ancestral}, diffusers'
 * {@code KDPM2AncestralDiscreteScheduler}): {@link Dpm2}'s midpoint step aimed at {@code s_down} instead of
 * {@code s'}, then fresh noise of scale {@code s_up} ({@link Ancestral#levels}); the last step (where
 * {@code s_down = 0}) is Euler without noise. Noise is drawn after the midpoint evaluation, as diffusers draws it.
 */
public final class Dpm2Ancestral implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        Ancestral a = Ancestral.levels(sigma, s.next());
        NDArray d = div(x.sub(s.denoise(x)), sigma);
        if (a.down() == 0) {
            return x.add(mul(d, -sigma));
        }
        NDArray stepped = Dpm2.midpointStep(s, x, d, a.down());
        return stepped.add(mul(s.noise(), a.up()));
    }
}
