package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;


/**
 * RES multistep CFG++ (ComfyUI's {@code sample_res_multistep_cfg_pp}): the first step is {@link EulerCfgPp}'s; later
 * steps add the guidance {@code D - D_u} to the sample and take {@link ResMultistep}'s update along the unconditional
 * predictions:
 * <pre>
 *   x' = e^-h (x + D - D_u) + h (b1 D_u + b2 D_u,prev)
 * </pre>
 * A step to 0 lands on {@code D}. Without guidance this is RES multistep.
 */
public final class ResMultistepCfgPp implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        double next = s.next();
        Denoiser.Guided g = s.denoiseGuided(x);
        NDArray previous = s.previous("u");
        s.remember("u", s.isLast() ? null : g.unconditional());
        if (next == 0) {
            return g.guided();
        }
        if (previous == null) {
            return EulerCfgPp.step(g, x, sigma, next);
        }
        NDArray guidedX = x.add(g.guided()).sub(g.unconditional());
        return ResMultistep.secondOrder(guidedX, g.unconditional(), previous, sigma, next, s.sigmaAt(s.index() - 1),
                sigma);
    }
}
