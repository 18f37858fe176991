package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Euler's method on the probability-flow ODE {@code dx/dsigma = (x - D(x, sigma)) / sigma}: Karras et al. 2022,
 * Algorithm 2 with {@code S_churn = 0}: {@code x' = x + (s' - s) d}, {@code d = (x - x0)/s}.
 *
 * <p>The same step serves {@code euler} (diffusers' EulerDiscreteScheduler), {@code edm_euler} (EDMEulerScheduler:
 * the difference is the EDM preconditioning adapter and schedule) and {@code flow_euler}
 * (FlowMatchEulerDiscreteScheduler, Liu et al. 2022 / Esser et al. 2024: with {@code x = (1 - s) x0 + s eps} the
 * velocity {@code eps - x0} equals {@code (x - x0)/s}, so {@code x' = x + (s' - s) v} is this step).
 */
public final class Euler implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        NDArray d = div(x.sub(s.denoise(x)), s.sigma());
        return x.add(mul(d, s.next() - s.sigma()));
    }
}
