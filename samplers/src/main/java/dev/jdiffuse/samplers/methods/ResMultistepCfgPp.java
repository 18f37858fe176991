package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

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
            return g.guided().add(mul(div(x.sub(g.unconditional()), sigma), next));
        }
        double h = Math.log(sigma / next);
        double c2 = Math.log(sigma / s.sigmaAt(s.index() - 1)) / h;
        double phi1 = Math.expm1(-h) / -h;
        double phi2 = (phi1 - 1) / -h;
        double b1 = phi1 - phi2 / c2;
        double b2 = phi2 / c2;
        NDArray guidedX = x.add(g.guided()).sub(g.unconditional());
        return mul(guidedX, Math.exp(-h)).add(mul(g.unconditional(), h * b1)).add(mul(previous, h * b2));
    }
}
