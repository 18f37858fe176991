package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Gradient estimation (Permenter and Yuan 2024, "Interpreting and Improving Diffusion Models from an Optimization
 * Perspective", Algorithm 2, as ComfyUI's {@code sample_gradient_estimation}): Euler on the probability-flow ODE with
 * the derivative extrapolated from the previous step's, {@code gamma = 2}:
 * <pre>
 *   d = (x - D(x, s))/s,   x' = x + (s' - s) (d + (gamma - 1)(d - d_prev))
 * </pre>
 * The first step is Euler; a step to 0 lands on {@code D(x, s)}.
 */
public final class GradientEstimation implements Sampler {

    private static final double GAMMA = 2;

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        NDArray x0 = s.denoise(x);
        NDArray d = div(x.sub(x0), s.sigma());
        NDArray previous = s.previous("d");
        s.remember("d", s.isLast() ? null : d);
        if (s.next() == 0) {
            return x0;
        }
        NDArray slope = previous == null ? d : d.add(mul(d.sub(previous), GAMMA - 1));
        return x.add(mul(slope, s.next() - s.sigma()));
    }
}
