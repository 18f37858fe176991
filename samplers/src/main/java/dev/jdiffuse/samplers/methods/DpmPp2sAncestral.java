package dev.jdiffuse.samplers.methods;

import ai.djl.ndarray.NDArray;
import dev.jdiffuse.samplers.Sampler;
import dev.jdiffuse.samplers.Step;

import static dev.jdiffuse.samplers.nd.ScalarOps.mul;

/**
 * Ancestral DPM-Solver++(2S): Lu et al. 2022, "DPM-Solver++", Algorithm 1 (single-step, second order, data
 * prediction, {@code r = 1/2}) aimed at {@code s_down}, then fresh noise of scale {@code s_up}
 * ({@link Ancestral#levels}); k-diffusion's {@code sample_dpmpp_2s_ancestral} (A1111's "DPM++ 2S a"). With
 * {@code lambda = -ln sigma}, {@code h = lambda(s_down) - lambda(s)} and the stage at {@code s_m = sqrt(s s_down)}
 * ({@code lambda + h/2}):
 * <pre>
 *   x_m = (s_m/s) x + (1 - s_m/s) D(x, s),   x' = (s_down/s) x + (1 - s_down/s) D(x_m, s_m) + s_up z
 * </pre>
 * ({@code -(e^-h - 1) = 1 - s_down/s}). The last step ({@code s_down = 0}) lands on {@code D(x, s)}; no noise there.
 */
public final class DpmPp2sAncestral implements Sampler {

    @Override
    public NDArray step(Step s) {
        NDArray x = s.x();
        double sigma = s.sigma();
        Ancestral a = Ancestral.levels(sigma, s.next());
        NDArray x0 = s.denoise(x);
        if (a.down() == 0) {
            return x0;
        }
        double mid = Math.sqrt(sigma * a.down());
        NDArray xMid = exponentialStep(x, x0, mid / sigma);
        NDArray moved = exponentialStep(x, s.denoiseAt(xMid, mid), a.down() / sigma);
        return moved.add(mul(s.noise(), a.up()));
    }

    /**
     * The first-order exponential-integrator move {@code r x + (1 - r) x0} with {@code r = s_target / s} (DPM-Solver++'s
     * {@code (sigma_t/sigma_s) x - (e^-h - 1) x0} in the variance-exploding state).
     */
    static NDArray exponentialStep(NDArray x, NDArray x0, double ratio) {
        return mul(x, ratio).add(mul(x0, 1 - ratio));
    }
}
