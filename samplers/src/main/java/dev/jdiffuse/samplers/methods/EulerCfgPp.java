package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Euler CFG++ (Chung et al. 2024, "CFG++: Manifold-constrained Classifier Free Guidance for Diffusion Models",
 * Algorithm 2 in the variance-exploding state, as ComfyUI's {@code sample_euler_cfg_pp} and
 * {@code sample_euler_ancestral_cfg_pp}): the step lands on the guided prediction and renoises it with the
 * unconditional noise estimate, instead of moving along the guided one:
 * <pre>
 *   x' = D(x, s) + s_down (x - D_u(x, s))/s   (+ s_up z, ancestral)
 * </pre>
 * with {@code s_down = s'} (deterministic) or {@link Ancestral}'s split. Without guidance ({@code D_u = D}) this is
 * Euler (Euler ancestral). A step to 0 lands on {@code D}.
 *
 * @param ancestral the ancestral variant (eta 1)
 */
public record EulerCfgPp(boolean ancestral) implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        double next = s.next();
        Denoiser.Guided g = s.denoiseGuided(x);
        if (next == 0) {
            return g.guided();
        }
        Ancestral a = ancestral ? Ancestral.levels(sigma, next) : new Ancestral(next, 0, 1);
        NDArray moved = step(g, x, sigma, a.down());
        return ancestral ? a.renoise(moved, s.noise()) : moved;
    }

    /** {@code D + target (x - D_u)/s}: CFG++'s Euler step to {@code target}; shared with {@link ResMultistepCfgPp}. */
    static NDArray step(Denoiser.Guided g, NDArray x, double sigma, double target) {
        return g.guided().add(mul(div(x.sub(g.unconditional()), sigma), target));
    }
}
