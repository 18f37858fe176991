package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Interpolant;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Ancestral DPM-Solver-2 (k-diffusion's {@code sample_dpm_2_ancestral}, diffusers'
 * {@code KDPM2AncestralDiscreteScheduler}; on rectified flow ComfyUI's {@code sample_dpm_2_ancestral_RF}):
 * {@link Dpm2}'s midpoint step aimed at {@code s_down} instead of {@code s'}, then fresh noise of scale {@code s_up}
 * ({@link Ancestral}); the last step (where {@code s_down = 0}) is Euler without noise. Noise is drawn after the
 * midpoint evaluation, as diffusers draws it.
 *
 * @param path the state the model samples in
 */
public record Dpm2Ancestral(Interpolant path) implements Sampler {

    /** In the variance-exploding state (diffusion models). */
    public Dpm2Ancestral() {
        this(Interpolant.VARIANCE_EXPLODING);
    }

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        Ancestral a = Ancestral.levels(sigma, s.next(), path);
        NDArray d = div(x.sub(s.denoise(x)), sigma);
        if (a.down() == 0) {
            return x.add(mul(d, -sigma));
        }
        return a.renoise(Dpm2.midpointStep(s, x, d, a.down()), s.noise());
    }
}
