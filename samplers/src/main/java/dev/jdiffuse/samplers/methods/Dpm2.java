package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.div;
import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * DPM-Solver-2 in Karras et al. 2022's form (k-diffusion's {@code sample_dpm_2}, diffusers'
 * {@code KDPM2DiscreteScheduler}): a half Euler step to the geometric midpoint {@code s_m = sqrt(s s')} (the midpoint in
 * {@code log sigma}), then the whole step with the derivative found there:
 * <pre>
 *   d = (x - D(x, s))/s,   x_m = x + (s_m - s) d,   d_m = (x_m - D(x_m, s_m))/s_m,   x' = x + (s' - s) d_m
 * </pre>
 * The network sees {@code s_m} at its interpolated timestep ({@link Step#denoiseAt}). The last step to {@code s' = 0}
 * is Euler (one evaluation), as in both references.
 */
public final class Dpm2 implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        double next = s.next();
        NDArray d = div(x.sub(s.denoise(x)), sigma);
        if (next == 0) {
            return x.add(mul(d, -sigma));
        }
        return midpointStep(s, x, d, next);
    }

    /**
     * {@code x + (target - s) d_m} with {@code d_m} the derivative at {@code sqrt(s target)}, reached by a half step
     * along {@code d}. Shared with {@link Dpm2Ancestral} (whose target is {@code s_down}).
     */
    static NDArray midpointStep(Step s, NDArray x, NDArray d, double target) {
        double sigma = s.sigma();
        double mid = Math.sqrt(sigma * target);
        NDArray xMid = x.add(mul(d, mid - sigma));
        NDArray dMid = div(xMid.sub(s.denoiseAt(xMid, mid)), mid);
        return x.add(mul(dMid, target - sigma));
    }
}
