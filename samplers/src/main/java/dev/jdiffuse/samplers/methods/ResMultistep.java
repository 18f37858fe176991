package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * RES multistep (Zhang, Song and Chen 2023, "Improved Order Analysis and Design of Exponential Integrator for Diffusion
 * Models", the refined exponential solver's second-order multistep form, as ComfyUI's {@code res_multistep}). With
 * {@code lambda = -ln sigma}, {@code h = lambda(target) - lambda}, {@code c2 = (lambda_prev - lambda_prev_target)/h}
 * and {@code phi1(z) = (e^z - 1)/z}, {@code phi2(z) = (phi1(z) - 1)/z}:
 * <pre>
 *   x' = e^-h x + h (b1 D0 + b2 D_prev),   b1 = phi1(-h) - phi2(-h)/c2,   b2 = phi2(-h)/c2
 * </pre>
 * Deterministic ({@code sample_res_multistep}, eta 0) the target is {@code s'} and {@code c2 = -h_prev/h}. Ancestral
 * ({@code sample_res_multistep_ancestral}, eta 1) the target is {@link Ancestral}'s {@code s_down}, the previous
 * step's target its {@code s_down}, and fresh noise of scale {@code s_up} follows (none on the step to 0). The first
 * step is Euler, and a step to 0 lands on {@code D0}.
 *
 * @param ancestral eta 1 instead of 0
 */
public record ResMultistep(boolean ancestral) implements Sampler {

    /** The deterministic method (eta 0). */
    public ResMultistep() {
        this(false);
    }

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
        Ancestral a = ancestral ? Ancestral.levels(sigma, next) : new Ancestral(next, 0, 1);
        NDArray moved;
        if (previous == null) {
            moved = DpmPp2sAncestral.exponentialStep(x, x0, a.down() / sigma); // Euler: x + (down - s)(x - x0)/s
        } else {
            double before = s.sigmaAt(s.index() - 1);
            double previousTarget = ancestral ? Ancestral.levels(before, sigma).down() : sigma;
            moved = secondOrder(x, x0, previous, sigma, a.down(), before, previousTarget);
        }
        return ancestral ? a.renoise(moved, s.noise()) : moved;
    }

    /**
     * The second-order update {@code e^-h x + h (b1 d0 + b2 dPrev)} from {@code sigma} to {@code target}, the previous
     * step having gone from {@code before} to {@code previousTarget} ({@code c2 = ln(previousTarget/before)/h}).
     * Shared with {@link ResMultistepCfgPp}.
     */
    static NDArray secondOrder(NDArray x, NDArray d0, NDArray dPrev, double sigma, double target, double before,
            double previousTarget) {
        double h = Math.log(sigma / target);
        double c2 = Math.log(previousTarget / before) / h;
        double phi1 = Math.expm1(-h) / -h;
        double phi2 = (phi1 - 1) / -h;
        double b1 = phi1 - phi2 / c2;
        double b2 = phi2 / c2;
        return mul(x, Math.exp(-h)).add(mul(d0, h * b1)).add(mul(dPrev, h * b2));
    }
}
