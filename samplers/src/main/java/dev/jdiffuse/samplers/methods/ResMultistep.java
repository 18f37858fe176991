package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * RES multistep (Zhang, Song and Chen 2023, "Improved Order Analysis and Design of Exponential Integrator for Diffusion
 * Models", the refined exponential solver's second-order multistep form, as ComfyUI's {@code sample_res_multistep},
 * eta 0). With {@code lambda = -ln sigma}, {@code h = lambda' - lambda}, {@code c2 = -h_prev/h} and
 * {@code phi1(z) = (e^z - 1)/z}, {@code phi2(z) = (phi1(z) - 1)/z}:
 * <pre>
 *   x' = e^-h x + h (b1 D0 + b2 D_prev),   b1 = phi1(-h) - phi2(-h)/c2,   b2 = phi2(-h)/c2
 * </pre>
 * The first step is Euler, and a step to 0 lands on {@code D0}.
 */
public final class ResMultistep implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        double next = s.next();
        NDArray x0 = s.denoise(x);
        NDArray previous = s.previous("x0");
        s.remember("x0", s.isLast() ? null : x0);
        if (next == 0) {
            return x0;
        }
        if (previous == null) {
            return DpmPp2sAncestral.exponentialStep(x, x0, next / sigma); // Euler: x + (s' - s)(x - x0)/s
        }
        double h = Math.log(sigma / next);
        double c2 = -Math.log(s.sigmaAt(s.index() - 1) / sigma) / h;
        double phi1 = Math.expm1(-h) / -h;
        double phi2 = (phi1 - 1) / -h;
        double b1 = phi1 - phi2 / c2;
        double b2 = phi2 / c2;
        return mul(x, Math.exp(-h)).add(mul(x0, h * b1)).add(mul(previous, h * b2));
    }
}
