package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Denoiser;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Gradient estimation CFG++ (ComfyUI's {@code sample_gradient_estimation_cfg_pp}): {@link GradientEstimation} with the
 * derivative of the unconditional prediction {@code d = (x - D_u)/s} and the step landing on the guided one:
 * <pre>
 *   x' = D + s' d + (gamma - 1)(d - d_prev)(s' - s),   gamma = 2
 * </pre>
 * (no extrapolation on the first step); a step to 0 lands on {@code D}. Without guidance this is gradient estimation.
 */
public final class GradientEstimationCfgPp implements Sampler {

    private static final double GAMMA = 2;

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double next = s.next();
        Denoiser.Guided g = s.denoiseGuided(x);
        NDArray d = div(x.sub(g.unconditional()), s.sigma());
        NDArray previous = s.previous("d");
        s.remember("d", s.isLast() ? null : d);
        if (next == 0) {
            return g.guided();
        }
        NDArray out = g.guided().add(mul(d, next));
        return previous == null ? out : out.add(mul(d.sub(previous), (GAMMA - 1) * (next - s.sigma())));
    }
}
